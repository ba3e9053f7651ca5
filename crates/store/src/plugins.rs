//! Installed plugins: their components, grants, settings and private key-value storage.

use crate::sql::{Conn, OptionalExtension, params};
use anyhow::Context as _;
use serde::Serialize;

use crate::clock::Millis;
use crate::domain::manifest::{Hook, Manifest};
use crate::domain::permission::Permission;

#[derive(Debug, Clone, Serialize)]
pub struct InstalledPlugin {
    pub manifest: Manifest,
    /// The version of the outreach:plugin contract it was built for.
    pub contract: String,
    pub sha256: String,
    pub enabled: bool,
    pub position: i64,
    pub installed_at: Millis,
    pub granted: Vec<Permission>,
}

impl InstalledPlugin {
    pub fn name(&self) -> &str {
        &self.manifest.name
    }
}

/// Stores a plugin, replacing an earlier version with the same name. Grants of a replaced
/// version are dropped when the new one requests more, so an upgrade never widens access
/// without the user agreeing again.
pub fn install(
    conn: &Conn<'_>,
    manifest: &Manifest,
    contract: &str,
    wasm: &[u8],
    sha256: &str,
    now: Millis,
) -> anyhow::Result<()> {
    let previous = get(conn, &manifest.name)?;
    let position: i64 = match &previous {
        Some(p) => p.position,
        None => conn.query_row(
            "SELECT coalesce(max(position), 0) + 1 FROM plugins",
            [],
            |r| r.get(0),
        )?,
    };
    conn.execute(
        "INSERT INTO plugins
           (name, version, description, manifest, wasm, sha256, enabled, position, installed_at, contract)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8, ?9)
         ON CONFLICT (name) DO UPDATE SET version = ?2, description = ?3, manifest = ?4, wasm = ?5,
           sha256 = ?6, installed_at = ?8, contract = ?9",
        params![
            manifest.name,
            manifest.version,
            manifest.description,
            serde_json::to_string(manifest)?,
            wasm,
            sha256,
            position,
            now,
            contract
        ],
    )?;
    if let Some(previous) = previous {
        let widened = manifest
            .permissions
            .iter()
            .any(|p| !previous.manifest.permissions.contains(p));
        if widened {
            conn.execute("DELETE FROM grants WHERE plugin = ?1", [&manifest.name])?;
        } else {
            // Grants the new version no longer asks for are dropped.
            for p in previous
                .granted
                .iter()
                .filter(|p| !manifest.permissions.contains(p))
            {
                revoke(conn, &manifest.name, *p)?;
            }
        }
    }
    Ok(())
}

/// Every permission granted to plugin `name`, in order.
pub fn granted(conn: &Conn<'_>, name: &str) -> anyhow::Result<Vec<Permission>> {
    let mut stmt = conn.prepare_cached("SELECT permission FROM grants WHERE plugin = ?1")?;
    let names: Vec<String> = stmt
        .query_map([name], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut perms: Vec<Permission> = names.iter().filter_map(|n| n.parse().ok()).collect();
    perms.sort();
    Ok(perms)
}

type PluginRow = (String, String, bool, i64, Millis, String);

fn read_row(r: &crate::sql::Row<'_>) -> crate::sql::Result<PluginRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn plugin_from_row(conn: &Conn<'_>, r: PluginRow) -> anyhow::Result<InstalledPlugin> {
    let (manifest, sha256, enabled, position, installed_at, contract) = r;
    let manifest: Manifest =
        serde_json::from_str(&manifest).context("stored manifest is unreadable")?;
    let granted = granted(conn, &manifest.name)?;
    Ok(InstalledPlugin {
        manifest,
        contract,
        sha256,
        enabled,
        position,
        installed_at,
        granted,
    })
}

const COLUMNS: &str = "manifest, sha256, enabled, position, installed_at, contract";

pub fn get(conn: &Conn<'_>, name: &str) -> anyhow::Result<Option<InstalledPlugin>> {
    let row = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM plugins WHERE name = ?1"))?
        .query_row([name], read_row)
        .optional()?;
    row.map(|r| plugin_from_row(conn, r)).transpose()
}

pub fn require(conn: &Conn<'_>, name: &str) -> anyhow::Result<InstalledPlugin> {
    get(conn, name)?.with_context(|| {
        format!("no plugin named {name:?} is installed (see `outreach plugin list`)")
    })
}

/// All plugins in the order events reach them.
pub fn list(conn: &Conn<'_>) -> anyhow::Result<Vec<InstalledPlugin>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM plugins ORDER BY position, name"
    ))?;
    let rows: Vec<PluginRow> = stmt.query_map([], read_row)?.collect::<Result<_, _>>()?;
    rows.into_iter().map(|r| plugin_from_row(conn, r)).collect()
}

/// Enabled plugins implementing `hook`, in order.
pub fn with_hook(conn: &Conn<'_>, hook: Hook) -> anyhow::Result<Vec<InstalledPlugin>> {
    Ok(list(conn)?
        .into_iter()
        .filter(|p| p.enabled && p.manifest.hooks.contains(&hook))
        .collect())
}

