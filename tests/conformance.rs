//! Runs the vendored conformance corpus (recorded from the reference implementation) against
//! the built `gait` launcher, which dispatches to the plugins. Cases that need features a
//! later issue delivers are listed below as known-pending, by id, with the reason.

use gait_acceptance::{binary, case_dirs, run_case};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Cases that need the extended gate evidence features (gate-extended.md: scripts and the
/// approved-script registry, Wrkr inventory, delegation tokens, context envelopes, kill switch,
/// credential brokers…), which a later issue delivers. Each stays in the corpus and runs; a
/// listed case that starts passing fails the test so this list stays true.
const PENDING_CASES: &[(&str, &str)] = &[];

fn pending_reason(id: &str) -> Option<&'static str> {
    PENDING_CASES
        .iter()
        .find(|(c, _)| *c == id)
        .map(|(_, why)| *why)
}

fn run_area(area: &str) {
    let gait = binary("gait");
    binary("gait-gate");
    binary("gait-pack");
    binary("gait-regress");
    binary("gait-voice");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conformance")
        .join(area);
    let cases = case_dirs(&root);
    assert!(!cases.is_empty(), "no cases under {}", root.display());
    let cache = tempfile::tempdir().expect("cache dir");
    let queue = Arc::new(Mutex::new(cases));
    let results = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4))
        .map(|_| {
            let (queue, results, gait, cache) = (
                queue.clone(),
                results.clone(),
                gait.clone(),
                cache.path().to_path_buf(),
            );
            std::thread::spawn(move || loop {
                let Some(dir) = queue.lock().unwrap().pop() else {
                    break;
                };
                let r = run_case(&gait, &dir, &cache);
                results.lock().unwrap().push(r);
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let mut results = results.lock().unwrap().clone();
    results.sort();
    let (mut passed, mut failed, mut pending_failed, mut pending_passed) =
        (0, Vec::new(), 0, Vec::new());
    for (id, problems) in &results {
        match (problems.is_empty(), pending_reason(id)) {
            (true, None) => passed += 1,
            (true, Some(_)) => pending_passed.push(id.clone()),
            (false, Some(_)) => pending_failed += 1,
            (false, None) => failed.push(format!("FAIL {id}: {}", problems.join("\n    "))),
        }
    }
    for f in &failed {
        eprintln!("{f}");
    }
    for p in &pending_passed {
        eprintln!("known-pending case now passes; remove it from PENDING_CASES: {p}");
    }
    eprintln!(
        "conformance {area}: {passed} passed, {} failed, {pending_failed} known-pending, {} pending-but-passing",
        failed.len(),
        pending_passed.len()
    );
    assert!(
        failed.is_empty(),
        "{} conformance case(s) failed in {area}",
        failed.len()
    );
    assert!(
        pending_passed.is_empty(),
        "{} known-pending case(s) now pass; update PENDING_CASES",
        pending_passed.len()
    );
}

#[test]
fn gate_corpus() {
    run_area("gate");
}

#[test]
fn artifacts_corpus() {
    run_area("artifacts");
}

#[test]
fn demo_corpus() {
    run_area("demo");
}

#[test]
fn regress_corpus() {
    run_area("regress");
}

#[test]
fn jobs_corpus() {
    run_area("jobs");
}

#[test]
fn voice_corpus() {
    run_area("voice");
}
