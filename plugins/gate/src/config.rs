//! Project defaults from `.gait/config.yaml`: the `gate` section fills `gate eval` flags that
//! were left blank. Parsing is lenient (unknown keys are ignored), as the reference's is.

use crate::error::GateError;
use crate::yaml::{self, Node};
use std::collections::BTreeMap;
use std::path::Path;

pub const DEFAULT_CONFIG_PATH: &str = ".gait/config.yaml";

/// The `gate:` keys of the project config, by name.
#[derive(Debug, Clone, Default)]
pub struct GateDefaults {
    values: BTreeMap<String, String>,
}

impl GateDefaults {
    pub fn get(&self, key: &str) -> &str {
        self.values.get(key).map_or("", String::as_str)
    }
}

/// Loads the config. A missing file is only tolerated at the default path.
pub fn load(path: &str) -> Result<GateDefaults, GateError> {
    let cleaned = crate::intent::clean_path_pub(path.trim());
    let p = Path::new(&cleaned);
    let text = match gait_sdk::fsutil::read_text_input(p) {
        Ok(t) => t,
        Err(gait_sdk::fsutil::ReadError::Io(msg))
            if cleaned == DEFAULT_CONFIG_PATH && !p.exists() =>
        {
            let _ = msg;
            return Ok(GateDefaults::default());
        }
        Err(e) => {
            return Err(GateError::invalid(format!(
                "read project config: {}",
                e.to_string().replace(&cleaned, path.trim())
            )))
        }
    };
    let root =
        yaml::parse(&text).map_err(|e| GateError::invalid(format!("parse project config: {e}")))?;
    let mut out = GateDefaults::default();
    let Some(Node::Map { entries, .. }) = root else {
        return Ok(out);
    };
    for (k, v) in &entries {
        if k.key_text() != "gate" {
            continue;
        }
        match v {
            Node::Map { entries: gate, .. } => {
                for (gk, gv) in gate {
                    match gv {
                        Node::Scalar { value, .. } if !gv.is_null() => {
                            out.values.insert(gk.key_text(), value.trim().to_string());
                        }
                        // `credential_scopes: [a, b]` and `credential_command_args: [..]`
                        // read naturally as lists; the flags take comma-separated text.
                        Node::Seq { items, .. } => {
                            let parts: Vec<String> = items
                                .iter()
                                .filter_map(|i| match i {
                                    Node::Scalar { value, .. } if !i.is_null() => {
                                        Some(value.trim().to_string())
                                    }
                                    _ => None,
                                })
                                .collect();
                            out.values.insert(gk.key_text(), parts.join(","));
                        }
                        _ => {}
                    }
                }
            }
            _ if v.is_null() => {}
            other => {
                return Err(GateError::invalid(format!(
                    "parse project config: {} gate must be a mapping, got {}",
                    other.pos(),
                    other.kind()
                )))
            }
        }
    }
    Ok(out)
}
