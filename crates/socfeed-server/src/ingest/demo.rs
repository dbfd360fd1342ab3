//! Demo data: a steady stream of synthetic SOC events for one tenant, published through the same
//! log append as `POST /v1/events`, so a newcomer sees live data in the page at once.

use std::time::Duration;

use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use socfeed_log::SharedLog;
use socfeed_proto::{EventDraft, TenantId};
use tokio_util::sync::CancellationToken;

use super::new_event_id;

const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];
const HOSTS: [&str; 6] = [
    "web-01",
    "db-02",
    "vpn-gw",
    "dc-01",
    "laptop-4412",
    "k8s-node-7",
];
const USERS: [&str; 5] = ["alice", "bob", "svc-backup", "carol.admin", "dave"];
const SYSTEMS: [(&str, &str); 3] = [
    ("sys_01JABC789", "customer-support-bot"),
    ("sys_01JDEF456", "document-analyzer"),
    ("sys_01JGHI123", "fraud-scorer"),
];
const TECHNIQUES: [(&str, &str); 5] = [
    ("T1059.001", "PowerShell"),
    ("T1078", "Valid Accounts"),
    ("T1110.003", "Password Spraying"),
    ("T1566.001", "Spearphishing Attachment"),
    ("T1021.001", "Remote Desktop Protocol"),
];

/// Publishes `per_second` events a second for `tenant` until `stop` fires.
pub(crate) async fn run(
    log: SharedLog,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    tenant: TenantId,
    per_second: f64,
    stop: CancellationToken,
) {
    let every = Duration::from_secs_f64(1.0 / per_second.max(0.1));
    let mut ticker = tokio::time::interval(every);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        n += 1;
        let (event_type, payload) = synth(n);
        let draft = EventDraft {
            tenant_id: tenant.clone(),
            id: new_event_id(),
            id_supplied: false,
            event_type: event_type.into(),
            payload: serde_json::value::to_raw_value(&payload).unwrap_or_else(|_| {
                serde_json::value::RawValue::from_string("{}".into()).unwrap_or_default()
            }),
            ts: socfeed_log::now_ms(),
        };
        if let Err(e) = super::append::append(&log, &metrics, vec![draft]).await {
            tracing::warn!(error = %crate::report(&e), "demo publish failed");
        }
    }
}

