//! From Redis failures to [`LogError`]: which ones leave the outcome unknown, and the one
//! deadline every Redis call runs under.
//!
//! * Nothing was done → [`LogError::Unavailable`]: the connection was refused or never came
//!   up, or Redis refused before running anything (`LOADING`, `BUSY`, `OOM`, `READONLY`,
//!   `MISCONF`, cluster redirections …). A read that fails in any way is also this: it changed
//!   nothing.
//! * A write that was (or may have been) sent and got no reply → [`LogError::Uncertain`]: a
//!   timeout, a connection broken mid-call.
//! * Anything else (a script error, an unexpected reply) → [`LogError::Storage`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ::redis::{ErrorKind, RedisError, RedisResult, ServerErrorKind};

use crate::LogError;

/// Whether a call can have changed anything in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Read,
    Write,
}

/// The deadline of a call ran out.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no reply from Redis within {0:?}")]
pub struct NoReply(pub Duration);

/// Runs one Redis call under `timeout` and maps its failure.
pub(crate) async fn bounded<T>(
    timeout: Duration,
    effect: Effect,
    context: &'static str,
    call: impl Future<Output = RedisResult<T>>,
) -> Result<T, LogError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(classify(effect, context, e)),
        Err(_elapsed) => Err(match effect {
            Effect::Read => unavailable(context, NoReply(timeout)),
            Effect::Write => uncertain(context, NoReply(timeout)),
        }),
    }
}

/// Maps a failed call (see the module doc).
pub(crate) fn classify(effect: Effect, context: &'static str, e: RedisError) -> LogError {
    if refused_before_running(&e) {
        return unavailable(context, e);
    }
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
        return match effect {
            Effect::Read => unavailable(context, e),
            Effect::Write => uncertain(context, e),
        };
    }
    LogError::Storage {
        context,
        source: Some(Arc::new(e)),
    }
}

/// Failures after which Redis certainly did not run the command.
fn refused_before_running(e: &RedisError) -> bool {
    if e.is_connection_refusal() {
        return true;
    }
    match e.kind() {
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly
            | ServerErrorKind::Moved
            | ServerErrorKind::Ask
            | ServerErrorKind::CrossSlot,
        )
        | ErrorKind::AuthenticationFailed
        | ErrorKind::RESP3NotSupported
        | ErrorKind::ClusterConnectionNotFound => true,
        ErrorKind::Extension => matches!(
            e.code(),
            Some("BUSY" | "OOM" | "MISCONF" | "NOREPLICAS" | "NOAUTH" | "WRONGPASS")
        ),
        _ => false,
    }
}

pub(crate) fn unavailable(
    context: &'static str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> LogError {
    LogError::Unavailable {
        context,
        source: Some(Arc::new(e)),
    }
}

pub(crate) fn uncertain(
    context: &'static str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> LogError {
    LogError::Uncertain {
        context,
        source: Some(Arc::new(e)),
    }
}

/// A reply that is not what the script or command returns.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unexpected reply from Redis: {0}")]
pub struct BadReply(pub String);

/// [`LogError::Storage`] for a malformed reply to a read.
pub(crate) fn bad_reply(context: &'static str, what: impl Into<String>) -> LogError {
    LogError::Storage {
        context,
        source: Some(Arc::new(BadReply(what.into()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error code the append script raises for a stored state it refuses to build on.
    const CORRUPT_CODE: &str = "SOCFEED_CORRUPT";

    fn io(kind: std::io::ErrorKind) -> RedisError {
        RedisError::from(std::io::Error::from(kind))
    }

    fn server(code: &str, detail: &str) -> RedisError {
        ::redis::make_extension_error(code.to_owned(), Some(detail.to_owned()))
    }

    #[test]
    fn refused_connections_are_unavailable_even_for_writes() {
        let e = classify(
            Effect::Write,
            "append",
            io(std::io::ErrorKind::ConnectionRefused),
        );
        assert!(matches!(e, LogError::Unavailable { .. }), "{e:?}");
    }

    #[test]
    fn a_broken_write_is_uncertain_a_broken_read_unavailable() {
        for kind in [
            std::io::ErrorKind::ConnectionReset,
            std::io::ErrorKind::TimedOut,
            std::io::ErrorKind::UnexpectedEof,
        ] {
            assert!(classify(Effect::Write, "append", io(kind)).is_uncertain());
            let read = classify(Effect::Read, "read", io(kind));
            assert!(matches!(read, LogError::Unavailable { .. }), "{read:?}");
        }
    }

    #[test]
    fn server_refusals_are_unavailable_script_errors_storage() {
        let loading =
            RedisError::from((ErrorKind::Server(ServerErrorKind::BusyLoading), "loading"));
        assert!(matches!(
            classify(Effect::Write, "append", loading),
            LogError::Unavailable { .. }
        ));
        let oom = server("OOM", "command not allowed when used memory > 'maxmemory'");
        assert!(matches!(
            classify(Effect::Write, "append", oom),
            LogError::Unavailable { .. }
        ));
        let corrupt = server(CORRUPT_CODE, "stream ahead of head");
        let e = classify(Effect::Write, "append", corrupt);
        assert!(matches!(e, LogError::Storage { .. }), "{e:?}");
        assert!(!e.is_unreachable());
    }

    #[tokio::test]
    async fn the_deadline_makes_a_hung_write_uncertain() {
        let hang = std::future::pending::<RedisResult<()>>();
        let e = bounded(Duration::from_millis(10), Effect::Write, "append", hang)
            .await
            .unwrap_err();
        assert!(e.is_uncertain());
        let source = std::error::Error::source(&e).unwrap().to_string();
        assert!(source.contains("10ms"), "{source}");
        let hang = std::future::pending::<RedisResult<()>>();
        let e = bounded(Duration::from_millis(10), Effect::Read, "read", hang)
            .await
            .unwrap_err();
        assert!(matches!(e, LogError::Unavailable { .. }));
    }
}
