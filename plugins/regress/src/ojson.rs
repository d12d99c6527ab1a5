//! Indented JSON files with members in a declared order.
//!
//! `gait.yaml`, `fixture.json`, capture receipts and `regress_result.json` list their members
//! in the order the format declares (spec §2.1), which `gait_sdk::output::to_json_pretty`
//! (sorted keys) cannot express and which must not depend on serde_json's `preserve_order`
//! feature (it would change every other crate in the workspace). Free-form values inside
//! (grader `details`) are written with sorted keys. Strings are HTML-safe (`<`, `>`, `&` as
//! `\u003c`…), as the reference writes them.

use serde_json::Value;

/// A JSON document whose objects keep the order they were built in.
#[derive(Debug, Clone, PartialEq)]
pub enum Doc {
    Obj(Vec<(String, Doc)>),
    Arr(Vec<Doc>),
    /// Any JSON value; objects inside it are written with sorted keys.
    V(Value),
}

impl Doc {
    pub fn obj() -> Doc {
        Doc::Obj(Vec::new())
    }

    /// Appends a member (builder style).
    pub fn with(mut self, key: &str, value: impl Into<Doc>) -> Doc {
        self.push(key, value);
        self
    }

    /// Appends a member to an object; does nothing on other variants.
    pub fn push(&mut self, key: &str, value: impl Into<Doc>) {
        if let Doc::Obj(members) = self {
            members.push((key.to_string(), value.into()));
        }
    }

    /// Two-space indented text with a trailing newline.
    pub fn to_pretty(&self) -> String {
        let mut out = String::with_capacity(1024);
        write_doc(&mut out, self, 0);
        out.push('\n');
        out
    }
}

impl From<Value> for Doc {
    fn from(v: Value) -> Doc {
        Doc::V(v)
    }
}

impl From<&str> for Doc {
    fn from(s: &str) -> Doc {
        Doc::V(Value::String(s.to_string()))
    }
}

impl From<String> for Doc {
    fn from(s: String) -> Doc {
        Doc::V(Value::String(s))
    }
}

impl From<Vec<String>> for Doc {
    fn from(v: Vec<String>) -> Doc {
        Doc::V(Value::Array(v.into_iter().map(Value::String).collect()))
    }
}

fn indent(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn write_doc(out: &mut String, d: &Doc, depth: usize) {
    match d {
        Doc::Obj(members) if members.is_empty() => out.push_str("{}"),
        Doc::Obj(members) => {
            out.push('{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                write_string(out, k);
                out.push_str(": ");
                write_doc(out, v, depth + 1);
            }
            indent(out, depth);
            out.push('}');
        }
        Doc::Arr(items) if items.is_empty() => out.push_str("[]"),
        Doc::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                write_doc(out, item, depth + 1);
            }
            indent(out, depth);
            out.push(']');
        }
        Doc::V(v) => write_value(out, v, depth),
    }
}

fn write_value(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                write_string(out, k);
                out.push_str(": ");
                write_value(out, &m[*k], depth + 1);
            }
            indent(out, depth);
            out.push('}');
        }
        Value::Object(_) => out.push_str("{}"),
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                write_value(out, item, depth + 1);
            }
            indent(out, depth);
            out.push(']');
        }
        Value::Array(_) => out.push_str("[]"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn declared_order_outside_sorted_inside() {
        let d = Doc::obj()
            .with("z", "<missing>")
            .with("a", json!({"b": 1, "a": []}))
            .with("m", Doc::Arr(vec![Doc::obj().with("y", 1.into_doc())]));
        let text = d.to_pretty();
        assert_eq!(
            text,
            "{\n  \"z\": \"\\u003cmissing\\u003e\",\n  \"a\": {\n    \"a\": [],\n    \"b\": 1\n  },\n  \"m\": [\n    {\n      \"y\": 1\n    }\n  ]\n}\n"
        );
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["z"], "<missing>");
    }

    trait IntoDoc {
        fn into_doc(self) -> Doc;
    }
    impl IntoDoc for i64 {
        fn into_doc(self) -> Doc {
            Doc::V(json!(self))
        }
    }
}
