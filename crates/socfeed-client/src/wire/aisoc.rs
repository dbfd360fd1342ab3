//! AiSOC (`/ws`): `{"type","payload","tenant_id","ts"(RFC 3339),"id","seq"}` events and
//! `subscribed` / `error` / `ping` control messages in; `subscribe` out.

use serde::Deserialize;
use serde_json::value::RawValue;
use socfeed_proto::{Channel, Event, Seq, TenantId, timefmt};

use super::{Ack, DecodeError, ErrorBody, Incoming};

#[derive(Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    payload: Option<Box<RawValue>>,
    tenant_id: Option<TenantId>,
    ts: Option<String>,
    id: Option<String>,
    seq: Option<Seq>,
}

/// Reads one text frame. Events are told from control messages by their `seq` and `id`
/// (an event type may be a single word such as `ping`).
pub(crate) fn decode(text: &str) -> Result<Incoming, DecodeError> {
    let f: Frame = serde_json::from_str(text)?;
    let payload = || f.payload.as_deref().map(RawValue::get).unwrap_or("{}");
    match (f.seq, f.id) {
        (Some(seq), Some(id)) => {
            let missing = |what: &str| DecodeError(format!("event {seq} has no {what}"));
            let ts = f.ts.as_deref().ok_or_else(|| missing("ts"))?;
            Ok(Incoming::Event(Event {
                id,
                seq,
                tenant_id: f.tenant_id.ok_or_else(|| missing("tenant_id"))?,
                event_type: f.kind,
                payload: f.payload.ok_or_else(|| missing("payload"))?,
                ts: timefmt::parse_rfc3339(ts)
                    .ok_or_else(|| DecodeError(format!("event {seq}: bad ts {ts:?}")))?,
            }))
        }
        _ => match f.kind.as_str() {
            "subscribed" => Ok(Incoming::Subscribed(
                serde_json::from_str::<Ack>(payload())?,
            )),
            "error" => {
                let e: ErrorBody = serde_json::from_str(payload())?;
                Ok(Incoming::Error {
                    code: e.code,
                    message: e.message,
                })
            }
            _ => Ok(Incoming::Other),
        },
    }
}

/// `{"type":"subscribe","channel",["since"],["epoch"]}`; the epoch goes only with a `since`.
pub(crate) fn subscribe(channel: &Channel, since: Option<Seq>, epoch: Option<&str>) -> String {
    let mut msg = serde_json::json!({"type": "subscribe", "channel": channel.as_str()});
    if let Some(s) = since {
        msg["since"] = s.into();
        if let Some(e) = epoch {
            msg["epoch"] = e.into();
        }
    }
    msg.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use socfeed_proto::aisoc::{self, ClientMsg};

    fn event(seq: Seq, event_type: &str) -> Event {
        Event {
            id: format!("evt_{seq}"),
            seq,
            tenant_id: TenantId::parse("acme").unwrap(),
            event_type: event_type.into(),
            payload: RawValue::from_string(r#"{"title":"x", "n":[1,2]}"#.into()).unwrap(),
            ts: 1_777_802_400_123,
        }
    }

    #[test]
    fn reads_what_the_server_encodes() {
        let e = event(7, "ping");
        let bytes = aisoc::encode_event(&e);
        let Incoming::Event(got) = decode(&bytes).unwrap() else {
            panic!("an event named ping is still an event")
        };
        assert_eq!(aisoc::encode_event(&got), bytes);
        let ack = aisoc::subscribed(&Channel::parse("alerts").unwrap(), 9, Some("ep"), true);
        let Incoming::Subscribed(a) = decode(&ack).unwrap() else {
            panic!()
        };
        assert_eq!(
            (a.channel.as_str(), a.seq, a.epoch.as_deref(), a.truncated),
            ("alerts", 9, Some("ep"), true)
        );
        let first = aisoc::subscribed(&Channel::parse("all").unwrap(), 0, None, false);
        assert!(matches!(
            decode(&first).unwrap(),
            Incoming::Subscribed(Ack {
                epoch: None,
                truncated: false,
                ..
            })
        ));
        assert!(matches!(decode(&aisoc::ping(5)).unwrap(), Incoming::Other));
        let err = aisoc::error_message("forbidden_channel", "no");
        assert!(
            matches!(decode(&err).unwrap(), Incoming::Error { code, .. } if code == "forbidden_channel")
        );
        assert!(decode("nope").is_err());
    }

    #[test]
    fn the_server_accepts_what_the_client_sends() {
        let ch = Channel::parse("alerts").unwrap();
        assert_eq!(
            aisoc::parse_client(&subscribe(&ch, Some(41), Some("e1"))),
            Ok(ClientMsg::Subscribe {
                channel: ch.clone(),
                since: Some(41),
                epoch: Some("e1".into())
            })
        );
        assert_eq!(
            aisoc::parse_client(&subscribe(&ch, None, Some("e1"))),
            Ok(ClientMsg::Subscribe {
                channel: ch,
                since: None,
                epoch: None
            })
        );
    }
}
