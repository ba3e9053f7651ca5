//! Statement tracing, for tests that check how SQLite plans every statement the host runs
//! (`engine/src/plans.rs`).

use rusqlite::trace::{TraceEvent, TraceEventCodes};

use crate::Db;

impl Db {
    /// Calls `seen` with the text of every statement run from now on (triggers and
    /// transaction control left out).
    pub fn trace_statements(&self, seen: impl Fn(&str) + Send + 'static) {
        self.lock()
            .trace_v2(
                TraceEventCodes::SQLITE_TRACE_STMT,
                Some(move |event: TraceEvent<'_>| {
                    if let TraceEvent::Stmt(_, sql) = event {
                        let sql = sql.trim();
                        let control = ["--", "BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "ANALYZE"];
                        if !control.iter().any(|c| sql.starts_with(c)) {
                            seen(sql);
                        }
                    }
                }),
            )
            .unwrap();
    }

    /// Stops what [`Db::trace_statements`] started.
    pub fn stop_tracing(&self) {
        self.lock()
            .trace_v2(TraceEventCodes::empty(), None::<fn(TraceEvent<'_>)>)
            .unwrap();
    }
}
