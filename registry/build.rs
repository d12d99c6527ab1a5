//! Records the target triple the crate is built for: registry indexes publish binaries per
//! target (`x86_64-unknown-linux-gnu`), and installs pick the one this gait runs on.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=GAIT_REGISTRY_HOST_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
