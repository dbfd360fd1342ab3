//! A socfeed client: subscribe to either dialect and keep the subscription across reconnects,
//! and publish over HTTP.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use socfeed_client::{Feed, FeedConfig, FeedItem, Tokens};
//! use socfeed_proto::Filters;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = FeedConfig::govern("http://127.0.0.1:8086", Filters::default()).since(0);
//! let mut feed = Feed::connect(config, Tokens::fixed("eyJ…"))?;
//! let mut status = feed.status(); // Connected / Reconnecting / Disconnected
//! while let Some(item) = feed.next().await {
//!     match item? {
//!         FeedItem::Event(e) => println!("{} {}", e.seq, e.event_type),
//!         FeedItem::Gap(g) => eprintln!("events after {} are no longer retained", g.after),
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! * [`Feed`] — a `Stream` of [`FeedItem`]s. Each connection resumes from the last seq
//!   delivered (with the epoch from acks and replays): every retained event arrives once, in seq
//!   order; a `truncated` resume is a [`Gap`] item.
//! * Reconnects with exponential backoff and full jitter ([`Backoff`]: 0.5 s doubling to 30 s,
//!   reset after 10 s up) after a drop, a server close (1001, 1011, 4002, 4008, 4029 …), or two
//!   heartbeat intervals of silence. 4001 / 4003 stop the feed with [`FeedError::Auth`].
//! * [`Status`] on a `tokio::sync::watch` channel ([`Feed::status`]).
//! * [`Tokens`] — the hook asked for a token before every connection and every publish.
//! * [`Publisher`] — `POST /v1/events`, replying [`PublishReply`].

mod backoff;
mod config;
mod connection;
mod ended;
mod endpoint;
mod error;
mod feed;
mod item;
mod publish;
mod resume;
mod status;
mod supervisor;
mod token;
mod wire;

pub use backoff::{Backoff, Retry};
pub use config::{Dialect, FeedConfig};
pub use error::{FeedError, PublishError, TokenError};
pub use feed::Feed;
pub use item::{FeedItem, Gap};
pub use publish::{NewEvent, Publisher};
pub use socfeed_proto::publish::PublishReply;
pub use status::Status;
pub use token::{TokenFuture, TokenSource, Tokens};
