//! The AiSOC dialect on `GET /ws`: channel subscriptions with `since` replay, pings, and the
//! events of the tenant's subscribed channels.

use axum::response::Response;
use bytes::Bytes;
use socfeed_proto::aisoc::{self, ClientError, ClientMsg, ErrorCode};
use socfeed_proto::{Channel, Claims, Seq};

use super::FeedRequestParts;
use crate::fanout::{Delivery, Format};
use crate::session::{
    Conn, Cursor, End, Fault, Message, Protocol, Reply, Scope, Seam, Subscriptions,
};
use crate::transport::Transport;
use crate::transport::ws::Upgrade;

/// `GET /ws`: closes with 4001/4003/4029 when the token or the limits do not hold.
pub(crate) async fn handler(request: FeedRequestParts, ws: Upgrade) -> Response {
    let defaults = UrlDefaults {
        since: request
            .query
            .get("since")
            .map(|s| s.parse::<Seq>().map_err(|_| s.clone())),
        epoch: request.query.get("epoch").cloned(),
    };
    super::upgrade(request, ws, move |claims, _| Aisoc::new(claims, defaults))
}

/// `?since=` and `?epoch=` from the URL: defaults for every subscribe of the connection.
struct UrlDefaults {
    since: Option<Result<Seq, String>>,
    epoch: Option<String>,
}

/// An AiSOC session's state.
struct Aisoc {
    subs: Subscriptions,
    default_since: Option<Seq>,
    default_epoch: Option<String>,
    /// A bad `?since=`, reported once the session starts.
    early: Option<ClientError>,
    counted_subs: usize,
}

impl Aisoc {
    fn new(claims: &Claims, defaults: UrlDefaults) -> Aisoc {
        let (default_since, early) = match defaults.since {
            Some(Ok(s)) => (Some(s), None),
            Some(Err(bad)) => (
                None,
                Some(ClientError {
                    code: ErrorCode::BadRequest,
                    message: format!(
                        "`since` in the URL must be a non-negative integer (got {bad:?}); ignored"
                    ),
                }),
            ),
            None => (None, None),
        };
        Aisoc {
            subs: Subscriptions::new(claims),
            default_since,
            default_epoch: defaults.epoch,
            early,
            counted_subs: 0,
        }
    }

    /// Subscribes `channel` through the seam: acknowledged with the head, replayed from
    /// `since` when given (channels this connection already receives are not replayed again),
    /// then live above the floor.
    async fn subscribe<T: Transport>(
        &mut self,
        conn: &mut Conn<T>,
        scope: &Scope,
        channel: Channel,
        since: Option<Seq>,
        epoch: Option<String>,
    ) -> Result<(), Fault> {
        if !channel.is_all() && !self.subs.allowed(&channel) {
            return Err(Fault::client(
                ErrorCode::ForbiddenChannel.as_str(),
                format!("channel {channel} is not allowed by the token"),
            ));
        }
        let limit = scope.state.config.max_subscriptions;
        if !self.subs.has(&channel) && self.subs.count() >= limit {
            return Err(Fault::client(
                "too_many_subscriptions",
                format!("at most {limit} subscriptions per connection"),
            ));
        }
        // A channel this connection already receives is not replayed again (at most once).
        let covered = if channel.is_all() {
            self.subs.has(&channel)
        } else {
            self.subs.covers(&channel)
        };
        let cursor = since
            .filter(|_| !covered)
            .map(|since| Cursor::Seq { since, epoch });
        let only = (!channel.is_all()).then(|| channel.clone());
        let interest = self.subs.interest_with(Some(&channel));
        let mut seam = Seam::open(scope, interest, cursor.as_ref(), only).await?;
        let head = seam.head();
        let ack = aisoc::subscribed(&channel, head.seq, head.epoch.as_deref(), seam.truncated());
        conn.send_message("subscribed", ack.as_bytes()).await?;
        let mut replayed = 0;
        while let Some(page) = seam.next_page().await? {
            let subs = &self.subs;
            replayed += conn
                .send_deliveries(&page, |d| {
                    (subs.allowed(&d.channel) && !subs.covers(&d.channel))
                        .then(|| d.frame(Format::Aisoc))
                })
                .await?;
        }
        let metrics = &scope.state.metrics;
        metrics.events_replayed.inc_by(replayed);
        metrics.frames_sent.inc_by(replayed);
        self.subs.subscribe(&channel, seam.floor());
        scope
            .registration
            .set_interest(&self.subs.interest_with(None));
        self.set_sub_gauge(scope, self.subs.count());
        Ok(())
    }

    fn set_sub_gauge(&mut self, scope: &Scope, now: usize) {
        let delta = now as i64 - self.counted_subs as i64;
        scope.state.metrics.subscriptions.inc_by(delta);
        self.counted_subs = now;
    }
}

impl<T: Transport> Protocol<T> for Aisoc {
    async fn start(&mut self, conn: &mut Conn<T>, _scope: &Scope) -> Result<(), End> {
        if let Some(err) = self.early.take() {
            conn.send_message("error", aisoc::error(&err).as_bytes())
                .await?;
        }
        Ok(())
    }

    fn heartbeat(&self, now_ms: i64) -> Message {
        ("ping", aisoc::ping(now_ms))
    }

    fn error(&self, code: &str, message: &str) -> String {
        aisoc::error_message(code, message)
    }

    async fn on_text(&mut self, conn: &mut Conn<T>, scope: &Scope, text: &str) -> Reply {
        let msg =
            aisoc::parse_client(text).map_err(|e| Fault::client(e.code.as_str(), e.message))?;
        match msg {
            ClientMsg::Pong => Ok(()),
            ClientMsg::Unsubscribe { channel } => {
                self.subs.unsubscribe(&channel);
                scope
                    .registration
                    .set_interest(&self.subs.interest_with(None));
                self.set_sub_gauge(scope, self.subs.count());
                let ack = aisoc::unsubscribed(&channel);
                Ok(conn.send_message("unsubscribed", ack.as_bytes()).await?)
            }
            ClientMsg::Subscribe {
                channel,
                since,
                epoch,
            } => {
                let since = since.or(self.default_since);
                let epoch = epoch.or_else(|| self.default_epoch.clone());
                self.subscribe(conn, scope, channel, since, epoch).await
            }
        }
    }

    fn frame<'d>(&self, d: &'d Delivery) -> Option<&'d Bytes> {
        self.subs
            .wants(&d.channel, d.seq())
            .then(|| d.frame(Format::Aisoc))
    }

    fn ended(&mut self, scope: &Scope) {
        self.set_sub_gauge(scope, 0);
    }
}
