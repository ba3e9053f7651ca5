//! A plugin written in Python (`examples/big-accounts-py`), built with componentize-py and
//! run by the real host: the same filter as the Rust examples, and an uncaught exception
//! reported with its Python traceback.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::Sandbox;

const COMPONENTIZE_PY: &str = "componentize-py 0.25.1";

/// Builds the example into `sandbox`, from a copy so no bytecode lands in the repository.
fn build_example(sandbox: &Sandbox) -> PathBuf {
    let version = Command::new("componentize-py").arg("--version").output();
    let found = version
        .as_ref()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    assert_eq!(
        found, COMPONENTIZE_PY,
        "the Python example needs {COMPONENTIZE_PY}: pip install componentize-py==0.25.1 \
         (.ci/run installs it)"
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let source = sandbox.path("py");
    std::fs::create_dir(&source).unwrap();
    std::fs::copy(
        repo.join("examples/big-accounts-py/app.py"),
        source.join("app.py"),
    )
    .unwrap();
    let wasm = sandbox.path("big_accounts_py.wasm");
    let out = Command::new("componentize-py")
        .current_dir(&source)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-d", repo.join("wit").to_str().unwrap(), "-w", "plugin"])
        .args(["componentize", "app", "-o", wasm.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "componentize-py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wasm
}

#[test]
fn a_python_plugin_filters_leads_and_reports_its_traceback() {
    let sandbox = Sandbox::new("");
    let wasm = build_example(&sandbox);
    let wasm = wasm.to_str().unwrap();
    support::filters_like_big_accounts(&sandbox, wasm);

    // An uncaught exception: its traceback, not the Python runtime's panic location.
    sandbox.ok(&["plugin", "config", "big-accounts-py", "min_followers=lots"]);
    sandbox.ok(&[
        "leads",
        "import",
        sandbox
            .write("m.csv", "handle,followers\ncy,5000\n")
            .to_str()
            .unwrap(),
    ]);
    sandbox.ok(&["run", "--until-idle"]);
    let failed = sandbox.ok(&["events", "--failed"]);
    assert!(
        failed.contains("Traceback (most recent call last):")
            && failed.contains("in filter")
            && failed.contains("ValueError: could not convert string to float: 'lots'"),
        "{failed}"
    );
    assert!(!failed.contains("runtime/src/lib.rs"), "{failed}");
}
