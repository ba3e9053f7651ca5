//! `outreach plugin new` as a plugin author meets it: in a directory outside this
//! repository, the project it writes passes its own tests, builds to a component, installs,
//! and handles events, with the small guest stack it was written with.

mod support;

use std::path::Path;
use std::process::Command;

use support::Sandbox;

/// Cargo in `dir`, as the plugin author would run it: none of this test build's settings
/// leak in; the build lands in one target directory kept between runs.
fn cargo(dir: &Path, args: &[&str]) -> String {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/scaffold");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", &target);
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().expect("cannot run cargo");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "cargo {args:?} failed:\n{stdout}\n{stderr}"
    );
    assert!(
        !stderr.contains("warning:"),
        "cargo {args:?} warned:\n{stderr}"
    );
    format!("{stdout}{stderr}")
}

/// What every generated project must do once built: keep Anna (3.2k followers) when its
/// filter is called on the project's lead.json, install, and keep or drop the two leads
/// of a small import as its filter says. Returns after `run --until-idle`.
fn calls_installs_and_filters(sandbox: &Sandbox, wasm: &Path, project: &Path, inbound: bool) {
    let wasm = wasm.to_str().unwrap();
    let called = sandbox.json(&[
        "plugin",
        "call",
        wasm,
        "--hook",
        "filter",
        "--lead",
        project.join("lead.json").to_str().unwrap(),
        "--grant-requested",
    ]);
    assert_eq!(called["result"]["keep"], true, "{called}");
    // As the project's README says: a publisher key, the build signed, the key trusted.
    let key = sandbox.path("publisher.key");
    let key = key.to_str().unwrap();
    sandbox.ok(&["plugin", "keys", "new", key]);
    let signed = sandbox.path("signed.wasm");
    let signed = signed.to_str().unwrap();
    sandbox.ok(&["plugin", "sign", wasm, "--key", key, "--output", signed]);
    sandbox.ok(&["plugin", "keys", "add", "me", &format!("{key}.pub")]);
    let installed = sandbox.ok(&["plugin", "install", signed, "--grant-requested"]);
    assert!(installed.contains("signed by me"), "{installed}");
    let csv = "handle,name,followers\nanna,Anna Berg,3.2k\nbo,Bo,200\n";
    sandbox.ok(&[
        "leads",
        "import",
        sandbox.write("l.csv", csv).to_str().unwrap(),
    ]);
    if inbound {
        sandbox.ok(&["inbox", "push", "anna", "Hello!"]);
    }
    sandbox.ok(&["run", "--until-idle"]);
    let events = sandbox.ok(&["events"]);
    assert!(events.contains("kept: 3200 followers"), "{events}");
    assert!(events.contains("dropped: 200 followers"), "{events}");
}

#[test]
fn a_new_rust_plugin_builds_tests_installs_and_runs() {
    let sandbox = Sandbox::new("");
    let wrote = sandbox.ok(&["plugin", "new", "big-accounts", "--hooks", "filter,reply"]);
    assert!(wrote.contains("wrote big-accounts/"), "{wrote}");
    assert!(
        !sandbox.path("outreach.db").exists(),
        "writing a project creates no database"
    );
    let project = sandbox.path("big-accounts");
    assert!(project.join(".cargo/config.toml").exists());

    let tested = cargo(&project, &["test"]);
    assert!(tested.contains("test result: ok. 2 passed"), "{tested}");
    cargo(
        &project,
        &["build", "--release", "--target", "wasm32-wasip2"],
    );
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/scaffold/wasm32-wasip2/release/big_accounts.wasm");

    calls_installs_and_filters(&sandbox, &wasm, &project, true);
    let anna = sandbox.conversation("anna");
    assert_eq!(
        anna.last().unwrap(),
        "> Thanks, Anna! We will get back to you soon.",
        "{anna:?}"
    );
    // The 128 KiB stack of the project's .cargo/config.toml reached the component: with
    // Rust's default 1 MiB stack its memory starts above 1 MiB.
    let plugins = sandbox.json(&["plugin", "list"]);
    let memory = plugins[0]["usage"]["max_memory"].as_u64().unwrap();
    assert!(memory < 1 << 20, "peak memory {memory} bytes");
}

