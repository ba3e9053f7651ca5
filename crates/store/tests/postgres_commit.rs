//! How a PostgreSQL write commits: a plain write waits for the server's disk; the engine's
//! bookkeeping (`Db::write_flushed_later`) does not, for its own transaction only, so the
//! next write on the same pooled connection waits again, whatever the server's default.
//!
//! Run against a real server: `./test.sh` starts one (`outreach_store::testing`).

use outreach_store::Db;
use outreach_store::testing::PostgresScratch;

fn synchronous_commit(conn: &outreach_store::Conn<'_>) -> anyhow::Result<String> {
    Ok(conn.query_row("SHOW synchronous_commit", [], |r| r.get(0))?)
}

#[test]
fn only_bookkeeping_commits_without_waiting_for_the_disk() {
    let scratch = PostgresScratch::empty("commit_flush");
    let db = Db::open_postgres(&scratch.conninfo()).unwrap();
    // Over and over, so that the pool hands out the connections a lazy commit used.
    for _ in 0..20 {
        assert_eq!(db.write(synchronous_commit).unwrap(), "on");
        assert_eq!(db.write_flushed_later(synchronous_commit).unwrap(), "off");
        assert_eq!(db.read(synchronous_commit).unwrap(), "on");
    }
}

#[test]
fn a_default_of_off_does_not_make_the_flushed_writes_lazy() {
    let scratch = PostgresScratch::empty("commit_default_off");
    let db = Db::open_postgres(&scratch.conninfo()).unwrap();
    let name: String = db
        .read(|c| Ok(c.query_row("SELECT current_database()", [], |r| r.get(0))?))
        .unwrap();
    db.write(|c| {
        c.execute_batch(&format!(
            "ALTER DATABASE \"{name}\" SET synchronous_commit = off"
        ))?;
        Ok(())
    })
    .unwrap();
    // New connections start with the database's default.
    let db = Db::open_postgres(&scratch.conninfo()).unwrap();
    assert_eq!(db.read(synchronous_commit).unwrap(), "off");
    assert_eq!(db.write(synchronous_commit).unwrap(), "on");
}
