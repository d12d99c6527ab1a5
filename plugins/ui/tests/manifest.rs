//! The built `gait-ui` speaks the plugin manifest protocol and declares `ui`.

use std::process::Command;

#[test]
fn answers_the_manifest_probe() {
    let out = Command::new(env!("CARGO_BIN_EXE_gait-ui"))
        .arg("--gait-manifest")
        .output()
        .unwrap();
    assert!(out.status.success());
    let m = gait_sdk::manifest::PluginManifest::parse(&String::from_utf8_lossy(&out.stdout))
        .expect("a valid manifest");
    assert_eq!(m.name, "ui");
    assert_eq!(m.contract_version, gait_sdk::manifest::CONTRACT_VERSION);
    assert!(m.serves("ui"));
}
