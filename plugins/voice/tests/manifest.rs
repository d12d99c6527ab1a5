//! The built `gait-voice` speaks the plugin manifest protocol. (An integration test also makes
//! `cargo test --workspace` build the binary, which the acceptance tests drive.)

use std::process::Command;

#[test]
fn answers_the_manifest_probe() {
    let out = Command::new(env!("CARGO_BIN_EXE_gait-voice"))
        .arg("--gait-manifest")
        .output()
        .unwrap();
    assert!(out.status.success());
    let m = gait_sdk::manifest::PluginManifest::parse(&String::from_utf8_lossy(&out.stdout))
        .expect("a valid manifest");
    assert_eq!(m.name, "voice");
    assert_eq!(m.contract_version, gait_sdk::manifest::CONTRACT_VERSION);
    assert!(m.serves("voice"));
}
