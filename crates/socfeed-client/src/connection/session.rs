//! The read loop of an open connection: the silence watchdog, events (each new one delivered,
//! older ones dropped), AiSOC acks and GOVERN replay parts (epoch, truncation), close frames.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use socfeed_proto::Event;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCode;

use super::reader::{Reader, all};
use super::{Link, Ws};
use crate::ended::Ended;
use crate::item::FeedItem;
use crate::resume::Resumed;
use crate::status::Status;
use crate::wire::Incoming;

/// Reads until the connection ends; `up_since` is set once the server answers.
pub(super) async fn read(
    link: Link<'_>,
    ws: Ws,
    reader: Reader,
    up_since: &mut Option<Instant>,
) -> Ended {
    Session {
        link,
        ws,
        reader,
        up_since,
    }
    .read()
    .await
}

/// An open connection being read.
struct Session<'a, 'l> {
    link: Link<'l>,
    ws: Ws,
    reader: Reader,
    up_since: &'a mut Option<Instant>,
}

impl Session<'_, '_> {
    async fn read(mut self) -> Ended {
        let silence = self.link.config.silence_limit();
        loop {
            let next = tokio::select! {
                biased;
                () = self.link.stop.cancelled() => {
                    self.close().await;
                    return Ended::Stopped;
                }
                n = tokio::time::timeout(silence, self.ws.next()) => n,
            };
            let msg = match next {
                Err(_) => return Ended::Silent(silence),
                Ok(None) => return Ended::Lost("the server went away".into()),
                Ok(Some(Err(e))) => return Ended::Lost(e.to_string()),
                Ok(Some(Ok(m))) => m,
            };
            let result = match msg {
                Message::Text(text) => {
                    self.heard();
                    self.on_text(text.as_str()).await
                }
                Message::Close(frame) => {
                    return frame.map_or(
                        Ended::Closed {
                            code: 1005,
                            reason: String::new(),
                        },
                        |f| Ended::close(u16::from(f.code), f.reason.to_string()),
                    );
                }
                _ => {
                    self.heard();
                    Ok(())
                }
            };
            if let Err(ended) = result {
                if ended == Ended::Stopped {
                    self.close().await;
                }
                return ended;
            }
        }
    }

    /// The server answered: the connection is up.
    fn heard(&mut self) {
        if self.up_since.is_none() {
            *self.up_since = Some(Instant::now());
            self.link.status.send_replace(Status::Connected);
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<(), Ended> {
        let incoming = match self.reader.decode(text) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a message");
                return Ok(());
            }
        };
        match incoming {
            Incoming::Event(e) => self.event(e).await,
            Incoming::Subscribed(ack) => {
                let Reader::Aisoc { asked, .. } = &mut self.reader else {
                    return Ok(());
                };
                let Some(since) = asked.remove(&ack.channel) else {
                    return Ok(()); // an ack not asked for on this connection
                };
                let r = Resumed {
                    asked: since,
                    head: Some(ack.seq),
                    epoch: ack.epoch,
                    truncated: ack.truncated,
                };
                let gap = self.link.resume.on_resumed(&ack.channel, r);
                match gap {
                    Some(g) => self.deliver(FeedItem::Gap(g)).await,
                    None => Ok(()),
                }
            }
            Incoming::Replay(part) => {
                let Reader::Govern {
                    asked, in_replay, ..
                } = &mut self.reader
                else {
                    return Ok(());
                };
                let first = !*in_replay;
                // `more: true`: another part follows; the last part has `more: false`.
                *in_replay = part.more;
                if first {
                    let r = Resumed {
                        asked: *asked,
                        head: None,
                        epoch: part.epoch,
                        truncated: part.truncated,
                    };
                    if let Some(g) = self.link.resume.on_resumed(&all(), r) {
                        self.deliver(FeedItem::Gap(g)).await?;
                    }
                }
                for e in part.events {
                    self.event(e).await?;
                }
                Ok(())
            }
            Incoming::Error { code, message } if code == "forbidden_channel" => {
                Err(Ended::Refused {
                    code: 4003,
                    reason: message,
                })
            }
            Incoming::Error { code, message } => {
                tracing::warn!(%code, %message, "the server reported an error");
                Ok(())
            }
            Incoming::Other => Ok(()),
        }
    }

    async fn event(&mut self, e: Event) -> Result<(), Ended> {
        let stream = self.reader.stream_of(&e);
        if self.link.resume.accept(&stream, e.seq) {
            self.deliver(FeedItem::Event(e)).await
        } else {
            Ok(())
        }
    }

    /// Hands an item to the caller; waits while the caller's buffer is full.
    async fn deliver(&mut self, item: FeedItem) -> Result<(), Ended> {
        tokio::select! {
            biased;
            () = self.link.stop.cancelled() => Err(Ended::Stopped),
            r = self.link.out.send(Ok(item)) => r.map_err(|_| Ended::Stopped),
        }
    }

    /// A normal close (1000), bounded in time.
    async fn close(&mut self) {
        let frame = CloseFrame {
            code: WsCode::Normal,
            reason: "".into(),
        };
        let ws = &mut self.ws;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            ws.close(Some(frame)).await.ok();
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    }
}