#[test]
fn plugin_new_refuses_bad_names_and_an_existing_directory() {
    let sandbox = Sandbox::new("");
    let err = sandbox.fails(&["plugin", "new", "Big_Accounts"]);
    assert!(
        err.contains("use lowercase letters, digits and dashes"),
        "{err}"
    );
    std::fs::create_dir(sandbox.path("taken")).unwrap();
    let err = sandbox.fails(&["plugin", "new", "taken"]);
    assert!(err.contains("taken already exists"), "{err}");
    let err = sandbox.fails(&["plugin", "new", "x", "--hooks", "filter,send"]);
    assert!(err.contains("\"send\" is not a hook"), "{err}");
}

/// `program args` in `dir`, expected to succeed; returns stdout and stderr.
fn run_in(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .current_dir(dir)
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); .ci/run installs it"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

#[test]
fn a_new_python_plugin_tests_natively_builds_installs_and_runs() {
    let sandbox = Sandbox::new("");
    let wrote = sandbox.ok(&[
        "plugin",
        "new",
        "big-py",
        "--lang",
        "python",
        "--hooks",
        "filter,reply",
    ]);
    assert!(wrote.contains("wrote big-py/"), "{wrote}");
    let project = sandbox.path("big-py");
    assert!(project.join("wit/plugin.wit").exists());

    let bindings = ["-d", "wit", "-w", "plugin"];
    run_in(
        &project,
        "componentize-py",
        &[&bindings[..], &["bindings", "."]].concat(),
    );
    let tested = run_in(&project, "python3", &["-m", "unittest", "-v", "test_app"]);
    assert!(
        tested.contains("Ran 3 tests") && tested.contains("OK"),
        "{tested}"
    );
    run_in(
        &project,
        "componentize-py",
        &[&bindings[..], &["componentize", "app", "-o", "big-py.wasm"]].concat(),
    );
    let wasm = project.join("big-py.wasm");
    calls_installs_and_filters(&sandbox, &wasm, &project, true);
    assert_eq!(
        sandbox.conversation("anna").last().unwrap(),
        "> Thanks, Anna! We will get back to you soon."
    );
}

#[test]
fn a_new_javascript_plugin_tests_natively_builds_installs_and_runs() {
    let sandbox = Sandbox::new("");
    let wrote = sandbox.ok(&[
        "plugin",
        "new",
        "big-js",
        "--lang",
        "js",
        "--hooks",
        "filter,follow-up",
    ]);
    assert!(wrote.contains("wrote big-js/"), "{wrote}");
    let project = sandbox.path("big-js");
    // `npm install` would fetch the pinned componentize-js; the example next to this test
    // pins the same versions and .ci/run installed them there, so the test borrows them.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/big-accounts-js");
    let pinned: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(example.join("package.json")).unwrap())
            .unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.join("package.json")).unwrap())
            .unwrap();
    assert_eq!(written["devDependencies"], pinned["devDependencies"]);
    assert!(
        example.join("node_modules/.bin/componentize-js").exists(),
        "run `npm ci --prefix examples/big-accounts-js` (.ci/run does)"
    );
    std::os::unix::fs::symlink(example.join("node_modules"), project.join("node_modules")).unwrap();

    let tested = run_in(&project, "npm", &["test"]);
    assert!(
        tested.contains("# pass 3") && tested.contains("# fail 0"),
        "{tested}"
    );
    run_in(&project, "npm", &["run", "build"]);
    let wasm = project.join("big-js.wasm");
    calls_installs_and_filters(&sandbox, &wasm, &project, false);
    assert_eq!(
        sandbox.conversation("anna").first().unwrap(),
        "> Hi Anna, any questions?"
    );
    assert!(sandbox.conversation("bo").is_empty());
}
