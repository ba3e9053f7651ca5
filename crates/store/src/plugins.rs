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
    /// The trusted publisher who signed it; `None` when installed unsigned.
    pub publisher: Option<String>,
}

/// A component to install: what `plugin install` and `plugin upgrade` read and checked.
pub struct Component<'a> {
    pub manifest: &'a Manifest,
    /// The version of the outreach:plugin contract it was built for.
    pub contract: &'a str,
    pub wasm: &'a [u8],
    pub sha256: &'a str,
    pub publisher: Option<&'a str>,
}

/// The version an upgrade replaced, kept for `plugin rollback`.
#[derive(Debug, Clone, Serialize)]
pub struct PreviousVersion {
    pub manifest: Manifest,
    pub sha256: String,
    pub publisher: Option<String>,
    /// What it was granted when it was replaced.
    pub granted: Vec<Permission>,
    pub replaced_at: Millis,
}

impl InstalledPlugin {
    pub fn name(&self) -> &str {
        &self.manifest.name
    }
}

/// Stores a plugin. An earlier version with the same name is kept as the previous one
/// (what [`rollback`] returns to, with the grants it held); the new version keeps the grants
/// it still requests, if the same publisher signed both ([`keeps_grants`]), and nothing
/// more: a permission it newly requests is granted only by the caller, when the user agreed.
pub fn install(conn: &Conn<'_>, component: &Component<'_>, now: Millis) -> anyhow::Result<()> {
    let Component {
        manifest,
        contract,
        wasm,
        sha256,
        publisher,
    } = *component;
    let previous = get(conn, &manifest.name)?;
    // The same bytes again replace nothing: the version to roll back to stays.
    if let Some(previous) = previous.as_ref().filter(|p| p.sha256 != sha256) {
        keep_as_previous(conn, previous, now)?;
    }
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
           (name, version, description, manifest, wasm, sha256, enabled, position, installed_at,
            contract, publisher)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8, ?9, ?10)
         ON CONFLICT (name) DO UPDATE SET version = ?2, description = ?3, manifest = ?4, wasm = ?5,
           sha256 = ?6, installed_at = ?8, contract = ?9, publisher = ?10",
        params![
            manifest.name,
            manifest.version,
            manifest.description,
            serde_json::to_string(manifest)?,
            wasm,
            sha256,
            position,
            now,
            contract,
            publisher
        ],
    )?;
    if let Some(previous) = previous {
        // Grants the new version no longer asks for are dropped; all of them, when someone
        // else built it.
        for p in previous
            .granted
            .iter()
            .filter(|p| !manifest.permissions.contains(p) || !keeps_grants(&previous, publisher))
        {
            revoke(conn, &manifest.name, *p)?;
        }
    }
    Ok(())
}

/// Whether a new version signed by `publisher` inherits the grants of `installed`: only if
/// one trusted publisher signed both. Grants were given to what that publisher built, not
/// to the plugin's name, which anyone may put in a manifest.
pub fn keeps_grants(installed: &InstalledPlugin, publisher: Option<&str>) -> bool {
    installed.publisher.is_some() && installed.publisher.as_deref() == publisher
}

/// Keeps the installed version `current` (its component and grants) as the previous one,
/// replacing what was kept before.
fn keep_as_previous(conn: &Conn<'_>, current: &InstalledPlugin, now: Millis) -> anyhow::Result<()> {
    let granted: Vec<&str> = current.granted.iter().map(|p| p.as_str()).collect();
    conn.execute(
        "INSERT INTO plugin_previous
           (name, manifest, wasm, sha256, contract, publisher, grants, replaced_at)
         SELECT name, manifest, wasm, sha256, contract, publisher, ?2, ?3 FROM plugins WHERE name = ?1
         ON CONFLICT (name) DO UPDATE SET manifest = excluded.manifest, wasm = excluded.wasm,
           sha256 = excluded.sha256, contract = excluded.contract, publisher = excluded.publisher,
           grants = excluded.grants, replaced_at = excluded.replaced_at",
        params![current.name(), granted.join(","), now],
    )?;
    Ok(())
}

