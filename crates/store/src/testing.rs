//! A throwaway PostgreSQL database for tests (the `testing` feature): the store's schema
//! comparison and the engine's check that its statements run on PostgreSQL.
//!
//! The server is named by `OUTREACH_TEST_POSTGRES`, a libpq key=value connection string
//! (`host=/tmp/outreach-test-pg.x user=postgres`); `./test.sh` starts a throwaway cluster and
//! sets it. Statements go through `psql`, so the tests need no PostgreSQL client crate.

use std::process::Command;

use crate::POSTGRES_MIGRATIONS;

/// A database of its own on the test server, with the PostgreSQL schema applied; dropped
/// when this is.
pub struct PostgresScratch {
    server: String,
    name: String,
}

impl PostgresScratch {
    /// `label` tells apart the tests of one run, which share a process id.
    pub fn create(label: &str) -> Self {
        let scratch = Self::empty(label);
        for migration in POSTGRES_MIGRATIONS {
            scratch.run(migration);
        }
        scratch
    }

    /// A database with nothing in it: what `outreach` finds the first time it connects.
    pub fn empty(label: &str) -> Self {
        let server = std::env::var("OUTREACH_TEST_POSTGRES").unwrap_or_else(|_| {
            panic!(
                "OUTREACH_TEST_POSTGRES is not set: run ./test.sh, which starts a throwaway \
                 PostgreSQL cluster and sets it (a libpq connection string such as \
                 `host=/tmp/outreach-test-pg.x user=postgres`)"
            )
        });
        let scratch = Self {
            name: format!("outreach_{label}_{}", std::process::id()),
            server,
        };
        // Two commands: one `-c` of several would run them in a transaction, where CREATE
        // DATABASE is refused.
        for sql in [
            format!("DROP DATABASE IF EXISTS {}", scratch.name),
            format!("CREATE DATABASE {}", scratch.name),
        ] {
            psql(&scratch.server, &sql).unwrap_or_else(|e| panic!("{e}"));
        }
        scratch
    }

    /// The libpq connection string of this database.
    pub fn conninfo(&self) -> String {
        format!("{} dbname={}", self.server, self.name)
    }

    /// The connection string of this database through `server`: the same cluster reached
    /// another way (over TCP with TLS).
    pub fn conninfo_via(&self, server: &str) -> String {
        format!("{server} dbname={}", self.name)
    }

    /// Runs `sql` in the scratch database; returns its rows, fields split on `|`.
    pub fn run(&self, sql: &str) -> Vec<Vec<String>> {
        self.try_run(sql).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`PostgresScratch::run`], with PostgreSQL's error as the `Err`.
    pub fn try_run(&self, sql: &str) -> Result<Vec<Vec<String>>, String> {
        let output = psql(&self.conninfo(), sql)?;
        Ok(output
            .lines()
            .map(|line| line.split('|').map(str::to_owned).collect())
            .collect())
    }
}

impl Drop for PostgresScratch {
    fn drop(&mut self) {
        let _ = psql(
            &self.server,
            &format!("DROP DATABASE IF EXISTS {}", self.name),
        );
    }
}

fn psql(conninfo: &str, sql: &str) -> Result<String, String> {
    let output = Command::new("psql")
        .args([
            "--no-psqlrc",
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-At",
            "-F",
            "|",
        ])
        .args(["-d", conninfo, "-c", sql])
        .output()
        .expect("psql runs (./test.sh installs PostgreSQL's client and server)");
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).expect("psql prints UTF-8"))
    } else {
        Err(format!(
            "PostgreSQL refused {sql:.300}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
