//! Events in flight: many leads at once, each lead one event at a time.
//!
//! A hook call mostly waits (an AI reply takes seconds), so the engine keeps up to
//! `engine.concurrency` of them going at once on one task, as futures: a call waiting on the
//! network holds no thread, no transaction and no database connection (every host call takes
//! the connection for one short statement or transaction). A new turn starts once every
//! running one has been polled, so calls pile up only while they wait: calls that only
//! compute run one after the other. What keeps one lead's events in
//! order: a lead is *in flight* from the moment one of its events is handed out until that
//! event's ending is committed, and no other event of a lead in flight is handed out, so the
//! next one sees what the last one did (a reply queued, a hand-over, an opt-out).
//!
//! Several inbound messages of one lead waiting at once (a person who writes three lines
//! in a row) are one turn: the newest is handed to the reply hooks with the text of all of
//! them, and the older ones end with it ("answered together with event #N").

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::dispatch::Turn;
use super::ending::{Ending, Endings};
use super::{Engine, RunStats};
use crate::store::events::{Event, EventKind};
use crate::store::plugins::InstalledPlugin;
use crate::store::{self};

type Landing<'e> = (i64, anyhow::Result<Option<Ending>>);
type InFlight<'e> = Pin<Box<dyn Future<Output = Landing<'e>> + Send + 'e>>;

/// The events of one run of the engine that are handed out and not committed yet.
pub(super) struct Flights<'e> {
    engine: &'e Engine,
    limit: usize,
    running: FuturesUnordered<InFlight<'e>>,
    /// Leads with an event running or an ending not committed yet.
    leads: HashSet<i64>,
    /// Due events read from the database and not handed out yet, in due order; none of a
    /// lead that was in flight when they were read.
    backlog: VecDeque<Event>,
    /// The installed plugins as of the last read of the backlog.
    plugins: Arc<[InstalledPlugin]>,
    endings: Endings,
    /// Whether the database may hold due events the backlog does not (something was
    /// committed, or time passed, since it was read).
    stale: bool,
    /// Events landed or committed since the caller last asked.
    progressed: bool,
    /// Since when something has been in flight without a pause.
    busy_since: Option<tokio::time::Instant>,
    /// Turns handed out and not polled yet. The next turn starts only once every running
    /// one has been polled: a hook that waits (on the AI) makes room for the next lead at
    /// once, while hooks that only compute run one after the other, as fast as one at a
    /// time, without filling instance slots with calls paused at an epoch tick.
    unpolled: Arc<AtomicUsize>,
}

impl<'e> Flights<'e> {
    pub fn new(engine: &'e Engine) -> Self {
        let config = &engine.services.config;
        Self {
            engine,
            limit: config.engine.concurrency(&config.limits),
            running: FuturesUnordered::new(),
            leads: HashSet::new(),
            backlog: VecDeque::new(),
            plugins: Arc::from(Vec::new()),
            endings: Endings::default(),
            stale: true,
            progressed: false,
            busy_since: None,
            unpolled: Arc::default(),
        }
    }

    /// How long something has been in flight without a pause (zero when idle).
    pub fn busy_for(&self) -> Duration {
        self.busy_since
            .map_or(Duration::ZERO, |since| since.elapsed())
    }

    /// Hook calls running now.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Nothing running, nothing left to commit.
    pub fn is_idle(&self) -> bool {
        self.running.is_empty() && self.endings.is_empty()
    }

    /// Whether events landed or were committed since the last call.
    pub fn take_progress(&mut self) -> bool {
        std::mem::take(&mut self.progressed)
    }

    /// Time passed: what became due since the backlog was read is worth a look.
    pub fn mark_stale(&mut self) {
        self.stale = true;
    }

    /// Hands out the next due event if there is room and every running turn has had its
    /// first poll; returns whether a turn started.
    pub fn top_up(&mut self) -> anyhow::Result<bool> {
        if self.running.len() >= self.limit || self.unpolled.load(Ordering::Relaxed) > 0 {
            return Ok(false);
        }
        let turn = loop {
            let Some(turn) = self.next_turn()? else {
                return Ok(false);
            };
            match &self.engine.claims {
                // Another worker took the lead since the backlog was read: its events stay
                // theirs, and this backlog skips the lead from now on.
                Some(claims) if !claims.claim(self.engine.db(), turn.event.lead_id)? => {
                    self.backlog.retain(|e| e.lead_id != turn.event.lead_id);
                }
                _ => break turn,
            }
        };
        let lead = turn.event.lead_id;
        self.leads.insert(lead);
        let (engine, plugins) = (self.engine, self.plugins.clone());
        let unpolled = self.unpolled.clone();
        unpolled.fetch_add(1, Ordering::Relaxed);
        self.running.push(Box::pin(async move {
            unpolled.fetch_sub(1, Ordering::Relaxed);
            (lead, engine.process_event(turn, plugins).await)
        }));
        self.busy_since
            .get_or_insert_with(tokio::time::Instant::now);
        Ok(true)
    }

