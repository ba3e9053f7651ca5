//! Encryption at rest: the SQLCipher passphrase of the database file (`OUTREACH_DB_KEY`),
//! unlocking a connection with it, telling a plain file from an encrypted one, and
//! converting a file between plain and encrypted or from one key to another.
//!
//! The database key is its own variable, not derived from `OUTREACH_SECRET_KEY`: the two
//! protect different things and are rotated differently. `db rekey` changes the database
//! key without touching sealed credentials, and a credential key that leaks or is rotated
//! does not decide who can read the leads.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rusqlite::{Connection, ErrorCode};

pub const KEY_ENV: &str = "OUTREACH_DB_KEY";
/// The key `outreach db rekey` re-encrypts to.
pub const NEW_KEY_ENV: &str = "OUTREACH_DB_NEW_KEY";

/// The first 16 bytes of every plain SQLite file; an encrypted file starts with random salt.
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// A database passphrase. SQLCipher stretches it (PBKDF2-HMAC-SHA512) into the page key.
#[derive(Clone)]
pub struct DbKey(String);

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbKey(hidden)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0} is shorter than 16 characters; use a long random passphrase")]
    Weak(&'static str),
    #[error("{0} contains a control character or a NUL")]
    Unprintable(&'static str),
    #[error("{} is encrypted: set {KEY_ENV} to its key", .0.display())]
    Needed(PathBuf),
    #[error(
        "{} is not encrypted but {KEY_ENV} is set: run `outreach db encrypt` to encrypt it, or unset {KEY_ENV}",
        .0.display()
    )]
    NotEncrypted(PathBuf),
    #[error("{KEY_ENV} does not open {}: it is not this database's key (or the file is not an outreach database)", .0.display())]
    Wrong(PathBuf),
}

impl DbKey {
    /// The key in variable `name`, if it is set (an empty value counts as unset).
    pub fn from_var(name: &'static str) -> Result<Option<Self>, KeyError> {
        match std::env::var(name) {
            Ok(value) if !value.is_empty() => Self::new(name, value).map(Some),
            _ => Ok(None),
        }
    }

    /// `OUTREACH_DB_KEY`, if set.
    pub fn from_env() -> Result<Option<Self>, KeyError> {
        Self::from_var(KEY_ENV)
    }

    pub fn new(name: &'static str, passphrase: String) -> Result<Self, KeyError> {
        if passphrase.chars().count() < 16 {
            return Err(KeyError::Weak(name));
        }
        if passphrase.chars().any(char::is_control) {
            return Err(KeyError::Unprintable(name));
        }
        Ok(Self(passphrase))
    }
}

/// Whether the file at `path` holds an encrypted database: false for a plain one, and for
/// a file that does not exist yet or is empty.
pub fn is_encrypted(path: &Path) -> std::io::Result<bool> {
    use std::io::Read as _;
    let mut header = [0u8; 16];
    let read = match std::fs::File::open(path) {
        Ok(mut file) => file.read(&mut header)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    Ok(read > 0 && &header != PLAIN_HEADER)
}

/// Keys a freshly opened connection (the first statement on it) and proves the key right
/// by reading the schema: SQLCipher only finds a wrong key at the first read.
pub(super) fn unlock(conn: &Connection, path: &Path, key: Option<&DbKey>) -> anyhow::Result<()> {
    // SQLCipher prints its own "hmac check failed" lines to stderr on a wrong key; the
    // error below says it better.
    conn.pragma_update(None, "cipher_log_level", "NONE")?;
    if let Some(key) = key {
        conn.pragma_update(None, "key", &key.0)?;
    }
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(())) {
        Ok(()) => Ok(()),
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
            let encrypted = is_encrypted(path).unwrap_or(true);
            Err(match (key, encrypted) {
                (None, _) => KeyError::Needed(path.to_owned()),
                (Some(_), false) => KeyError::NotEncrypted(path.to_owned()),
                (Some(_), true) => KeyError::Wrong(path.to_owned()),
            }
            .into())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read database {}", path.display())),
    }
}

/// What a conversion copied.
#[derive(Debug, PartialEq, Eq)]
pub struct Converted {
    pub tables: usize,
    pub rows: u64,
}

