//! Whether an acknowledged append is on disk: checked once at start.
//!
//! Durable means either `appendonly yes` with `appendfsync always` (Redis fsyncs the AOF
//! before it replies), or a working `WAITAOF` (Redis ≥ 7.2, Valkey), after which every append
//! waits for `WAITAOF 1 0` before it is acknowledged. Strict refuses anything else, naming the
//! setting to change; relaxed accepts it with a warning. A Redis that refuses `CONFIG` (managed
//! services) can only pass strict through `WAITAOF`.

use ::redis::Value;

use super::Inner;
use super::error::{Effect, NoReply, bounded, classify, unavailable};
use super::record::{int, text};
use crate::LogError;

/// How acknowledged appends reach disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurabilityMode {
    /// `appendonly yes` + `appendfsync always`: fsynced before Redis replies.
    FsyncAlways,
    /// Every append waits for `WAITAOF 1 0`: acknowledged once fsynced on the Redis host.
    WaitAof,
    /// In Redis memory only (relaxed): an acknowledged append can be lost in a crash.
    InMemory,
}

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurabilityReport {
    pub mode: DurabilityMode,
    /// Things to log at start (e.g. why relaxed was needed, an eviction policy).
    pub warnings: Vec<String>,
}

/// Why strict durability refuses this Redis.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DurabilityError {
    #[error(
        "Redis at {server} does not fsync before replying ({found}): set `appendonly yes` and \
         `appendfsync always` (or use --engine-durability relaxed)"
    )]
    NotDurable { server: String, found: String },
    #[error(
        "Redis at {server} refuses CONFIG GET ({reason}), as managed Redis services do, and has \
         no usable WAITAOF ({waitaof}), so socfeed cannot check that it fsyncs before replying: \
         have `appendonly yes` and `appendfsync always` set and CONFIG allowed, use Redis >= 7.2 \
         or Valkey (WAITAOF), or use --engine-durability relaxed"
    )]
    Unverifiable {
        server: String,
        reason: String,
        waitaof: String,
    },
    #[error("cannot check the durability of Redis at {server}")]
    Unreachable {
        server: String,
        #[source]
        source: LogError,
    },
}

/// The persistence settings, when `CONFIG GET` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) appendonly: String,
    pub(crate) appendfsync: String,
    pub(crate) maxmemory_policy: Option<String>,
}

/// What `WAITAOF 1 0 <timeout>` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WaitAof {
    /// The local AOF was fsynced.
    Confirmed,
    /// Not probed (the settings were enough).
    NotNeeded,
    /// Unknown command (Redis < 7.2).
    Missing,
    /// Refused or not confirmed (e.g. `appendonly no`), with why.
    Refused(String),
}

/// Probes Redis and decides.
pub(crate) async fn check(
    inner: &Inner,
    strict: bool,
) -> Result<DurabilityReport, DurabilityError> {
    let unreachable = |source: LogError| DurabilityError::Unreachable {
        server: inner.server.clone(),
        source,
    };
    let settings = settings(inner).await.map_err(unreachable)?;
    let fsync_always = settings
        .as_ref()
        .is_ok_and(|s| s.appendonly == "yes" && s.appendfsync == "always");
    let waitaof = if fsync_always {
        WaitAof::NotNeeded
    } else {
        probe_waitaof(inner).await.map_err(unreachable)?
    };
    decide(&inner.server, settings, waitaof, strict)
}