    /// Hands out turns while there is room, each polled once before the next starts, and
    /// lands what finishes meanwhile; stops after a commit. Returns whether it committed.
    async fn fill(&mut self, stats: &mut RunStats) -> anyhow::Result<bool> {
        loop {
            if self.top_up_or_commit(stats)? {
                return Ok(true);
            }
            if self.unpolled.load(Ordering::Relaxed) == 0 {
                return Ok(false);
            }
            // One poll with this task's waker, whatever it gives: the new turn runs until it
            // waits or ends.
            let polled =
                std::future::poll_fn(|cx| Poll::Ready(self.running.poll_next_unpin(cx))).await;
            if let Poll::Ready(Some((lead, landed))) = polled
                && self.land(lead, landed, stats)?
            {
                return Ok(true);
            }
        }
    }

    /// The next turn of a lead not in flight, reading due events again when the backlog has
    /// none and may be out of date.
    fn next_turn(&mut self) -> anyhow::Result<Option<Turn>> {
        if let Some(turn) = self.take_turn() {
            return Ok(Some(turn));
        }
        if !self.stale {
            return Ok(None);
        }
        self.stale = false;
        let engine = &self.engine;
        // One transaction for the three reads: on PostgreSQL each read is a round trip.
        let (due, plugins, elsewhere) = engine.db().read(|c| {
            let due = store::events::due(c, engine.now(), super::EVENT_BATCH)?;
            if due.is_empty() {
                // An idle service looks every poll: no plugin list to read for nothing.
                return Ok((due, None, HashSet::new()));
            }
            // Read once per backlog, not per event: installing, enabling or removing a
            // plugin shows from the next read on. Grants are not taken from here; each call
            // reads them as it starts, so a revocation holds from the next call.
            let plugins = store::plugins::list(c)?;
            let elsewhere = match &engine.claims {
                Some(claims) => claims.held_by_others(c)?,
                None => HashSet::new(),
            };
            Ok((due, Some(plugins), elsewhere))
        })?;
        let Some(plugins) = plugins else {
            self.backlog.clear();
            return Ok(None);
        };
        self.plugins = Arc::from(plugins);
        self.backlog = due
            .into_iter()
            .filter(|e| !self.leads.contains(&e.lead_id) && !elsewhere.contains(&e.lead_id))
            .collect();
        Ok(self.take_turn())
    }

    /// Takes the first event of the backlog whose lead is not in flight, with the waiting
    /// messages of its burst.
    fn take_turn(&mut self) -> Option<Turn> {
        let at = self
            .backlog
            .iter()
            .position(|e| !self.leads.contains(&e.lead_id))?;
        let first = self.backlog.remove(at)?;
        if !is_plain_inbound(&first) {
            return Some(Turn {
                event: first,
                burst: Vec::new(),
            });
        }
        let mut burst = vec![first];
        let mut index = at;
        while index < self.backlog.len() {
            let e = &self.backlog[index];
            if e.lead_id != burst[0].lead_id {
                index += 1;
            } else if is_plain_inbound(e) {
                burst.extend(self.backlog.remove(index));
            } else {
                // The lead's next event of another kind: the burst ends before it, so what
                // came after it is not answered first.
                break;
            }
        }
        // The newest message is the one answered; the others are answered with it.
        let event = burst.pop()?;
        Some(Turn { event, burst })
    }

    /// Runs `chore` to its end while keeping the hooks in flight going: landing them,
    /// committing their endings and, with `top_up`, handing out more.
    pub async fn drive_during<T>(
        &mut self,
        chore: impl Future<Output = T>,
        top_up: bool,
        stats: &mut RunStats,
    ) -> anyhow::Result<T> {
        let mut chore = pin!(chore);
        loop {
            if top_up {
                self.fill(stats).await?;
            }
            let deadline = self.endings.deadline();
            tokio::select! {
                biased;
                done = &mut chore => return Ok(done),
                Some((lead, landed)) = self.running.next(), if !self.running.is_empty() => {
                    self.land(lead, landed, stats)?;
                }
                () = sleep_until(deadline), if deadline.is_some() => self.commit(stats)?,
            }
        }
    }

    /// Keeps the hooks going until something is committed, nothing is left in flight, or
    /// `patience` runs out.
    pub async fn drive_until_commit(
        &mut self,
        patience: Duration,
        stats: &mut RunStats,
    ) -> anyhow::Result<()> {
        let give_up = tokio::time::Instant::now() + patience;
        loop {
            if self.fill(stats).await? || self.is_idle() {
                return Ok(());
            }
            let deadline = self.endings.deadline();
            tokio::select! {
                biased;
                Some((lead, landed)) = self.running.next(), if !self.running.is_empty() => {
                    let committed = self.land(lead, landed, stats)?;
                    if committed {
                        return Ok(());
                    }
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.commit(stats)?;
                    return Ok(());
                }
                () = tokio::time::sleep_until(give_up) => return Ok(()),
            }
        }
    }

