//! What one hook call may still spend: wall-clock time, host calls, log lines and bytes, and
//! audited denials. The host functions draw on it; the store's call hook and epoch callback
//! stop the guest the moment any of it runs out, so a plugin cannot outlast its limits by
//! spending its time inside host calls or by making many cheap ones.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use crate::{HookFailure, Limits};

pub struct Budget {
    limits: Limits,
    deadline: Instant,
    host_calls: AtomicU32,
    log_lines: AtomicU32,
    log_bytes: AtomicU64,
    audited_denials: AtomicU32,
    /// Denials past `limits.audited_denials`, written as one summary row at the end.
    summarised_denials: AtomicU32,
    /// The first limit the call ran into; the call fails with it whatever the guest does next.
    exceeded: OnceLock<HookFailure>,
}

impl Budget {
    /// Starts the clock: instantiation runs guest code too, so it counts.
    pub fn start(limits: Limits) -> Self {
        Self {
            limits,
            deadline: Instant::now() + limits.timeout,
            host_calls: AtomicU32::new(0),
            log_lines: AtomicU32::new(0),
            log_bytes: AtomicU64::new(0),
            audited_denials: AtomicU32::new(0),
            summarised_denials: AtomicU32::new(0),
            exceeded: OnceLock::new(),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Records that the call ran into a limit; the first one is what the call fails with.
    fn exceed(&self, failure: HookFailure) -> HookFailure {
        self.exceeded.get_or_init(|| failure).clone()
    }

    /// What stopped the call, if anything has; past the deadline that is the timeout.
    pub fn exceeded(&self) -> Option<HookFailure> {
        if let Some(failure) = self.exceeded.get() {
            return Some(failure.clone());
        }
        (Instant::now() >= self.deadline)
            .then(|| self.exceed(HookFailure::Timeout(self.limits.timeout.as_millis())))
    }

    /// One more host call: refused once the call is out of time or out of calls.
    pub fn enter(&self) -> Result<(), HookFailure> {
        if let Some(failure) = self.exceeded() {
            return Err(failure);
        }
        let made = self.host_calls.fetch_add(1, Ordering::Relaxed) + 1;
        if made > self.limits.host_calls {
            let budget = match self.limits.host_calls {
                0 => "no host calls: the manifest export may not call the host".to_string(),
                most => format!("{most} host calls per hook call"),
            };
            return Err(self.exceed(HookFailure::Budget(budget)));
        }
        Ok(())
    }

    /// One more log line of `bytes`: refused (and the call stopped) past either log budget.
    pub fn log(&self, bytes: usize) -> Result<(), HookFailure> {
        let lines = self.log_lines.fetch_add(1, Ordering::Relaxed) + 1;
        if lines > self.limits.log_lines {
            return Err(self.exceed(HookFailure::Budget(format!(
                "{} log lines per hook call",
                self.limits.log_lines
            ))));
        }
        let written = self.log_bytes.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
        if written > self.limits.log_bytes {
            return Err(self.exceed(HookFailure::Budget(format!(
                "{} bytes of log per hook call",
                self.limits.log_bytes
            ))));
        }
        Ok(())
    }

    /// Whether the next denial gets its own audit row; past the first few, denials are
    /// counted for one summary row instead.
    pub fn audit_denial_in_full(&self) -> bool {
        let audited = self.audited_denials.fetch_add(1, Ordering::Relaxed);
        if audited < self.limits.audited_denials {
            return true;
        }
        self.summarised_denials.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Denials not written one by one.
    pub fn summarised_denials(&self) -> u32 {
        self.summarised_denials.load(Ordering::Relaxed)
    }
}
