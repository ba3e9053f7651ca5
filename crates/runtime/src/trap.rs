//! Why a hook call failed, in words its author can act on: a budget, fuel, the deadline,
//! memory, or a crash with the guest's own panic message or Python traceback.

use wasmtime::{Store, Trap};

use crate::Limits;
use crate::host::HostState;

/// Why a hook call failed; the message is shown to the user as is.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HookFailure {
    #[error("ran out of its CPU budget of {0} fuel")]
    OutOfFuel(u64),
    #[error("went over its memory limit of {0} MiB")]
    OutOfMemory(usize),
    #[error("did not finish within {0} ms")]
    Timeout(u128),
    #[error("went over its budget of {0}")]
    Budget(String),
    #[error("crashed: {0}")]
    Trap(String),
    #[error("returned an error: {0}")]
    Plugin(String),
}

pub(crate) fn classify_trap(
    error: &wasmtime::Error,
    store: &Store<HostState>,
    limits: Limits,
) -> HookFailure {
    if let Some(failure) = store.data().budget.exceeded() {
        return failure;
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => return HookFailure::OutOfFuel(limits.fuel),
        Some(Trap::Interrupt) => return HookFailure::Timeout(limits.timeout.as_millis()),
        _ => {}
    }
    if store.data().memory.refused_growth() {
        return HookFailure::OutOfMemory(limits.memory_bytes >> 20);
    }
    let trap = error
        .downcast_ref::<Trap>()
        .map_or_else(|| format!("{error:#}"), |t| t.to_string());
    let stderr = store.data().stderr_text();
    // A Python plugin's uncaught exception is what its author needs to see, not where the
    // Python runtime (itself Rust) panicked about it.
    let described = match (python_traceback(&stderr), panic_message(&stderr)) {
        (Some(traceback), _) => format!("{traceback} ({trap})"),
        (None, Some(panic)) => format!("{panic} ({trap})"),
        (None, None) => trap,
    };
    HookFailure::Trap(crate::text::from_plugin(&described, limits.text_chars))
}

/// A Rust guest prints its panic to stderr before aborting, which says more than
/// "unreachable executed": `thread '…' panicked at src/lib.rs:4:5:` and the message below.
fn panic_message(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines();
    let header = lines.find(|l| l.contains(" panicked at "))?;
    let location = header.split(" panicked at ").nth(1)?.trim_end_matches(':');
    let message = lines
        .next()
        .map(str::trim)
        .filter(|m| !m.is_empty() && !m.starts_with("note:"));
    Some(match message {
        Some(message) => format!("panicked at {location}: {message}"),
        None => format!("panicked at {location}"),
    })
}

/// The last Python traceback in a guest's stderr, as Python prints it (frames, then the
/// exception), lines joined with " | " so it stays one line in `outreach events`.
fn python_traceback(stderr: &str) -> Option<String> {
    let start = stderr.rfind("Traceback (most recent call last):")?;
    let lines: Vec<&str> = stderr[start..]
        .lines()
        .take_while(|l| !l.trim().is_empty() && !l.contains(" panicked at "))
        .map(str::trim)
        .collect();
    Some(lines.join(" | "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_read_from_the_guests_stderr() {
        let stderr = "\nthread '<unnamed>' (1) panicked at src/lib.rs:4:5:\nboom\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(stderr).as_deref(),
            Some("panicked at src/lib.rs:4:5: boom")
        );
        assert_eq!(panic_message("nothing here"), None);
    }

    #[test]
    fn a_python_traceback_comes_before_the_runtime_panic() {
        // What componentize-py 0.25.1 writes for an uncaught KeyError.
        let stderr = "Traceback (most recent call last):\n  File \"/0/app.py\", line 39, in filter\nKeyError: 'missing'\n\nthread '<unnamed>' (1) panicked at runtime/src/lib.rs:1293:29:\nPython function threw an unexpected exception\n";
        assert_eq!(
            python_traceback(stderr).as_deref(),
            Some(
                "Traceback (most recent call last): | File \"/0/app.py\", line 39, in filter | KeyError: 'missing'"
            )
        );
        assert_eq!(
            python_traceback("thread 'x' panicked at a.rs:1:1:\nboom\n"),
            None
        );
    }
}
