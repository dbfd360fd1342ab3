//! Key layout. Every key starts with the prefix; every key of a tenant carries the hash tag
//! `{<tenant>}`, so all of a tenant's keys live in one Redis Cluster slot and every per-tenant
//! script runs unchanged on a cluster. Tenant ids never contain braces, and neither may a prefix.
//!
//! | key / channel                | type       | holds                                               |
//! |------------------------------|------------|-----------------------------------------------------|
//! | `<p>:{<t>}:head`             | hash       | `seq` (highest ever), `epoch`, `ms` (last ingest): never expires |
//! | `<p>:{<t>}:log`              | stream     | entry `<seq>-0`: `ms`, `sup`, `ev` (event JSON), `id`/`ch` when set |
//! | `<p>:{<t>}:chx`              | sorted set | `<channel>:<seq, 20 digits>`, all scored 0 (read by lex range) |
//! | `<p>:{<t>}:ids`              | hash       | publisher-supplied id → seq, for retained events only |
//! | `<p>:{<t>}:live`             | pub/sub    | every new event, `{"epoch":…,"seq":…,"event":…}`  |
//! | `<p>:tenants`                | set        | tenants with a head, for `purge_before`             |
//!
//! The stream, the channel index and the id hash expire `retention` after the tenant's last
//! append (they would be purged by then anyway); the head never does, so seqs are not reused.

use std::sync::Arc;

use socfeed_proto::{Channel, Seq, TenantId};

/// The default prefix of every key.
pub const DEFAULT_PREFIX: &str = "socfeed";

/// Key names under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: Arc<str>,
}

/// Why a string cannot be a key prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "engine prefix {0:?} must be 1-64 characters of a-z, A-Z, 0-9, '_', '-', '.' and ':' (no braces: they are the tenant's hash tag)"
)]
pub struct PrefixError(pub String);

/// The four keys one tenant's scripts use, in the order the scripts take them.
#[derive(Debug, Clone)]
pub(crate) struct TenantKeys {
    pub(crate) head: String,
    pub(crate) log: String,
    pub(crate) chx: String,
    pub(crate) ids: String,
}

impl Keys {
    /// Keys under `prefix`.
    pub fn new(prefix: &str) -> Result<Keys, PrefixError> {
        let ok = !prefix.is_empty()
            && prefix.len() <= 64
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if !ok {
            return Err(PrefixError(prefix.to_owned()));
        }
        Ok(Keys {
            prefix: Arc::from(prefix),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn tenant_key(&self, tenant: &TenantId, name: &str) -> String {
        format!("{}:{{{}}}:{name}", self.prefix, tenant.as_str())
    }

    /// `<prefix>:{<tenant>}:head`: the tenant's seq, epoch and last ingest time.
    pub fn head(&self, tenant: &TenantId) -> String {
        self.tenant_key(tenant, "head")
    }

    /// `<prefix>:{<tenant>}:log`: the stream of retained events.
    pub fn log(&self, tenant: &TenantId) -> String {
        self.tenant_key(tenant, "log")
    }

    /// `<prefix>:{<tenant>}:chx`: the channel index.
    pub fn channel_index(&self, tenant: &TenantId) -> String {
        self.tenant_key(tenant, "chx")
    }

    /// `<prefix>:{<tenant>}:ids`: publisher-supplied ids of retained events.
    pub fn ids(&self, tenant: &TenantId) -> String {
        self.tenant_key(tenant, "ids")
    }

    /// `<prefix>:{<tenant>}:live`: the pub/sub channel every new event is published to.
    pub fn live(&self, tenant: &TenantId) -> String {
        self.tenant_key(tenant, "live")
    }

    /// `<prefix>:{*}:live`: a PSUBSCRIBE pattern matching every tenant's live channel.
    pub fn live_pattern(&self) -> String {
        format!("{}:{{*}}:live", self.prefix)
    }

    /// The tenant whose live channel is `channel`, if it is one of this prefix.
    pub fn tenant_of_live(&self, channel: &str) -> Option<TenantId> {
        let rest = channel.strip_prefix(&*self.prefix)?.strip_prefix(":{")?;
        let tenant = rest.strip_suffix("}:live")?;
        TenantId::parse(tenant).ok()
    }

    /// `<prefix>:tenants`: every tenant that has a head (not hash-tagged: it is read alone).
    pub fn tenants(&self) -> String {
        format!("{}:tenants", self.prefix)
    }

    pub(crate) fn tenant(&self, tenant: &TenantId) -> TenantKeys {
        TenantKeys {
            head: self.head(tenant),
            log: self.log(tenant),
            chx: self.channel_index(tenant),
            ids: self.ids(tenant),
        }
    }
}

/// The stream entry id of `seq`.
pub(crate) fn entry_id(seq: Seq) -> String {
    format!("{seq}-0")
}

/// The seq of a stream entry id `<seq>-0`.
pub(crate) fn seq_of_entry(id: &str) -> Option<Seq> {
    let (seq, rest) = id.split_once('-')?;
    (rest == "0").then_some(())?;
    seq.parse().ok()
}

/// A channel index member: `<channel>:<seq>` with the seq zero-padded to 20 digits, so the
/// lexical order of one channel's members is seq order. Channel names never contain `:`.
pub(crate) fn channel_member(channel: &Channel, seq: Seq) -> String {
    format!("{}:{seq:020}", channel.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    #[test]
    fn tenant_keys_share_the_tenant_hash_tag() {
        let keys = Keys::new("socfeed").unwrap();
        let a = t("acme:eu");
        let all = [
            keys.head(&a),
            keys.log(&a),
            keys.channel_index(&a),
            keys.ids(&a),
            keys.live(&a),
        ];
        assert_eq!(all[0], "socfeed:{acme:eu}:head");
        for k in &all {
            assert!(k.starts_with("socfeed:{acme:eu}:"), "{k}");
        }
        assert_eq!(keys.tenants(), "socfeed:tenants");
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(Keys::new("socfeed").is_ok());
        assert!(Keys::new("prod.eu-1:feed").is_ok());
        for bad in ["", "a{b", "a}b", "a b", &"x".repeat(65)] {
            assert!(Keys::new(bad).is_err(), "{bad:?}");
        }
        assert!(
            Keys::new("a{")
                .unwrap_err()
                .to_string()
                .contains("hash tag")
        );
    }

    #[test]
    fn live_channels_map_back_to_tenants() {
        let keys = Keys::new("p").unwrap();
        let a = t("a:b");
        assert_eq!(keys.tenant_of_live(&keys.live(&a)), Some(a));
        assert_eq!(keys.tenant_of_live("q:{a}:live"), None);
        assert_eq!(keys.tenant_of_live("p:{a}:head"), None);
        assert_eq!(keys.tenant_of_live("p:{a b}:live"), None);
        assert_eq!(keys.live_pattern(), "p:{*}:live");
    }

    #[test]
    fn entry_ids_and_channel_members_sort_by_seq() {
        assert_eq!(entry_id(7), "7-0");
        assert_eq!(seq_of_entry("7-0"), Some(7));
        assert_eq!(seq_of_entry(&entry_id(Seq::MAX)), Some(Seq::MAX));
        assert_eq!(seq_of_entry("7-1"), None);
        assert_eq!(seq_of_entry("x-0"), None);
        let ch = Channel::parse("alerts").unwrap();
        assert_eq!(channel_member(&ch, 42), "alerts:00000000000000000042");
        assert!(channel_member(&ch, 9) < channel_member(&ch, 10));
        assert_eq!(channel_member(&ch, Seq::MAX).len(), "alerts:".len() + 20);
    }
}
