//! The Python and JavaScript example plugins, built for (a) when their tools are installed
//! (componentize-py; `npm ci` in `examples/big-accounts-js`).

use std::path::Path;
use std::process::Command;

/// `examples/big-accounts-py` as a component, built in a temporary directory.
pub fn python_example() -> Result<Vec<u8>, String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::copy(
        repo.join("examples/big-accounts-py/app.py"),
        dir.path().join("app.py"),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = Command::new("componentize-py");
    cmd.current_dir(dir.path())
        .args([
            "-d",
            &repo.join("wit").display().to_string(),
            "-w",
            "plugin",
        ])
        .args(["componentize", "app", "-o"]);
    build(cmd, dir.path(), "pip install componentize-py==0.25.1", &[])
}

/// `examples/big-accounts-js` as a component.
pub fn javascript_example() -> Result<Vec<u8>, String> {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/big-accounts-js");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(example.join("node_modules/.bin/componentize-js"));
    cmd.current_dir(&example)
        .args(["--wit", "../../wit", "--world-name", "plugin"])
        .args(["--disable", "http", "fetch-event", "--out"]);
    build(
        cmd,
        dir.path(),
        "npm ci in examples/big-accounts-js",
        &["app.js"],
    )
}

/// Runs `cmd` with the output path and then `rest` as its last arguments.
fn build(mut cmd: Command, dir: &Path, install: &str, rest: &[&str]) -> Result<Vec<u8>, String> {
    let wasm = dir.join("plugin.wasm");
    let out = cmd
        .arg(&wasm)
        .args(rest)
        .output()
        .map_err(|e| format!("cannot run the build tool ({e}); {install}"))?;
    if !out.status.success() {
        return Err(format!(
            "the build failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::read(&wasm).map_err(|e| e.to_string())
}
