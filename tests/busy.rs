//! The engine and the CLI share one SQLite file: commands typed while `outreach run` works
//! wait their turn instead of failing, the engine outlives them, one engine runs per file
//! whatever path names it, and the looking commands work on a file that is read-only.

mod support;

use std::process::{Child, Stdio};
use std::time::Duration;

use support::{Sandbox, eventually, hostile_wasm};

const CONFIG: &str = "[engine]\npoll_ms = 20\n";

/// `outreach run` as a service, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_engine(sandbox: &Sandbox, db: &str) -> Running {
    let child = sandbox
        .command(&["--db", db, "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Running(child)
}

#[test]
fn commands_typed_while_the_engine_runs_wait_their_turn_and_the_engine_goes_on() {
    let sandbox = Sandbox::new(CONFIG);
    sandbox.install_unsigned(&hostile_wasm());
    let mut engine = run_engine(&sandbox, "outreach.db");
    sandbox.write(
        "more.csv",
        &(0..2000).fold("handle\n".to_string(), |csv, i| csv + &format!("bulk{i}\n")),
    );

    // Thirty writers at once, of three kinds, while the engine works through them.
    std::thread::scope(|scope| {
        for i in 0..30 {
            let sandbox = &sandbox;
            scope.spawn(move || {
                let handle = format!("writer{i}");
                sandbox.ok(&["inbox", "push", &handle, &format!("hello {i}")]);
                match i % 10 {
                    0 => {
                        sandbox.ok(&["plugin", "revoke", "hostile", "leads:read-pii"]);
                    }
                    5 => {
                        sandbox.ok(&["leads", "import", "more.csv"]);
                    }
                    _ => {}
                }
            });
        }
    });

    eventually("every message answered by the running engine", || {
        (0..30).all(|i| sandbox.conversation(&format!("writer{i}")).len() == 2)
    });
    assert!(
        engine.0.try_wait().unwrap().is_none(),
        "the engine exited while commands wrote to its database"
    );
    assert_eq!(
        sandbox.conversation("writer7"),
        vec!["< hello 7", "> echo: hello 7"]
    );
}

#[test]
fn a_second_engine_through_a_symlink_is_refused() {
    let sandbox = Sandbox::new(CONFIG);
    sandbox.ok(&["init"]);
    std::os::unix::fs::symlink(sandbox.path("outreach.db"), sandbox.path("alias.db")).unwrap();
    let _engine = run_engine(&sandbox, "outreach.db");
    // Give it time to take its lock.
    std::thread::sleep(Duration::from_millis(300));
    let error = sandbox.fails(&["--db", "alias.db", "run", "--until-idle"]);
    assert!(
        error.contains("another outreach process is running the engine"),
        "{error}"
    );
}

#[test]
fn looking_commands_work_on_a_database_this_user_may_only_read() {
    let sandbox = Sandbox::new("");
    sandbox.write("leads.csv", "handle,name\nanna.fit,Anna\n");
    sandbox.ok(&["leads", "import", "leads.csv"]);
    sandbox.ok(&["inbox", "push", "anna.fit", "hi"]);
    // Readable by everyone, writable by its owner (root) only, in a folder only root may
    // write: then run as `nobody`, as a second user on the machine would.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(sandbox.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for file in ["outreach.db", "outreach.toml"] {
        std::fs::set_permissions(sandbox.path(file), std::fs::Permissions::from_mode(0o644))
            .unwrap();
    }
    // A copy of the binary they can run whatever the permissions of the checkout's folders.
    let bin = sandbox.path("outreach-bin");
    std::fs::copy(support::BIN, &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let as_nobody = |args: &[&str]| {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .args(args)
            .current_dir(sandbox.dir.path())
            .env_clear();
        cmd.output().unwrap()
    };
    for args in [
        &["leads", "list"][..],
        &["leads", "show", "anna.fit"],
        &["events"],
        &["audit"],
        &["conversations", "show", "anna.fit"],
    ] {
        let out = as_nobody(args);
        assert!(
            out.status.success(),
            "{args:?} as nobody: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let listed = as_nobody(&["leads", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("anna.fit"));
    let refused = as_nobody(&["inbox", "push", "anna.fit", "again"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("readonly database"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
