//! Renewing a tenant's epoch when its stored history went back in time within the same epoch
//! (Redis restored an older AOF or snapshot, or failed over to a replica that lagged): a node
//! that saw seq N in epoch E finds the head of E below N. Replacing E makes every cursor of E
//! stale (clients get `truncated`), so no seq is served twice under one epoch.

use std::sync::LazyLock;

use ::redis::{Script, Value};
use socfeed_proto::TenantId;

use super::Inner;
use super::error::{Effect, bad_reply, bounded};
use super::record::text;
use crate::LogError;

static RENEW: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("renew_epoch.lua")));

/// Replaces the epoch with `candidate` if it is still `seen`; returns the epoch in force
/// afterwards (`None` when the tenant has no head).
pub(crate) async fn renew(
    inner: &Inner,
    tenant: &TenantId,
    seen: &str,
    candidate: &str,
) -> Result<Option<String>, LogError> {
    let mut conn = inner.conn.clone();
    let mut call = RENEW.key(inner.keys.head(tenant));
    call.arg(seen).arg(candidate);
    let reply: Value = bounded(
        inner.config.timeout,
        Effect::Write,
        "renew an epoch in Redis",
        call.invoke_async(&mut conn),
    )
    .await?;
    match reply {
        Value::Nil => Ok(None),
        other => text(other)
            .map(Some)
            .ok_or_else(|| bad_reply("renew an epoch in Redis", "not an epoch")),
    }
}
