//! Criterion benchmarks of the gate's hot path, on the `baseline-highrisk` template and the
//! reference `intent_write.json` example (verdict `require_approval`):
//!
//! * `gate/evaluate`               — `eval::evaluate` on a pre-parsed policy and a prepared
//!   (normalised, context claims stripped) intent; target ≤ 2 µs;
//! * `gate/intent_parse_normalize_digest` — JSON decode, normalisation, claim stripping and
//!   `intent_digest`;
//! * `gate/policy_parse_digest`    — YAML decode, normalisation/validation and `policy_digest`;
//! * `gate/intent_jcs_sha256`      — RFC 8785 canonicalisation + SHA-256 of a pre-built intent
//!   digest projection;
//! * `gate/intent_projection_digest` — building that projection and digesting it
//!   (`Intent::intent_digest`).
//!
//! Run with `cargo bench -p gait-gate --bench evaluate`. No timing is asserted here; see
//! `bench/README.md` for the targets.

use criterion::{criterion_group, criterion_main, Criterion};
use gait_gate::eval::{self, EvalOptions};
use gait_gate::intent::Intent;
use gait_gate::policy::{self, Policy};
use gait_sdk::jcs;
use gait_sdk::time::GoTime;
use std::hint::black_box;

const POLICY_YAML: &str = include_str!("../templates/baseline-highrisk.yaml");
const INTENT_JSON: &str = include_str!("../../../bench/fixtures/intent_write.json");
/// Fixed evaluation clock, so freeze windows and expiries never depend on the wall clock.
const EVAL_TIME: &str = "2026-02-06T00:00:00Z";

fn policy() -> Policy {
    policy::parse_policy(POLICY_YAML).expect("baseline-highrisk parses")
}

fn prepared_intent() -> Intent {
    let mut intent = Intent::parse_json(INTENT_JSON)
        .expect("intent parses")
        .normalize()
        .expect("intent normalises");
    eval::strip_context_claims(&mut intent);
    intent
}

fn benches(c: &mut Criterion) {
    let policy = policy();
    let intent = prepared_intent();
    let opts = EvalOptions {
        now: GoTime::parse_rfc3339(EVAL_TIME).expect("fixed time parses"),
        wrkr: None,
    };
    // Sanity check once (not timed): the fixture must exercise the rule path, not fail-closed.
    let ev = eval::evaluate(&policy, &intent, &opts);
    assert_eq!(ev.verdict, "require_approval", "unexpected verdict: {ev:?}");

    let mut g = c.benchmark_group("gate");

    g.bench_function("evaluate", |b| {
        b.iter(|| eval::evaluate(black_box(&policy), black_box(&intent), black_box(&opts)))
    });

    g.bench_function("intent_parse_normalize_digest", |b| {
        b.iter(|| {
            let mut n = Intent::parse_json(black_box(INTENT_JSON))
                .expect("intent parses")
                .normalize()
                .expect("intent normalises");
            eval::strip_context_claims(&mut n);
            n.intent_digest()
        })
    });

    g.bench_function("policy_parse_digest", |b| {
        b.iter(|| {
            policy::parse_policy(black_box(POLICY_YAML))
                .expect("policy parses")
                .digest()
        })
    });

    let projection = intent.digest_projection();
    g.bench_function("intent_jcs_sha256", |b| {
        b.iter(|| jcs::digest_hex(black_box(&projection)).expect("finite JSON"))
    });

    g.bench_function("intent_projection_digest", |b| {
        b.iter(|| black_box(&intent).intent_digest())
    });

    g.finish();
}

criterion_group!(gate, benches);
criterion_main!(gate);
