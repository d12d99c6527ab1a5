//! Every reference example under `tests/fixtures/schema-examples` is checked against the
//! embedded schema it belongs to: `*_valid*` files must pass, `*_invalid*` files must fail.
//! `.jsonl` files hold one instance per line and every line is held to the file's verdict.
//! A file whose name maps to no schema fails the test, so new examples cannot be skipped.

#![cfg(feature = "schema")]

use std::path::{Path, PathBuf};

use gait_sdk::schema::{self, SchemaError};
use serde_json::Value;

/// Example file prefix (the name before `_valid`/`_invalid` and any variant label such as
/// `_relationship`) → embedded schema name. The longest matching prefix wins.
const PREFIX_TO_SCHEMA: &[(&str, &str)] = &[
    ("context_budget_report", "context/budget_report"),
    ("context_envelope", "context/envelope"),
    ("context_reference_record", "context/reference_record"),
    ("gate_approval_audit_record", "gate/approval_audit_record"),
    ("gate_approval_token", "gate/approval_token"),
    (
        "gate_broker_credential_record",
        "gate/broker_credential_record",
    ),
    ("gate_broker_request", "gate/broker_request"),
    (
        "gate_delegation_audit_record",
        "gate/delegation_audit_record",
    ),
    ("gate_delegation_token", "gate/delegation_token"),
    ("gate_intent_request", "gate/intent_request"),
    ("gate_policy", "gate/policy"),
    ("gate_result", "gate/gate_result"),
    ("gate_trace_record", "gate/trace_record"),
    ("guard_encrypted_artifact", "guard/encrypted_artifact"),
    ("guard_pack_manifest", "guard/pack_manifest"),
    ("guard_retention_report", "guard/retention_report"),
    ("intent", "runpack/intent"),
    ("manifest", "runpack/manifest"),
    ("pack_call", "pack/call"),
    ("pack_diff", "pack/diff"),
    ("pack_job", "pack/job"),
    ("pack_manifest", "pack/manifest"),
    ("pack_run", "pack/run"),
    ("policy_test_result", "policytest/policy_test_result"),
    ("refs", "runpack/refs"),
    ("registry_pack", "registry/registry_pack"),
    (
        "registry_verification_report",
        "registry/verification_report",
    ),
    ("regress_result", "regress/regress_result"),
    ("result", "runpack/result"),
    ("run", "runpack/run"),
    ("scout_adoption_event", "scout/adoption_event"),
    ("scout_inventory_snapshot", "scout/inventory_snapshot"),
    ("scout_operational_event", "scout/operational_event"),
    ("scout_run_fingerprint", "scout/run_fingerprint"),
    ("scout_signal_report", "scout/signal_report"),
    ("session_chain", "runpack/session_chain"),
    ("session_checkpoint", "runpack/session_checkpoint"),
    ("session_journal", "runpack/session_journal"),
    ("voice_call_event", "voice/call_event"),
    ("voice_callpack_manifest", "voice/callpack_manifest"),
    ("voice_commitment_intent", "voice/commitment_intent"),
    ("voice_say_token", "voice/say_token"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Valid,
    Invalid,
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/schema-examples")
}

/// `gate_trace_record_relationship_invalid` → (Invalid, "gate_trace_record_relationship").
fn split_expectation(stem: &str) -> Option<(Expect, &str)> {
    let (rest, last) = stem.rsplit_once('_')?;
    let word = last.trim_end_matches(|c: char| c.is_ascii_digit());
    match word {
        "valid" => Some((Expect::Valid, rest)),
        "invalid" => Some((Expect::Invalid, rest)),
        _ => None,
    }
}

/// The schema for an example named `rest` (stem without the expectation): the longest
/// table prefix that equals `rest` or is followed in it by `_`.
fn schema_for(rest: &str) -> Option<&'static str> {
    PREFIX_TO_SCHEMA
        .iter()
        .filter(|(prefix, _)| {
            rest == *prefix
                || rest
                    .strip_prefix(prefix)
                    .is_some_and(|r| r.starts_with('_'))
        })
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, schema)| *schema)
}

/// The instances an example file holds: one for `.json`, one per non-blank line for `.jsonl`.
fn instances(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("read: {e}"))?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::from_str(&text)
            .map(|v| vec![v])
            .map_err(|e| format!("parse: {e}")),
        Some("jsonl") => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(n, line)| {
                serde_json::from_str(line).map_err(|e| format!("line {}: parse: {e}", n + 1))
            })
            .collect(),
        other => Err(format!("unexpected extension {other:?}")),
    }
}

