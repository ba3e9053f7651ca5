//! Isolation between hook calls on a machine that swaps. A call leaves a lead's data in
//! 8 MiB of its memory, and while the instance still holds them every private page of the
//! process is pushed out to swap (`MADV_PAGEOUT`); the next call in that memory slot grows
//! its memory without writing and looks through all of it. It must find nothing.
//!
//! Resetting only the pages a call wrote (PAGEMAP_SCAN) cannot see a written page that is
//! swapped out (wasmtime PR #14357), so where swap is on the runtime resets whole slots
//! (`SlotReset::for_this_machine`). The test turns swap on for itself, with a swap file in
//! the target directory (root, or passwordless sudo: `./test.sh` runs as root in CI), and
//! off again at the end; nothing else runs in this test binary meanwhile.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use outreach::ai::AiProvider;
use outreach::clock::ManualClock;
use outreach::config::Config;
use outreach::domain::lead::LeadRecord;
use outreach::runtime::hooks::{self, ReplyAction};
use outreach::runtime::host::{CallContext, HostServices};
use outreach::runtime::{HookInput, HookOutput, Limits, Runtime, SlotReset, bundled};
use outreach::store::{self, Db};

/// Leave-then-scan rounds per runtime.
const ROUNDS: usize = 3;
const SWAP_MIB: u32 = 256;
/// The swap file's name, before the process id.
const SWAP_FILE: &str = "outreach-test-swap-";

/// A swap file, on while this lives.
struct Swap {
    file: PathBuf,
}

/// `command` as root: directly when the test is root, else through passwordless sudo.
fn as_root(command: &[&str]) -> std::process::Output {
    let root = unsafe { libc::geteuid() } == 0;
    let mut run = match root {
        true => Command::new(command[0]),
        false => Command::new("sudo"),
    };
    if !root {
        run.arg("-n").arg(command[0]);
    }
    run.args(&command[1..])
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

impl Swap {
    /// Turns a swap file on, in the target directory (a real disk: swap on tmpfs or
    /// overlayfs is refused), after turning off and removing any an earlier run left on
    /// (killed before it could).
    fn on() -> Swap {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        for left in std::fs::read_dir(&dir).unwrap().flatten() {
            if left.file_name().to_string_lossy().starts_with(SWAP_FILE) {
                let path = left.path();
                as_root(&["swapoff", path.to_str().unwrap()]);
                as_root(&["rm", "-f", path.to_str().unwrap()]);
            }
        }
        let file = dir.join(format!("{SWAP_FILE}{}", std::process::id()));
        let path = file.to_str().unwrap();
        for step in [
            &[
                "dd",
                "if=/dev/zero",
                &format!("of={path}"),
                "bs=1M",
                &format!("count={SWAP_MIB}"),
                "status=none",
            ][..],
            &["chmod", "600", path],
            &["mkswap", path],
            &["swapon", path],
        ] {
            let done = as_root(step);
            assert!(
                done.status.success(),
                "this test turns a swap file on for itself, which takes root or passwordless \
                 sudo (`./test.sh` in CI runs as root) and a file system that takes swap files \
                 (ext4, xfs): {step:?}: {}",
                String::from_utf8_lossy(&done.stderr)
            );
        }
        Swap { file }
    }

    /// KiB of swap in use now, all areas together.
    fn used_kib() -> u64 {
        let swaps = std::fs::read_to_string("/proc/swaps").unwrap();
        swaps
            .lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().nth(3)?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for Swap {
    fn drop(&mut self) {
        let path = self.file.to_str().unwrap();
        // A swap file still in use is not removed (the next run turns it off first).
        if as_root(&["swapoff", path]).status.success() {
            as_root(&["rm", "-f", path]);
        } else {
            eprintln!("swap file {path} is still on: `swapoff {path}`");
        }
    }
}

/// Advises the kernel to page out every private writable mapping of this process (the
/// memory slots among them); returns the bytes advised.
fn page_out_everything() -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mut advised = 0;
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !perms.starts_with("rw") || !perms.ends_with('p') {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let start = usize::from_str_radix(start, 16).unwrap();
        let end = usize::from_str_radix(end, 16).unwrap();
        // SAFETY: advice only; the kernel keeps the contents (in swap) and faults them back.
        let done =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT) };
        if done == 0 {
            advised += end - start;
        }
    }
    advised
}

