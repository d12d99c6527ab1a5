//! Decoding JSON the way the reference's typed records see it.
//!
//! The reference decodes into typed structs: member names match case-insensitively, the last
//! duplicate wins, unknown members are ignored, and numbers in free-form maps are doubles. A
//! `serde_json::Value` loses duplicate order, so this module keeps every member in input order
//! and lets typed readers pick fields with those rules.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// A JSON value that keeps object members in input order, duplicates included.
#[derive(Debug, Clone, PartialEq)]
pub enum GoValue {
    Null,
    Bool(bool),
    /// `int` is set when the literal was an integer that fits `i64`.
    Number {
        float: f64,
        int: Option<i64>,
    },
    String(String),
    Array(Vec<GoValue>),
    Object(Vec<(String, GoValue)>),
}

/// A type mismatch found while reading a typed record.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("json: cannot unmarshal {found} into field {field} of type {expected}")]
pub struct TypeError {
    pub field: String,
    pub expected: &'static str,
    pub found: &'static str,
}

impl GoValue {
    /// Parses JSON text. Invalid UTF-8 is rejected by the caller before this point.
    pub fn parse(text: &str) -> Result<GoValue, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let v = GoValue::deserialize(&mut de)?;
        de.end()?;
        Ok(v)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            GoValue::Null => "null",
            GoValue::Bool(_) => "bool",
            GoValue::Number { .. } => "number",
            GoValue::String(_) => "string",
            GoValue::Array(_) => "array",
            GoValue::Object(_) => "object",
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, GoValue::Null)
    }

    /// The member a Go struct field named `name` would receive: the last member whose name
    /// equals `name` ignoring case. A JSON `null` counts as absent.
    pub fn field(&self, name: &str) -> Option<&GoValue> {
        match self {
            GoValue::Object(members) => members
                .iter()
                .rev()
                .find(|(k, _)| k.eq_ignore_ascii_case(name) || fold_eq(k, name))
                .map(|(_, v)| v)
                .filter(|v| !v.is_null()),
            _ => None,
        }
    }

    pub fn str_field(&self, name: &str, path: &str) -> Result<String, TypeError> {
        match self.field(name) {
            None => Ok(String::new()),
            Some(GoValue::String(s)) => Ok(s.clone()),
            Some(other) => Err(type_err(path, name, "string", other)),
        }
    }

    pub fn bool_field(&self, name: &str, path: &str) -> Result<bool, TypeError> {
        match self.field(name) {
            None => Ok(false),
            Some(GoValue::Bool(b)) => Ok(*b),
            Some(other) => Err(type_err(path, name, "bool", other)),
        }
    }

    pub fn int_field(&self, name: &str, path: &str) -> Result<i64, TypeError> {
        match self.field(name) {
            None => Ok(0),
            Some(GoValue::Number { int: Some(i), .. }) => Ok(*i),
            Some(other) => Err(type_err(path, name, "int64", other)),
        }
    }

    pub fn str_list_field(&self, name: &str, path: &str) -> Result<Vec<String>, TypeError> {
        match self.field(name) {
            None => Ok(Vec::new()),
            Some(GoValue::Array(items)) => items
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| match v {
                    GoValue::String(s) => Ok(s.clone()),
                    other => Err(type_err(path, name, "string", other)),
                })
                .collect(),
            Some(other) => Err(type_err(path, name, "[]string", other)),
        }
    }

    /// A nested object field; `None` when absent or null.
    pub fn object_field(&self, name: &str, path: &str) -> Result<Option<&GoValue>, TypeError> {
        match self.field(name) {
            None => Ok(None),
            Some(v @ GoValue::Object(_)) => Ok(Some(v)),
            Some(other) => Err(type_err(path, name, "object", other)),
        }
    }

    pub fn array_field(&self, name: &str, path: &str) -> Result<&[GoValue], TypeError> {
        match self.field(name) {
            None => Ok(&[]),
            Some(GoValue::Array(items)) => Ok(items),
            Some(other) => Err(type_err(path, name, "array", other)),
        }
    }

    /// Converts to a `serde_json::Value` the way a Go `map[string]any` holds it: the last
    /// duplicate key wins and every number is a double.
    pub fn to_value(&self) -> Value {
        match self {
            GoValue::Null => Value::Null,
            GoValue::Bool(b) => Value::Bool(*b),
            GoValue::Number { float, .. } => Number::from_f64(*float)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            GoValue::String(s) => Value::String(s.clone()),
            GoValue::Array(items) => Value::Array(items.iter().map(GoValue::to_value).collect()),
            GoValue::Object(members) => {
                let mut map = Map::new();
                for (k, v) in members {
                    map.insert(k.clone(), v.to_value());
                }
                Value::Object(map)
            }
        }
    }
}

fn fold_eq(a: &str, b: &str) -> bool {
    // Go's EqualFold also folds non-ASCII letters; lower-casing both sides covers the common
    // cases without pulling in a case-folding table.
    a.len() < 256 && a.to_lowercase() == b.to_lowercase()
}

fn type_err(path: &str, name: &str, expected: &'static str, found: &GoValue) -> TypeError {
    TypeError {
        field: if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        },
        expected,
        found: found.kind(),
    }
}

impl<'de> Deserialize<'de> for GoValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(GoValueVisitor)
    }
}

struct GoValueVisitor;

impl<'de> Visitor<'de> for GoValueVisitor {
    type Value = GoValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<GoValue, E> {
        Ok(GoValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<GoValue, E> {
        Ok(GoValue::Number {
            float: v as f64,
            int: Some(v),
        })
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<GoValue, E> {
        Ok(GoValue::Number {
            float: v as f64,
            int: i64::try_from(v).ok(),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<GoValue, E> {
        Ok(GoValue::Number {
            float: v,
            int: None,
        })
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<GoValue, E> {
        Ok(GoValue::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<GoValue, E> {
        Ok(GoValue::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<GoValue, E> {
        Ok(GoValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<GoValue, E> {
        Ok(GoValue::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<GoValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(GoValue::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GoValue, A::Error> {
        let mut members = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, GoValue>()? {
            members.push((k, v));
        }
        Ok(GoValue::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_match_case_insensitively_and_last_wins() {
        let v = GoValue::parse(r#"{"tool_name":"a","TOOL_NAME":"b","x":1}"#).unwrap();
        assert_eq!(v.str_field("tool_name", "").unwrap(), "b");
        assert!(v.str_field("x", "").is_err());
    }

    #[test]
    fn map_conversion_uses_doubles() {
        let v = GoValue::parse(r#"{"big":12345678901234567890,"a":1,"a":2}"#).unwrap();
        let m = v.to_value();
        assert_eq!(m["a"].as_f64(), Some(2.0));
        assert_eq!(m["big"].as_f64(), Some(12345678901234567890.0));
    }
}
