//! The flow engine. Everything that happens — a lead imported, a message received, a
//! follow-up due — is first stored as an event ([`ingest`]); the engine then hands each event
//! to every enabled plugin with the matching hook, in plugin order ([`dispatch`]), applies
//! what they return in one transaction with the result ([`apply`]), retries failures with
//! backoff and parks them after the last attempt, turns due follow-up sequences into events
//! ([`followups`]), delivers the outbox under the send-safety rules ([`deliver`]), and
//! deletes what the retention settings say is old ([`retention`]).

// The layers below under the names the module paths use.
use outreach_ai as ai;
use outreach_channels as channels;
use outreach_domain as domain;
use outreach_domain::{clock, config, text};
use outreach_runtime as runtime;
use outreach_runtime::consent;
use outreach_store as store;

mod apply;
mod claims;
mod comments;
#[cfg(test)]
mod concurrent_tests;
mod deliver;
mod dispatch;
mod ending;
mod flight;
mod followups;
pub mod ingest;
mod notify;
mod outgoing;
#[cfg(test)]
mod plans;
mod profiles;
mod retention;
pub mod shadow;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use self::flight::CallsInFlight;
use self::flight::{Flights, PluginSlots};
use crate::clock::Millis;
use crate::runtime::host::{HostServices, HostState};
use crate::runtime::{HookFailure, HookInput, HookOutput, Runtime};
use crate::store::Db;

/// What a run did, for the CLI and tests, and what is under way as it goes.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RunStats {
    pub events: u32,
    pub hook_calls: u32,
    pub hook_failures: u32,
    pub parked: u32,
    pub sent: u32,
    /// Leads whose event is being handled right now.
    pub in_flight: u32,
    /// Requests waiting on the AI provider right now.
    pub ai_in_flight: u32,
}

impl RunStats {
    fn add(&mut self, more: &RunStats) {
        self.events += more.events;
        self.hook_calls += more.hook_calls;
        self.hook_failures += more.hook_failures;
        self.parked += more.parked;
        self.sent += more.sent;
    }
}

/// Flow logic compiled into the host instead of loaded as a component. It gets the same
/// host calls (the same [`HostState`], grants, audit and limits on data) but no sandbox, so
/// it is for trusted code only; the benchmark uses it to measure what the sandbox costs.
pub trait NativeHooks: Send + Sync {
    fn call<'a>(
        &'a self,
        plugin: &'a str,
        host: &'a mut HostState,
        input: HookInput,
    ) -> Pin<Box<dyn Future<Output = Result<HookOutput, HookFailure>> + Send + 'a>>;
}

/// What runs the hooks of installed plugins.
#[derive(Clone)]
pub enum Executor {
    Wasm(Arc<Runtime>),
    Native(Arc<dyn NativeHooks>),
}

pub struct Engine {
    services: Arc<HostServices>,
    executor: Executor,
    /// When retention last ran, once read (`i64::MIN` until then): a pass then asks the
    /// database only when an hour is up.
    retention_ran_at: std::sync::atomic::AtomicI64,
    /// Plugins held to a number of calls at once.
    plugin_slots: PluginSlots,
    calls_in_flight: Arc<CallsInFlight>,
    /// This worker's claims on leads, on a database several workers share.
    claims: Option<claims::Claims>,
}

/// Due events read at once to be handed out, and due follow-up steps queued per pass.
const EVENT_BATCH: u32 = 200;

/// Outbox rows read per delivery pass: memory stays bounded however large the backlog.
const DELIVERY_BATCH: u32 = 200;

/// How long retention waits for a moment with nothing in flight.
const RETENTION_PATIENCE: Duration = Duration::from_secs(3600);

/// Pauses after a failed pass: doubled each time, up to the longest.
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(50);
const LONGEST_RETRY_WAIT: Duration = Duration::from_secs(30);
/// Busy passes `run --until-idle` sits out before giving up.
const BUSY_RETRIES: u32 = 8;

impl Engine {
    pub fn new(services: Arc<HostServices>, executor: Executor) -> anyhow::Result<Self> {
        let claims = claims::Claims::for_db(&services.db, services.config.engine.lease_ms);
        Ok(Self {
            claims,
            services,
            executor,
            retention_ran_at: std::sync::atomic::AtomicI64::new(Millis::MIN),
            plugin_slots: PluginSlots::default(),
            calls_in_flight: Arc::default(),
        })
    }

    /// The hook calls of each plugin running now, as they change.
    pub fn calls_in_flight(&self) -> Arc<CallsInFlight> {
        self.calls_in_flight.clone()
    }

    pub fn db(&self) -> &Db {
        &self.services.db
    }

    fn now(&self) -> Millis {
        self.services.clock.now()
    }

