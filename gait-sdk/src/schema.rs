//! The v1 JSON Schemas of Gait's artifacts, embedded in the binary, and validation against
//! them (feature `schema`). This module owns the list of embedded schemas (every file under
//! `gait-sdk/schemas/v1`, named by its path relative to `v1` without `.schema.json`, e.g.
//! `gate/trace_record`), the offline resolution of `$ref`s between them, and a lazily
//! compiled, process-wide cache of validators.
//!
//! It must not touch the network or the file system: every `$ref` is answered from the
//! embedded copies, and a reference to anything else fails to compile instead of being
//! fetched. It must not know what any artifact means: it checks shape only, and callers in
//! plugins decide which schema applies and what a failure means for them.

use std::collections::HashMap;
use std::sync::OnceLock;

use jsonschema::{Retrieve, Uri, Validator};
use serde_json::Value;

use crate::error::GaitError;

/// At most this many errors are reported for one invalid instance; the rest are counted.
pub const MAX_ERRORS: usize = 20;

/// The base under which schemas without an `$id` of their own are registered, so that
/// relative `$ref`s inside them resolve to their embedded siblings.
const FALLBACK_BASE: &str = "https://gait.dev/schemas/v1/";

macro_rules! embedded {
    ($($name:literal),+ $(,)?) => {
        &[$(($name, include_str!(concat!("../schemas/v1/", $name, ".schema.json")))),+]
    };
}

/// Every schema shipped in `schemas/v1`, as (name, JSON text). A test checks that this list
/// and the directory agree.
static SCHEMAS: &[(&str, &str)] = crate::schema_files!(embedded);

/// Why an instance could not be validated, or why it is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// No embedded schema has this name.
    #[error("unknown schema {0:?}")]
    UnknownSchema(String),
    /// The instance does not conform. Each error reads `<instance path>: <message>`, the
    /// path a JSON Pointer (`(root)` for the whole instance); at most [`MAX_ERRORS`] are
    /// listed, followed by a line counting any others.
    #[error("does not match schema {schema}: {}", .errors.join("; "))]
    Invalid { schema: String, errors: Vec<String> },
    /// An embedded schema failed to compile. Shipped schemas never do (a test compiles every
    /// one), so this means a broken build.
    #[error("embedded schema {schema} does not compile: {message}")]
    Compile { schema: String, message: String },
}

impl From<SchemaError> for GaitError {
    fn from(e: SchemaError) -> Self {
        match e {
            SchemaError::Invalid { ref errors, .. } => {
                let list = errors.iter().cloned().map(Value::String).collect();
                GaitError::invalid(e.to_string()).with_extra("schema_errors", Value::Array(list))
            }
            other => GaitError::internal(other.to_string()),
        }
    }
}

/// The names of all embedded schemas, e.g. `gate/trace_record`, in sorted order.
pub fn schema_ids() -> impl Iterator<Item = &'static str> {
    SCHEMAS.iter().map(|(name, _)| *name)
}

/// The JSON text of the embedded schema `name`, exactly as shipped.
pub fn schema_source(name: &str) -> Option<&'static str> {
    index_of(name).map(|i| SCHEMAS[i].1)
}

/// Validates `instance` against the embedded schema `name` (see [`schema_ids`]).
///
/// The schema is compiled on first use and cached for the life of the process. String
/// `format`s (in practice `date-time`) are asserted, not merely annotated as 2020-12 would
/// by default: the reference examples use malformed timestamps as invalid cases.
pub fn validate(name: &str, instance: &Value) -> Result<(), SchemaError> {
    let index = index_of(name).ok_or_else(|| SchemaError::UnknownSchema(name.to_string()))?;
    let validator = compiled(index)?;
    let mut errors = Vec::new();
    let mut total = 0usize;
    for error in validator.iter_errors(instance) {
        total += 1;
        if errors.len() < MAX_ERRORS {
            let path = error.instance_path.to_string();
            let path = if path.is_empty() {
                "(root)"
            } else {
                path.as_str()
            };
            errors.push(format!("{path}: {error}"));
        }
    }
    if total == 0 {
        return Ok(());
    }
    if total > errors.len() {
        errors.push(format!("({} more errors not shown)", total - errors.len()));
    }
    Err(SchemaError::Invalid {
        schema: name.to_string(),
        errors,
    })
}

