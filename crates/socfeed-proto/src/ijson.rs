//! I-JSON (RFC 7493) for payloads: what every consumer can read back as it was published. The
//! JSON must be valid Unicode (no lone surrogate escapes), name no member twice in an object,
//! hold no number beyond IEEE 754 double range, and nest at most a given depth.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Checks `json` (one JSON value); the error says what is wrong, for the publisher.
pub fn check(json: &str, max_depth: usize) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_str(json);
    Check {
        depth: 0,
        max: max_depth,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(|e| format!("`payload` is not I-JSON: {e}"))
}

#[derive(Clone, Copy)]
struct Check {
    depth: usize,
    max: usize,
}

impl Check {
    fn inner<E: de::Error>(self) -> Result<Check, E> {
        if self.depth >= self.max {
            return Err(E::custom(format_args!("nested deeper than {}", self.max)));
        }
        Ok(Check {
            depth: self.depth + 1,
            max: self.max,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Check {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        if v.is_finite() {
            Ok(())
        } else {
            Err(E::custom("a number beyond double range"))
        }
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.inner()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.inner()?;
        let mut names = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !names.insert(name.clone()) {
                return Err(de::Error::custom(format_args!(
                    "member {name:?} appears twice"
                )));
            }
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_and_is_not_i_json() {
        assert!(check(r#"{"a":[1,2.5,"é",{"b":null}],"c":true}"#, 32).is_ok());
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert!(
            check(&format!("{{\"d\":{deep}}}"), 32)
                .unwrap_err()
                .contains("deeper")
        );
        assert!(check(&format!("{{\"d\":{deep}}}"), 64).is_ok());
        let very_deep = format!("{{\"d\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(check(&very_deep, 32).is_err());
        assert!(check(r#"{"a":1,"a":2}"#, 32).unwrap_err().contains("twice"));
        assert!(check(r#"{"n":1e400}"#, 32).is_err());
        let digits = format!("{{\"n\":{}}}", "9".repeat(100_000));
        assert!(check(&digits, 32).is_err());
        assert!(check(r#"{"s":"\ud800"}"#, 32).is_err(), "a lone surrogate");
        assert!(
            check(r#"{"s":"\ud83d\ude00"}"#, 32).is_ok(),
            "a pair is fine"
        );
    }
}
