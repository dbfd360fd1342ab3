//! GOVERN (`/v1/soc/feed`): `{"event","data","ts"(unix ms),"id","seq"}` events, `feed.replay`
//! parts, heartbeats and errors in; `subscribe` out. Envelopes carry no `tenant_id`: the caller
//! passes the tenant of its token.

use serde::Deserialize;
use serde_json::value::RawValue;
use socfeed_proto::{Event, Filters, Seq, TenantId};

use super::{DecodeError, ErrorBody, Incoming, ReplayPart};

#[derive(Deserialize)]
struct Envelope {
    event: String,
    data: Option<Box<RawValue>>,
    #[serde(default)]
    ts: i64,
    id: Option<String>,
    seq: Option<Seq>,
}

#[derive(Deserialize)]
struct ReplayData {
    #[serde(default)]
    truncated: bool,
    #[serde(default)]
    epoch: Option<String>,
    #[serde(default)]
    more: bool,
    #[serde(default)]
    events: Vec<Envelope>,
}

fn to_event(e: Envelope, tenant: &TenantId) -> Result<Event, DecodeError> {
    let (Some(seq), Some(id)) = (e.seq, e.id) else {
        return Err(DecodeError(format!("{} without seq and id", e.event)));
    };
    Ok(Event {
        id,
        seq,
        tenant_id: tenant.clone(),
        event_type: e.event,
        payload: e
            .data
            .ok_or_else(|| DecodeError(format!("event {seq} has no data")))?,
        ts: e.ts,
    })
}

/// Reads one text frame of the feed of `tenant`.
pub(crate) fn decode(text: &str, tenant: &TenantId) -> Result<Incoming, DecodeError> {
    let env: Envelope = serde_json::from_str(text)?;
    if env.seq.is_some() && env.id.is_some() {
        return Ok(Incoming::Event(to_event(env, tenant)?));
    }
    let data = env.data.as_deref().map(RawValue::get).unwrap_or("{}");
    match env.event.as_str() {
        "feed.replay" => {
            let d: ReplayData = serde_json::from_str(data)?;
            Ok(Incoming::Replay(ReplayPart {
                truncated: d.truncated,
                epoch: d.epoch,
                more: d.more,
                events: d
                    .events
                    .into_iter()
                    .map(|e| to_event(e, tenant))
                    .collect::<Result<_, _>>()?,
            }))
        }
        "error" => {
            let e: ErrorBody = serde_json::from_str(data)?;
            Ok(Incoming::Error {
                code: e.code,
                message: e.message,
            })
        }
        _ => Ok(Incoming::Other),
    }
}

/// `{"action":"subscribe","filters":{...}}`: sets the filters the URL already gave, and gets a
/// prompt `feed.subscribed` back, which tells the connection was accepted.
pub(crate) fn subscribe(filters: &Filters) -> String {
    serde_json::json!({"action": "subscribe", "filters": filters}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use socfeed_proto::govern::{self, ClientMsg};

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    fn event(seq: Seq) -> Event {
        Event {
            id: format!("evt_{seq}"),
            seq,
            tenant_id: tenant(),
            event_type: "alert.new".into(),
            payload: RawValue::from_string(format!(r#"{{"severity":"high","n":{seq}}}"#)).unwrap(),
            ts: 1_744_123_456_789,
        }
    }

    #[test]
    fn reads_events_and_replay_parts() {
        let bytes = govern::encode_event(&event(3));
        let Incoming::Event(got) = decode(&bytes, &tenant()).unwrap() else {
            panic!()
        };
        assert_eq!(govern::encode_event(&got), bytes);
        let frames: Vec<String> = (1..=6).map(|i| govern::encode_event(&event(i))).collect();
        let mut b = govern::ReplayBuilder::new(0, 1, true, Some("ep"), 300);
        let mut parts: Vec<Vec<u8>> = frames
            .iter()
            .filter_map(|f| b.push(f.as_bytes(), 2))
            .collect();
        parts.push(b.finish(2));
        let parts: Vec<String> = parts
            .into_iter()
            .map(|p| String::from_utf8(p).unwrap())
            .collect();
        assert!(parts.len() > 1);
        let mut seqs = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let Incoming::Replay(r) = decode(p, &tenant()).unwrap() else {
                panic!()
            };
            assert_eq!(
                (r.more, r.truncated, r.epoch.as_deref()),
                (i + 1 < parts.len(), true, Some("ep"))
            );
            seqs.extend(r.events.iter().map(|e| e.seq));
        }
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn control_messages() {
        assert!(matches!(
            decode(&govern::heartbeat(1), &tenant()).unwrap(),
            Incoming::Other
        ));
        let sub = govern::subscribed(&Filters::default(), 1);
        assert!(matches!(decode(&sub, &tenant()).unwrap(), Incoming::Other));
        let err = govern::error("bad_request", "since", 1);
        assert!(
            matches!(decode(&err, &tenant()).unwrap(), Incoming::Error { code, .. } if code == "bad_request")
        );
    }

    #[test]
    fn the_server_accepts_what_the_client_sends() {
        let f = Filters {
            severities: vec!["high".into()],
            ..Filters::default()
        };
        assert_eq!(
            govern::parse_client(&subscribe(&f)),
            Ok(ClientMsg::Subscribe { filters: f })
        );
        let none = Filters::default();
        assert_eq!(
            govern::parse_client(&subscribe(&none)),
            Ok(ClientMsg::Subscribe { filters: none })
        );
    }
}
