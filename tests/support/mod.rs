//! Shared helpers for the end-to-end tests: a scratch directory with its own database and
//! config, and the real `outreach` binary run against it.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod registry;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_outreach");

/// Environment variables a developer's shell may have that would change what the binary does.
pub const LEAKY_ENV: &[&str] = &[
    "OPENROUTER_API_KEY",
    "OPENAI_API_KEY",
    "OUTREACH_DB",
    "OUTREACH_CONFIG",
    "OUTREACH_NOW",
    "OUTREACH_LOG",
    "OUTREACH_DB_KEY",
    "OUTREACH_DB_NEW_KEY",
    "OUTREACH_DATABASE_URL",
    "OUTREACH_NOTIFY_URL",
    "OUTREACH_NOTIFY_SECRET",
    "PGPASSWORD",
];

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
    pub now: Option<String>,
    /// The PostgreSQL database the binary uses instead of the SQLite file, if any.
    pub postgres: Option<outreach::store::testing::PostgresScratch>,
}

/// Which database a test's binary works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test on SQLite and again on PostgreSQL: `fn name(backend: Backend)` becomes the
/// tests `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    (async: $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    )*};
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name($crate::support::Backend::Sqlite)
            }
            #[test]
            fn postgres() {
                super::$name($crate::support::Backend::Postgres)
            }
        }
    )*};
}

impl Sandbox {
    /// A fresh directory with `config` (TOML) as its outreach.toml.
    pub fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("outreach.toml"), config).unwrap();
        Self {
            dir,
            env: Vec::new(),
            now: None,
            postgres: None,
        }
    }

    /// Like [`Sandbox::new`], with its data on `backend`: PostgreSQL is an empty database of
    /// its own on the test server (`./test.sh` starts one), named after `label`.
    pub fn on(backend: Backend, label: &str, config: &str) -> Self {
        Self::new(config).with_backend(backend, label)
    }

    /// This sandbox with its data on `backend` (see [`Sandbox::on`]).
    pub fn with_backend(mut self, backend: Backend, label: &str) -> Self {
        if backend == Backend::Postgres {
            let scratch = outreach::store::testing::PostgresScratch::empty(label);
            self.env
                .push(("OUTREACH_DATABASE_URL".into(), scratch.conninfo()));
            self.postgres = Some(scratch);
        }
        self
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Runs at this fixed time from now on (RFC 3339).
    pub fn at(&mut self, now: &str) -> &mut Self {
        self.now = Some(now.to_owned());
        self
    }

    /// The binary with these arguments, in this directory, with this sandbox's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.dir.path()).args(args);
        for var in LEAKY_ENV {
            cmd.env_remove(var);
        }
        if let Some(now) = &self.now {
            cmd.env("OUTREACH_NOW", now);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .expect("cannot run the outreach binary")
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "outreach {args:?} failed:\n{stdout}\n{stderr}"
        );
        stdout
    }

    /// Runs and expects failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "outreach {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Installs the plugin component at `wasm` (a fixture or an example build, unsigned)
    /// with everything it requests granted; returns what `plugin install` printed.
    pub fn install_unsigned(&self, wasm: &str) -> String {
        self.ok(&[
            "plugin",
            "install",
            wasm,
            "--allow-unsigned",
            "--grant-requested",
        ])
    }

    /// Runs `args` on a pseudo-terminal (`script`, from util-linux), as a person at a shell
    /// would, typing `answers` at its prompts; returns what it showed.
    pub fn on_a_terminal(&self, args: &str, answers: &[u8]) -> String {
        use std::io::Write as _;
        let command = format!("{BIN} {args}");
        let mut script = Command::new("script");
        for var in LEAKY_ENV {
            script.env_remove(var);
        }
        script.envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut child = script
            .args(["-qec", &command, "/dev/null"])
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("`script` (util-linux) runs a command on a pseudo-terminal");
        child.stdin.take().unwrap().write_all(answers).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a `--json` command and parses its output.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.ok(&args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("outreach {args:?} printed no JSON ({e}):\n{out}"))
    }

    /// The texts of a lead's conversation, each prefixed with `<` (from the lead) or `>`.
    pub fn conversation(&self, handle: &str) -> Vec<String> {
        self.json(&["conversations", "show", handle])
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let arrow = if m["direction"] == "inbound" {
                    "<"
                } else {
                    ">"
                };
                format!("{arrow} {}", m["text"].as_str().unwrap())
            })
            .collect()
    }

    pub fn lead(&self, handle: &str) -> Value {
        self.json(&["leads", "show", handle])
    }

    pub fn audit(&self) -> Vec<Value> {
        self.json(&["audit", "--limit", "100000"])
            .as_array()
            .unwrap()
            .clone()
    }
}

