//! Stamps the git commit into the launcher when it is built from a checkout, so `gait version`
//! names exactly what was built. Outside a checkout (a crate tarball, a vendored build) the
//! commit is simply absent: nothing here may fail the build.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let git_dir = Path::new(&manifest_dir).join("../.git");
    let mut commit = String::new();
    if git_dir.join("HEAD").is_file() {
        // Rebuild when HEAD moves: a new commit on the branch, or a checkout of another one.
        println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
        if let Ok(head) = std::fs::read_to_string(git_dir.join("HEAD")) {
            if let Some(reference) = head.trim().strip_prefix("ref: ") {
                println!(
                    "cargo:rerun-if-changed={}",
                    git_dir.join(reference).display()
                );
            }
        }
        println!(
            "cargo:rerun-if-changed={}",
            git_dir.join("packed-refs").display()
        );
        if let Ok(out) = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .current_dir(&manifest_dir)
            .output()
        {
            if out.status.success() {
                let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                    commit = text;
                }
            }
        }
    }
    println!("cargo:rustc-env=GAIT_GIT_COMMIT={commit}");
}