/// `rounds` of: the hostile fixture's `leave` for a lead (its pages pushed out to swap
/// while it runs, until its time is up), then `scan` in a fresh instance; what each scan
/// replied.
async fn leave_then_scan(runtime: Arc<Runtime>, rounds: usize) -> Vec<String> {
    let config = Config::default();
    let db = Db::open_in_memory().unwrap();
    let lead_id = db
        .write(|tx| Ok(store::leads::upsert(tx, &LeadRecord::new(2, "swapped"), 1, 0)?.id()))
        .unwrap();
    let lead = db.read(|c| store::leads::get(c, lead_id)).unwrap().unwrap();
    let services = Arc::new(HostServices {
        db,
        clock: Arc::new(ManualClock::new(1_000)),
        ai: AiProvider::from_config(&config.ai, |_| None),
        config: Arc::new(config.clone()),
    });
    let wasm = std::fs::read(format!(
        "{}/outreach_fixture_hostile.wasm",
        bundled::WASM_DIR
    ))
    .unwrap();
    let pre = Arc::new(runtime.prepare(&wasm).unwrap());
    let mut limits = Limits::for_plugin(&config.limits, &[]);
    limits.timeout = Duration::from_millis(1_500);
    let input = |text: &str| {
        HookInput::Reply(hooks::Inbound {
            event_id: 1,
            lead: lead.clone(),
            text: text.into(),
            at: 0,
            origin: None,
        })
    };
    let scan = async |text: &str| {
        let call = CallContext::new("hostile", 2, Some(lead_id));
        let scanned = runtime
            .invoke(&pre, services.clone(), call, limits, input(text))
            .await
            .unwrap();
        match scanned.result {
            Ok(HookOutput::Reply(ReplyAction::Send(reply))) => reply.text,
            other => panic!("{text}: {other:?}"),
        }
    };
    // The scan finds what is there: a block planted where it looks.
    assert_eq!(scan("scan-planted").await, "found 200");
    let mut replies = Vec::new();
    for _ in 0..rounds {
        let leaving = {
            let (runtime, pre, services, input) = (
                runtime.clone(),
                pre.clone(),
                services.clone(),
                input("leave"),
            );
            tokio::spawn(async move {
                let call = CallContext::new("hostile", 1, Some(lead_id));
                runtime.invoke(&pre, services, call, limits, input).await
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let used_before = Swap::used_kib();
        assert!(page_out_everything() > 0);
        assert!(
            Swap::used_kib() > used_before,
            "nothing went to swap: the test would prove nothing"
        );
        let left = leaving.await.unwrap().unwrap();
        assert!(left.result.is_err(), "`leave` runs until the host stops it");
        replies.push(scan("scan").await);
    }
    replies
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_a_call_left_reaches_the_next_even_from_swap() {
    let swap = Swap::on();
    assert_eq!(SlotReset::for_this_machine(), SlotReset::WholeSlot);
    let limits = Config::default().limits;
    let runtime = Arc::new(Runtime::new(&limits, None).unwrap());
    assert_eq!(runtime.slot_reset(), SlotReset::WholeSlot);
    let replies = leave_then_scan(runtime, ROUNDS).await;
    assert_eq!(
        replies,
        vec!["clean"; ROUNDS],
        "a call read what the last one left"
    );

    // For the record (the note of the issue that asked): what resetting only the written
    // pages does on this machine with swap on. Not asserted: it is the kernel's and
    // wasmtime's behaviour, which this host no longer relies on.
    let risky = Runtime::with_slot_reset(&limits, None, SlotReset::WrittenPages).unwrap();
    if risky.slot_reset() == SlotReset::WrittenPages {
        let replies = leave_then_scan(Arc::new(risky), ROUNDS).await;
        println!("with PAGEMAP_SCAN resets and swap on, the scans found: {replies:?}");
    }
    drop(swap);
}
