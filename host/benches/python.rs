//! The Python example plugin, built for (a) when componentize-py is installed.

use std::path::Path;
use std::process::Command;

/// `examples/big-accounts-py` as a component, built in a temporary directory.
pub fn build_example() -> Result<Vec<u8>, String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let wasm = dir.path().join("big_accounts_py.wasm");
    std::fs::copy(
        repo.join("examples/big-accounts-py/app.py"),
        dir.path().join("app.py"),
    )
    .map_err(|e| e.to_string())?;
    let out = Command::new("componentize-py")
        .current_dir(dir.path())
        .args([
            "-d",
            &repo.join("wit").display().to_string(),
            "-w",
            "plugin",
        ])
        .args(["componentize", "app", "-o", &wasm.display().to_string()])
        .output()
        .map_err(|e| {
            format!("cannot run componentize-py ({e}); pip install componentize-py==0.25.1")
        })?;
    if !out.status.success() {
        return Err(format!(
            "componentize-py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::read(&wasm).map_err(|e| e.to_string())
}
