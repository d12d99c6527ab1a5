//! Property tests for intent normalisation: it is idempotent, insensitive to padding, case
//! and target order, and its digest is a function of the normalised intent.

use gait_gate::intent::Intent;
use proptest::prelude::*;
use serde_json::{json, Value};

const KINDS: &[&str] = &[
    "path", "url", "host", "repo", "bucket", "table", "queue", "topic", "other",
];
const OPS: &[&str] = &[
    "", "read", "write", "delete", "exec", "list", "dns", "Update", " RM ",
];

fn arb_target() -> impl Strategy<Value = Value> {
    (prop::sample::select(KINDS), "[a-z/.:]{1,16}", prop::sample::select(OPS), any::<bool>(), any::<bool>()).prop_map(
        |(kind, value, op, destructive, ro)| json!({"kind": kind, "value": value, "operation": op, "destructive": destructive, "read_only_hint": ro}),
    )
}

fn arb_intent() -> impl Strategy<Value = Value> {
    (
        "[a-zA-Z_./]{1,12}",
        prop::collection::vec(arb_target(), 0..5),
        prop::collection::btree_map("[a-z ]{1,6}", "[ a-zA-Z0-9]{0,10}", 0..4),
        prop::sample::select(&["low", "HIGH", " medium ", "critical"][..]),
        prop::sample::select(&["", "plan", "apply", "PLAN"][..]),
    )
        .prop_filter("args keys must not be blank", |(_, _, args, _, _)| args.keys().all(|k| !k.trim().is_empty()))
        .prop_map(|(tool, targets, args, risk, phase)| {
            json!({"tool_name": format!("  {tool} "), "args": args, "targets": targets,
                   "context": {"identity": " u ", "workspace": "C:\\w", "risk_class": risk, "phase": phase}})
        })
}

fn normalize(v: &Value) -> Result<Intent, String> {
    Intent::parse_json(&v.to_string())
        .and_then(|i| i.normalize())
        .map_err(|e| e.to_string())
}

proptest! {
    #[test]
    fn normalisation_is_idempotent(v in arb_intent()) {
        if let Ok(once) = normalize(&v) {
            let twice = once.normalize().unwrap();
            prop_assert_eq!(&once, &twice);
            prop_assert_eq!(once.intent_digest(), twice.intent_digest());
        }
    }

    #[test]
    fn target_order_and_duplicates_do_not_change_the_digest(v in arb_intent()) {
        let Ok(a) = normalize(&v) else { return Ok(()) };
        let mut shuffled = v.clone();
        let targets = shuffled["targets"].as_array_mut().unwrap();
        targets.reverse();
        if let Some(first) = targets.first().cloned() {
            targets.push(first);
        }
        let b = normalize(&shuffled).unwrap();
        prop_assert_eq!(a.intent_digest(), b.intent_digest());
    }

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,200}") {
        let _ = Intent::parse_json(&s).map(|i| i.normalize());
    }
}