/// A sandbox for the Instagram channel: webhook secrets in the config, a one-second Graph
/// API timeout, a fast engine poll, and the sealing key and access token in the environment.
pub fn instagram_sandbox(
    app_secret: &str,
    verify_token: &str,
    token: &str,
    extra_config: &str,
) -> Sandbox {
    let config = format!(
        "[engine]\npoll_ms = 20\n\n[instagram]\nrequest_timeout_seconds = 1\napp_secret = \"{app_secret}\"\nverify_token = \"{verify_token}\"\n{extra_config}"
    );
    let mut sandbox = Sandbox::new(&config);
    sandbox.env.push((
        "OUTREACH_SECRET_KEY".into(),
        "a long test key for sealing tokens".into(),
    ));
    sandbox
        .env
        .push(("INSTAGRAM_ACCESS_TOKEN".into(), token.into()));
    sandbox
}

/// A plugin component the build put next to the bundled ones (fixtures and examples).
pub fn plugin_wasm(file: &str) -> String {
    let path = Path::new(outreach::runtime::bundled::WASM_DIR).join(file);
    assert!(path.exists(), "{} was not built", path.display());
    path.display().to_string()
}

pub fn hostile_wasm() -> String {
    plugin_wasm("outreach_fixture_hostile.wasm")
}

/// `outreach serve` running in the background; stopped when dropped. `url` is its
/// Instagram webhook endpoint.
pub struct Served {
    child: Child,
    pub url: String,
}

impl Served {
    /// The base address, `http://127.0.0.1:<port>`, whatever path `serve` printed first.
    pub fn base(&self) -> &str {
        let path = self.url.find("://").map_or(0, |at| at + 3);
        match self.url[path..].find('/') {
            Some(slash) => &self.url[..path + slash],
            None => &self.url,
        }
    }
}

impl Served {
    /// Whether the process still runs (it did not die of an error meanwhile).
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Adds a console user with `password` (read by `console user add` from stdin).
pub fn add_console_user(sandbox: &Sandbox, name: &str, password: &str) {
    add_console_user_as(sandbox, name, password, &[]);
}

/// [`add_console_user`] with `access`: `--role agent --accounts shop`, say.
pub fn add_console_user_as(sandbox: &Sandbox, name: &str, password: &str, access: &[&str]) {
    use std::io::Write as _;
    let mut add = sandbox
        .command(&[&["console", "user", "add", name], access].concat())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "{password}").unwrap();
    assert!(add.wait().unwrap().success());
}

/// Starts `outreach serve` on a free port and waits until it listens.
pub fn serve(sandbox: &Sandbox) -> Served {
    let mut child = sandbox
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("serve said {line:?}"))
        .to_owned();
    Served { child, url }
}

/// POSTs `body` to `serve`'s bridge endpoint of `account` at `base`, signed with `secret`
/// as a bridge signs it; returns the HTTP status.
pub async fn deliver_to_bridge(base: &str, account: &str, body: &Value, secret: &str) -> u16 {
    let body = serde_json::to_vec(body).unwrap();
    reqwest::Client::new()
        .post(format!("{base}/webhooks/bridge/{account}"))
        .header(
            "X-Outreach-Signature",
            outreach::channels::signing::sign(secret.as_bytes(), &body),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Waits (a few seconds at most) until `done` holds.
pub fn eventually(what: &str, done: impl Fn() -> bool) {
    eventually_within(Duration::from_secs(10), what, done)
}

/// Waits up to `patience` until `done` holds (work whose time grows with its size).
pub fn eventually_within(patience: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + patience;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The README's BigAccounts filter, as the Python and JavaScript examples implement it,
/// checked end to end: `plugin call` against a made-up lead, then installed, fed imported
/// leads and run.
pub fn filters_like_big_accounts(sandbox: &Sandbox, wasm: &str) {
    let lead = sandbox.write(
        "lead.json",
        r#"{"handle": "anna", "fields": {"followers": "3.2k"}}"#,
    );
    let called = sandbox.json(&[
        "plugin",
        "call",
        wasm,
        "--hook",
        "filter",
        "--lead",
        lead.to_str().unwrap(),
        "--grant-requested",
    ]);
    assert_eq!(called["result"]["keep"], true, "{called}");
    assert_eq!(called["contract"], "0.2.0");

    sandbox.install_unsigned(wasm);
    let csv = "handle,followers\nanna,\"12,400\"\nbo,200\n";
    sandbox.ok(&[
        "leads",
        "import",
        sandbox.write("l.csv", csv).to_str().unwrap(),
    ]);
    sandbox.ok(&["run", "--until-idle"]);
    let events = sandbox.ok(&["events"]);
    assert!(
        events.contains("kept: 12400 followers, minimum 1000"),
        "{events}"
    );
    assert!(
        events.contains("dropped: 200 followers, minimum 1000"),
        "{events}"
    );
}

/// A seccomp filter that makes `fcntl(fd, F_ADD_SEALS, …)` fail with EBUSY and allows every
/// other call: what a kernel does when pages just written to a memfd are still pinned.
pub fn refuse_seals() -> Vec<libc::sock_filter> {
    const NR: u32 = 0; // offsetof(struct seccomp_data, nr)
    const ARG1_LOW: u32 = 24; // offsetof(struct seccomp_data, args[1]), low half on little-endian
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump_unless_equal = |k: u32, skip: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt: 0,
        jf: skip,
        k,
    };
    vec![
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, NR),
        jump_unless_equal(libc::SYS_fcntl as u32, 3),
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, ARG1_LOW),
        jump_unless_equal(libc::F_ADD_SEALS as u32, 1),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EBUSY as u32,
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ]
}

