//! A plugin's manifest as the host stores and shows it, read from the component's own
//! `manifest` export and validated before anything is installed: the checks are the
//! domain's ([`crate::domain::manifest::check`]), where they need no wasm to be tried.

pub use crate::domain::manifest::{Declared, Hook, Manifest, check};
