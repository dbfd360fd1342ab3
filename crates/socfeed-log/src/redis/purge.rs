//! `purge_before` over every tenant, also those that receive no appends (whose appends would
//! trim them): the registry `<prefix>:tenants` lists every tenant with a head, and each one
//! is trimmed by `purge.lua`, a budget of events per call, until nothing older is left.
//!
//! A tenant is added to the registry before its first append through this log instance (and
//! again when an append starts a new history, after a flush): a missing entry only delays
//! its purge until its keys expire, `retention` after its last append.

use std::sync::LazyLock;

use ::redis::{Script, Value};
use socfeed_proto::TenantId;

use super::Inner;
use super::error::{Effect, bad_reply, bounded};
use super::record::{int, text};
use crate::LogError;

static PURGE: LazyLock<Script> =
    LazyLock::new(|| Script::new(concat!(include_str!("trim.lua"), include_str!("purge.lua"))));

/// Tenants read from the registry per SSCAN call.
const SCAN_COUNT: usize = 256;

/// Adds `tenant` to the registry unless this instance already did.
pub(crate) async fn register(
    inner: &Inner,
    tenant: &TenantId,
    again: bool,
) -> Result<(), LogError> {
    if !again && inner.registered(tenant) {
        return Ok(());
    }
    let mut conn = inner.conn.clone();
    let mut cmd = ::redis::cmd("SADD");
    cmd.arg(inner.keys.tenants()).arg(tenant.as_str());
    // Idempotent, and sent before the append: a failure means the append was not tried.
    bounded(
        inner.config.timeout,
        Effect::Read,
        "register a tenant in Redis",
        cmd.query_async::<Value>(&mut conn),
    )
    .await?;
    inner.mark_registered(tenant);
    Ok(())
}

/// Removes every event ingested before `before_ms`, tenant by tenant; returns how many.
pub(crate) async fn purge_before(inner: &Inner, before_ms: i64) -> Result<u64, LogError> {
    let mut removed = 0;
    let mut cursor = String::from("0");
    loop {
        let (next, tenants) = scan(inner, &cursor).await?;
        for tenant in tenants {
            match TenantId::parse(&tenant) {
                Ok(t) => removed += purge_tenant(inner, &t, before_ms).await?,
                Err(_) => tracing::warn!(tenant, "not a tenant id in the Redis tenant registry"),
            }
        }
        if next == "0" {
            return Ok(removed);
        }
        cursor = next;
    }
}

async fn scan(inner: &Inner, cursor: &str) -> Result<(String, Vec<String>), LogError> {
    let mut conn = inner.conn.clone();
    let mut cmd = ::redis::cmd("SSCAN");
    cmd.arg(inner.keys.tenants())
        .arg(cursor)
        .arg("COUNT")
        .arg(SCAN_COUNT);
    let reply: Value = bounded(
        inner.config.timeout,
        Effect::Read,
        "list tenants in Redis",
        cmd.query_async(&mut conn),
    )
    .await?;
    let bad = || bad_reply("list tenants in Redis", "SSCAN reply");
    let Value::Array(mut parts) = reply else {
        return Err(bad());
    };
    let members = match parts.pop() {
        Some(Value::Array(m) | Value::Set(m)) => m,
        _ => return Err(bad()),
    };
    let next = parts.pop().and_then(text).ok_or_else(bad)?;
    let tenants = members.into_iter().filter_map(text).collect();
    Ok((next, tenants))
}

/// Trims one tenant until nothing before `before_ms` is left.
async fn purge_tenant(inner: &Inner, tenant: &TenantId, before_ms: i64) -> Result<u64, LogError> {
    let keys = inner.keys.tenant(tenant);
    let mut removed = 0;
    loop {
        let mut call = PURGE.key(&keys.head);
        call.key(&keys.log)
            .key(&keys.chx)
            .key(&keys.ids)
            .arg(before_ms)
            .arg(inner.config.trim_budget.max(1));
        let mut conn = inner.conn.clone();
        let reply: Value = bounded(
            inner.config.timeout,
            Effect::Write,
            "purge old events in Redis",
            call.invoke_async(&mut conn),
        )
        .await?;
        let (n, more) = match reply {
            Value::Array(items) if items.len() == 2 => (int(&items[0]), int(&items[1])),
            _ => (None, None),
        };
        let (Some(n), Some(more)) = (n.and_then(|n| u64::try_from(n).ok()), more) else {
            return Err(bad_reply(
                "purge old events in Redis",
                "not {removed, more}",
            ));
        };
        removed += n;
        if more != 1 {
            return Ok(removed);
        }
    }
}
