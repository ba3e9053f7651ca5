//! What a plugin declares: its name, its hooks and the permissions it asks for, as Rust
//! types. The contract names hooks and permissions as strings (`messages:send`), so that a
//! host that learns a new one does not break the plugins built before it; [`Hook`] and
//! [`Permission`] are the names this SDK knows, and [`export_plugin!`](crate::export_plugin)
//! writes them out.

use crate::bindings::outreach::plugin::types::{Error, PluginManifest};
use crate::{Hook, Permission};

/// What a plugin is and what it asks for. Read by `outreach plugin inspect|install` from the
/// `.wasm` file alone, before anything is granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Unique name: 1–64 of lower-case letters, digits and `-`.
    pub name: String,
    /// Semantic version of the plugin.
    pub version: String,
    pub description: String,
    /// The hooks this plugin implements; the host calls only these.
    pub hooks: Vec<Hook>,
    /// The permissions this plugin needs; nothing is granted until the user says so.
    pub permissions: Vec<Permission>,
}

impl From<Manifest> for PluginManifest {
    fn from(m: Manifest) -> Self {
        Self {
            name: m.name,
            version: m.version,
            description: m.description,
            hooks: m.hooks.iter().map(|h| h.as_str().into()).collect(),
            permissions: m.permissions.iter().map(|p| p.as_str().into()).collect(),
        }
    }
}

impl Error {
    /// The error a host call returns when `permission` is not granted.
    pub fn permission_denied(permission: Permission) -> Self {
        Self::PermissionDenied(permission.as_str().into())
    }
}
