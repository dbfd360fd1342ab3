//! The one way events enter the log: the append, timed and counted, for `POST /v1/events` and
//! for the demo generator alike.

use std::time::Instant;

use socfeed_log::{Appended, LogError};
use socfeed_proto::EventDraft;

use crate::metrics::Metrics;

/// Appends `drafts` to `log`; on success the append latency, new events and duplicates are
/// counted.
pub(crate) async fn append(
    log: &socfeed_log::SharedLog,
    metrics: &Metrics,
    drafts: Vec<EventDraft>,
) -> Result<Vec<Appended>, LogError> {
    let started = Instant::now();
    let appended = log.append(drafts).await?;
    metrics
        .log_append_seconds
        .observe(started.elapsed().as_secs_f64());
    let duplicates = appended.iter().filter(|a| a.duplicate).count() as u64;
    metrics.publish_duplicates.inc_by(duplicates);
    metrics
        .events_published
        .inc_by(appended.len() as u64 - duplicates);
    Ok(appended)
}