fn index_of(name: &str) -> Option<usize> {
    SCHEMAS.binary_search_by(|(n, _)| (*n).cmp(name)).ok()
}

/// Parsed embedded schemas plus the URI each is known by (its `$id`, or one under
/// [`FALLBACK_BASE`] when it has none), built once.
struct Catalog {
    documents: Vec<Value>,
    uris: Vec<String>,
    by_uri: HashMap<String, usize>,
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let mut documents = Vec::with_capacity(SCHEMAS.len());
        let mut uris = Vec::with_capacity(SCHEMAS.len());
        let mut by_uri = HashMap::with_capacity(SCHEMAS.len());
        for (i, (name, text)) in SCHEMAS.iter().enumerate() {
            // Unparsable text becomes `null`, which then fails to compile with a clear error.
            let doc: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            let uri = match doc.get("$id").and_then(Value::as_str) {
                Some(id) => strip_fragment(id).to_string(),
                None => format!("{FALLBACK_BASE}{name}.schema.json"),
            };
            by_uri.entry(uri.clone()).or_insert(i);
            documents.push(doc);
            uris.push(uri);
        }
        Catalog {
            documents,
            uris,
            by_uri,
        }
    })
}

fn strip_fragment(uri: &str) -> &str {
    uri.split_once('#').map_or(uri, |(base, _)| base)
}

/// Answers `$ref`s from the embedded schemas only; never fetches.
struct EmbeddedRetriever;

impl Retrieve for EmbeddedRetriever {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let catalog = catalog();
        match catalog.by_uri.get(strip_fragment(uri.as_str())) {
            Some(&i) => Ok(catalog.documents[i].clone()),
            None => Err(format!(
                "{} is not an embedded Gait schema (offline: nothing is fetched)",
                uri.as_str()
            )
            .into()),
        }
    }
}