pub fn wasm(conn: &Conn<'_>, name: &str) -> anyhow::Result<Vec<u8>> {
    Ok(
        conn.query_row("SELECT wasm FROM plugins WHERE name = ?1", [name], |r| {
            r.get(0)
        })?,
    )
}

pub fn set_enabled(conn: &Conn<'_>, name: &str, enabled: bool) -> anyhow::Result<()> {
    require(conn, name)?;
    conn.execute(
        "UPDATE plugins SET enabled = ?2 WHERE name = ?1",
        params![name, enabled],
    )?;
    Ok(())
}

pub fn remove(conn: &Conn<'_>, name: &str) -> anyhow::Result<()> {
    require(conn, name)?;
    conn.execute("DELETE FROM schedules WHERE plugin = ?1", [name])?;
    // Grants, settings and storage go by ON DELETE CASCADE.
    conn.execute("DELETE FROM plugins WHERE name = ?1", [name])?;
    super::usage::remove(conn, name)
}

pub fn grant(
    conn: &Conn<'_>,
    name: &str,
    permission: Permission,
    now: Millis,
) -> anyhow::Result<()> {
    let plugin = require(conn, name)?;
    anyhow::ensure!(
        plugin.manifest.permissions.contains(&permission),
        "plugin {name:?} does not request {permission}; it requests: {}",
        plugin.manifest.permission_list()
    );
    conn.execute(
        "INSERT INTO grants (plugin, permission, granted_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![name, permission.as_str(), now],
    )?;
    Ok(())
}

pub fn revoke(conn: &Conn<'_>, name: &str, permission: Permission) -> anyhow::Result<()> {
    conn.execute(
        "DELETE FROM grants WHERE plugin = ?1 AND permission = ?2",
        params![name, permission.as_str()],
    )?;
    Ok(())
}

/// Whether plugin `name` holds `permission` now: asked as a call's decision lands, and by
/// host calls of a call started without its grants read (`outreach plugin call`).
pub fn is_granted(conn: &Conn<'_>, name: &str, permission: Permission) -> anyhow::Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM grants WHERE plugin = ?1 AND permission = ?2")?
        .query_row(params![name, permission.as_str()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Whether an enabled plugin holds `permission`.
pub fn enabled_holder_of(conn: &Conn<'_>, permission: Permission) -> anyhow::Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM grants g JOIN plugins p ON p.name = g.plugin
             WHERE g.permission = ?1 AND p.enabled <> 0 LIMIT 1",
        )?
        .query_row(params![permission.as_str()], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn settings(conn: &Conn<'_>, name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut stmt = conn
        .prepare_cached("SELECT key, value FROM plugin_settings WHERE plugin = ?1 ORDER BY key")?;
    Ok(stmt
        .query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?)
}

pub fn setting(conn: &Conn<'_>, name: &str, key: &str) -> anyhow::Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM plugin_settings WHERE plugin = ?1 AND key = ?2")?
        .query_row([name, key], |r| r.get(0))
        .optional()?)
}

pub fn set_setting(
    conn: &Conn<'_>,
    name: &str,
    key: &str,
    value: Option<&str>,
) -> anyhow::Result<()> {
    match value {
        Some(value) => conn.execute(
            "INSERT INTO plugin_settings (plugin, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (plugin, key) DO UPDATE SET value = ?3",
            params![name, key, value],
        )?,
        None => conn.execute(
            "DELETE FROM plugin_settings WHERE plugin = ?1 AND key = ?2",
            [name, key],
        )?,
    };
    Ok(())
}

pub fn kv_get(conn: &Conn<'_>, plugin: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT value FROM plugin_kv WHERE plugin = ?1 AND key = ?2")?
        .query_row([plugin, key], |r| r.get(0))
        .optional()?)
}

/// Bytes a plugin stores, keys included, not counting `except_key` (the one being replaced).
/// Two index lookups: the running total (kept by triggers) and the replaced entry.
pub fn kv_usage(conn: &Conn<'_>, plugin: &str, except_key: &str) -> anyhow::Result<u64> {
    Ok(conn
        .prepare_cached(
            "SELECT coalesce((SELECT bytes FROM plugin_kv_usage WHERE plugin = ?1), 0)
                  - coalesce((SELECT length(CAST(key AS BLOB)) + length(value) FROM plugin_kv
                              WHERE plugin = ?1 AND key = ?2), 0)",
        )?
        .query_row([plugin, except_key], |r| r.get::<_, i64>(0))?
        .max(0) as u64)
}

pub fn kv_set(conn: &Conn<'_>, plugin: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO plugin_kv (plugin, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (plugin, key) DO UPDATE SET value = ?3",
    )?
    .execute(params![plugin, key, value])?;
    Ok(())
}

pub fn kv_delete(conn: &Conn<'_>, plugin: &str, key: &str) -> anyhow::Result<()> {
    conn.prepare_cached("DELETE FROM plugin_kv WHERE plugin = ?1 AND key = ?2")?
        .execute([plugin, key])?;
    Ok(())
}
