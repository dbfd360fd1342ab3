//! The one place seqs and epochs are minted.

use std::collections::HashMap;

use socfeed_proto::{Seq, TenantId};

/// A tenant's head as the sequencer tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantHead {
    pub seq: Seq,
    pub epoch: String,
}

/// Per-tenant heads. Backends load it from their storage at open, call [`Sequencer::next`]
/// inside their append critical section, and persist the heads it reports as changed in the
/// same transaction as the events.
#[derive(Debug, Default)]
pub struct Sequencer {
    heads: HashMap<TenantId, TenantHead>,
}

impl Sequencer {
    /// A sequencer continuing from stored heads.
    pub fn from_heads(heads: impl IntoIterator<Item = (TenantId, TenantHead)>) -> Sequencer {
        Sequencer {
            heads: heads.into_iter().collect(),
        }
    }

    /// The tenant's head, if it has ever had an event.
    pub fn head(&self, tenant: &TenantId) -> Option<&TenantHead> {
        self.heads.get(tenant)
    }

    /// Assigns the next seq of `tenant`, creating its epoch with its first event.
    pub fn next(&mut self, tenant: &TenantId) -> (Seq, &str) {
        let head = self
            .heads
            .entry(tenant.clone())
            .or_insert_with(|| TenantHead {
                seq: 0,
                epoch: new_epoch(),
            });
        head.seq += 1;
        (head.seq, &head.epoch)
    }

    /// Restores a head after a failed transaction (so a seq is never skipped).
    pub fn restore(&mut self, tenant: &TenantId, previous: Option<TenantHead>) {
        match previous {
            Some(h) => {
                self.heads.insert(tenant.clone(), h);
            }
            None => {
                self.heads.remove(tenant);
            }
        }
    }
}

/// A fresh random epoch: 16 lowercase hex characters.
pub fn new_epoch() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqs_are_per_tenant_and_epochs_fixed() {
        let a = TenantId::parse("a").unwrap();
        let b = TenantId::parse("b").unwrap();
        let mut s = Sequencer::default();
        let (s1, e1) = s.next(&a);
        let e1 = e1.to_owned();
        assert_eq!(s1, 1);
        assert_eq!(s.next(&a).0, 2);
        assert_eq!(s.next(&b).0, 1);
        assert_eq!(s.next(&a).1, e1);
        assert_ne!(s.head(&b).unwrap().epoch, e1);
    }
}
