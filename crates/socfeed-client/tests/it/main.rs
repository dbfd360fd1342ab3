//! socfeed-client against a real server over real TCP: restarts on the same data dir and port,
//! connections cut and frozen by a proxy, slow and silent consumers, refused tokens; and the
//! backoff schedule as a pure function.

mod auth;
mod backoff;
mod cut;
mod heartbeat;
mod publish;
mod restart;
mod resume;
mod shutdown;
mod slow;
mod support;
