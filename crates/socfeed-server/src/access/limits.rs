//! Limits that keep one tenant, one address or one client from taking the server down:
//! connections per tenant and per IP (4029 / 429), messages per second per connection (4029),
//! events per second per publisher token (429 with `Retry-After`).
//!
//! An address's connections are counted from accept ([`Limits::accept`]): every TCP connection
//! of a direct peer holds a place in its address's count for as long as it is open, whatever it
//! sends (or does not). A trusted proxy's connections are not counted by the proxy's address;
//! their feeds are counted by the address they were forwarded for, at admission.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use socfeed_proto::TenantId;

use crate::config::Config;

/// Which connection limit was hit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LimitError {
    #[error("too many connections for this tenant (limit {0})")]
    Tenant(usize),
    #[error("too many connections from this address (limit {0})")]
    Ip(usize),
}

/// Publisher buckets kept at most; idle ones are dropped first.
const MAX_PUBLISHERS: usize = 100_000;

/// Connection counts and publish buckets.
pub(crate) struct Limits {
    per_tenant: usize,
    per_ip: usize,
    publish_rate: u32,
    counts: Mutex<Counts>,
    publishers: Mutex<HashMap<String, Bucket>>,
}

#[derive(Default)]
struct Counts {
    tenants: HashMap<TenantId, usize>,
    ips: HashMap<IpAddr, usize>,
    /// Connections of addresses at their limit that are being answered with a refusal.
    refusing: HashMap<IpAddr, usize>,
}

/// Connections of one address at its limit that may be open at once to be refused in words
/// (429 / 4029); beyond these, its new connections are closed at accept.
pub(crate) const REFUSING_PER_IP: usize = 8;

/// A TCP connection's standing in its address's count, decided at accept and shared by the
/// connection and every request and session on it: the place is given back when the last of
/// them ends.
pub(crate) enum Accepted {
    /// Counted against the peer address.
    Counted { _place: Place },
    /// The address is at its limit: the connection may only be told so (then it is closed).
    Over { limit: usize, _place: Place },
    /// From a trusted proxy: feeds on it are counted by the address they were forwarded for.
    Proxied,
}

/// A place in one of an address's counts, given back when dropped.
pub(crate) struct Place {
    limits: Arc<Limits>,
    ip: IpAddr,
    refusing: bool,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut c = self
            .limits
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let map = if self.refusing {
            &mut c.refusing
        } else {
            &mut c.ips
        };
        decrement(map, &self.ip);
    }
}

impl Limits {
    pub(crate) fn new(config: &Config) -> Arc<Limits> {
        Arc::new(Limits {
            per_tenant: config.max_connections_per_tenant,
            per_ip: config.max_connections_per_ip,
            publish_rate: config.publish_rate,
            counts: Mutex::default(),
            publishers: Mutex::default(),
        })
    }

    /// Counts a connection just accepted from `ip` (`proxy`: the peer is a trusted proxy).
    /// `None`: the address is at its limit and already has [`REFUSING_PER_IP`] connections
    /// being refused; close this one at once.
    pub(crate) fn accept(self: &Arc<Limits>, ip: IpAddr, proxy: bool) -> Option<Accepted> {
        if proxy {
            return Some(Accepted::Proxied);
        }
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let place = |refusing| Place {
            limits: Arc::clone(self),
            ip,
            refusing,
        };
        let open = c.ips.entry(ip).or_default();
        if *open < self.per_ip {
            *open += 1;
            return Some(Accepted::Counted {
                _place: place(false),
            });
        }
        let refusing = c.refusing.entry(ip).or_default();
        if *refusing < REFUSING_PER_IP {
            *refusing += 1;
            return Some(Accepted::Over {
                limit: self.per_ip,
                _place: place(true),
            });
        }
        None
    }

    /// Takes a feed slot for `tenant` on `connection` (accepted from `ip`, or forwarded for
    /// `ip` by a trusted proxy); the slot is given back when dropped and keeps the
    /// connection's place in its address's count until then.
    pub(crate) fn admit(
        self: &Arc<Limits>,
        tenant: &TenantId,
        ip: IpAddr,
        connection: &Arc<Accepted>,
    ) -> Result<Slot, LimitError> {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let forwarded = match **connection {
            Accepted::Over { limit, .. } => return Err(LimitError::Ip(limit)),
            Accepted::Counted { .. } => false,
            Accepted::Proxied => {
                if c.ips.get(&ip).copied().unwrap_or(0) >= self.per_ip {
                    return Err(LimitError::Ip(self.per_ip));
                }
                true
            }
        };
        if c.tenants.get(tenant).copied().unwrap_or(0) >= self.per_tenant {
            return Err(LimitError::Tenant(self.per_tenant));
        }
        if forwarded {
            *c.ips.entry(ip).or_default() += 1;
        }
        *c.tenants.entry(tenant.clone()).or_default() += 1;
        Ok(Slot {
            limits: Arc::clone(self),
            tenant: tenant.clone(),
            forwarded: forwarded.then_some(ip),
            _connection: Arc::clone(connection),
        })
    }

    fn release(&self, tenant: &TenantId, forwarded: Option<IpAddr>) {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(ip) = forwarded {
            decrement(&mut c.ips, &ip);
        }
        decrement(&mut c.tenants, tenant);
    }

