//! A positioned YAML tree for strict decoding of hostile input (feature `yaml`), shared by
//! every reader of YAML files: policies (gate), `gait.yaml` (regress), `.gait/config.yaml`
//! (gate, doctor).
//!
//! Diagnostics must name the line and column of an unknown or duplicate key, which the
//! serde-based YAML crates do not expose, so this builds a small node tree from `yaml-rust2`'s
//! event stream with a mark on every node. Limits make hostile documents fail instead of
//! exhausting memory or stack: one document only, bounded nesting, and a node budget that
//! counts alias expansions (so a "billion laughs" document is rejected).
//!
//! It must not interpret documents: callers decide what keys mean. [`to_json`] projects a tree
//! onto JSON with the YAML 1.2 core schema for plain scalars (`null`/`~`/empty, `true`/`false`
//! in the three spellings YAML allows, integers, floats); every quoted scalar is a string.

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Line and column, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}:{}]", self.line, self.col)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Scalar {
        value: String,
        plain: bool,
        pos: Pos,
    },
    Seq {
        items: Vec<Node>,
        pos: Pos,
    },
    Map {
        entries: Vec<(Node, Node)>,
        pos: Pos,
    },
}

impl Node {
    pub fn pos(&self) -> Pos {
        match self {
            Node::Scalar { pos, .. } | Node::Seq { pos, .. } | Node::Map { pos, .. } => *pos,
        }
    }

    /// A plain `null`, `~` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { value, plain: true, .. } if value.is_empty() || value == "~" || value == "null" || value == "Null" || value == "NULL")
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Node::Scalar { .. } => "scalar",
            Node::Seq { .. } => "sequence",
            Node::Map { .. } => "mapping",
        }
    }

    pub fn key_text(&self) -> String {
        match self {
            Node::Scalar { value, .. } => value.clone(),
            other => other.kind().to_string(),
        }
    }
}

/// Why YAML text did not parse.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct YamlError(pub String);

/// Documents deeper or larger than this are rejected (defence against hostile input).
const MAX_DEPTH: usize = 256;
const MAX_NODES: usize = 2_000_000;

enum Frame {
    Seq {
        items: Vec<Node>,
        pos: Pos,
        anchor: Option<usize>,
    },
    Map {
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
        pos: Pos,
        anchor: Option<usize>,
    },
}

struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: std::collections::HashMap<usize, Node>,
    nodes: usize,
    error: Option<String>,
    documents: usize,
}

fn pos_of(m: Marker) -> Pos {
    // yaml-rust2 reports 1-based lines and 0-based columns.
    Pos {
        line: m.line(),
        col: m.col() + 1,
    }
}

/// Node count and depth (a scalar is depth 1) of a tree.
fn measure(n: &Node) -> (usize, usize) {
    let children = |nodes: &mut dyn Iterator<Item = &Node>| {
        nodes.fold((1, 0), |(count, depth), child| {
            let (c, d) = measure(child);
            (count + c, depth.max(d))
        })
    };
    let (count, depth) = match n {
        Node::Scalar { .. } => (1, 0),
        Node::Seq { items, .. } => children(&mut items.iter()),
        Node::Map { entries, .. } => children(&mut entries.iter().flat_map(|(k, v)| [k, v])),
    };
    (count, depth + 1)
}

impl Builder {
    fn push_value(&mut self, node: Node, anchor: Option<usize>) {
        if let Some(a) = anchor {
            self.anchors.insert(a, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                Some(key) => entries.push((key, node)),
                None => *pending_key = Some(node),
            },
        }
    }

    fn open(&mut self, frame: Frame) {
        if self.stack.len() >= MAX_DEPTH {
            self.error = Some("document nested too deeply".into());
            return;
        }
        self.stack.push(frame);
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            self.error = Some("document too large".into());
            return;
        }
        match ev {
            Event::DocumentStart => self.documents += 1,
            Event::Scalar(value, style, anchor, _tag) => {
                let node = Node::Scalar {
                    value,
                    plain: style == TScalarStyle::Plain,
                    pos: pos_of(mark),
                };
                self.push_value(node, (anchor > 0).then_some(anchor));
            }
            Event::SequenceStart(anchor, _) => self.open(Frame::Seq {
                items: Vec::new(),
                pos: pos_of(mark),
                anchor: (anchor > 0).then_some(anchor),
            }),
            Event::MappingStart(anchor, _) => self.open(Frame::Map {
                entries: Vec::new(),
                pending_key: None,
                pos: pos_of(mark),
                anchor: (anchor > 0).then_some(anchor),
            }),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq { items, pos, anchor }) => {
                    self.push_value(Node::Seq { items, pos }, anchor)
                }
                Some(Frame::Map {
                    entries,
                    pos,
                    anchor,
                    ..
                }) => self.push_value(Node::Map { entries, pos }, anchor),
                None => {}
            },
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let (count, depth) = measure(node);
                    self.nodes += count;
                    if self.nodes > MAX_NODES {
                        self.error = Some("document too large after alias expansion".into());
                        return;
                    }
                    // The anchored tree is copied in where the alias stands, so nesting deep
                    // anchors inside each other builds an arbitrarily deep tree (and overflows
                    // the stack cloning or dropping it) unless the total depth is bounded too.
                    if self.stack.len() + depth > MAX_DEPTH {
                        self.error = Some("document nested too deeply".into());
                        return;
                    }
                    let node = node.clone();
                    self.push_value(node, None);
                }
                None => self.error = Some("unknown anchor".into()),
            },
            _ => {}
        }
    }
}

/// Parses one YAML document into a positioned tree; `None` for an empty document.
pub fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    let mut b = Builder {
        stack: Vec::new(),
        root: None,
        anchors: Default::default(),
        nodes: 0,
        error: None,
        documents: 0,
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
    Ok(b.root)
}

