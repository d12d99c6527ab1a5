//! Reading a hand-written YAML `gait.yaml` into a JSON value.
//!
//! The reference writes `gait.yaml` as JSON text and reads it only as JSON; we also accept
//! YAML. The document is built from `yaml-rust2`'s event stream with limits, because the file
//! is hostile input like any other: one document only, nesting at most [`MAX_DEPTH`], at most
//! [`MAX_NODES`] nodes after alias expansion (so an alias bomb is rejected), mapping keys must
//! be scalars and unique. Plain scalars follow the YAML 1.2 core schema (`null`/`~`/empty,
//! `true`/`false` in the three spellings YAML allows, integers, floats); everything else,
//! including every quoted scalar, is a string.

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

pub const MAX_DEPTH: usize = 128;
pub const MAX_NODES: usize = 1_000_000;

/// Why YAML text was rejected.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct YamlError(pub String);

enum Frame {
    Seq(Vec<Value>, Option<usize>),
    Map(Map<String, Value>, Option<String>, Option<usize>),
}

struct Builder {
    stack: Vec<Frame>,
    root: Option<Value>,
    anchors: std::collections::HashMap<usize, (Value, usize, usize)>,
    nodes: usize,
    documents: usize,
    error: Option<String>,
}

fn scalar(value: String, style: TScalarStyle) -> Value {
    if style != TScalarStyle::Plain {
        return Value::String(value);
    }
    match value.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let numeric = value
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        && value.bytes().any(|b| b.is_ascii_digit());
    if numeric {
        if let Ok(i) = value.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Some(n) = value.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(value)
}

/// Node count and depth of a value (a scalar counts 1 and has depth 1).
fn measure(v: &Value) -> (usize, usize) {
    match v {
        Value::Array(items) => items.iter().fold((1, 1), |(n, d), x| {
            let (cn, cd) = measure(x);
            (n + cn, d.max(cd + 1))
        }),
        Value::Object(m) => m.values().fold((1 + m.len(), 1), |(n, d), x| {
            let (cn, cd) = measure(x);
            (n + cn, d.max(cd + 1))
        }),
        _ => (1, 1),
    }
}

impl Builder {
    fn fail(&mut self, m: &str, mark: Marker) {
        if self.error.is_none() {
            self.error = Some(format!(
                "{m} at line {} column {}",
                mark.line(),
                mark.col() + 1
            ));
        }
    }

    fn push_value(&mut self, v: Value, anchor: Option<usize>, mark: Marker) {
        if let Some(a) = anchor {
            let (n, d) = measure(&v);
            self.anchors.insert(a, (v.clone(), n, d));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(v);
                }
            }
            Some(Frame::Seq(items, _)) => items.push(v),
            Some(Frame::Map(m, pending, _)) => match pending.take() {
                Some(k) => {
                    if m.contains_key(&k) {
                        let msg = format!("duplicate key {k:?}");
                        self.fail(&msg, mark);
                        return;
                    }
                    m.insert(k, v);
                }
                None => match v {
                    Value::String(s) => *pending = Some(s),
                    Value::Null => *pending = Some(String::new()),
                    Value::Bool(b) => *pending = Some(b.to_string()),
                    Value::Number(n) => *pending = Some(n.to_string()),
                    _ => self.fail("mapping keys must be scalars", mark),
                },
            },
        }
    }

    fn open(&mut self, f: Frame, mark: Marker) {
        if self.stack.len() >= MAX_DEPTH {
            self.fail("document nested too deeply", mark);
            return;
        }
        self.stack.push(f);
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            self.fail("document too large", mark);
            return;
        }
        match ev {
            Event::DocumentStart => self.documents += 1,
            Event::Scalar(value, style, anchor, _tag) => {
                self.push_value(scalar(value, style), (anchor > 0).then_some(anchor), mark)
            }
            Event::SequenceStart(anchor, _) => {
                self.open(Frame::Seq(Vec::new(), (anchor > 0).then_some(anchor)), mark)
            }
            Event::MappingStart(anchor, _) => self.open(
                Frame::Map(Map::new(), None, (anchor > 0).then_some(anchor)),
                mark,
            ),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq(items, anchor)) => {
                    self.push_value(Value::Array(items), anchor, mark)
                }
                Some(Frame::Map(m, _, anchor)) => self.push_value(Value::Object(m), anchor, mark),
                None => {}
            },
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((v, n, d)) => {
                    self.nodes += n;
                    if self.nodes > MAX_NODES {
                        self.fail("document too large after alias expansion", mark);
                        return;
                    }
                    if self.stack.len() + d > MAX_DEPTH {
                        self.fail("document nested too deeply", mark);
                        return;
                    }
                    let v = v.clone();
                    self.push_value(v, None, mark);
                }
                None => self.fail("unknown anchor", mark),
            },
            _ => {}
        }
    }
}

/// Parses one YAML document; an empty document is `null`.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    let mut b = Builder {
        stack: Vec::new(),
        root: None,
        anchors: Default::default(),
        nodes: 0,
        documents: 0,
        error: None,
    };
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut b, true)
        .map_err(|e| YamlError(e.to_string()))?;
    if let Some(e) = b.error {
        return Err(YamlError(e));
    }
    if b.documents > 1 {
        return Err(YamlError(
            "multiple YAML documents are not supported".into(),
        ));
    }
    Ok(b.root.unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_shaped_yaml() {
        let v = parse(
            "# hand edited\nschema_id: gait.regress.config\nschema_version: 1.0.0\nfixtures:\n  - name: a\n    runpack: fixtures/a/runpack.zip\n    owner: \"team-x\"\n    retries: 3\n    flaky: false\n    note: ~\n",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"schema_id": "gait.regress.config", "schema_version": "1.0.0",
                   "fixtures": [{"name": "a", "runpack": "fixtures/a/runpack.zip", "owner": "team-x",
                                 "retries": 3, "flaky": false, "note": null}]})
        );
    }

    #[test]
    fn json_is_yaml_too() {
        let v = parse("{\"a\": [1, \"x\"], \"b\": {\"c\": true}}").unwrap();
        assert_eq!(v, json!({"a": [1, "x"], "b": {"c": true}}));
    }

    #[test]
    fn hostile_documents_are_rejected() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in "bcdefghijk".chars() {
            bomb.push_str(&format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = c;
        }
        assert!(parse(&bomb).unwrap_err().0.contains("too large"));
        let deep = "[".repeat(500) + &"]".repeat(500);
        assert!(parse(&deep).is_err());
        let deep_map = (0..200)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect::<String>();
        assert!(parse(&deep_map).is_err());
        assert!(parse("a: 1\na: 2\n")
            .unwrap_err()
            .0
            .contains("duplicate key"));
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
        assert!(parse("? [a]\n: 1\n").is_err());
        assert!(parse("a: [1\n").is_err());
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        assert_eq!(parse("x: yes").unwrap(), json!({"x": "yes"}));
        assert_eq!(parse("x: '1'").unwrap(), json!({"x": "1"}));
        assert_eq!(parse("x: 1.5").unwrap(), json!({"x": 1.5}));
        assert_eq!(parse("x: 1.0.0").unwrap(), json!({"x": "1.0.0"}));
        assert_eq!(parse("").unwrap(), Value::Null);
    }
}
