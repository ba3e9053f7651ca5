//! Publisher keys the user trusts: under which name, and since when. The keys are kept as
//! their files' bytes; what they mean is the signing crate's business.

use crate::clock::Millis;
use crate::sql::{Conn, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct PublisherKey {
    pub name: String,
    #[serde(skip)]
    pub public_key: Vec<u8>,
    pub added_at: Millis,
}

/// Trusts `public_key` as `name`'s; refuses a name or a key already trusted.
pub fn add(conn: &Conn<'_>, name: &str, public_key: &[u8], now: Millis) -> anyhow::Result<()> {
    let known: Option<String> = conn
        .query_row(
            "SELECT name FROM publisher_keys WHERE public_key = ?1",
            params![public_key],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(known) = known {
        anyhow::bail!("this key is already trusted as {known:?}");
    }
    let added = conn.execute(
        "INSERT INTO publisher_keys (name, public_key, added_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
        params![name, public_key, now],
    )?;
    anyhow::ensure!(
        added == 1,
        "a key is already trusted as {name:?}; remove it first (`outreach plugin keys remove {name}`)"
    );
    Ok(())
}

pub fn list(conn: &Conn<'_>) -> anyhow::Result<Vec<PublisherKey>> {
    let mut stmt =
        conn.prepare_cached("SELECT name, public_key, added_at FROM publisher_keys ORDER BY name")?;
    Ok(stmt
        .query_map([], |r| {
            Ok(PublisherKey {
                name: r.get(0)?,
                public_key: r.get(1)?,
                added_at: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?)
}

/// Stops trusting `name`'s key; plugins it signed stay installed. False if none was trusted.
pub fn remove(conn: &Conn<'_>, name: &str) -> anyhow::Result<bool> {
    let gone = conn.execute("DELETE FROM publisher_keys WHERE name = ?1", [name])?;
    Ok(gone > 0)
}
