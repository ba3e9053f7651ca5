//! The flow engine. Everything that happens — a lead imported, a message received, a
//! follow-up due — is first stored as an event ([`ingest`]); the engine then hands each event
//! to every enabled plugin with the matching hook, in plugin order ([`dispatch`]), applies
//! what they return in one transaction with the result ([`apply`]), retries failures with
//! backoff and parks them after the last attempt, turns due follow-up sequences into events
//! ([`followups`]), and delivers the outbox under the send-safety rules ([`deliver`]).

mod apply;
mod deliver;
mod dispatch;
mod followups;
pub mod ingest;
mod profiles;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::clock::Millis;
use crate::runtime::host::{HostServices, HostState};
use crate::runtime::{HookFailure, HookInput, HookOutput, Runtime};
use crate::store::Db;

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
}

/// Events handled per pass; a pass then delivers, so a large backlog does not starve sending.
const EVENT_BATCH: u32 = 200;

impl Engine {
    pub fn new(services: Arc<HostServices>, executor: Executor) -> anyhow::Result<Self> {
        Ok(Self { services, executor })
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
        Ok(profiles + followups + events + sent > 0)
    }

    /// Works until nothing more is due at the clock's current time.
    pub async fn run_until_idle(&self) -> anyhow::Result<RunStats> {
        let mut stats = RunStats::default();
        while self.tick(&mut stats).await? {}
        Ok(stats)
    }

    /// Works forever, looking for new work every `engine.poll_ms`.
    pub async fn run_forever(&self) -> anyhow::Result<()> {
        let poll = Duration::from_millis(self.services.config.engine.poll_ms);
        let mut stats = RunStats::default();
        loop {
            if !self.tick(&mut stats).await? {
                tokio::time::sleep(poll).await;
            }
        }
    }
}
