//! The audit trail: feed connections, refusals and auth failures, logged at `info` under the
//! target `socfeed::audit` with the reason, tenant, subject and client address (never a token
//! or ticket). Rate-limited, so that a flood of refused requests cannot flood the log; what was
//! left out is counted in the next line.

use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use super::limits::Bucket;

/// Lines a second at most (bursts of twice that).
const LINES_PER_SECOND: f64 = 50.0;

/// The trail's rate limit and what it left out.
pub(crate) struct Audit {
    state: Mutex<(Bucket, u64)>,
}

impl Default for Audit {
    fn default() -> Audit {
        Audit {
            state: Mutex::new((Bucket::new(LINES_PER_SECOND, Instant::now()), 0)),
        }
    }
}

impl Audit {
    /// Whether a line may be written now, and how many were left out before it.
    fn allow(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (bucket, left_out) = &mut *state;
        if bucket.take(1.0, Instant::now()).is_ok() {
            Some(std::mem::take(left_out))
        } else {
            *left_out += 1;
            None
        }
    }

    /// A subscriber's feed connection was admitted.
    pub(crate) fn opened(&self, tenant: &str, sub: &str, client: IpAddr) {
        if let Some(left_out) = self.allow() {
            tracing::info!(
                target: "socfeed::audit",
                tenant,
                sub,
                %client,
                left_out,
                "feed connection opened"
            );
        }
    }

    /// A request was refused (`what`: the kind of request) for `reason`; `who` is the token's
    /// tenant and subject when it was verified.
    pub(crate) fn refused(
        &self,
        what: &str,
        reason: &str,
        who: Option<(&str, &str)>,
        client: IpAddr,
    ) {
        if let Some(left_out) = self.allow() {
            let (tenant, sub) = who.unwrap_or(("", ""));
            tracing::info!(
                target: "socfeed::audit",
                request = what,
                reason,
                tenant,
                sub,
                %client,
                left_out,
                "refused"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_cut_and_counted() {
        let audit = Audit::default();
        let allowed = (0..1000).filter(|_| audit.allow().is_some()).count();
        assert!((100..=110).contains(&allowed), "{allowed}");
        assert_eq!(audit.state.lock().unwrap().1, 1000 - allowed as u64);
    }
}