fn compiled(index: usize) -> Result<&'static Validator, SchemaError> {
    static SLOTS: OnceLock<Vec<OnceLock<Result<Validator, String>>>> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| (0..SCHEMAS.len()).map(|_| OnceLock::new()).collect());
    let slot = slots[index].get_or_init(|| {
        let catalog = catalog();
        jsonschema::options()
            .with_retriever(EmbeddedRetriever)
            .with_base_uri(catalog.uris[index].clone())
            .should_validate_formats(true)
            .build(&catalog.documents[index])
            .map_err(|e| e.to_string())
    });
    slot.as_ref().map_err(|message| SchemaError::Compile {
        schema: SCHEMAS[index].0.to_string(),
        message: message.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::{Path, PathBuf};

    fn collect(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read schemas dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                collect(&path, root, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(rel);
            }
        }
    }

    #[test]
    fn embedded_list_matches_the_schemas_directory() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/v1");
        let mut on_disk = Vec::new();
        collect(&root, &root, &mut on_disk);
        on_disk.sort();
        let embedded: Vec<String> = schema_ids().map(|n| format!("{n}.schema.json")).collect();
        assert_eq!(
            embedded, on_disk,
            "SCHEMAS in schema.rs must list every file under schemas/v1"
        );
    }

    #[test]
    fn list_is_sorted_and_unique_for_binary_search() {
        assert!(SCHEMAS.windows(2).all(|w| w[0].0 < w[1].0));
        for name in schema_ids() {
            assert!(schema_source(name).is_some(), "{name}");
        }
    }

    #[test]
    fn every_embedded_schema_compiles() {
        for (i, (name, _)) in SCHEMAS.iter().enumerate() {
            if let Err(e) = compiled(i) {
                panic!("{name}: {e}");
            }
        }
    }

    #[test]
    fn every_schema_uri_is_distinct() {
        assert_eq!(catalog().by_uri.len(), SCHEMAS.len());
    }

    #[test]
    fn unknown_schema_is_reported_as_such() {
        let err = validate("gate/no_such_thing", &json!({})).unwrap_err();
        assert_eq!(err, SchemaError::UnknownSchema("gate/no_such_thing".into()));
        assert!(validate("gate/trace_record.schema.json", &json!({})).is_err());
        assert!(matches!(
            validate("", &json!({})),
            Err(SchemaError::UnknownSchema(_))
        ));
        let gait: GaitError = err.into();
        assert_eq!(gait.category, crate::Category::Internal);
    }

    fn reference_record() -> Value {
        json!({
            "ref_id": "ref_1",
            "source_type": "file",
            "source_locator": "docs/a.md",
            "query_digest": "4".repeat(64),
            "content_digest": "5".repeat(64),
            "retrieved_at": "2026-02-05T00:00:00Z",
            "redaction_mode": "reference",
            "immutability": "immutable"
        })
    }

    #[test]
    fn a_valid_instance_passes_and_an_invalid_one_lists_its_errors() {
        let schema = "common/relationship_envelope";
        assert_eq!(validate(schema, &json!({})), Ok(()));
        assert_eq!(
            validate(
                schema,
                &json!({"parent_ref": {"kind": "run", "id": "run_1"}})
            ),
            Ok(())
        );

        let err = validate(schema, &json!({"parent_ref": {"kind": "nope", "id": ""}})).unwrap_err();
        let SchemaError::Invalid { schema: s, errors } = &err else {
            panic!("expected Invalid, got {err:?}");
        };
        assert_eq!(s, schema);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors.iter().any(|e| e.starts_with("/parent_ref/kind: ")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.starts_with("/parent_ref/id: ")),
            "{errors:?}"
        );

        let err = validate(schema, &json!("not an object")).unwrap_err();
        let SchemaError::Invalid { errors, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(errors[0].starts_with("(root): "), "{errors:?}");

        let gait: GaitError = err.into();
        assert_eq!(gait.category, crate::Category::InvalidInput);
        assert!(gait.extra.contains_key("schema_errors"));
    }

    #[test]
    fn date_time_format_is_asserted() {
        let mut record = reference_record();
        assert_eq!(validate("context/reference_record", &record), Ok(()));
        record["retrieved_at"] = json!("2026-02-05T00:00:00.123456789+01:00");
        assert_eq!(validate("context/reference_record", &record), Ok(()));
        record["retrieved_at"] = json!("yesterday");
        let err = validate("context/reference_record", &record).unwrap_err();
        let SchemaError::Invalid { errors, .. } = err else {
            panic!()
        };
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("/retrieved_at: "), "{errors:?}");
    }

    #[test]
    fn errors_are_capped() {
        let records: Vec<Value> = (0..30).map(|_| json!(1)).collect();
        let err = validate("context/envelope", &json!({ "records": records })).unwrap_err();
        let SchemaError::Invalid { errors, .. } = err else {
            panic!()
        };
        assert_eq!(errors.len(), MAX_ERRORS + 1);
        assert!(
            errors[MAX_ERRORS].contains("more errors not shown"),
            "{errors:?}"
        );
    }

    #[test]
    fn relative_ref_between_embedded_schemas_resolves() {
        // context/envelope refers to "reference_record.schema.json" relative to its $id.
        let mut envelope = json!({
            "schema_id": "gait.context.envelope",
            "schema_version": "1.0.0",
            "created_at": "2026-02-05T00:00:00Z",
            "producer_version": "0.0.0-dev",
            "context_set_id": "ctx_1",
            "context_set_digest": "6".repeat(64),
            "evidence_mode": "best_effort",
            "records": [reference_record()]
        });
        let valid = validate("context/envelope", &envelope);
        assert_eq!(valid, Ok(()));
        envelope["records"][0]["immutability"] = json!("sometimes");
        let err = validate("context/envelope", &envelope).unwrap_err();
        let SchemaError::Invalid { errors, .. } = err else {
            panic!()
        };
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("/records/0/immutability: ")),
            "{errors:?}"
        );
    }

    #[test]
    fn absolute_ref_across_hosts_resolves_offline() {
        // proposed-action-contract-artifact refers to the v3 schema by absolute URI.
        assert!(
            compiled(index_of("action-contract/proposed-action-contract-artifact").unwrap())
                .is_ok()
        );
    }

    #[test]
    fn refs_outside_the_embedded_set_are_not_fetched() {
        let err = jsonschema::options()
            .with_retriever(EmbeddedRetriever)
            .build(&json!({"$ref": "https://example.invalid/other.schema.json"}))
            .unwrap_err();
        assert!(
            err.to_string().contains("not an embedded Gait schema"),
            "{err}"
        );
    }

    #[test]
    fn validation_is_usable_from_many_threads() {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| validate("context/reference_record", &reference_record()))
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), Ok(()));
        }
    }
}
