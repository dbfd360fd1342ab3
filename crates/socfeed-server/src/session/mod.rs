//! A session: one subscriber's connection from admission to its end, the same for every dialect
//! and transport.
//!
//! - [`open`] registers an admitted subscriber in the hub and runs its session ([`run`]).
//! - [`seam`] is the replay→live seam every subscription goes through.
//! - [`subscriptions`] holds what a session receives and the floors the seam sets.
//! - [`cursor`] and [`reader`] turn a client's resume point into pages of events.
//! - [`clock`] holds the session's timers; [`end`] says why a session ended and what that
//!   becomes on the wire.

mod clock;
mod conn;
mod cursor;
mod end;
mod reader;
mod run;
mod seam;
mod subscriptions;

use std::sync::Arc;

use socfeed_proto::{Claims, TenantId};

pub(crate) use self::conn::Conn;
pub(crate) use self::cursor::Cursor;
pub(crate) use self::end::{End, Fault, Reply};
pub(crate) use self::run::{Message, Protocol};
pub(crate) use self::seam::Seam;
pub(crate) use self::subscriptions::Subscriptions;
use crate::access::{Admitted, Refusal};
use crate::fanout::Registration;
use crate::state::{AppState, ConnectionGuard};
use crate::transport::{Ending, Framing, Transport};

/// Who a session serves and its place in the hub: what dialects and the seam read.
pub(crate) struct Scope {
    pub state: Arc<AppState>,
    pub tenant: TenantId,
    pub claims: Claims,
    pub registration: Registration,
}

/// Runs one connection: a refused one is ended with its code; an admitted subscriber is
/// registered in the hub (receiving nothing until its dialect says what it wants) and served by
/// the dialect `make` builds until the session ends.
pub(crate) async fn open<T, P, F>(
    transport: T,
    state: Arc<AppState>,
    admitted: Result<Admitted, Refusal>,
    make: F,
) where
    T: Transport,
    P: Protocol<T>,
    F: FnOnce(&Claims, Framing) -> P,
{
    // Held until the connection is closed: the session tracker waits for it at shutdown.
    let _task = state.sessions.token();
    let _gauge = ConnectionGuard::new(&state.metrics);
    let Admitted {
        claims,
        tenant,
        slot: _slot,
    } = match admitted {
        Ok(a) => a,
        Err(refusal) => {
            let ending = Ending {
                code: refusal.code,
                reason: &refusal.message,
                message: None,
            };
            Box::pin(transport.close(ending)).await;
            return;
        }
    };
    let (registration, queue) = state.hub.register(tenant.clone(), state.config.queue_len);
    let protocol = make(&claims, T::FRAMING);
    let conn = Conn::new(transport, queue.signals());
    let scope = Scope {
        state,
        tenant,
        claims,
        registration,
    };
    run::run(protocol, conn, scope, queue).await;
}
