//! The names of the v1 JSON Schemas shipped in `gait-sdk/schemas/v1`, available without the
//! `schema` feature (and its validator) so that tools which only need to know which schema
//! files exist, such as `gait doctor` in a source checkout, stay small. The `schema` module
//! embeds exactly this list.

/// Expands `$m![...]` with every schema name: one list, used both for [`SCHEMA_NAMES`] and
/// for embedding the files.
#[doc(hidden)]
#[macro_export]
macro_rules! schema_files {
    ($m:ident) => {
        $m![
            "action-contract/activated-action-contract-artifact",
            "action-contract/consumer-receipt",
            "action-contract/proposed-action-contract-artifact",
            "action-contract/proposed-action-contract-v3",
            "common/relationship_envelope",
            "context/budget_report",
            "context/envelope",
            "context/reference_record",
            "gate/approval_audit_record",
            "gate/approval_token",
            "gate/approved_script_entry",
            "gate/authorization_bundle",
            "gate/broker_credential_record",
            "gate/broker_request",
            "gate/delegation_audit_record",
            "gate/delegation_token",
            "gate/gate_result",
            "gate/intent_request",
            "gate/kill_switch_state",
            "gate/policy",
            "gate/policy_explain",
            "gate/trace_record",
            "guard/encrypted_artifact",
            "guard/pack_manifest",
            "guard/retention_report",
            "pack/call",
            "pack/diff",
            "pack/job",
            "pack/manifest",
            "pack/run",
            "policytest/policy_test_result",
            "registry/ecosystem_index",
            "registry/registry_pack",
            "registry/verification_report",
            "regress/regress_result",
            "runpack/intent",
            "runpack/manifest",
            "runpack/refs",
            "runpack/result",
            "runpack/run",
            "runpack/session_chain",
            "runpack/session_checkpoint",
            "runpack/session_journal",
            "scout/adoption_event",
            "scout/inventory_snapshot",
            "scout/operational_event",
            "scout/run_fingerprint",
            "scout/signal_report",
            "voice/call_event",
            "voice/callpack_manifest",
            "voice/commitment_intent",
            "voice/say_token"
        ]
    };
}

macro_rules! names {
    ($($name:literal),+ $(,)?) => {
        &[$($name),+]
    };
}

/// Every schema name, the path under `schemas/v1` without `.schema.json`.
pub const SCHEMA_NAMES: &[&str] = schema_files!(names);
