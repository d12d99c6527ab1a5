//! Rendering command results: compact one-line JSON with sorted keys and HTML-safe escapes,
//! indented JSON for files, and the `correlation_id` every JSON result carries.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// First 12 bytes (24 hex) of SHA-256 over every process argument, trimmed, joined by U+001F.
pub fn correlation_id(argv: &[String]) -> String {
    let joined = argv
        .iter()
        .map(|a| a.trim())
        .collect::<Vec<_>>()
        .join("\u{1f}");
    crate::jcs::hex_lower(&Sha256::digest(joined.as_bytes())[..12])
}

/// One line of compact JSON, keys sorted by bytes at every level, `<>&` escaped.
pub fn to_json_line(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_sorted(&mut out, value, None, 0);
    out
}

/// Two-space indented JSON with sorted keys and a trailing newline (for files).
pub fn to_json_pretty(value: &Value) -> String {
    let mut out = String::with_capacity(512);
    write_sorted(&mut out, value, Some(2), 0);
    out.push('\n');
    out
}

fn write_sorted(out: &mut String, value: &Value, indent: Option<usize>, depth: usize) {
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = indent {
            out.push('\n');
            for _ in 0..n * depth {
                out.push(' ');
            }
        }
    };
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_sorted(out, item, indent, depth + 1);
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_string(out, k);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_sorted(out, &map[*k], indent, depth + 1);
            }
            newline(out, depth);
            out.push('}');
        }
        Value::String(s) => write_string(out, s),
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Adds `correlation_id` to a result object and renders it as one line.
pub fn json_result_line(mut map: Map<String, Value>, argv: &[String]) -> String {
    map.insert("correlation_id".into(), Value::String(correlation_id(argv)));
    to_json_line(&Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_sorted_and_html_escaped() {
        let v = json!({"b": 1, "a": {"z": "<&>", "y": [1, 2]}});
        assert_eq!(
            to_json_line(&v),
            r#"{"a":{"y":[1,2],"z":"\u003c\u0026\u003e"},"b":1}"#
        );
    }

    #[test]
    fn correlation_id_matches_reference_example() {
        let argv: Vec<String> = ["gait", "version", "--json"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(correlation_id(&argv), "e817da1ea5bc1c4b0c6da48f");
    }

    #[test]
    fn pretty_is_parseable() {
        let v = json!({"a": [], "b": {}, "c": [{"d": null}]});
        let s = to_json_pretty(&v);
        assert_eq!(serde_json::from_str::<Value>(&s).unwrap(), v);
    }
}
