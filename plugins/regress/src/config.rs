//! `gait.yaml`: the fixture set (spec §2.1).
//!
//! The reference writes it as JSON text and reads it only as JSON. We read JSON or YAML and
//! write JSON, and when gait rewrites the file (`regress init|add|bootstrap`, `tour`) it
//! changes only the entry of the fixture it wrote: every other entry, member, order and the
//! fixture set name survive as the user left them. YAML comments cannot survive being
//! rewritten as JSON.

use crate::error::RegressError;
use crate::fixture::valid_name;
use crate::ojson::Doc;
use gait_sdk::fsutil;
use serde_json::{Map, Value};
use std::path::Path;

pub const CONFIG_SCHEMA: &str = "gait.regress.config";
pub const SCHEMA_VERSION: &str = "1.0.0";
pub const DEFAULT_CONFIG: &str = "gait.yaml";
pub const DEFAULT_FIXTURE_SET: &str = "default";

const HINT: &str = "gait.yaml must be a JSON or YAML object with schema_id gait.regress.config and fixtures [{name, run_id, runpack}]; fix it, or move it aside and run `gait regress init --from <run_id|path>` to write a fresh one";

type R<T> = Result<T, RegressError>;

/// One `fixtures` entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigFixture {
    pub name: String,
    pub run_id: String,
    /// The fixture's runpack, relative to the working directory unless absolute.
    pub runpack: String,
    /// Members gait does not know (sorted by name).
    pub extra: Vec<(String, Value)>,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// As written; empty means `default`.
    pub fixture_set: String,
    pub fixtures: Vec<ConfigFixture>,
    /// Top-level members gait does not know (sorted by name).
    pub extra: Vec<(String, Value)>,
}

