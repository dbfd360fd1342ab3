//! The feed's task: connection after connection, with backoff between them, until the caller
//! stops the feed or the server refuses its token.

use std::time::{Duration, Instant};

use socfeed_proto::channel::ALL;
use socfeed_proto::{Channel, Seq};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::backoff::Retry;
use crate::config::{Dialect, FeedConfig};
use crate::connection::{self, Items, Link};
use crate::ended::Ended;
use crate::resume::Resume;
use crate::status::Status;
use crate::token::Tokens;

/// Everything the task owns.
pub(crate) struct Supervisor {
    pub config: FeedConfig,
    pub base: Url,
    pub tokens: Tokens,
    pub out: Items,
    pub status: watch::Sender<Status>,
    pub stop: CancellationToken,
}

impl Supervisor {
    pub(crate) async fn run(self) {
        let per_channel = matches!(self.config.dialect, Dialect::Aisoc { .. });
        let mut resume = Resume::new(self.config.since, self.config.epoch.clone(), per_channel);
        let mut retry = Retry::new(self.config.backoff);
        let started = Instant::now();
        let mut attempts: u32 = 0;
        loop {
            let window = self.window(&resume, attempts, started);
            attempts = attempts.saturating_add(1);
            let outcome = connection::run(Link {
                config: &self.config,
                base: &self.base,
                tokens: &self.tokens,
                resume: &mut resume,
                out: &self.out,
                status: &self.status,
                stop: &self.stop,
                window,
            })
            .await;
            if let Some(up) = outcome.up_since {
                retry.connection_ended(up.elapsed());
            }
            let ended = outcome.ended;
            if ended == Ended::Stopped {
                return self.finish(ended.to_string());
            }
            if let Some(err) = ended.fatal() {
                tracing::debug!(error = %err, "feed stopped");
                self.status.send_replace(Status::Disconnected {
                    reason: err.to_string(),
                });
                tokio::select! {
                    () = self.stop.cancelled() => {}
                    _ = self.out.send(Err(err)) => {}
                }
                return;
            }
            let delay = retry.next_delay(rand::random::<f64>());
            tracing::debug!(reason = %ended, ?delay, attempt = retry.attempt(), "reconnecting");
            self.status.send_replace(Status::Reconnecting {
                attempt: retry.attempt(),
                retry_in: delay,
                reason: ended.to_string(),
            });
            tokio::select! {
                () = self.stop.cancelled() => return self.finish(Ended::Stopped.to_string()),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    fn finish(&self, reason: String) {
        self.status.send_replace(Status::Disconnected { reason });
    }

    /// A GOVERN feed that started live and has no position yet resumes by time: everything
    /// ingested since the feed started (plus a second for clock steps and latency), so an outage
    /// loses nothing.
    fn window(&self, resume: &Resume, attempts: u32, started: Instant) -> Option<Duration> {
        let all = Channel::parse(ALL).ok()?;
        let live: Option<Seq> = resume.since(&all);
        let govern = matches!(self.config.dialect, Dialect::Govern { .. });
        (govern && live.is_none() && attempts > 0)
            .then(|| started.elapsed() + Duration::from_secs(1))
    }
}
