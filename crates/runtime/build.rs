//! Builds the plugin crates (bundled plugins, the example plugins and the test fixtures) for
//! `wasm32-wasip2`, so the host can embed the bundled ones and tests can load the rest with
//! no manual step. It runs a nested cargo with its own target directory, as wasmtime's
//! test-programs do, so the two builds never wait on each other's lock.

use std::path::PathBuf;
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";

const PLUGIN_PACKAGES: &[&str] = &[
    "outreach-ai-reply",
    "outreach-followup",
    "outreach-comment-to-dm",
    "lead-scorer",
    "outreach-fixture-hostile",
    "outreach-fixture-attacker",
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    // crates/runtime → the repository root.
    let root = manifest_dir.ancestors().nth(2).unwrap().to_path_buf();
    for dir in [
        "wit",
        "sdk",
        "plugins",
        // Not all of examples/: the JavaScript example keeps node_modules there.
        "examples/lead-scorer",
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

    ensure_wasm_target();

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
            WASM_TARGET,
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
        "building the plugins for {WASM_TARGET} failed"
    );

    let wasm_dir = target_dir.join(WASM_TARGET).join("release");
    println!("cargo:rustc-env=OUTREACH_WASM_DIR={}", wasm_dir.display());
}

/// Installs the wasm target into the toolchain building this crate when it lacks it: rustup
/// does not always install what `rust-toolchain.toml` lists (`RUSTUP_AUTO_INSTALL=0`, or
/// the toolchain was already there without the target), and a first `cargo run` should
/// not stop on it.
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let Some(sysroot) = sysroot else {
        return; // the nested build says what is wrong
    };
    if sysroot.join("lib/rustlib").join(WASM_TARGET).exists() {
        return;
    }
    // The toolchain's name is its sysroot's directory under rustup (`1.95.0-x86_64-…`).
    let toolchain = sysroot
        .file_name()
        .map(|name| name.to_string_lossy().into_owned());
    let mut add = Command::new("rustup");
    add.args(["target", "add", WASM_TARGET]);
    if let Some(toolchain) = &toolchain {
        add.args(["--toolchain", toolchain]);
    }
    match add.status() {
        Ok(status) if status.success() => println!(
            "cargo:warning=installed the {WASM_TARGET} target into {} (`rustup target add {WASM_TARGET}`) to build the plugins",
            toolchain.as_deref().unwrap_or("the active toolchain")
        ),
        _ => panic!(
            "the {WASM_TARGET} target is not installed for {} and `rustup target add {WASM_TARGET}` did not install it; install it by hand, then build again",
            sysroot.display()
        ),
    }
}
