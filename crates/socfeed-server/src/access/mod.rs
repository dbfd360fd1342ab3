//! Who may do what: tokens found in a request and verified ([`auth`]), feed admission within the
//! connection limits ([`admit`], [`limits`]), and single-use tickets ([`tickets`],
//! `POST /v1/tickets`).

mod admit;
mod audit;
mod auth;
mod client;
mod gate;
mod limits;
mod ticket_route;
mod tickets;

pub(crate) use self::admit::{Admitted, Refusal, admit};
pub(crate) use self::audit::Audit;
pub(crate) use self::auth::{
    Principal, TokenSource, authenticate, authenticate_feed, find_token, subprotocol,
};
pub(crate) use self::client::client_ip;
pub(crate) use self::gate::{Gate, refuse_over_limit};
pub(crate) use self::limits::{Accepted, Bucket, Limits, Slot};
pub(crate) use self::ticket_route::handler as tickets_handler;
pub(crate) use self::tickets::Tickets;