/// One synthetic event: its type and payload.
pub(crate) fn synth(n: u64) -> (&'static str, Value) {
    let mut rng = rand::rng();
    let sev = *SEVERITIES.choose(&mut rng).unwrap_or(&"medium");
    let host = *HOSTS.choose(&mut rng).unwrap_or(&"web-01");
    let user = *USERS.choose(&mut rng).unwrap_or(&"alice");
    let (tech, tech_name) = *TECHNIQUES.choose(&mut rng).unwrap_or(&TECHNIQUES[0]);
    let (sys_id, sys_name) = *SYSTEMS.choose(&mut rng).unwrap_or(&SYSTEMS[0]);
    let now = socfeed_proto::timefmt::rfc3339_millis(socfeed_log::now_ms());
    let alert_id = format!("alrt_{n:06}");
    let case_id = format!("case_{:04}", n / 7);
    match rng.random_range(0..20u32) {
        0..=4 => (
            "alert.created",
            json!({"id": alert_id, "title": format!("{tech_name} activity on {host}"), "severity": sev,
                   "source": "edr", "host": host, "user": user, "mitre": {"technique": tech, "name": tech_name},
                   "status": "new", "created_at": now}),
        ),
        5 => (
            "alert.updated",
            json!({"id": alert_id, "title": format!("{tech_name} on {host}"), "severity": sev, "status": "triaged"}),
        ),
        6 => (
            "alert.assigned",
            json!({"id": alert_id, "title": format!("{tech_name} on {host}"), "severity": sev, "assignee": user}),
        ),
        7 => (
            "alert.new",
            json!({"id": alert_id, "severity": sev, "type": *["policy_violation", "security_event"].choose(&mut rng).unwrap_or(&"security_event"),
                   "title": format!("PII detected in {sys_name} output"),
                   "ai_system": {"id": sys_id, "name": sys_name, "score": rng.random_range(40..99)},
                   "policy": {"id": "GOV-POL-042", "name": "PII_OUTPUT_PREVENTION"}, "created_at": now}),
        ),
        8 => {
            let prev: i64 = rng.random_range(55..95);
            let cur: i64 = (prev + rng.random_range(-20..10)).clamp(0, 100);
            (
                "system.score_changed",
                json!({"system_id": sys_id, "system_name": sys_name, "previous_score": prev, "current_score": cur,
                       "delta": cur - prev, "threshold_crossed": (prev >= 70) != (cur >= 70), "threshold": 70, "changed_at": now}),
            )
        }
        9 => (
            "case.created",
            json!({"id": case_id, "title": format!("Suspicious {tech_name} on {host}"), "severity": sev, "owner": user}),
        ),
        10 => (
            "case.comment",
            json!({"id": case_id, "title": "Analyst note", "author": user, "comment": format!("Isolated {host} pending forensics")}),
        ),
        11 => (
            "detection.triggered",
            json!({"id": format!("det_{n}"), "title": format!("Rule {tech}: {tech_name}"), "rule": tech, "severity": sev, "host": host}),
        ),
        12 => (
            "detection.suppressed",
            json!({"id": format!("det_{n}"), "title": format!("Suppressed {tech} on {host}"), "reason": "known admin tooling"}),
        ),
        13 => (
            "investigation.started",
            json!({"id": format!("inv_{}", n / 5), "title": format!("Copilot investigating {alert_id}"), "alert_id": alert_id}),
        ),
        14 => (
            "investigation.step",
            json!({"id": format!("inv_{}", n / 5), "title": format!("Queried auth logs for {user}"), "step": rng.random_range(1..8)}),
        ),
        15 => (
            "investigation.finding",
            json!({"id": format!("inv_{}", n / 5), "title": format!("{user} logged in from a new country"), "severity": sev, "case_id": case_id}),
        ),
        16 => (
            "ueba.anomaly",
            json!({"id": format!("ueba_{n}"), "title": format!("Unusual data volume for {user}"), "user": user, "score": rng.random_range(60..100), "severity": sev}),
        ),
        17 => (
            "honeytoken.touched",
            json!({"id": format!("ht_{n}"), "title": format!("Honeytoken aws-key-{} used from {host}", n % 9), "severity": "critical", "host": host}),
        ),
        18 => (
            "playbook.started",
            json!({"id": format!("pb_{n}"), "title": "Contain compromised host", "playbook": "isolate-host", "host": host}),
        ),
        _ => match rng.random_range(0..4u32) {
            0 => (
                "playbook.completed",
                json!({"id": format!("pb_{n}"), "title": format!("Isolate-host run for {host} finished"), "playbook": "isolate-host", "host": host}),
            ),
            1 => (
                "playbook.failed",
                json!({"id": format!("pb_{n}"), "title": format!("Isolate-host run for {host} failed"), "playbook": "isolate-host", "host": host, "error": "EDR API timed out"}),
            ),
            2 => (
                "case.closed",
                json!({"id": case_id, "title": format!("Case {case_id} closed: {tech_name} on {host} contained"), "owner": user, "resolution": "true_positive"}),
            ),
            _ => (
                "investigation.completed",
                json!({"id": format!("inv_{}", n / 5), "title": format!("Investigation of {alert_id} complete"), "alert_id": alert_id, "verdict": "malicious", "severity": sev}),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_events_speak_of_what_they_close() {
        for n in 0..2000 {
            let (ty, payload) = synth(n);
            let title = payload["title"].as_str().unwrap_or_default();
            match ty {
                "case.closed" => assert!(title.starts_with("Case "), "{title}"),
                "investigation.completed" => assert!(title.starts_with("Investigation"), "{title}"),
                t if t.starts_with("playbook.") => assert!(payload["playbook"].is_string(), "{t}"),
                _ => {}
            }
        }
    }

    #[test]
    fn synthetic_events_are_valid_publish_input() {
        for n in 0..500 {
            let (ty, payload) = synth(n);
            let body = json!({"type": ty, "payload": payload}).to_string();
            socfeed_proto::publish::parse_event(&body).unwrap();
        }
    }
}