/// The `schema_id` constant a schema pins, if any.
fn pinned_schema_id(schema: &str) -> Option<String> {
    let doc: Value = serde_json::from_str(schema::schema_source(schema)?).ok()?;
    doc.pointer("/properties/schema_id/const")?
        .as_str()
        .map(str::to_string)
}

#[test]
fn mapping_table_names_only_embedded_schemas() {
    let known: Vec<&str> = schema::schema_ids().collect();
    for (prefix, schema) in PREFIX_TO_SCHEMA {
        assert!(
            known.contains(schema),
            "{prefix} maps to {schema}, which is not embedded"
        );
    }
}

#[test]
fn every_reference_example_behaves_as_its_name_says() {
    let dir = examples_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no examples in {}", dir.display());

    let mut failures = Vec::new();
    let (mut files, mut checked_instances) = (0usize, 0usize);
    let mut covered = std::collections::BTreeSet::new();
    for path in &paths {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let stem = file.split('.').next().unwrap_or_default();
        let Some((expect, rest)) = split_expectation(stem) else {
            failures.push(format!("{file}: name says neither _valid nor _invalid"));
            continue;
        };
        let Some(schema) = schema_for(rest) else {
            failures.push(format!(
                "{file}: no schema mapped for prefix {rest:?}; add it to PREFIX_TO_SCHEMA"
            ));
            continue;
        };
        let values = match instances(path) {
            Ok(values) if values.is_empty() => {
                failures.push(format!("{file}: holds no instance"));
                continue;
            }
            Ok(values) => values,
            Err(e) => {
                failures.push(format!("{file}: {e}"));
                continue;
            }
        };
        files += 1;
        covered.insert(schema);
        let pinned = pinned_schema_id(schema);
        for (n, value) in values.iter().enumerate() {
            checked_instances += 1;
            let at = if values.len() > 1 {
                format!("{file}#{}", n + 1)
            } else {
                file.clone()
            };
            // Guard the mapping itself: an invalid example checked against the wrong schema
            // would "fail" for the wrong reason.
            if let (Some(want), Some(got)) =
                (&pinned, value.get("schema_id").and_then(Value::as_str))
            {
                if want != got {
                    failures.push(format!(
                        "{at}: schema_id {got:?} but mapped to {schema} ({want:?})"
                    ));
                }
            }
            match (expect, schema::validate(schema, value)) {
                (Expect::Valid, Ok(())) => println!("ok   valid    {at} -> {schema}"),
                (Expect::Invalid, Err(SchemaError::Invalid { errors, .. })) => {
                    println!("ok   invalid  {at} -> {schema}: {}", errors.join("; "));
                }
                (Expect::Valid, Err(e)) => {
                    failures.push(format!("{at} -> {schema}: expected valid, got {e}"))
                }
                (Expect::Invalid, Ok(())) => {
                    failures.push(format!("{at} -> {schema}: expected invalid, but it passes"))
                }
                (Expect::Invalid, Err(e)) => {
                    failures.push(format!("{at} -> {schema}: expected Invalid, got {e}"))
                }
            }
        }
    }

    let uncovered: Vec<&str> = schema::schema_ids()
        .filter(|s| !covered.contains(s))
        .collect();
    println!(
        "checked {files} example files ({checked_instances} instances) against {} schemas; schemas without examples: {}",
        covered.len(),
        uncovered.join(", ")
    );
    assert!(
        failures.is_empty(),
        "{} example(s) misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(files, paths.len());
}

#[test]
fn name_parsing() {
    assert_eq!(
        split_expectation("gate_trace_record_valid"),
        Some((Expect::Valid, "gate_trace_record"))
    );
    assert_eq!(
        split_expectation("run_invalid2"),
        Some((Expect::Invalid, "run"))
    );
    assert_eq!(split_expectation("run_other"), None);
    assert_eq!(schema_for("run_relationship"), Some("runpack/run"));
    assert_eq!(schema_for("runpack"), None);
    assert_eq!(schema_for("pack_manifest"), Some("pack/manifest"));
    assert_eq!(
        schema_for("gate_intent_request_enterprise_context"),
        Some("gate/intent_request")
    );
    assert_eq!(schema_for("unmapped_thing"), None);
}
