//! Builds the plugin crates (bundled plugins, the example plugins and the test fixtures) for
//! `wasm32-wasip2`, so the host can embed the bundled ones and tests can load the rest with
//! no manual step. It runs a nested cargo with its own target directory, as wasmtime's
//! test-programs do, so the two builds never wait on each other's lock.

use std::path::PathBuf;
use std::process::Command;

const PLUGIN_PACKAGES: &[&str] = &[
    "outreach-ai-reply",
    "outreach-followup",
    "lead-scorer",
    "outreach-fixture-hostile",
    "outreach-fixture-attacker",
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    for dir in [
        "wit",
        "sdk",
        "plugins",
        "examples",
        "tests/fixtures",
        "tests/attacker",
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );

    let target_dir = std::env::var_os("OUTREACH_PLUGIN_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("plugins"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir);
    for package in PLUGIN_PACKAGES {
        cmd.args(["-p", package]);
    }
    // Flags meant for the host build (coverage, sanitizers, clippy's wrapper) must not leak
    // into the guest build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("cannot run cargo to build the plugins");
    assert!(
        status.success(),
        "building the plugins for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );

    let wasm_dir = target_dir.join("wasm32-wasip2").join("release");
    println!("cargo:rustc-env=OUTREACH_WASM_DIR={}", wasm_dir.display());
}