/// First duplicate key anywhere in the tree: (key, position, first position).
pub fn find_duplicate_key(node: &Node) -> Option<(String, Pos, Pos)> {
    match node {
        Node::Scalar { .. } => None,
        Node::Seq { items, .. } => items.iter().find_map(find_duplicate_key),
        Node::Map { entries, .. } => {
            for (i, (k, _)) in entries.iter().enumerate() {
                let kt = k.key_text();
                if let Some((first, _)) = entries[..i].iter().find(|(pk, _)| pk.key_text() == kt) {
                    return Some((kt, k.pos(), first.pos()));
                }
            }
            entries.iter().find_map(|(_, v)| find_duplicate_key(v))
        }
    }
}

/// Parses one document straight to JSON (see [`to_json`]); an empty document is `null`.
pub fn parse_json(text: &str) -> Result<Value, YamlError> {
    match parse(text)? {
        Some(node) => to_json(&node),
        None => Ok(Value::Null),
    }
}

/// Projects a tree onto JSON. Mapping keys must be scalars and unique.
pub fn to_json(node: &Node) -> Result<Value, YamlError> {
    match node {
        Node::Scalar { value, plain, .. } => Ok(scalar(value, *plain)),
        Node::Seq { items, .. } => items
            .iter()
            .map(to_json)
            .collect::<Result<_, _>>()
            .map(Value::Array),
        Node::Map { entries, .. } => {
            let mut m = Map::with_capacity(entries.len());
            for (k, v) in entries {
                let key = match k {
                    Node::Scalar { value, .. } => value.clone(),
                    other => {
                        return Err(YamlError(format!(
                            "mapping keys must be scalars at line {} column {}",
                            other.pos().line,
                            other.pos().col
                        )))
                    }
                };
                if m.contains_key(&key) {
                    return Err(YamlError(format!(
                        "duplicate key {key:?} at line {} column {}",
                        k.pos().line,
                        k.pos().col
                    )));
                }
                m.insert(key, to_json(v)?);
            }
            Ok(Value::Object(m))
        }
    }
}

fn scalar(value: &str, plain: bool) -> Value {
    if !plain {
        return Value::String(value.to_string());
    }
    match value {
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
    Value::String(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let n = parse("a: 1\nb:\n  c: [x, y]\n").unwrap().unwrap();
        let Node::Map { entries, .. } = &n else {
            panic!()
        };
        assert_eq!(entries[0].0.pos(), Pos { line: 1, col: 1 });
        let Node::Map { entries: inner, .. } = &entries[1].1 else {
            panic!()
        };
        assert_eq!(inner[0].0.pos(), Pos { line: 3, col: 3 });
    }

    #[test]
    fn duplicates_are_found_with_both_positions() {
        let n = parse("default_verdict: allow\ndefault_verdict: block\n")
            .unwrap()
            .unwrap();
        let (k, at, first) = find_duplicate_key(&n).unwrap();
        assert_eq!(k, "default_verdict");
        assert_eq!(at.to_string(), "[2:1]");
        assert_eq!(first.to_string(), "[1:1]");
    }

    #[test]
    fn alias_bombs_are_rejected() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            doc.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n", p = i - 1));
        }
        assert!(parse(&doc).is_err());
    }

    #[test]
    fn fuzz_regression_deep_alias_chains_are_rejected() {
        // Each anchor nests the previous one 250 levels deeper: a short document whose tree
        // overflowed the stack when cloned (policy_yaml fuzz target, 120 such lines).
        let mut doc = format!("a0: &a0 {}x{}\n", "[".repeat(250), "]".repeat(250));
        for i in 1..120 {
            doc.push_str(&format!(
                "a{i}: &a{i} {}*a{}{}\n",
                "[".repeat(250),
                i - 1,
                "]".repeat(250)
            ));
        }
        assert_eq!(
            parse(&doc).unwrap_err(),
            YamlError("document nested too deeply".into())
        );
        // Aliases that stay within the depth limit still expand.
        let n = parse("a: &a [[x]]\nb: [*a, *a]\n").unwrap().unwrap();
        let Node::Map { entries, .. } = &n else {
            panic!()
        };
        assert_eq!(measure(&entries[1].1), (7, 4));
    }

    #[test]
    fn empty_document_is_none() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n").unwrap(), None);
    }

    // JSON projection
    use serde_json::json;

    #[test]
    fn config_shaped_yaml() {
        let v = parse_json(
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
        let v = parse_json("{\"a\": [1, \"x\"], \"b\": {\"c\": true}}").unwrap();
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
        assert!(parse_json(&bomb).unwrap_err().0.contains("too large"));
        let deep = "[".repeat(500) + &"]".repeat(500);
        assert!(parse_json(&deep).is_err());
        let deep_map = (0..300)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect::<String>();
        assert!(parse_json(&deep_map).is_err());
        assert!(parse_json("a: 1\na: 2\n")
            .unwrap_err()
            .0
            .contains("duplicate key"));
        assert!(parse_json("a: 1\n---\nb: 2\n").is_err());
        assert!(parse_json("? [a]\n: 1\n").is_err());
        assert!(parse_json("a: [1\n").is_err());
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        assert_eq!(parse_json("x: yes").unwrap(), json!({"x": "yes"}));
        assert_eq!(parse_json("x: '1'").unwrap(), json!({"x": "1"}));
        assert_eq!(parse_json("x: 1.5").unwrap(), json!({"x": 1.5}));
        assert_eq!(parse_json("x: 1.0.0").unwrap(), json!({"x": "1.0.0"}));
        assert_eq!(parse_json("").unwrap(), Value::Null);
    }
}