/// The decision, from what was probed.
pub(crate) fn decide(
    server: &str,
    settings: Result<Settings, String>,
    waitaof: WaitAof,
    strict: bool,
) -> Result<DurabilityReport, DurabilityError> {
    let mut warnings = Vec::new();
    if let Ok(Settings {
        maxmemory_policy: Some(policy),
        ..
    }) = &settings
        && policy != "noeviction"
    {
        warnings.push(format!(
            "Redis at {server} has `maxmemory-policy {policy}`: under memory pressure it may \
             evict a tenant's history (the tenant then starts a new epoch) or its publisher \
             ids (a retried event is stored twice); set `maxmemory-policy noeviction`"
        ));
    }
    let durable = match (&settings, &waitaof) {
        (Ok(s), _) if s.appendonly == "yes" && s.appendfsync == "always" => {
            Some(DurabilityMode::FsyncAlways)
        }
        (_, WaitAof::Confirmed) => Some(DurabilityMode::WaitAof),
        _ => None,
    };
    if let Some(mode) = durable {
        return Ok(DurabilityReport { mode, warnings });
    }
    let waitaof_text = match &waitaof {
        WaitAof::Missing => "WAITAOF unknown (Redis < 7.2)".to_owned(),
        WaitAof::Refused(why) => format!("WAITAOF: {why}"),
        WaitAof::Confirmed | WaitAof::NotNeeded => "WAITAOF not probed".to_owned(),
    };
    let error = match settings {
        Ok(s) => DurabilityError::NotDurable {
            server: server.to_owned(),
            found: format!(
                "appendonly {}, appendfsync {}; {waitaof_text}",
                s.appendonly, s.appendfsync
            ),
        },
        Err(reason) => DurabilityError::Unverifiable {
            server: server.to_owned(),
            reason,
            waitaof: waitaof_text,
        },
    };
    if strict {
        return Err(error);
    }
    warnings.insert(
        0,
        format!("{error}; starting anyway (relaxed): an acknowledged event may be lost in a crash of Redis"),
    );
    Ok(DurabilityReport {
        mode: DurabilityMode::InMemory,
        warnings,
    })
}

/// `CONFIG GET` of the persistence settings: `Err(reason)` when Redis refuses CONFIG.
async fn settings(inner: &Inner) -> Result<Result<Settings, String>, LogError> {
    let appendonly = match config_get(inner, "appendonly").await? {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(Err("CONFIG GET appendonly returned nothing".into())),
        Err(reason) => return Ok(Err(reason)),
    };
    let appendfsync = match config_get(inner, "appendfsync").await? {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(Err("CONFIG GET appendfsync returned nothing".into())),
        Err(reason) => return Ok(Err(reason)),
    };
    let maxmemory_policy = config_get(inner, "maxmemory-policy").await?.ok().flatten();
    Ok(Ok(Settings {
        appendonly,
        appendfsync,
        maxmemory_policy,
    }))
}

/// One `CONFIG GET name`: the value, or `Err(reason)` when the server refuses the command.
async fn config_get(inner: &Inner, name: &str) -> Result<Result<Option<String>, String>, LogError> {
    const CONTEXT: &str = "read the Redis configuration";
    let mut conn = inner.conn.clone();
    let mut cmd = ::redis::cmd("CONFIG");
    cmd.arg("GET").arg(name);
    match tokio::time::timeout(inner.config.timeout, cmd.query_async::<Value>(&mut conn)).await {
        Ok(Ok(reply)) => Ok(Ok(value_of(reply, name))),
        // A refusal by the server (renamed or forbidden command) is an answer.
        Ok(Err(e)) if e.code().is_some() => Ok(Err(e.to_string())),
        Ok(Err(e)) => Err(classify(Effect::Read, CONTEXT, e)),
        Err(_) => Err(unavailable(CONTEXT, NoReply(inner.config.timeout))),
    }
}

/// The value for `name` in a CONFIG GET reply (a flat array or a RESP3 map).
fn value_of(reply: Value, name: &str) -> Option<String> {
    let pairs: Vec<(Value, Value)> = match reply {
        Value::Array(flat) => {
            let mut it = flat.into_iter();
            std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
        }
        Value::Map(pairs) => pairs,
        _ => return None,
    };
    pairs.into_iter().find_map(|(k, v)| {
        (text(k).as_deref() == Some(name))
            .then(|| text(v))
            .flatten()
    })
}

/// `WAITAOF 1 0 <timeout>`: does Redis confirm a local fsync?
async fn probe_waitaof(inner: &Inner) -> Result<WaitAof, LogError> {
    match probe(inner).await {
        Ok(true) => Ok(WaitAof::Confirmed),
        Ok(false) => Ok(WaitAof::Refused(
            "the local fsync was not confirmed in time".into(),
        )),
        Err(LogError::Storage {
            source: Some(e), ..
        }) => {
            let text = e.to_string();
            if text.to_ascii_lowercase().contains("unknown command") {
                Ok(WaitAof::Missing)
            } else {
                Ok(WaitAof::Refused(text))
            }
        }
        Err(e) => Err(e),
    }
}

