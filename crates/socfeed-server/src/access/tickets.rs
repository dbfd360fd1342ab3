//! Single-use connection tickets: `POST /v1/tickets` trades a Bearer token for a short-lived ticket
//! that `?ticket=` accepts on the feed endpoints, so tokens stay out of URLs (and proxy logs).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socfeed_proto::Claims;

/// How long a ticket is valid.
pub(crate) const TTL: Duration = Duration::from_secs(30);
/// Outstanding tickets kept at most (expired ones are dropped first).
const MAX_OUTSTANDING: usize = 100_000;

/// How long until `exp` (unix seconds).
fn remaining(exp: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(exp).saturating_sub(now)
}

/// Why a ticket could not be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many outstanding tickets; try again shortly")]
pub(crate) struct TooMany;

/// The outstanding tickets.
#[derive(Default)]
pub(crate) struct Tickets {
    map: Mutex<HashMap<String, (Claims, Instant)>>,
}

impl Tickets {
    /// Issues a ticket carrying `claims`, valid for [`TTL`] or the token's remaining life,
    /// whichever is shorter; returns it and how long it is valid.
    pub(crate) fn issue(
        &self,
        claims: Claims,
        now: Instant,
    ) -> Result<(String, Duration), TooMany> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_OUTSTANDING {
            map.retain(|_, (_, expires)| *expires > now);
            if map.len() >= MAX_OUTSTANDING {
                return Err(TooMany);
            }
        }
        let ticket = format!(
            "tkt_{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        let life = TTL.min(remaining(claims.exp));
        map.insert(ticket.clone(), (claims, now + life));
        Ok((ticket, life))
    }

    /// Redeems a ticket once: its claims when it exists and has not expired.
    pub(crate) fn redeem(&self, ticket: &str, now: Instant) -> Option<Claims> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let (claims, expires) = map.remove(ticket)?;
        (expires > now).then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socfeed_proto::Role;

    #[test]
    fn tickets_are_single_use_and_expire() {
        let t = Tickets::default();
        let claims = Claims {
            sub: "u".into(),
            tenant_id: "t".into(),
            exp: u64::MAX,
            roles: vec![Role::Subscriber],
            channels: None,
            iss: None,
            aud: None,
            nbf: None,
            iat: None,
        };
        let now = Instant::now();
        let (a, life) = t.issue(claims.clone(), now).unwrap();
        assert_eq!(life, TTL);
        assert_eq!(t.redeem(&a, now).unwrap().sub, "u");
        assert!(t.redeem(&a, now).is_none(), "single use");
        let (b, _) = t.issue(claims.clone(), now).unwrap();
        assert!(t.redeem(&b, now + TTL).is_none(), "expired");
        let soon = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3;
        let (c, life) = t
            .issue(
                Claims {
                    exp: soon,
                    ..claims
                },
                now,
            )
            .unwrap();
        assert!(
            life <= Duration::from_secs(3),
            "bounded by the token: {life:?}"
        );
        assert!(t.redeem(&c, now + Duration::from_secs(4)).is_none());
        assert!(t.redeem("tkt_unknown", now).is_none());
    }
}
