//! Wrkr inventory context (gate-extended §2): a local inventory of tools and their data,
//! endpoint and autonomy classes, looked up by normalized tool name to enrich
//! `context.auth_context` with `wrkr.*` claims.
//!
//! Accepted shapes: `{"items":[ITEM…]}` and a bare `[ITEM…]` (the reference's), plus Wrkr's
//! own export `{"export_version":…, "tools":[{"tool_id":…}…]}` (a documented extension; an
//! object with `tools` but without `export_version` is still refused).

use crate::intent::{clean_path_pub, Intent};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;

/// Largest inventory file accepted.
pub const MAX_INVENTORY_BYTES: u64 = 16 << 20;

/// Why an inventory is unavailable; the text is the cause shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InventoryError(pub String);

/// One inventory entry (all values trimmed and lowercased).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Item {
    pub tool_name: String,
    pub data_class: String,
    pub endpoint_class: String,
    pub autonomy_level: String,
}

/// A loaded inventory, keyed by tool name (the last duplicate wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// The cleaned path, used as `context_source`.
    pub source: String,
    pub items: HashMap<String, Item>,
}

fn item_field(m: &Map<String, Value>, key: &str, i: usize) -> Result<String, InventoryError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.trim().to_lowercase()),
        Some(_) => Err(InventoryError(format!(
            "parse wrkr inventory: items[{i}].{key} must be a string"
        ))),
    }
}

fn items_from(list: &[Value], name_key: &str) -> Result<HashMap<String, Item>, InventoryError> {
    let mut out = HashMap::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let Value::Object(m) = v else {
            return Err(InventoryError(format!(
                "parse wrkr inventory: items[{i}] must be an object"
            )));
        };
        let item = Item {
            tool_name: item_field(m, name_key, i)?,
            data_class: item_field(m, "data_class", i)?,
            endpoint_class: item_field(m, "endpoint_class", i)?,
            autonomy_level: item_field(m, "autonomy_level", i)?,
        };
        if !item.tool_name.is_empty() {
            out.insert(item.tool_name.clone(), item);
        }
    }
    Ok(out)
}

/// One `{"items":[…]}` / bare-array item, decoded without building a JSON tree.
#[derive(serde::Deserialize)]
struct FastItem<'a> {
    #[serde(borrow, default)]
    tool_name: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    data_class: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    endpoint_class: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    autonomy_level: Option<std::borrow::Cow<'a, str>>,
}

fn norm_cow(v: &Option<std::borrow::Cow<str>>) -> String {
    v.as_deref()
        .map(|s| s.trim().to_lowercase())
        .unwrap_or_default()
}

/// Tool names an evaluation will look up; `None` keeps every item.
pub type Wanted<'w> = Option<&'w std::collections::HashSet<String>>;

fn is_wanted(wanted: Wanted, name: &Option<std::borrow::Cow<str>>) -> bool {
    let Some(set) = wanted else {
        return true;
    };
    let Some(raw) = name.as_deref() else {
        return false;
    };
    let t = raw.trim();
    if t.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        set.contains(t)
    } else {
        set.contains(&t.to_lowercase())
    }
}

/// The item list, decoded one item at a time straight into the map (no intermediate list);
/// items whose tool is not wanted are validated but not kept.
struct ItemsSeed<'w>(Wanted<'w>);

impl<'de, 'w> serde::de::DeserializeSeed<'de> for ItemsSeed<'w> {
    type Value = HashMap<String, Item>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, 'w> serde::de::Visitor<'de> for ItemsSeed<'w> {
    type Value = HashMap<String, Item>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of inventory items")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = HashMap::new();
        while let Some(it) = seq.next_element::<FastItem<'de>>()? {
            if !is_wanted(self.0, &it.tool_name) {
                continue;
            }
            let item = Item {
                tool_name: norm_cow(&it.tool_name),
                data_class: norm_cow(&it.data_class),
                endpoint_class: norm_cow(&it.endpoint_class),
                autonomy_level: norm_cow(&it.autonomy_level),
            };
            if !item.tool_name.is_empty() {
                out.insert(item.tool_name.clone(), item);
            }
        }
        Ok(out)
    }
}

/// `{"items":[…], …}`: other members are skipped; a missing or repeated `items` fails.
struct DocSeed<'w>(Wanted<'w>);

impl<'de, 'w> serde::de::DeserializeSeed<'de> for DocSeed<'w> {
    type Value = HashMap<String, Item>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'w> serde::de::Visitor<'de> for DocSeed<'w> {
    type Value = HashMap<String, Item>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an inventory object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut items = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "items" {
                if items.is_some() {
                    return Err(serde::de::Error::duplicate_field("items"));
                }
                items = Some(map.next_value_seed(ItemsSeed(self.0))?);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        items.ok_or_else(|| serde::de::Error::missing_field("items"))
    }
}

/// The common shapes decoded straight into items (large inventories, issue 8 item 9).
/// `None` whenever anything is unusual (wrong types, duplicate keys, other shapes); the
/// general parser then gives the result or the exact error.
fn parse_fast(text: &str, wanted: Wanted) -> Option<HashMap<String, Item>> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    let out = if text.trim_start().starts_with('[') {
        ItemsSeed(wanted).deserialize(&mut de).ok()?
    } else {
        DocSeed(wanted).deserialize(&mut de).ok()?
    };
    de.end().ok()?;
    Some(out)
}

/// Parses inventory text.
pub fn parse(text: &str) -> Result<HashMap<String, Item>, InventoryError> {
    parse_for(text, None)
}

/// Parses inventory text, keeping (when `wanted` is given) at least the items of the wanted
/// tool names (normalized: trimmed, lowercased); the whole file is still validated.
pub fn parse_for(text: &str, wanted: Wanted) -> Result<HashMap<String, Item>, InventoryError> {
    if let Some(items) = parse_fast(text, wanted) {
        return Ok(items);
    }
    parse_general(text)
}