    /// Works until nothing more is due at the clock's current time and no hook call is
    /// left in flight. A pass that fails because another process holds the database is
    /// tried again after a pause; any other failure, or a database busy for too long, ends
    /// the run.
    pub async fn run_until_idle(&self) -> anyhow::Result<RunStats> {
        self.run_until_idle_reporting(|_| {}).await
    }

    /// [`Engine::run_until_idle`], telling `progress` the totals as it goes.
    pub async fn run_until_idle_reporting(
        &self,
        progress: impl FnMut(&RunStats),
    ) -> anyhow::Result<RunStats> {
        self.work(true, progress).await
    }

    /// Works forever, looking for new work every `engine.poll_ms`. A failed pass is logged
    /// and tried again after a growing pause: the service (and the webhook endpoint beside
    /// it) outlives a busy database, a full disk or a bad row.
    pub async fn run_forever(&self) -> anyhow::Result<()> {
        self.work(false, |_| {}).await.map(|_| ())
    }

    /// The engine's loop: hook calls of many leads in flight at once ([`flight`]), and
    /// beside them, in every pass, the chores that do not wait for them — profile lookups,
    /// due follow-ups, delivery of the outbox, retention.
    async fn work(
        &self,
        until_idle: bool,
        mut progress: impl FnMut(&RunStats),
    ) -> anyhow::Result<RunStats> {
        let poll = Duration::from_millis(self.services.config.engine.poll_ms);
        let mut flights = Flights::new(self);
        let mut stats = RunStats::default();
        let mut failures = 0;
        loop {
            let pass = self.pass(&mut flights, &mut stats).await;
            stats.in_flight = flights.running() as u32;
            stats.ai_in_flight = self.services.ai.in_flight();
            progress(&stats);
            let worked = match pass {
                Ok(worked) => {
                    failures = 0;
                    worked
                }
                Err(error) => {
                    // What is in flight runs again, as after a crash: nothing of it left
                    // the machine before its ending was committed.
                    flights.abandon(&mut stats);
                    let retry = !until_idle || (store::is_busy(&error) && failures < BUSY_RETRIES);
                    if !retry {
                        return Err(error);
                    }
                    failures += 1;
                    self.pause_after_failure(failures, &error).await;
                    continue;
                }
            };
            if worked {
                continue;
            }
            if flights.is_idle() {
                if until_idle {
                    return Ok(stats);
                }
                tokio::time::sleep(poll).await;
            } else {
                // Hooks are still out: chores again once some of them are committed (their
                // replies are then due), or after the poll interval at the latest.
                if let Err(error) = flights.drive_until_commit(poll, &mut stats).await {
                    flights.abandon(&mut stats);
                    if until_idle && !store::is_busy(&error) {
                        return Err(error);
                    }
                    failures += 1;
                    self.pause_after_failure(failures, &error).await;
                }
            }
        }
    }

    /// One pass of chores with the hooks in flight kept going; returns whether anything
    /// was done or landed.
    async fn pass(&self, flights: &mut Flights<'_>, stats: &mut RunStats) -> anyhow::Result<bool> {
        if let Some(claims) = &self.claims {
            claims.renew_if_due(self.db())?;
        }
        // What is done once for all workers sharing the database (on SQLite: always).
        let duties = self.db().holds_duties()?;
        // Profiles before new events are handed out: a reply hook then sees the lead's
        // real handle.
        let (profiles, followups) = if duties {
            let profiles = flights
                .drive_during(self.look_up_handles(), false, stats)
                .await??;
            (profiles, self.enqueue_due_followups()?)
        } else {
            (0, 0)
        };
        // What became due since the last pass (the follow-ups just queued, retries whose
        // time came, messages that arrived) is read afresh once per pass.
        flights.mark_stale();
        let started = usize::from(flights.top_up()?);
        let sent = if duties {
            flights
                .drive_during(self.deliver_due(), true, stats)
                .await??
        } else {
            0
        };
        stats.sent += sent as u32;
        let notified = if duties {
            flights
                .drive_during(self.notify_due(), true, stats)
                .await??
        } else {
            0
        };
        // Retention deletes by age and keeps each table's newest row: it waits for a moment
        // when no hook call is in flight (so what this pass handed out is written first),
        // or an hour at most.
        if duties && (flights.is_idle() || flights.busy_for() >= RETENTION_PATIENCE) {
            self.apply_retention_if_due()?;
        }
        Ok(profiles + started + followups + sent + notified > 0 || flights.take_progress())
    }

    async fn pause_after_failure(&self, failures: u32, error: &anyhow::Error) {
        let wait = FIRST_RETRY_WAIT
            .saturating_mul(1 << failures.min(10))
            .min(LONGEST_RETRY_WAIT);
        tracing::warn!(
            "engine pass failed ({failures} in a row), trying again in {} ms: {error:#}",
            wait.as_millis()
        );
        tokio::time::sleep(wait).await;
    }
}
