//! Retention: removes events older than the configured age from the log, periodically.

use std::time::Duration;

use socfeed_log::SharedLog;
use tokio_util::sync::CancellationToken;

/// Purges every `min(retention / 10, 60 s)` until `stop` fires.
pub(crate) async fn run(log: SharedLog, retention: Duration, stop: CancellationToken) {
    let every = (retention / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
    let mut ticker = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let cutoff =
            socfeed_log::now_ms() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        match log.purge_before(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(removed = n, "retention purge"),
            Err(e) => tracing::warn!(error = %crate::report(&e), "retention purge failed"),
        }
    }
}
