//! What `plugin install` and `plugin call` both read from their arguments: the plugin (a
//! `.wasm` path or a bundled plugin's name) and the permissions to grant it, which must be
//! among those it requests.

use std::path::Path;

use anyhow::Context as _;
use outreach_registry::{self as registry, Reference};

use crate::consent::Permission;
use crate::runtime::bundled;
use crate::runtime::manifest::Manifest;

pub(super) fn parse_permissions(names: &[String]) -> anyhow::Result<Vec<Permission>> {
    names
        .iter()
        .map(|n| n.parse::<Permission>().map_err(anyhow::Error::msg))
        .collect()
}

/// Only what a plugin requests can be granted to it.
pub(super) fn check_requested(manifest: &Manifest, granted: &[Permission]) -> anyhow::Result<()> {
    if let Some(p) = granted.iter().find(|p| !manifest.permissions.contains(p)) {
        anyhow::bail!(
            "{} does not request {p}; it requests: {}",
            manifest.name,
            manifest.permission_list()
        );
    }
    Ok(())
}

pub(super) fn names(perms: &[Permission]) -> String {
    if perms.is_empty() {
        return "nothing".into();
    }
    perms
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The component bytes of a .wasm path, a bundled plugin's name or an OCI reference
/// (`oci://HOST/REPOSITORY:TAG`).
pub(super) async fn load_source(source: &str) -> anyhow::Result<Vec<u8>> {
    if source.starts_with("oci://") {
        let reference: Reference = source.parse()?;
        let mut client = registry::Client::new(reference, registry::Credentials::from_env())?;
        return client
            .pull()
            .await
            .with_context(|| format!("cannot fetch {source}"));
    }
    let path = Path::new(source);
    if path.exists() {
        return std::fs::read(path).with_context(|| format!("cannot read {}", path.display()));
    }
    match bundled::find(source) {
        Some(shipped) => Ok(shipped.wasm.to_vec()),
        None => {
            let known: Vec<_> = bundled::BUNDLED.iter().map(|s| s.name).collect();
            anyhow::bail!(
                "{source:?} is neither a file nor a bundled plugin ({})",
                known.join(", ")
            )
        }
    }
}
