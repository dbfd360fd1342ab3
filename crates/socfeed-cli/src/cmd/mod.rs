//! One module per subcommand.

pub mod bench;
pub mod publish;
pub mod serve;
pub mod tail;
pub mod token;
