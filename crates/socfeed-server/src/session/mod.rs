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

use std::future::Future;
use std::sync::Arc;

use socfeed_proto::{Claims, TenantId};
use tokio_util::task::task_tracker::TaskTrackerToken;

pub(crate) use self::conn::Conn;
pub(crate) use self::cursor::{Cursor, plan};
pub(crate) use self::end::{End, Fault, Reply};
pub(crate) use self::run::{Message, Protocol};
pub(crate) use self::seam::Seam;
pub(crate) use self::subscriptions::Subscriptions;
use crate::access::{Admitted, Refusal, Slot};
use crate::fanout::{Queue, Registration};
use crate::state::{AppState, ConnectionGuard};
use crate::transport::{Ending, Framing, Transport};

/// Who a session serves and its place in the hub: what dialects and the seam read. (The
/// token's claims are read when the session starts; only their expiry is kept.)
pub(crate) struct Scope {
    pub(crate) state: Arc<AppState>,
    pub(crate) tenant: TenantId,
    /// The token's `exp` (unix seconds).
    pub(crate) expires: u64,
    pub(crate) registration: Registration,
}

/// How long a subscription waits for the engine to follow its tenant before the session ends
/// as "try again later" (1013).
const FOLLOW_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Scope {
    /// Waits until every commit of the tenant from now on reaches this session's queue (at
    /// once on a local engine). Boxed: it is awaited once per subscription, and an idle
    /// session's state need not hold room for it.
    pub(crate) async fn live(&self) -> Result<(), socfeed_log::LogError> {
        Box::pin(self.state.hub.live(&self.tenant, FOLLOW_WAIT)).await
    }
}

/// Runs one connection: a refused one is ended with its code; an admitted subscriber is
/// registered in the hub (receiving nothing until its dialect says what it wants) and served by
/// the dialect `make` builds until the session ends.
///
/// Every open connection holds this future, so its state is kept small: what the session owns
/// lives in one box (an `async fn` would also keep its arguments twice).
pub(crate) fn open<T, P, F>(
    transport: T,
    state: Arc<AppState>,
    admitted: Result<Admitted, Refusal>,
    make: F,
) -> impl Future<Output = ()> + Send
where
    T: Transport + 'static,
    P: Protocol<T> + 'static,
    F: FnOnce(&Claims, Framing) -> P + Send + 'static,
{
    let inputs = Box::new((transport, state, admitted, make));
    async move {
        let (transport, state, admitted, make) = unbox(inputs);
        // Held until the connection is closed: the session tracker waits for it at shutdown.
        let held = Held {
            _task: state.sessions.token(),
            _gauge: ConnectionGuard::new(&state.metrics),
            _slot: None,
        };
        let admitted = match admitted {
            Ok(a) => a,
            Err(refusal) => {
                let close = async move {
                    let ending = Ending {
                        code: refusal.code,
                        reason: &refusal.message,
                        message: None,
                    };
                    transport.close(ending).await;
                    drop(held);
                };
                return Box::pin(close).await;
            }
        };
        let (session, queue) = Session::new(transport, state, admitted, make, held);
        let mut session = Box::new(session);
        let Session {
            protocol,
            conn,
            scope,
            ..
        } = &mut *session;
        let end = run::run(protocol, conn, scope, queue).await;
        let Session {
            protocol,
            conn,
            scope,
            held,
        } = *session;
        Box::pin(run::finish(protocol, conn, scope, end)).await;
        drop(held);
    }
}

/// The value of a box, the box freed now (moving out of an upvar's box would free it only when
/// the future ends).
#[allow(
    clippy::boxed_local,
    reason = "taking the box is the point: it is freed on return"
)]
fn unbox<T>(boxed: Box<T>) -> T {
    *boxed
}

/// What a session holds until it ends: the task token the shutdown waits for, the connection
/// gauge, the connection slot.
struct Held {
    _task: TaskTrackerToken,
    _gauge: ConnectionGuard,
    _slot: Option<Slot>,
}

/// A registered session's parts.
struct Session<T, P> {
    protocol: P,
    conn: Conn<T>,
    scope: Scope,
    held: Held,
}

impl<T: Transport, P: Protocol<T>> Session<T, P> {
    fn new<F>(
        transport: T,
        state: Arc<AppState>,
        admitted: Admitted,
        make: F,
        mut held: Held,
    ) -> (Session<T, P>, Queue)
    where
        F: FnOnce(&Claims, Framing) -> P,
    {
        let Admitted {
            claims,
            tenant,
            slot,
        } = admitted;
        held._slot = Some(slot);
        let (registration, queue) = state.hub.register(tenant.clone(), state.config.queue_len);
        let session = Session {
            protocol: make(&claims, T::FRAMING),
            conn: Conn::new(transport, queue.signals()),
            scope: Scope {
                state,
                tenant,
                expires: claims.exp,
                registration,
            },
            held,
        };
        (session, queue)
    }
}