/// `name` exactly, else ignoring ASCII case (Go's decoding rule).
fn field<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    m.get(name)
        .or_else(|| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn extras(m: &Map<String, Value>, known: &[&str]) -> Vec<(String, Value)> {
    m.iter()
        .filter(|(k, _)| !known.iter().any(|n| n.eq_ignore_ascii_case(k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl Config {
    /// The fixture set name in effect.
    pub fn fixture_set(&self) -> &str {
        if self.fixture_set.trim().is_empty() {
            DEFAULT_FIXTURE_SET
        } else {
            &self.fixture_set
        }
    }

    /// Parses JSON or YAML text; `shown` names the file in messages.
    pub fn parse(text: &str, shown: &str) -> R<Config> {
        let bad =
            |m: String| RegressError::invalid_hint(format!("parse config {shown}: {m}"), HINT);
        let value = match serde_json::from_str::<Value>(text) {
            Ok(v) => v,
            Err(json_err) => match gait_sdk::yaml::parse_json(text) {
                Ok(v) => v,
                Err(yaml_err) => {
                    let looks_json = text.trim_start().starts_with('{');
                    return Err(bad(if looks_json {
                        format!("invalid JSON: {json_err}")
                    } else {
                        format!("invalid YAML: {yaml_err}")
                    }));
                }
            },
        };
        let Value::Object(top) = value else {
            return Err(bad(format!("expected an object, found {}", kind(&value))));
        };
        let text_of = |m: &Map<String, Value>, k: &str, at: &str| -> R<String> {
            match field(m, k) {
                None => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(o) => Err(bad(format!("{at}{k} must be a string, found {}", kind(o)))),
            }
        };
        let schema_id = text_of(&top, "schema_id", "")?;
        if !schema_id.trim().is_empty() && schema_id.trim() != CONFIG_SCHEMA {
            return Err(RegressError::invalid_hint(
                format!("unsupported config schema_id: {schema_id}"),
                HINT,
            ));
        }
        let schema_version = text_of(&top, "schema_version", "")?;
        if !schema_version.trim().is_empty() && schema_version.trim() != SCHEMA_VERSION {
            return Err(RegressError::invalid_hint(
                format!("unsupported config schema_version: {schema_version}"),
                HINT,
            ));
        }
        let fixture_set = text_of(&top, "fixture_set", "")?.trim().to_string();
        let items: &[Value] = match field(&top, "fixtures") {
            None => &[],
            Some(Value::Array(a)) => a,
            Some(o) => return Err(bad(format!("fixtures must be a list, found {}", kind(o)))),
        };
        let mut fixtures: Vec<ConfigFixture> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Value::Object(m) = item else {
                return Err(bad(format!(
                    "fixtures[{i}] must be an object, found {}",
                    kind(item)
                )));
            };
            let at = format!("fixtures[{i}].");
            let f = ConfigFixture {
                name: text_of(m, "name", &at)?.trim().to_string(),
                run_id: text_of(m, "run_id", &at)?.trim().to_string(),
                runpack: text_of(m, "runpack", &at)?.trim().to_string(),
                extra: extras(m, &["name", "run_id", "runpack"]),
            };
            if f.name.is_empty() || f.runpack.is_empty() {
                return Err(RegressError::invalid_hint(
                    format!("config fixture {i} requires name and runpack ({shown})"),
                    HINT,
                ));
            }
            if !valid_name(&f.name) {
                return Err(RegressError::invalid_hint(
                    format!("invalid fixture name in config: {:?} ({shown})", f.name),
                    "fixture names match ^[a-z0-9][a-z0-9._-]*$",
                ));
            }
            if fixtures.iter().any(|x| x.name == f.name) {
                return Err(RegressError::invalid_hint(
                    format!("duplicate fixture name in config: {} ({shown})", f.name),
                    "each fixture may be listed once",
                ));
            }
            fixtures.push(f);
        }
        Ok(Config {
            fixture_set,
            fixtures,
            extra: extras(
                &top,
                &["schema_id", "schema_version", "fixture_set", "fixtures"],
            ),
        })
    }

    /// Reads and parses the file at `path`.
    pub fn read(path: &Path, shown: &str) -> R<Config> {
        let bytes = fsutil::read_capped(path, fsutil::MAX_INPUT_BYTES).map_err(|e| {
            RegressError::invalid_hint(
                format!("read config: {e}"),
                "create it with `gait regress init --from <run_id|path>`, or pass --config <path>",
            )
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            RegressError::invalid_hint(format!("config {shown} is not valid UTF-8"), HINT)
        })?;
        Config::parse(&text, shown)
    }

    /// Adds a fixture entry or updates the one with the same name (keeping its other
    /// members). A list that was sorted by name stays sorted; otherwise a new entry goes last.
    pub fn upsert(&mut self, name: &str, run_id: &str, runpack: &str) {
        if let Some(f) = self.fixtures.iter_mut().find(|f| f.name == name) {
            f.run_id = run_id.to_string();
            f.runpack = runpack.to_string();
            return;
        }
        let sorted = self.fixtures.windows(2).all(|w| w[0].name <= w[1].name);
        self.fixtures.push(ConfigFixture {
            name: name.to_string(),
            run_id: run_id.to_string(),
            runpack: runpack.to_string(),
            extra: Vec::new(),
        });
        if sorted {
            self.fixtures.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }

    /// The JSON document gait writes: declared members first, then the user's.
    pub fn to_doc(&self) -> Doc {
        let fixtures = self
            .fixtures
            .iter()
            .map(|f| {
                let mut d = Doc::obj()
                    .with("name", f.name.as_str())
                    .with("run_id", f.run_id.as_str())
                    .with("runpack", f.runpack.as_str());
                for (k, v) in &f.extra {
                    d.push(k, v.clone());
                }
                d
            })
            .collect();
        let mut d = Doc::obj()
            .with("schema_id", CONFIG_SCHEMA)
            .with("schema_version", SCHEMA_VERSION)
            .with("fixture_set", self.fixture_set())
            .with("fixtures", Doc::Arr(fixtures));
        for (k, v) in &self.extra {
            d.push(k, v.clone());
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_read_the_same() {
        let j = Config::parse(
            r#"{"schema_id":"gait.regress.config","schema_version":"1.0.0","fixture_set":"","fixtures":[{"name":"a","run_id":"run_a","runpack":"fixtures/a/runpack.zip"}]}"#,
            "gait.yaml",
        )
        .unwrap();
        let y = Config::parse(
            "schema_id: gait.regress.config\nschema_version: 1.0.0\nfixtures:\n  - name: a\n    run_id: run_a\n    runpack: fixtures/a/runpack.zip\n",
            "gait.yaml",
        )
        .unwrap();
        assert_eq!(j, y);
        assert_eq!(j.fixture_set(), "default");
    }

    #[test]
    fn rejects_bad_configs() {
        for (text, want) in [
            (
                r#"{"schema_id":"gait.other","fixtures":[]}"#,
                "unsupported config schema_id: gait.other",
            ),
            (
                r#"{"schema_version":"2.0.0"}"#,
                "unsupported config schema_version",
            ),
            ("fixtures:\n  - name: x\n", "requires name and runpack"),
            (
                r#"{"fixtures":[{"name":"Bad Name","runpack":"r.zip"}]}"#,
                "invalid fixture name",
            ),
            (
                r#"{"fixtures":[{"name":"a","runpack":"r.zip"},{"name":"a","runpack":"s.zip"}]}"#,
                "duplicate fixture name",
            ),
            (r#"{"fixtures":{"name":"a"}}"#, "fixtures must be a list"),
            (
                r#"{"fixtures":[{"name":"a","runpack":7}]}"#,
                "runpack must be a string",
            ),
            ("[1, 2]", "expected an object"),
            ("{\"fixtures\": [", "invalid JSON"),
            ("a: [1\n", "invalid YAML"),
        ] {
            let e = Config::parse(text, "gait.yaml").unwrap_err();
            assert!(e.to_string().contains(want), "{text}: {e}");
            assert!(matches!(e, RegressError::Invalid { hint: Some(_), .. }));
        }
    }

    /// Hostile input never panics: truncations and byte flips of valid JSON and YAML configs
    /// (and fixture.json) only ever give a value or an error.
    #[test]
    fn mutated_input_never_panics() {
        let seeds = [
            r#"{"schema_id":"gait.regress.config","schema_version":"1.0.0","fixture_set":"x","fixtures":[{"name":"a","run_id":"r","runpack":"fixtures/a/runpack.zip","k":[1,{"z":null}]}]}"#,
            "schema_id: gait.regress.config\nfixtures:\n  - &a {name: a, runpack: r.zip}\n  - *a\n  - name: b\n    runpack: \"q\"\n",
        ];
        const ALPHABET: &[u8] = b"{}[]:,\"-&*!|>#\n a0";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for seed in seeds {
            let bytes = seed.as_bytes();
            for cut in 0..bytes.len() {
                if let Ok(t) = std::str::from_utf8(&bytes[..cut]) {
                    let _ = Config::parse(t, "gait.yaml");
                    let _ = crate::fixture::Fixture::parse(t, "fixture.json");
                }
            }
            for _ in 0..3000 {
                let mut b = bytes.to_vec();
                for _ in 0..(next() % 4 + 1) {
                    let i = (next() as usize) % b.len();
                    b[i] = ALPHABET[(next() as usize) % ALPHABET.len()];
                }
                if let Ok(t) = std::str::from_utf8(&b) {
                    let _ = Config::parse(t, "gait.yaml");
                    let _ = crate::fixture::Fixture::parse(t, "fixture.json");
                }
            }
        }
    }

    #[test]
    fn hand_edits_survive_an_upsert() {
        let mut c = Config::parse(
            "schema_id: gait.regress.config\nfixture_set: nightly\nowner: team-x\nfixtures:\n  - name: zeta\n    runpack: fixtures/zeta/runpack.zip\n    flaky: true\n  - name: alpha\n    runpack: elsewhere/alpha.zip\n",
            "gait.yaml",
        )
        .unwrap();
        c.upsert("beta", "run_b", "fixtures/beta/runpack.zip");
        c.upsert("zeta", "run_z", "fixtures/zeta/runpack.zip");
        let text = c.to_doc().to_pretty();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["fixture_set"], "nightly");
        assert_eq!(v["owner"], "team-x");
        let names: Vec<&str> = v["fixtures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["zeta", "alpha", "beta"], "user order kept");
        assert_eq!(v["fixtures"][0]["flaky"], true);
        assert_eq!(v["fixtures"][0]["run_id"], "run_z");
        assert_eq!(v["fixtures"][1]["runpack"], "elsewhere/alpha.zip");
        let again = Config::parse(&text, "gait.yaml").unwrap();
        assert_eq!(again, c);
    }
}