/// Installs `filter` on the calling thread (and what it starts or execs). Only system
/// calls: safe between fork and exec.
pub fn install_seccomp_filter(filter: &[libc::sock_filter]) -> std::io::Result<()> {
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut _,
    };
    // SAFETY: prctl with these arguments reads only `program`, which outlives the call.
    let installed = unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            && libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &program as *const libc::sock_fprog,
            ) == 0
    };
    if installed {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Runs `command` as on a kernel that refuses every memfd seal (see [`refuse_seals`]): a
/// plugin compiled in memory then gets no sealed memory image.
pub fn without_sealed_images(command: &mut Command) {
    let filter = refuse_seals();
    // SAFETY: `install_seccomp_filter` makes system calls only; `filter` was built before the fork.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(command, move || {
            install_seccomp_filter(&filter)
        });
    }
}

/// What a bridge's sender received: (idempotency key, handle, text), one per POST.
pub type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>;

async fn bridge_outbox(
    axum::extract::State(received): axum::extract::State<Received>,
    headers: axum::http::HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> axum::http::StatusCode {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    received.lock().unwrap().push((
        key,
        body["to"]["handle"].as_str().unwrap_or_default().to_owned(),
        body["text"].as_str().unwrap_or_default().to_owned(),
    ));
    axum::http::StatusCode::ACCEPTED
}

/// Serves `app` on 127.0.0.1; returns its base URL.
pub async fn start(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// A bridge's sender on 127.0.0.1: its base URL (it takes POSTs at `/outbox`) and what it
/// receives.
pub async fn start_bridge() -> (String, Received) {
    let received: Received = Default::default();
    let app = axum::Router::new()
        .route("/outbox", axum::routing::post(bridge_outbox))
        .with_state(received.clone());
    (start(app).await, received)
}

/// An OpenAI chat completion answering the last user message of `request` with
/// "Answer to: <that message>", as a provider on 127.0.0.1 sends it.
pub fn answer_to_last_message(request: &Value) -> Value {
    let asked = request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default();
    serde_json::json!({
        "id": "gen-1", "object": "chat.completion", "created": 1_764_000_000,
        "model": "test/slow",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": format!("Answer to: {asked}")}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    })
}

/// The system calls `syscalls` (strace's `trace=` list) that `outreach ARGS` makes in
/// `sandbox`, as strace reports them from every thread, with file and socket names
/// (`-yy`) and the first 64 bytes of each buffer. `.ci/run` installs strace.
pub fn traced(sandbox: &Sandbox, args: &[&str], syscalls: &str) -> String {
    let trace = sandbox.path("strace.out");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-yy", "-s", "64", "-e"])
        .arg(format!("trace={syscalls}"))
        .arg("-o")
        .arg(&trace)
        .arg(BIN)
        .args(args)
        .current_dir(sandbox.dir.path());
    let command = sandbox.command(args);
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => cmd.env(name, value),
            None => cmd.env_remove(name),
        };
    }
    let out = cmd
        .output()
        .expect("strace runs (.ci/run installs it): it observes the system calls");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&trace).unwrap()
}
