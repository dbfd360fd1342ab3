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
    ///
    /// Agrees with [`FilterFields::extract`] on every JSON object, duplicate keys included (the
    /// last one wins, as in a parsed `Value`); anything that is not an object has no fields.
    pub fn extract_raw(payload: &str) -> FilterFields {
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

/// The members of a payload object that filters look at; every other member is skipped unparsed.
///
/// Deserialised by hand rather than derived: a derived struct refuses a repeated key ("duplicate
/// field") and also accepts a JSON array as a struct, where a parsed `Value` keeps the last of
/// repeated keys and an array has no members.
#[derive(Default)]
struct Probe {
    severity: Option<Value>,
    kind: Option<Value>,
    ai_system: Option<Value>,
    system_name: Option<Value>,
    system_id: Option<Value>,
}

impl<'de> Deserialize<'de> for Probe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Probe, D::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "snake_case")]
        enum Key {
            Severity,
            #[serde(rename = "type")]
            Kind,
            AiSystem,
            SystemName,
            SystemId,
            #[serde(other)]
            Other,
        }

        struct ProbeVisitor;

        impl<'de> serde::de::Visitor<'de> for ProbeVisitor {
            type Value = Probe;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Probe, A::Error> {
                let mut p = Probe::default();
                while let Some(key) = map.next_key::<Key>()? {
                    let slot = match key {
                        Key::Severity => &mut p.severity,
                        Key::Kind => &mut p.kind,
                        Key::AiSystem => &mut p.ai_system,
                        Key::SystemName => &mut p.system_name,
                        Key::SystemId => &mut p.system_id,
                        Key::Other => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            continue;
                        }
                    };
                    // A repeated key replaces the earlier value, as in `serde_json::Map`.
                    *slot = Some(map.next_value()?);
                }
                Ok(p)
            }
        }

        d.deserialize_map(ProbeVisitor)
    }
}

/// A GOVERN subscription's filters. Within a list any value matches; across lists all must;
/// an event lacking a field never matches a non-empty list for it. Empty filters match everything.
///
/// Deserialises only from a JSON object of lists of strings, with no other or repeated key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filters {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub severities: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub systems: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
}

/// The derived reading of [`Filters`]: unknown and repeated keys are errors.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FiltersWire {
    #[serde(default)]
    severities: Vec<String>,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    systems: Vec<String>,
    #[serde(default)]
    events: Vec<String>,
}

impl<'de> Deserialize<'de> for Filters {
    /// Only a JSON object: a derived struct would also take a sequence of four lists
    /// (`[["high"],[],[],[]]`), which the protocol does not allow.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Filters, D::Error> {
        struct FiltersVisitor;

        impl<'de> serde::de::Visitor<'de> for FiltersVisitor {
            type Value = Filters;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of filter lists")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Filters, A::Error> {
                let w =
                    FiltersWire::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Filters {
                    severities: w.severities,
                    types: w.types,
                    systems: w.systems,
                    events: w.events,
                })
            }
        }

        d.deserialize_map(FiltersVisitor)
    }
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

    /// Found by fuzzing (fuzz target `filter_match`): a repeated key made the derived probe fail,
    /// so `extract_raw` saw no fields where the parsed `Value` (last key wins) had them.
    #[test]
    fn raw_extraction_keeps_the_last_of_repeated_keys() {
        for raw in [
            r#"{"severity":"high","type":"a","title":"x","type":"policy_violation"}"#,
            r#"{"severity":"low","severity":"high","system_id":"s1","system_id":"s2"}"#,
            r#"{"ai_system":{"name":"bot"},"ai_system":{"name":"other","name":"last"}}"#,
            r#"{"severity":"high","severity":3}"#,
        ] {
            let v: Value = serde_json::from_str(raw).unwrap();
            assert_eq!(
                FilterFields::extract_raw(raw),
                FilterFields::extract(&v),
                "{raw}"
            );
        }
        let fields = FilterFields::extract_raw(r#"{"system_id":"s1","system_id":"s2"}"#);
        assert_eq!(fields.systems, [Box::from("s2")]);
    }

    /// A JSON array is not a payload object: it has no fields (a derived probe read it by position).
    #[test]
    fn raw_extraction_of_a_non_object_is_empty() {
        for raw in [
            r#"["high","policy_violation",null,"bot","s1"]"#,
            "[]",
            "\"high\"",
            "3",
        ] {
            assert_eq!(
                FilterFields::extract_raw(raw),
                FilterFields::default(),
                "{raw}"
            );
        }
    }

    /// Filters are an object of lists only; a derived struct also took a sequence of four lists.
    #[test]
    fn filters_are_only_an_object() {
        assert!(serde_json::from_str::<Filters>(r#"[["high"],[],[],[]]"#).is_err());
        assert!(serde_json::from_value::<Filters>(json!([["high"], [], [], []])).is_err());
        assert!(
            serde_json::from_str::<Filters>(r#"{"severities":["a"],"severities":["b"]}"#).is_err()
        );
        assert!(serde_json::from_str::<Filters>(r#"{"severities":null}"#).is_err());
        assert_eq!(
            serde_json::from_str::<Filters>(r#"{"events":["alert.new"]}"#).unwrap(),
            Filters {
                events: vec!["alert.new".into()],
                ..Filters::default()
            }
        );
        assert_eq!(
            serde_json::from_str::<Filters>("{}").unwrap(),
            Filters::default()
        );
    }
}