/// The version the last upgrade of `name` replaced, if one is kept.
pub fn previous(conn: &Conn<'_>, name: &str) -> anyhow::Result<Option<PreviousVersion>> {
    let row = conn
        .prepare_cached(
            "SELECT manifest, sha256, publisher, grants, replaced_at FROM plugin_previous
             WHERE name = ?1",
        )?
        .query_row([name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Millis>(4)?,
            ))
        })
        .optional()?;
    row.map(|(manifest, sha256, publisher, grants, replaced_at)| {
        Ok(PreviousVersion {
            manifest: serde_json::from_str(&manifest)
                .context("stored manifest of the previous version is unreadable")?,
            sha256,
            publisher,
            granted: grants.split(',').filter_map(|p| p.parse().ok()).collect(),
            replaced_at,
        })
    })
    .transpose()
}

/// Returns plugin `name` to the version its last upgrade replaced, with the grants that
/// version held; the version it replaces becomes the previous one (so a second rollback
/// goes forward again). Its settings, storage and place in the order stay.
pub fn rollback(conn: &Conn<'_>, name: &str, now: Millis) -> anyhow::Result<PreviousVersion> {
    let current = require(conn, name)?;
    let back = previous(conn, name)?.with_context(|| {
        format!("plugin {name:?} has no earlier version to return to (only an upgrade keeps one)")
    })?;
    let (wasm, contract): (Vec<u8>, String) = conn.query_row(
        "SELECT wasm, contract FROM plugin_previous WHERE name = ?1",
        [name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let component = Component {
        manifest: &back.manifest,
        contract: &contract,
        wasm: &wasm,
        sha256: &back.sha256,
        publisher: back.publisher.as_deref(),
    };
    install(conn, &component, now)?;
    conn.execute("DELETE FROM grants WHERE plugin = ?1", [name])?;
    // What both versions request stays as the user left it since; what only the old one
    // requests is as it was then.
    let restored: Vec<Permission> = (back.manifest.permissions.iter())
        .filter(|p| match current.manifest.permissions.contains(p) {
            true => current.granted.contains(p),
            false => back.granted.contains(p),
        })
        .copied()
        .collect();
    for p in &restored {
        grant(conn, name, *p, now)?;
    }
    let back = PreviousVersion {
        granted: restored,
        ..back
    };
    Ok(back)
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

type PluginRow = (String, String, bool, i64, Millis, String, Option<String>);

fn read_row(r: &crate::sql::Row<'_>) -> crate::sql::Result<PluginRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn plugin_from_row(conn: &Conn<'_>, r: PluginRow) -> anyhow::Result<InstalledPlugin> {
    let (manifest, sha256, enabled, position, installed_at, contract, publisher) = r;
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
        publisher,
    })
}

const COLUMNS: &str = "manifest, sha256, enabled, position, installed_at, contract, publisher";

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

/// The component of plugin `name` whose hash is `sha256`: the installed version or the one
/// an upgrade replaced. A call that read the plugin list before an upgrade committed thus
/// runs the version it started with, never the new bytes under the old hash.
pub fn wasm_of_version(conn: &Conn<'_>, name: &str, sha256: &str) -> anyhow::Result<Vec<u8>> {
    conn.prepare_cached(
        "SELECT wasm FROM plugins WHERE name = ?1 AND sha256 = ?2
         UNION ALL SELECT wasm FROM plugin_previous WHERE name = ?1 AND sha256 = ?2
         LIMIT 1",
    )?
    .query_row([name, sha256], |r| r.get(0))
    .optional()?
    .with_context(|| {
        format!("plugin {name:?} no longer has the version {sha256} (upgraded twice meanwhile)")
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Db;

    fn manifest(version: &str, permissions: Vec<Permission>) -> Manifest {
        Manifest {
            name: "scorer".into(),
            version: version.into(),
            description: String::new(),
            hooks: vec![Hook::Filter],
            permissions,
        }
    }

    fn install_version(db: &Db, m: &Manifest, wasm: &[u8]) -> String {
        install_signed(db, m, wasm, Some("acme"))
    }

    fn install_signed(db: &Db, m: &Manifest, wasm: &[u8], publisher: Option<&str>) -> String {
        let sha = format!("sha-{}", m.version);
        let component = Component {
            manifest: m,
            contract: "0.2.0",
            wasm,
            sha256: &sha,
            publisher,
        };
        db.write(|tx| install(tx, &component, 1)).unwrap();
        sha
    }

    #[test]
    fn a_call_that_read_the_old_version_gets_its_bytes_after_an_upgrade() {
        let db = Db::open_in_memory().unwrap();
        let old = install_version(&db, &manifest("1", vec![]), b"old bytes");
        let new = install_version(&db, &manifest("2", vec![]), b"new bytes");
        let bytes = |sha: &str| db.read(|c| wasm_of_version(c, "scorer", sha)).unwrap();
        assert_eq!(bytes(&old), b"old bytes");
        assert_eq!(bytes(&new), b"new bytes");
        install_version(&db, &manifest("3", vec![]), b"newest");
        let gone = db.read(|c| wasm_of_version(c, "scorer", &old)).unwrap_err();
        assert!(
            gone.to_string().contains("no longer has the version"),
            "{gone}"
        );
    }

    #[test]
    fn an_upgrade_keeps_only_grants_still_requested_and_a_rollback_brings_back_its_own() {
        let db = Db::open_in_memory().unwrap();
        let (pii, storage, read) = (
            Permission::LeadsReadPii,
            Permission::Storage,
            Permission::LeadsRead,
        );
        install_version(&db, &manifest("1", vec![pii, read]), b"v1");
        db.write(|tx| {
            grant(tx, "scorer", pii, 1)?;
            grant(tx, "scorer", read, 1)
        })
        .unwrap();
        install_version(&db, &manifest("2", vec![pii, storage]), b"v2");
        let now = db.read(|c| require(c, "scorer")).unwrap();
        assert_eq!(now.granted, vec![pii], "kept what v2 requests, nothing new");
        let back = db.write(|tx| rollback(tx, "scorer", 2)).unwrap();
        assert_eq!(back.manifest.version, "1");
        let now = db.read(|c| require(c, "scorer")).unwrap();
        // (v1 had both; pii stayed granted under v2, `leads:read` only v1 requests.)
        assert_eq!(
            (now.manifest.version.as_str(), now.granted),
            ("1", vec![read, pii])
        );
        assert_eq!(db.read(|c| wasm(c, "scorer")).unwrap(), b"v1");
    }

    #[test]
    fn another_publishers_version_inherits_no_grant_and_revoking_before_a_rollback_holds() {
        let db = Db::open_in_memory().unwrap();
        let pii = Permission::LeadsReadPii;
        install_version(&db, &manifest("1", vec![pii]), b"v1");
        db.write(|tx| grant(tx, "scorer", pii, 1)).unwrap();
        install_signed(&db, &manifest("2", vec![pii]), b"v2", Some("mallory"));
        let now = db.read(|c| require(c, "scorer")).unwrap();
        assert!(now.granted.is_empty(), "a name is not a publisher");
        install_signed(&db, &manifest("3", vec![pii]), b"v3", None);
        db.write(|tx| grant(tx, "scorer", pii, 1)).unwrap();
        install_signed(&db, &manifest("4", vec![pii]), b"v4", None);
        let now = db.read(|c| require(c, "scorer")).unwrap();
        assert!(
            now.granted.is_empty(),
            "unsigned to unsigned keeps nothing either"
        );

        // The same bytes again leave the version to return to as it was.
        install_version(&db, &manifest("5", vec![pii]), b"v5");
        install_version(&db, &manifest("5", vec![pii]), b"v5");
        let kept = db.read(|c| previous(c, "scorer")).unwrap().unwrap();
        assert_eq!(kept.manifest.version, "4");

        // Granted under 4, revoked under 5: a rollback to 4 does not grant it back.
        db.write(|tx| revoke(tx, "scorer", pii)).unwrap();
        let back = db.write(|tx| rollback(tx, "scorer", 2)).unwrap();
        assert_eq!(
            (back.manifest.version.as_str(), back.granted),
            ("4", vec![])
        );
    }
}
