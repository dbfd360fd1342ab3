//! Fan-out: a committed event becomes a [`Delivery`] (routing facts extracted, frames encoded
//! once), which the [`Hub`] offers to the queue of every session that wants it, never waiting
//! for one; [`RecentEvents`] keeps the latest deliveries of each tenant for replays.

mod delivery;
mod hub;
mod queue;
mod recent;

pub use self::delivery::Delivery;
pub(crate) use self::delivery::Format;
pub(crate) use self::delivery::now_us;
pub use self::hub::{Hub, Interest, Queue, Registration};
pub(crate) use self::queue::Signals;
pub use self::queue::Taken;
pub(crate) use self::recent::RecentEvents;