/// Sends `WAITAOF 1 0 <timeout>`: whether the local AOF holds every write of this connection.
async fn probe(inner: &Inner) -> Result<bool, LogError> {
    let mut conn = inner.conn.clone();
    let mut cmd = ::redis::cmd("WAITAOF");
    cmd.arg(1).arg(0).arg(inner.config.timeout_ms());
    let reply: Value = bounded(
        inner.config.timeout,
        Effect::Write,
        "wait for the Redis AOF fsync",
        cmd.query_async(&mut conn),
    )
    .await?;
    let local = match &reply {
        Value::Array(items) => items.first().and_then(int),
        _ => None,
    };
    Ok(local.is_some_and(|n| n >= 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(appendonly: &str, appendfsync: &str, policy: &str) -> Result<Settings, String> {
        Ok(Settings {
            appendonly: appendonly.into(),
            appendfsync: appendfsync.into(),
            maxmemory_policy: Some(policy.into()),
        })
    }

    #[test]
    fn fsync_always_passes_strict() {
        let r = decide(
            "h:1",
            settings("yes", "always", "noeviction"),
            WaitAof::NotNeeded,
            true,
        )
        .unwrap();
        assert_eq!(r.mode, DurabilityMode::FsyncAlways);
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn strict_refusals_name_the_setting() {
        for (ao, fs) in [("no", "always"), ("yes", "everysec")] {
            let e = decide(
                "h:1",
                settings(ao, fs, "noeviction"),
                WaitAof::Missing,
                true,
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("Redis at h:1"), "{e}");
            assert!(
                e.contains("`appendonly yes` and `appendfsync always`"),
                "{e}"
            );
            assert!(
                e.contains(&format!("appendonly {ao}, appendfsync {fs}")),
                "{e}"
            );
            assert!(e.contains("--engine-durability relaxed"), "{e}");
        }
    }

    #[test]
    fn waitaof_is_an_alternative_also_without_config() {
        let r = decide(
            "h:1",
            settings("yes", "everysec", "noeviction"),
            WaitAof::Confirmed,
            true,
        )
        .unwrap();
        assert_eq!(r.mode, DurabilityMode::WaitAof);
        let r = decide("h:1", Err("NOPERM".into()), WaitAof::Confirmed, true).unwrap();
        assert_eq!(r.mode, DurabilityMode::WaitAof);
        let e = decide(
            "h:1",
            Err("ERR unknown command 'CONFIG'".into()),
            WaitAof::Missing,
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("refuses CONFIG GET"), "{e}");
        assert!(e.contains("managed"), "{e}");
    }

    #[test]
    fn relaxed_warns_instead_and_eviction_is_always_a_warning() {
        let r = decide(
            "h:1",
            settings("no", "everysec", "allkeys-lru"),
            WaitAof::Refused("appendonly is disabled".into()),
            false,
        )
        .unwrap();
        assert_eq!(r.mode, DurabilityMode::InMemory);
        assert_eq!(r.warnings.len(), 2);
        assert!(r.warnings[0].contains("relaxed"), "{:?}", r.warnings);
        assert!(r.warnings[1].contains("maxmemory-policy noeviction"));
        let r = decide(
            "h:1",
            settings("yes", "always", "volatile-lru"),
            WaitAof::NotNeeded,
            true,
        )
        .unwrap();
        assert_eq!(r.warnings.len(), 1);
    }

    #[test]
    fn config_replies_parse_flat_or_as_maps() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let flat = Value::Array(vec![bulk("appendonly"), bulk("yes")]);
        assert_eq!(value_of(flat, "appendonly").as_deref(), Some("yes"));
        let map = Value::Map(vec![(bulk("appendfsync"), bulk("always"))]);
        assert_eq!(value_of(map, "appendfsync").as_deref(), Some("always"));
        assert_eq!(value_of(Value::Array(vec![]), "appendonly"), None);
    }
}