/// Rewrites the database at `path` from key `from` to key `to` (None: plain): into a new
/// file beside it, which is checked (integrity, and every table's row count against the
/// original) and only then renamed over the original. Any failure before the rename leaves
/// the original as it was. The caller makes sure no engine runs on the file; another
/// process holding it open is found here and refused.
pub fn convert(path: &Path, from: Option<&DbKey>, to: Option<&DbKey>) -> anyhow::Result<Converted> {
    anyhow::ensure!(path.is_file(), "{} does not exist", path.display());
    // The file itself, not a symlink to it: SQLite's -wal sits beside the target, and the
    // link must not be replaced by a copy while the original stays.
    let path = &std::fs::canonicalize(path)
        .with_context(|| format!("cannot resolve {}", path.display()))?;
    let converting = sibling(path, "converting");
    remove_if_present(&converting)?;
    remove_if_present(&sibling(&converting, "journal"))?;

    let source = Connection::open(path)
        .with_context(|| format!("cannot open database {}", path.display()))?;
    unlock(&source, path, from)?;
    source
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .context("cannot checkpoint the write-ahead log")?;
    let version: i64 = source.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let target_key = to.map_or("", |key| key.0.as_str());
    source
        .execute(
            "ATTACH DATABASE ?1 AS converted KEY ?2",
            rusqlite::params![converting.to_string_lossy(), target_key],
        )
        .with_context(|| format!("cannot create {}", converting.display()))?;
    let copied = (|| -> anyhow::Result<()> {
        // Holding the write lock: no other process changes the file during the copy (a
        // change that kept every row count would pass the check and be lost).
        source.execute_batch("BEGIN IMMEDIATE")?;
        source.query_row("SELECT sqlcipher_export('converted')", [], |_| Ok(()))?;
        source.pragma_update(Some("converted"), "user_version", version)?;
        source.execute_batch("COMMIT")?;
        source.execute("DETACH DATABASE converted", [])?;
        Ok(())
    })();
    let verified = copied
        .with_context(|| format!("cannot copy the database into {}", converting.display()))
        .and_then(|()| verify(&source, &converting, to, version));
    let converted = match verified {
        Ok(converted) => converted,
        Err(e) => {
            let _ = remove_if_present(&converting);
            return Err(e);
        }
    };
    // Closing the last connection removes the -wal and -shm files; if they stay, another
    // process has the database open and would go on writing to the file being replaced.
    drop(source);
    let wal = sibling(path, "wal");
    if wal.exists() {
        let _ = remove_if_present(&converting);
        anyhow::bail!(
            "another process has {} open; stop it (outreach run, serve, or a command still running) and try again",
            path.display()
        );
    }
    // Who may read the original may read the copy, and nobody else.
    let permissions = std::fs::metadata(path)?.permissions();
    std::fs::set_permissions(&converting, permissions)?;
    std::fs::File::open(&converting)?.sync_all()?;
    std::fs::rename(&converting, path)
        .with_context(|| format!("cannot move {} to {}", converting.display(), path.display()))?;
    // Converted from here on, whatever follows: the new file is in place.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all())
    {
        tracing::warn!(
            "{} is converted, but its folder could not be synced: {e}",
            path.display()
        );
    }
    Ok(converted)
}

/// Reopens the converted file as a stranger would (with key `key` only) and compares it
/// with the source.
fn verify(
    source: &Connection,
    converted: &Path,
    key: Option<&DbKey>,
    version: i64,
) -> anyhow::Result<Converted> {
    let copy = Connection::open(converted)?;
    unlock(&copy, converted, key)
        .with_context(|| format!("the new file {} does not open", converted.display()))?;
    let integrity: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    anyhow::ensure!(
        integrity == "ok",
        "the new file {} fails its integrity check: {integrity}",
        converted.display()
    );
    let copy_version: i64 = copy.pragma_query_value(None, "user_version", |r| r.get(0))?;
    anyhow::ensure!(
        copy_version == version,
        "the new file has schema version {copy_version}, not {version}"
    );
    let tables: Vec<String> = source
        .prepare("SELECT name FROM main.sqlite_master WHERE type = 'table' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut rows = 0;
    for table in &tables {
        let count = |conn: &Connection| -> rusqlite::Result<u64> {
            conn.query_row(&format!("SELECT count(*) FROM main.\"{table}\""), [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
        };
        let (before, after) = (count(source)?, count(&copy)?);
        anyhow::ensure!(
            before == after,
            "table {table} has {before} rows in the original and {after} in the new file"
        );
        rows += before;
    }
    Ok(Converted {
        tables: tables.len(),
        rows,
    })
}

/// `path` with `-suffix` appended to its file name (`outreach.db` → `outreach.db-wal`).
pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!("-{suffix}"));
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}
