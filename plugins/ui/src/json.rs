//! JSON objects whose members keep their declared order. The §6 API answers in declared order
//! (not sorted like CLI output), while values parsed from a child's stdout stay sorted, so an
//! object is built from pre-rendered members rather than a `serde_json::Map`.

use gait_sdk::output::to_json_line;
use serde_json::Value;

/// An object under construction; members render in `push` order.
#[derive(Debug, Default, Clone)]
pub struct Obj {
    members: Vec<(String, String)>,
}

impl Obj {
    pub fn new() -> Self {
        Obj::default()
    }
    /// Adds a member whose value renders as compact, sorted, HTML-safe JSON.
    pub fn push(mut self, key: &str, value: impl Into<Value>) -> Self {
        let v = value.into();
        self.members.push((key.to_string(), to_json_line(&v)));
        self
    }
    /// Adds a member only when `value` is `Some`.
    pub fn push_opt<V: Into<Value>>(self, key: &str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.push(key, v),
            None => self,
        }
    }
    /// Adds an ordered object member.
    pub fn push_obj(mut self, key: &str, value: Obj) -> Self {
        self.members.push((key.to_string(), value.render()));
        self
    }
    /// Adds an array of ordered objects.
    pub fn push_objs(mut self, key: &str, items: Vec<Obj>) -> Self {
        let inner: Vec<String> = items.iter().map(Obj::render).collect();
        self.members
            .push((key.to_string(), format!("[{}]", inner.join(","))));
        self
    }
    pub fn render(&self) -> String {
        let mut out = String::from("{");
        for (i, (k, v)) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&to_json_line(&Value::String(k.clone())));
            out.push(':');
            out.push_str(v);
        }
        out.push('}');
        out
    }
}

/// The `{"error":..,"ok":false}` body of a refused request (sorted, as the spec shows it).
pub fn error_body(message: &str) -> String {
    Obj::new().push("error", message).push("ok", false).render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn declared_order_outside_sorted_inside() {
        let o = Obj::new()
            .push("ok", true)
            .push("b", json!({"z": 1, "a": "<x>"}))
            .push_opt::<&str>("none", None)
            .push_objs("items", vec![Obj::new().push("key", "k").push("a", 1)]);
        assert_eq!(
            o.render(),
            r#"{"ok":true,"b":{"a":"\u003cx\u003e","z":1},"items":[{"key":"k","a":1}]}"#
        );
        assert_eq!(
            error_body("expected POST"),
            r#"{"error":"expected POST","ok":false}"#
        );
    }
}
