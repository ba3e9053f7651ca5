//! Imports started from the console, under way or just finished: each runs on a blocking
//! thread while its page (`/console/import/{id}`) shows how far it got (bytes read, rows
//! imported, merged, rejected) and, once done, its summary and line-numbered rejects. Only
//! the user who started an import sees it; the last few are kept for an hour.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::{HOUR, Millis};
use crate::leads::csv_import::Reject;
use crate::leads::import::{ImportReport, Observer, Progress, Settings};

/// Rejected rows kept for the page (all are counted).
pub const REJECTS_KEPT: usize = 500;
/// Imports remembered at most; finished ones go after an hour.
const KEPT: usize = 20;

/// What the page of one import shows.
#[derive(Clone)]
pub struct ImportState {
    pub user: String,
    pub file_name: String,
    pub started_at: Millis,
    pub progress: Progress,
    pub rejects: Vec<Reject>,
    /// The outcome, once it is over: the report, or why it failed.
    pub done: Option<Result<ImportReport, String>>,
}

#[derive(Default)]
pub struct Imports {
    next_id: Mutex<u64>,
    states: Mutex<HashMap<u64, Arc<Mutex<ImportState>>>>,
}

impl Imports {
    /// Registers a new import for `user`; returns its id and the state its observer fills.
    pub fn start(
        &self,
        user: &str,
        file_name: &str,
        now: Millis,
    ) -> (u64, Arc<Mutex<ImportState>>) {
        let state = Arc::new(Mutex::new(ImportState {
            user: user.to_owned(),
            file_name: file_name.to_owned(),
            started_at: now,
            progress: Progress::default(),
            rejects: Vec::new(),
            done: None,
        }));
        let id = {
            let mut next = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
            *next += 1;
            *next
        };
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        states.retain(|_, s| {
            let s = s.lock().unwrap_or_else(|p| p.into_inner());
            s.done.is_none() || s.started_at + HOUR > now
        });
        while states.len() >= KEPT {
            let oldest = states.keys().min().copied();
            oldest.map(|id| states.remove(&id));
        }
        states.insert(id, state.clone());
        (id, state)
    }

    /// The state of import `id`, if `user` started it.
    pub fn get(&self, id: u64, user: &str) -> Option<ImportState> {
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let state = states
            .get(&id)?
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        (state.user == user).then_some(state)
    }
}

/// Fills an [`ImportState`] as the import goes.
pub struct Watch(pub Arc<Mutex<ImportState>>);

impl Watch {
    fn state(&self) -> std::sync::MutexGuard<'_, ImportState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn finish(&self, outcome: anyhow::Result<ImportReport>) {
        self.state().done = Some(outcome.map_err(|e| format!("{e:#}")));
    }

    /// How the console imports: rejected rows counted, not collected (the page keeps the
    /// first [`REJECTS_KEPT`] itself), so memory stays bounded whatever the file holds.
    pub fn settings() -> Settings {
        Settings {
            keep_rejects: false,
            ..Settings::default()
        }
    }
}

impl Observer for Watch {
    fn progress(&mut self, progress: &Progress) {
        self.state().progress = *progress;
    }

    fn reject(&mut self, reject: &Reject) {
        let mut state = self.state();
        if state.rejects.len() < REJECTS_KEPT {
            state.rejects.push(reject.clone());
        }
    }
}
