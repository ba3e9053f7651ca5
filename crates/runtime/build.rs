//! Builds the plugin crates (bundled plugins, the example plugins and the test fixtures) for
//! `wasm32-wasip2`, so the host can embed the bundled ones and tests can load the rest with
//! no manual step. It runs a nested cargo with its own target directory, as wasmtime's
//! test-programs do, so the two builds never wait on each other's lock.

use std::path::{Path, PathBuf};
use std::process::Command;

// The signature section's format, shared with the host's signing crate.
#[allow(dead_code)]
#[path = "../signing/src/section.rs"]
mod section;

/// A key pair file (wasmsign2's format) to sign the bundled plugins with, for a release;
/// without it every build signs them with a key of its own, made up for the build.
const SIGNING_KEY_VAR: &str = "OUTREACH_BUNDLED_SIGNING_KEY";

const WASM_TARGET: &str = "wasm32-wasip2";

const PLUGIN_PACKAGES: &[&str] = &[
    "outreach-ai-reply",
    "outreach-followup",
    "outreach-comment-to-dm",
    "lead-scorer",
    "outreach-fixture-hostile",
    "outreach-fixture-attacker",
    "outreach-fixture-scorer-v2",
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
        "tests/scorer-v2",
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
    sign_built(&wasm_dir);
}

/// Writes every plugin it built signed into `OUT_DIR/bundled/` (`src/bundled.rs` embeds
/// the bundled ones from there), and the public key that verifies them to
/// `OUT_DIR/bundled.pub`, for the binary to embed too.
fn sign_built(wasm_dir: &Path) {
    use ed25519_dalek::Signer as _;
    use sha2::Digest as _;
    println!("cargo:rerun-if-env-changed={SIGNING_KEY_VAR}");
    let seed: [u8; 32] = match std::env::var_os(SIGNING_KEY_VAR) {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", Path::new(&path).display());
            let pair = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "cannot read {SIGNING_KEY_VAR} ({}): {e}",
                    Path::new(&path).display()
                )
            });
            assert!(
                pair.len() == 65 && pair[0] == section::ED25519_KEY_PAIR,
                "{SIGNING_KEY_VAR} must name an Ed25519 key pair file (65 bytes starting with 0x81)"
            );
            pair[1..33].try_into().unwrap()
        }
        None => {
            // No release key: one for this build only, whose secret half is dropped here, so
            // nothing but this build can sign as the bundled publisher.
            let mut seed = [0u8; 32];
            let mut random = std::fs::File::open("/dev/urandom").expect("no /dev/urandom");
            std::io::Read::read_exact(&mut random, &mut seed).expect("cannot read /dev/urandom");
            seed
        }
    };
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = key.verifying_key().to_bytes();
    let mut public_file = vec![section::ED25519];
    public_file.extend_from_slice(&public);
    let key_id = sha2::Sha256::digest(&public_file)[..8].to_vec();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let signed_dir = out.join("bundled");
    std::fs::create_dir_all(&signed_dir).unwrap();
    for package in PLUGIN_PACKAGES {
        let file = format!("{}.wasm", package.replace('-', "_"));
        let wasm = std::fs::read(wasm_dir.join(&file)).unwrap();
        let parts = section::split(&wasm).unwrap();
        let mut hash = sha2::Sha256::new();
        for part in parts.covered {
            hash.update(part);
        }
        let signed = section::signed(&parts, hash.finalize().into(), key_id.clone(), |m| {
            key.sign(m).to_bytes().to_vec()
        });
        std::fs::write(signed_dir.join(file), signed).unwrap();
    }
    std::fs::write(out.join("bundled.pub"), public_file).unwrap();
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
