//! Logging into the host's log, tagged there with the plugin's name.

use crate::Level;
use crate::host::with_host;

/// Logs `message` at level `debug`.
pub fn debug(message: &str) {
    with_host(|h| h.log_write(Level::Debug, message))
}

/// Logs `message` at level `info`.
pub fn info(message: &str) {
    with_host(|h| h.log_write(Level::Info, message))
}

/// Logs `message` at level `warn`.
pub fn warn(message: &str) {
    with_host(|h| h.log_write(Level::Warn, message))
}

/// Logs `message` at level `error`.
pub fn error(message: &str) {
    with_host(|h| h.log_write(Level::Error, message))
}