    /// Takes in one finished turn; returns whether endings were committed.
    fn land(
        &mut self,
        lead: i64,
        landed: anyhow::Result<Option<Ending>>,
        stats: &mut RunStats,
    ) -> anyhow::Result<bool> {
        self.progressed = true;
        match landed {
            Ok(Some(ending)) => self.endings.push(ending),
            Ok(None) => {
                self.leads.remove(&lead);
            }
            Err(error) => {
                // Keep what the other events did; the error is what counts.
                self.leads.remove(&lead);
                if let Err(also) = self.commit(stats) {
                    tracing::warn!("could not commit the events before a failure: {also:#}");
                }
                return Err(error);
            }
        }
        if self.endings.is_full() {
            self.commit(stats)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Hands out the next turn if it may start; when nothing runs, commits what ended (the
    /// leads it holds may have the next events). Returns whether it committed.
    fn top_up_or_commit(&mut self, stats: &mut RunStats) -> anyhow::Result<bool> {
        self.top_up()?;
        if self.running.is_empty() && !self.endings.is_empty() {
            self.commit(stats)?;
            self.top_up()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Commits the endings waiting, and lets their leads have their next turn.
    pub fn commit(&mut self, stats: &mut RunStats) -> anyhow::Result<()> {
        if self.endings.is_empty() {
            return Ok(());
        }
        let leads: Vec<i64> = self.endings.leads().collect();
        let tally = self.endings.tally();
        let committed = self.engine.commit_endings(&mut self.endings);
        // Committed or not, the endings are gone: their events run again if not.
        for lead in leads {
            self.leads.remove(&lead);
        }
        committed?;
        stats.add(&tally);
        self.stale = true;
        self.progressed = true;
        if self.is_idle() {
            self.busy_since = None;
        }
        Ok(())
    }

    /// Drops every call in flight (their events run again, as after a crash) and commits
    /// what had ended.
    pub fn abandon(&mut self, stats: &mut RunStats) {
        if let Err(e) = self.commit(stats) {
            tracing::warn!("could not commit the events that had ended: {e:#}");
        }
        self.running = FuturesUnordered::new();
        if let Some(claims) = &self.engine.claims
            && let Err(e) = claims.release_all(self.engine.db())
        {
            // They expire on their own.
            tracing::warn!("could not give up this worker's claims: {e:#}");
        }
        // Turns dropped before their first poll never count themselves down.
        self.unpolled = Arc::default();
        self.leads.clear();
        self.backlog.clear();
        self.stale = true;
        self.busy_since = None;
    }
}

/// A typed message from a lead for every reply hook (not a retry aimed at one plugin). A
/// story mention or reply, or a tap, is answered alone: the hook is told its kind and
/// reference, which a burst of lines could not carry.
fn is_plain_inbound(event: &Event) -> bool {
    event.kind == EventKind::Inbound && event.plugin.is_none() && event.payload.origin.is_none()
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Hook calls running now, by plugin: what the console shows beside each plugin's figures.
#[derive(Default)]
pub struct CallsInFlight {
    by_plugin: Mutex<HashMap<String, u32>>,
}

impl CallsInFlight {
    /// Counts one call of `plugin` until the returned guard is dropped.
    pub(super) fn enter(self: &Arc<Self>, plugin: &str) -> InFlightCall {
        let mut by_plugin = self.by_plugin.lock().unwrap_or_else(|p| p.into_inner());
        *by_plugin.entry(plugin.to_owned()).or_default() += 1;
        InFlightCall {
            calls: self.clone(),
            plugin: plugin.to_owned(),
        }
    }

    /// Calls of `plugin` running now.
    pub fn of(&self, plugin: &str) -> u32 {
        let by_plugin = self.by_plugin.lock().unwrap_or_else(|p| p.into_inner());
        by_plugin.get(plugin).copied().unwrap_or(0)
    }
}

/// One call counted in [`CallsInFlight`] while it lives.
pub(super) struct InFlightCall {
    calls: Arc<CallsInFlight>,
    plugin: String,
}

impl Drop for InFlightCall {
    fn drop(&mut self) {
        let mut by_plugin = self
            .calls
            .by_plugin
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(count) = by_plugin.get_mut(&self.plugin) {
            *count = count.saturating_sub(1);
        }
    }
}

/// Per-plugin bounds on calls at once, from each plugin's `limits.concurrency` setting.
#[derive(Default)]
pub(super) struct PluginSlots {
    by_plugin: Mutex<HashMap<String, (usize, Arc<Semaphore>)>>,
}

impl PluginSlots {
    /// Waits until `plugin` may start one more call; `None` when it has no bound. A changed
    /// bound applies to calls that start after the change.
    pub async fn enter(
        &self,
        plugin: &str,
        settings: &[(String, String)],
    ) -> Option<OwnedSemaphorePermit> {
        let bound = settings
            .iter()
            .find(|(key, _)| key == "limits.concurrency")
            .and_then(|(_, value)| value.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)?;
        let semaphore = {
            let mut slots = self.by_plugin.lock().unwrap_or_else(|p| p.into_inner());
            let slot = slots
                .entry(plugin.to_owned())
                .or_insert_with(|| (bound, Arc::new(Semaphore::new(bound))));
            if slot.0 != bound {
                *slot = (bound, Arc::new(Semaphore::new(bound)));
            }
            slot.1.clone()
        };
        semaphore.acquire_owned().await.ok()
    }
}
