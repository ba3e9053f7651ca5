//! The host's clock: the only time a plugin sees (there are no timers and no sleeping).

use crate::host::with_host;

/// The current time, Unix milliseconds (UTC).
pub fn now() -> i64 {
    with_host(|h| h.clock_now())
}
