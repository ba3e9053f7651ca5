//! The flow engine. Everything that happens — a lead imported, a message received, a
//! follow-up due — is first stored as an event ([`ingest`]); the engine then hands each event
//! to every enabled plugin with the matching hook, in plugin order ([`dispatch`]), applies
//! what they return in one transaction with the result ([`apply`]), retries failures with
//! backoff and parks them after the last attempt, turns due follow-up sequences into events
//! ([`followups`]), delivers the outbox under the send-safety rules ([`deliver`]), and
//! deletes what the retention settings say is old ([`retention`]).

mod apply;
mod deliver;
mod dispatch;
mod followups;
pub mod ingest;
#[cfg(test)]
mod plans;
mod profiles;
mod retention;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::clock::Millis;
use crate::runtime::host::{HostServices, HostState};
use crate::runtime::{HookFailure, HookInput, HookOutput, Runtime};
use crate::store::{self, Db};

/// What a run did, for the CLI and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RunStats {
    pub events: u32,
    pub hook_calls: u32,
    pub hook_failures: u32,
    pub parked: u32,
    pub sent: u32,
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
}

/// Events handled per pass; a pass then delivers, so a large backlog does not starve sending.
const EVENT_BATCH: u32 = 200;

/// Outbox rows read per delivery pass: memory stays bounded however large the backlog.
const DELIVERY_BATCH: u32 = 200;

/// Pauses after a failed pass: doubled each time, up to the longest.
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(50);
const LONGEST_RETRY_WAIT: Duration = Duration::from_secs(30);
/// Busy passes `run --until-idle` sits out before giving up.
const BUSY_RETRIES: u32 = 8;

impl Engine {
    pub fn new(services: Arc<HostServices>, executor: Executor) -> anyhow::Result<Self> {
        Ok(Self {
            services,
            executor,
            retention_ran_at: std::sync::atomic::AtomicI64::new(Millis::MIN),
        })
    }

    pub fn db(&self) -> &Db {
        &self.services.db
    }

    fn now(&self) -> Millis {
        self.services.clock.now()
    }

    /// One pass over everything due now; returns whether anything was done.
    pub async fn tick(&self, stats: &mut RunStats) -> anyhow::Result<bool> {
        // Profiles first: a reply hook then sees the lead's real handle.
        let profiles = self.look_up_handles().await?;
        let followups = self.enqueue_due_followups()?;
        let events = self.process_due_events(stats).await?;
        let sent = self.deliver_due(stats).await?;
        self.apply_retention_if_due()?;
        Ok(profiles + followups + events + sent > 0)
    }

    /// Works until nothing more is due at the clock's current time. A pass that fails
    /// because another process holds the database is tried again after a pause; any other
    /// failure, or a database busy for too long, ends the run.
    pub async fn run_until_idle(&self) -> anyhow::Result<RunStats> {
        self.run_until_idle_reporting(|_| {}).await
    }

    /// [`Engine::run_until_idle`], telling `progress` the totals after every pass.
    pub async fn run_until_idle_reporting(
        &self,
        mut progress: impl FnMut(&RunStats),
    ) -> anyhow::Result<RunStats> {
        let mut stats = RunStats::default();
        let mut failures = 0;
        loop {
            let pass = self.tick(&mut stats).await;
            progress(&stats);
            match pass {
                Ok(true) => failures = 0,
                Ok(false) => return Ok(stats),
                Err(e) if store::is_busy(&e) && failures < BUSY_RETRIES => {
                    failures += 1;
                    self.pause_after_failure(failures, &e).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Works forever, looking for new work every `engine.poll_ms`. A failed pass is logged
    /// and tried again after a growing pause: the service (and the webhook endpoint beside
    /// it) outlives a busy database, a full disk or a bad row.
    pub async fn run_forever(&self) -> anyhow::Result<()> {
        let poll = Duration::from_millis(self.services.config.engine.poll_ms);
        let mut stats = RunStats::default();
        let mut failures = 0;
        loop {
            match self.tick(&mut stats).await {
                Ok(true) => failures = 0,
                Ok(false) => {
                    failures = 0;
                    tokio::time::sleep(poll).await;
                }
                Err(e) => {
                    failures += 1;
                    self.pause_after_failure(failures, &e).await;
                }
            }
        }
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
