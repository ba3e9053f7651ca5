//! A plugin written in JavaScript (`examples/big-accounts-js`), built with componentize-js
//! and run by the real host: the same filter as the Rust and Python examples.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::Sandbox;

/// Builds the example into `sandbox` with the componentize-js its lock file pins.
fn build_example(sandbox: &Sandbox) -> PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/big-accounts-js");
    let tool = example.join("node_modules/.bin/componentize-js");
    assert!(
        tool.exists(),
        "the JavaScript example needs its tools: `npm ci` in {} (.ci/run does it)",
        example.display()
    );
    let wasm = sandbox.path("big_accounts_js.wasm");
    let out = Command::new(&tool)
        .current_dir(&example)
        .args(["--wit", "../../wit", "--world-name", "plugin"])
        .args(["--disable", "http", "fetch-event", "--out"])
        .arg(&wasm)
        .arg("app.js")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "componentize-js failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wasm
}

#[test]
fn a_javascript_plugin_filters_leads() {
    let sandbox = Sandbox::new("");
    let wasm = build_example(&sandbox);
    let wasm = wasm.to_str().unwrap();
    support::filters_like_big_accounts(&sandbox, wasm);
}
