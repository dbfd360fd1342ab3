//! The I-JSON check of payloads: `socfeed_proto::ijson::check`.
//!
//! Input: the first byte is the depth limit (modulo 48), the rest is the JSON text (UTF-8).
//!
//! Invariants (protocol.md §5, RFC 7493):
//! * `check` never panics, whatever the text and limit (nesting 100,000 deep included);
//! * what passes is JSON whose nesting is within the limit, and it passes again after a parse and
//!   a re-encode (serde_json keeps one of each member and finite numbers only);
//! * a higher limit never refuses what a lower one passed;
//! * an object that passed, with one of its member names added again, is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use socfeed_proto::ijson::check;

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let max = usize::from(first % 48);
    let Ok(()) = check(text, max) else {
        return;
    };
    assert!(check(text, max + 1).is_ok(), "a higher limit refused {text:?}");
    let value: Value = serde_json::from_str(text).expect("what passes is JSON");
    assert!(depth(&value) <= max, "{text:?} nests deeper than {max}");
    let again = serde_json::to_string(&value).expect("encodes");
    assert!(check(&again, max).is_ok(), "re-encoded {again:?} refused");
    if let Value::Object(members) = &value
        && let Some(name) = members.keys().next()
    {
        let body = again.strip_suffix('}').expect("an object");
        let twice = format!(
            "{body},{}:null}}",
            serde_json::to_string(name).expect("a string")
        );
        assert!(check(&twice, max).is_err(), "a member twice passed: {twice:?}");
    }
});
