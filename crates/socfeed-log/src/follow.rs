//! Following a tenant's commits wherever they are made: the contract between a cluster engine
//! (whose commits may come from other nodes) and the hub that fans them out.
//!
//! The hub follows a tenant while it has sessions for it ([`crate::EventLog::follow`]). A local
//! engine (embedded, memory) hands every commit to its listener anyway, so its followings are
//! always live. A cluster engine subscribes to the tenant's commits and reports, through
//! [`Flow`], whether they reach the listener: a session registers, waits for [`Flow::Live`],
//! then reads the head; every commit above that head then reaches it.

use std::any::Any;
use std::time::Duration;

use tokio::sync::watch;

use crate::LogError;

/// Whether commits of a followed tenant reach the listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Being set up (subscribing, reading the head): not guaranteed yet.
    Starting,
    /// Every commit from now on reaches the listener once, in seq order.
    Live,
    /// The engine is out of reach: commits made meanwhile reach the listener, in order, once it
    /// is back.
    Down,
}

/// One holder's interest in a tenant's commits. Dropping it ends that interest; the engine
/// stops following a tenant nobody follows.
pub struct Following {
    flow: Option<watch::Receiver<Flow>>,
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl Following {
    /// For an engine whose every commit is local: always live.
    pub fn local() -> Following {
        Following {
            flow: None,
            _guard: None,
        }
    }

    /// A following whose state `flow` reports; `guard` is dropped with it.
    pub fn new(flow: watch::Receiver<Flow>, guard: Box<dyn Any + Send + Sync>) -> Following {
        Following {
            flow: Some(flow),
            _guard: Some(guard),
        }
    }

    /// Whether the engine's commits are all local (nothing to wait for, nothing to lose).
    pub fn is_local(&self) -> bool {
        self.flow.is_none()
    }

    /// The state's receiver (`None` for a local engine), to wait on without holding `self`.
    pub fn flow(&self) -> Option<watch::Receiver<Flow>> {
        self.flow.clone()
    }
}

/// Waits at most `within` until `flow` is [`Flow::Live`] (`None`: a local engine, live now).
/// Fails with [`LogError::Unavailable`] when it is not live in time.
pub async fn live(flow: Option<watch::Receiver<Flow>>, within: Duration) -> Result<(), LogError> {
    let Some(mut flow) = flow else {
        return Ok(());
    };
    let wait = flow.wait_for(|f| *f == Flow::Live);
    match tokio::time::timeout(within, wait).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err(LogError::Closed),
        Err(_) => Err(LogError::Unavailable {
            context: "following the tenant's live events",
            source: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_is_live_and_a_remote_one_when_it_says_so() {
        assert!(Following::local().is_local());
        assert!(live(None, Duration::ZERO).await.is_ok());
        let (tx, rx) = watch::channel(Flow::Starting);
        let f = Following::new(rx, Box::new(()));
        assert!(!f.is_local());
        let late = live(f.flow(), Duration::from_millis(20)).await;
        assert!(
            matches!(late, Err(LogError::Unavailable { .. })),
            "{late:?}"
        );
        let waiting = tokio::spawn(live(f.flow(), Duration::from_secs(5)));
        tx.send_replace(Flow::Down);
        tx.send_replace(Flow::Live);
        assert!(waiting.await.unwrap().is_ok());
    }
}