    /// Charges `events` to the publisher `key`; `Err(retry_after)` when over its rate.
    pub(crate) fn publish(&self, key: &str, events: usize, now: Instant) -> Result<(), Duration> {
        if self.publish_rate == 0 {
            return Ok(());
        }
        let mut buckets = self
            .publishers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_PUBLISHERS && !buckets.contains_key(key) {
            buckets.retain(|_, b| !b.is_full(now));
        }
        let rate = f64::from(self.publish_rate);
        let bucket = buckets
            .entry(key.to_owned())
            .or_insert_with(|| Bucket::new(rate, now));
        bucket.take(events as f64, now)
    }
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// A held feed slot.
pub(crate) struct Slot {
    limits: Arc<Limits>,
    tenant: TenantId,
    /// The forwarded-for address counted at admission (a trusted proxy's connection).
    forwarded: Option<IpAddr>,
    _connection: Arc<Accepted>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limits.release(&self.tenant, self.forwarded);
    }
}

/// A token bucket: `rate` tokens a second, holding at most twice that.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub(crate) fn new(rate: f64, now: Instant) -> Bucket {
        Bucket {
            rate,
            tokens: rate * 2.0,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate * 2.0);
        self.last = now;
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.rate * 2.0
    }

    /// Takes `n` tokens, or says how long until they are there (nothing is taken then).
    pub(crate) fn take(&mut self, n: f64, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= n {
            self.tokens -= n;
            Ok(())
        } else {
            let wait = (n - self.tokens) / self.rate;
            Err(Duration::from_secs_f64(wait.min(3600.0)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn limits(per_tenant: usize, per_ip: usize, publish_rate: u32) -> Arc<Limits> {
        let mut c = Config::for_tests(std::path::Path::new("/nonexistent"), "s");
        c.max_connections_per_tenant = per_tenant;
        c.max_connections_per_ip = per_ip;
        c.publish_rate = publish_rate;
        Limits::new(&c)
    }

    #[test]
    fn feed_slots_are_counted_and_given_back() {
        let l = limits(2, 3, 0);
        let a = TenantId::parse("a").unwrap();
        let b = TenantId::parse("b").unwrap();
        let ip1 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let ip2 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let proxied = Arc::new(Accepted::Proxied);
        let s1 = l.admit(&a, ip1, &proxied).unwrap();
        let _s2 = l.admit(&a, ip2, &proxied).unwrap();
        assert_eq!(
            l.admit(&a, ip1, &proxied).err(),
            Some(LimitError::Tenant(2))
        );
        let _s3 = l.admit(&b, ip1, &proxied).unwrap();
        let _s4 = l.admit(&b, ip1, &proxied).unwrap();
        assert_eq!(l.admit(&b, ip1, &proxied).err(), Some(LimitError::Ip(3)));
        drop(s1);
        assert!(l.admit(&a, ip2, &proxied).is_ok());
    }

    #[test]
    fn connections_count_from_accept_and_a_few_more_are_refused_in_words() {
        let l = limits(100, 2, 0);
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
        let counted: Vec<_> = (0..2)
            .map(|_| Arc::new(l.accept(ip, false).unwrap()))
            .collect();
        assert!(
            counted
                .iter()
                .all(|c| matches!(**c, Accepted::Counted { .. }))
        );
        let over: Vec<_> = (0..REFUSING_PER_IP)
            .map(|_| Arc::new(l.accept(ip, false).unwrap()))
            .collect();
        assert!(
            over.iter()
                .all(|c| matches!(**c, Accepted::Over { limit: 2, .. }))
        );
        assert!(l.accept(ip, false).is_none(), "closed at accept");
        assert!(
            l.accept(ip, true).is_some(),
            "a trusted proxy is not counted"
        );
        let a = TenantId::parse("a").unwrap();
        assert_eq!(l.admit(&a, ip, &over[0]).err(), Some(LimitError::Ip(2)));
        // A feed keeps its connection's place after the connection's own holder is gone.
        let slot = l.admit(&a, ip, &counted[0]).unwrap();
        let mut counted = counted;
        counted.remove(0);
        assert!(l.accept(ip, false).is_none());
        drop(slot);
        drop(over);
        assert!(matches!(
            l.accept(ip, false),
            Some(Accepted::Counted { .. })
        ));
    }

    #[test]
    fn publish_buckets_refill_at_the_rate() {
        let l = limits(1, 1, 10);
        let t0 = Instant::now();
        assert!(l.publish("k", 20, t0).is_ok(), "burst of twice the rate");
        let wait = l.publish("k", 5, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 0.01, "{wait:?}");
        assert!(l.publish("other", 5, t0).is_ok());
        assert!(l.publish("k", 5, t0 + Duration::from_millis(500)).is_ok());
        assert!(
            limits(1, 1, 0).publish("k", 1_000_000, t0).is_ok(),
            "0 = unlimited"
        );
    }

    #[test]
    fn a_bucket_refuses_more_than_it_can_hold_without_taking() {
        let t0 = Instant::now();
        let mut b = Bucket::new(2.0, t0);
        assert!(b.take(5.0, t0).is_err());
        assert!(b.take(4.0, t0).is_ok());
    }
}
