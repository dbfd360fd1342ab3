//! GOVERN filters: which events a feed session wants, matched against fields extracted once per event.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The payload fields filters look at, pulled out once at ingest so sessions never parse JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterFields {
    /// `data.severity`
    pub severity: Option<Box<str>>,
    /// `data.type`
    pub kind: Option<Box<str>>,
    /// `data.ai_system.name`, `data.system_name`, `data.system_id` (those present).
    pub systems: Vec<Box<str>>,
}

impl FilterFields {
    /// Extracts the fields from a payload object. Non-string values count as absent.
    pub fn extract(payload: &Value) -> FilterFields {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).map(Box::from);
        let mut systems = Vec::new();
        for v in [
            payload.get("ai_system").and_then(|a| a.get("name")),
            payload.get("system_name"),
            payload.get("system_id"),
        ] {
            if let Some(name) = s(v) {
                systems.push(name);
            }
        }
        FilterFields {
            severity: s(payload.get("severity")),
            kind: s(payload.get("type")),
            systems,
        }
    }

    /// Extracts from raw payload text without building the whole document (ingest and replay).
    pub fn extract_raw(payload: &str) -> FilterFields {
        #[derive(Deserialize)]
        struct Probe {
            severity: Option<Value>,
            #[serde(rename = "type")]
            kind: Option<Value>,
            ai_system: Option<Value>,
            system_name: Option<Value>,
            system_id: Option<Value>,
        }
        let Ok(p) = serde_json::from_str::<Probe>(payload) else {
            return FilterFields::default();
        };
        let s = |v: Option<&Value>| v.and_then(Value::as_str).map(Box::from);
        let systems = [
            p.ai_system.as_ref().and_then(|a| a.get("name")),
            p.system_name.as_ref(),
            p.system_id.as_ref(),
        ]
        .into_iter()
        .filter_map(s)
        .collect();
        FilterFields {
            severity: s(p.severity.as_ref()),
            kind: s(p.kind.as_ref()),
            systems,
        }
    }
}

/// A GOVERN subscription's filters. Within a list any value matches; across lists all must;
/// an event lacking a field never matches a non-empty list for it. Empty filters match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severities: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub systems: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.severities.is_empty()
            && self.types.is_empty()
            && self.systems.is_empty()
            && self.events.is_empty()
    }

    pub fn matches(&self, event_type: &str, fields: &FilterFields) -> bool {
        fn one(list: &[String], value: Option<&str>) -> bool {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|x| x == v))
        }
        one(&self.events, Some(event_type))
            && one(&self.severities, fields.severity.as_deref())
            && one(&self.types, fields.kind.as_deref())
            && (self.systems.is_empty()
                || fields
                    .systems
                    .iter()
                    .any(|s| self.systems.iter().any(|x| **x == **s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alert_new() -> Value {
        json!({"id":"alrt_01JBXYZ123","severity":"high","type":"policy_violation",
               "ai_system":{"id":"sys_01JABC789","name":"customer-support-bot","score":74}})
    }

    fn f(v: Value) -> Filters {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn any_within_all_across() {
        let fields = FilterFields::extract(&alert_new());
        assert!(Filters::default().matches("alert.new", &fields));
        assert!(f(json!({"severities":["critical","high"]})).matches("alert.new", &fields));
        assert!(!f(json!({"severities":["critical"]})).matches("alert.new", &fields));
        assert!(
            f(json!({"severities":["high"],"types":["policy_violation"],"systems":["customer-support-bot"],"events":["alert.new"]}))
                .matches("alert.new", &fields)
        );
        assert!(
            !f(json!({"severities":["high"],"events":["alert.updated"]}))
                .matches("alert.new", &fields)
        );
    }

    #[test]
    fn missing_field_never_matches_a_non_empty_list() {
        let score = json!({"system_id":"sys_01JABC789","system_name":"customer-support-bot","current_score":67});
        let fields = FilterFields::extract(&score);
        assert!(!f(json!({"severities":["high"]})).matches("system.score_changed", &fields));
        assert!(
            f(json!({"systems":["customer-support-bot"]})).matches("system.score_changed", &fields)
        );
        assert!(f(json!({"systems":["sys_01JABC789"]})).matches("system.score_changed", &fields));
        assert!(!f(json!({"types":["policy_violation"]})).matches("system.score_changed", &fields));
    }

    #[test]
    fn raw_extraction_matches_value_extraction() {
        for v in [
            alert_new(),
            json!({"severity": 3, "system_id": "s"}),
            json!({}),
        ] {
            assert_eq!(
                FilterFields::extract_raw(&v.to_string()),
                FilterFields::extract(&v)
            );
        }
        assert_eq!(
            FilterFields::extract_raw("not json"),
            FilterFields::default()
        );
    }

    #[test]
    fn unknown_filter_keys_are_rejected() {
        assert!(serde_json::from_value::<Filters>(json!({"severity":["high"]})).is_err());
        assert!(serde_json::from_value::<Filters>(json!({"severities":"high"})).is_err());
    }
}