/// The general parser: every accepted shape, with the user-facing errors.
fn parse_general(text: &str) -> Result<HashMap<String, Item>, InventoryError> {
    let root: Value = serde_json::from_str(text)
        .map_err(|e| InventoryError(format!("parse wrkr inventory: {e}")))?;
    match &root {
        Value::Array(list) => items_from(list, "tool_name"),
        Value::Object(m) if m.contains_key("items") => match &m["items"] {
            Value::Array(list) => items_from(list, "tool_name"),
            _ => Err(InventoryError(
                "parse wrkr inventory: items must be an array".into(),
            )),
        },
        Value::Object(m) if m.contains_key("export_version") && m.contains_key("tools") => {
            match &m["tools"] {
                Value::Array(list) => items_from(list, "tool_id"),
                _ => Err(InventoryError(
                    "parse wrkr inventory: tools must be an array".into(),
                )),
            }
        }
        _ => Err(InventoryError(
            "parse wrkr inventory: expected an object with items, a Wrkr export, or an array"
                .into(),
        )),
    }
}

/// Cleans the flag value lexically (`./sub/../inv.json` → `inv.json`).
pub fn clean(path: &str) -> String {
    clean_path_pub(path.trim())
}

/// Stats, reads and parses the inventory at `path` (already cleaned).
pub fn load(path: &str) -> Result<Inventory, InventoryError> {
    load_for(path, None)
}

/// [`load`], keeping at least the items of the `wanted` tool names (see [`parse_for`]).
pub fn load_for(path: &str, wanted: Wanted) -> Result<Inventory, InventoryError> {
    let p = Path::new(path);
    let reason = |e: &std::io::Error| gait_sdk::fsutil::go_io_reason(e);
    std::fs::metadata(p)
        .map_err(|e| InventoryError(format!("stat wrkr inventory: stat {path}: {}", reason(&e))))?;
    let bytes = gait_sdk::fsutil::read_capped(p, MAX_INVENTORY_BYTES)
        .map_err(|e| InventoryError(format!("read wrkr inventory: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| InventoryError("parse wrkr inventory: not valid UTF-8".into()))?;
    Ok(Inventory {
        source: path.to_string(),
        items: parse_for(&text, wanted)?,
    })
}

impl Inventory {
    /// Sets the four `wrkr.*` claims on `intent` (whose `tool_name` is looked up) when the
    /// inventory holds the tool; returns whether it did.
    pub fn enrich(&self, intent: &mut Intent) -> bool {
        let Some(item) = self.items.get(&intent.tool_name) else {
            return false;
        };
        let a = intent.context.auth_context.get_or_insert_with(Map::new);
        for (k, v) in [
            ("wrkr.tool_name", &item.tool_name),
            ("wrkr.data_class", &item.data_class),
            ("wrkr.endpoint_class", &item.endpoint_class),
            ("wrkr.autonomy_level", &item.autonomy_level),
        ] {
            a.insert(k.into(), Value::String(v.clone()));
        }
        true
    }

    /// The `context_source` value for this inventory.
    pub fn source_name(&self) -> String {
        if self.source.is_empty() {
            "wrkr_inventory".into()
        } else {
            self.source.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let m = parse(
            r#"{"items":[{"tool_name":" TOOL.Write ","data_class":" PII "},{"tool_name":""}]}"#,
        )
        .unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m["tool.write"].data_class, "pii");
        assert!(parse("[]").unwrap().is_empty());
        assert!(parse(r#"{"items":null}"#).is_err());
        assert!(parse(r#"{"tools":[{"tool_name":"x"}]}"#).is_err());
        assert!(parse(r#"[{"tool_name":"x","data_class":5}]"#).is_err());
        assert!(parse("{items").is_err());
        let w = parse(r#"{"export_version":"1","tools":[{"tool_id":"Tool.Read","tool_type":"mcp","data_class":"pii"}]}"#).unwrap();
        assert_eq!(w["tool.read"].data_class, "pii");
        let dup =
            parse(r#"[{"tool_name":"a","data_class":"x"},{"tool_name":"A","data_class":"y"}]"#)
                .unwrap();
        assert_eq!(dup["a"].data_class, "y");
    }

    /// The fast decoder agrees with the general parser wherever it answers.
    #[test]
    fn fast_path_agrees_with_general_parser() {
        let cases = [
            r#"{"items":[{"tool_name":" TOOL.Write ","data_class":" PII ","x":[1,{"a":2}]},{"tool_name":""}]}"#,
            r#"[{"tool_name":"a\u0041","endpoint_class":"Net.HTTP","autonomy_level":null}]"#,
            r#"{"items":[],"export_version":"1","tools":[{"tool_id":"z"}]}"#,
            r#"[{"tool_name":"a","data_class":"x"},{"tool_name":"A","data_class":"y"}]"#,
            r#"{"items":[{"tool_name":"a","tool_name":"b"}]}"#,
            r#"{"items":[{"tool_name":"a"}],"items":[{"tool_name":"b"}]}"#,
            r#"[{"tool_name":5}]"#,
            r#"[1]"#,
            r#"{"items":{}}"#,
        ];
        for c in cases {
            let general = parse_general(c);
            match parse_fast(c, None) {
                Some(fast) => assert_eq!(Ok(fast), general, "{c}"),
                None => assert_eq!(parse(c), general, "{c}"),
            }
        }
        assert_eq!(
            parse(r#"[{"tool_name":"aA"}]"#).unwrap()["aa"].tool_name,
            "aa"
        );
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean(" ./sub/../inv.json "), "inv.json");
    }
}
