//! socfeed's event model and every byte it puts on the wire.
//!
//! * [`event`] — the stored [`Event`] and the publisher's input ([`EventDraft`]).
//! * [`channel`] — an event type's channel (`alert.created` → `alerts`).
//! * [`filter`] — GOVERN filters and the per-event fields they look at.
//! * [`claims`] — the JWT claims socfeed reads (shapes only; signatures are checked elsewhere).
//! * [`ijson`] — the I-JSON check payloads pass at publish.
//! * [`forwarded`] — the client address behind trusted reverse proxies.
//! * [`publish`] — `POST /v1/events` bodies (object, array, NDJSON) and replies.
//! * [`aisoc`], [`govern`] — the two client dialects: inbound messages and outbound frames.
//! * [`close`] — WebSocket close codes.
//! * [`sse`] — Server-Sent Events framing.
//! * [`wsframe`] — WebSocket framing: client frames in, frame headers out.
//!
//! This crate does no IO, owns no clock and starts no task: callers pass the time in.

pub mod aisoc;
pub mod channel;
pub mod claims;
pub mod close;
pub mod event;
pub mod filter;
pub mod forwarded;
pub mod govern;
pub mod ijson;
pub mod publish;
pub mod sse;
pub mod timefmt;
pub mod wsframe;

pub use channel::{Channel, ChannelError};
pub use claims::{Claims, Role};
pub use close::CloseCode;
pub use event::{Event, EventDraft, Seq, TenantId};
pub use filter::{FilterFields, Filters};
