//! What a plugin's store holds, and the host side of every WIT import. Each capability's
//! trait impl lives in its own file next to this one; all of them go through
//! [`HostState::check`], which checks the grants the call read as it started (or, for a
//! call started without them, the grants table) and writes the decision to the audit log.

mod ai;
pub mod budget;
mod clock;
mod comments;
mod leads;
mod log;
pub mod messaging;
mod settings;
mod since_v0_1;
mod storage;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostWallClock, WasiCtx, WasiCtxView, WasiView};

use self::budget::Budget;
use super::Limits;
use super::bindings::wit;
use crate::ai::AiProvider;
use crate::clock::Clock;
use crate::config::Config;
use crate::consent::policy::{self, Call, Reach, Refusal};
use crate::consent::{Permission, project_lead};
use crate::store::{self, Db};

/// What host calls may use: shared by every store.
pub struct HostServices {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub ai: AiProvider,
    pub config: Arc<Config>,
}

/// A message a hook queued; it reaches the outbox only if the hook returns successfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedSend {
    pub lead_id: i64,
    pub text: String,
}

/// Who is calling and about what: the plugin, and the event and lead its hook is handling.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub plugin: String,
    pub event_id: i64,
    /// The lead the event is about: readable without `leads:read` (purpose limitation).
    pub event_lead: Option<i64>,
    pub staged_sends: Vec<StagedSend>,
    /// The event is a comment (so `comments.reply-publicly` may answer it).
    pub answering_comment: bool,
    /// What `comments.reply-publicly` answered the event's comment with.
    pub staged_public_reply: Option<String>,
    /// Every lead whose data this call handed the plugin: what it sends on may hold any of
    /// theirs, so the AI request is redacted and audited for all of them.
    pub seen_leads: BTreeSet<i64>,
    /// Leads already named in an `ai.generate` audit row of this call.
    pub sent_to_ai: BTreeSet<i64>,
    /// The plugin's grants and settings as read when the call started ([`Self::started`]):
    /// every check and setting of the call answered from them, not a query each. `None`:
    /// asked of the database at each host call.
    started_with: Option<Started>,
}

/// What a call read as it started: the plugin's grants and settings.
#[derive(Debug, Clone)]
struct Started {
    grants: BTreeSet<Permission>,
    settings: Vec<(String, String)>,
}

impl CallContext {
    pub fn new(plugin: &str, event_id: i64, event_lead: Option<i64>) -> Self {
        Self {
            plugin: plugin.to_owned(),
            event_id,
            event_lead,
            staged_sends: Vec::new(),
            answering_comment: false,
            staged_public_reply: None,
            seen_leads: event_lead.into_iter().collect(),
            sent_to_ai: BTreeSet::new(),
            started_with: None,
        }
    }

    /// The call as it starts, with the plugin's grants and settings read for it just now:
    /// a grant revoked, or a setting changed, from then on holds from the next call.
    pub fn started(
        mut self,
        grants: impl IntoIterator<Item = Permission>,
        settings: Vec<(String, String)>,
    ) -> Self {
        self.started_with = Some(Started {
            grants: grants.into_iter().collect(),
            settings,
        });
        self
    }

    /// The plugin's settings as the call started with them, if it did.
    pub(super) fn settings(&self) -> Option<&[(String, String)]> {
        self.started_with.as_ref().map(|s| s.settings.as_slice())
    }

    pub fn saw_lead(&mut self, id: i64) {
        self.seen_leads.insert(id);
    }

    /// For reading a manifest: no plugin identity yet, so every check fails.
    pub fn for_manifest() -> Self {
        Self::new("(uninstalled)", 0, None)
    }
}

/// A memory cap that remembers it refused a growth, so an out-of-memory abort can be told
/// apart from any other trap.
pub struct MemoryCap {
    limit: usize,
    refused: bool,
    /// The largest a memory of the call grew to (or started at).
    peak: usize,
}

impl MemoryCap {
    pub fn refused_growth(&self) -> bool {
        self.refused
    }

    pub fn peak(&self) -> usize {
        self.peak
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.limit;
        self.refused |= !allowed;
        if allowed {
            self.peak = self.peak.max(desired);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    stderr: MemoryOutputPipe,
    pub(super) memory: MemoryCap,
    pub(super) budget: Budget,
    services: Arc<HostServices>,
    call: CallContext,
}

/// The guest's WASI wall clock shows the host's clock, so `--now` and test clocks hold
/// inside plugins too and no plugin reads the machine's time behind the WIT's back.
struct HostClock(Arc<dyn Clock>);

impl HostWallClock for HostClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.0.now().max(0) as u64)
    }
}

impl HostState {
    pub fn new(services: Arc<HostServices>, call: CallContext, limits: Limits) -> Self {
        let stderr = MemoryOutputPipe::new(8 * 1024);
        // No preopened directories, no environment, no arguments, no network: the builder
        // grants none of them unless asked.
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .wall_clock(HostClock(services.clock.clone()))
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            stderr,
            memory: MemoryCap {
                limit: limits.memory_bytes,
                refused: false,
                peak: 0,
            },
            budget: Budget::start(limits),
            services,
            call,
        }
    }

    /// Ends the call: the denials not audited one by one get their summary row, and what
    /// the call staged is handed back.
    pub fn finish(self) -> CallContext {
        let more = self.budget.summarised_denials();
        if more > 0 {
            let detail = format!("and {more} more denied host calls in this hook call");
            self.write_audit(&store::audit::Entry {
                plugin: &self.call.plugin,
                action: "denials",
                permission: None,
                lead_id: self.call.event_lead,
                allowed: false,
                detail: Some(&detail),
            });
        }
        self.call
    }

    /// Where every host function starts: no work once the call is out of time or budget.
    fn enter(&self) -> Result<(), wit::Error> {
        self.budget
            .enter()
            .map_err(|failure| wit::Error::LimitExceeded(failure.to_string()))
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }

    fn now(&self) -> i64 {
        self.services.clock.now()
    }

    /// Records a decision. Denials past the call's first few are counted for one summary
    /// row ([`HostState::finish`]) instead, so a loop of refused calls cannot fill the log.
    /// False when the row could not be written.
    fn audit(
        &self,
        action: &str,
        permission: Option<Permission>,
        lead: Option<i64>,
        allowed: bool,
        detail: Option<&str>,
    ) -> bool {
        if !allowed && !self.budget.audit_denial_in_full() {
            return true;
        }
        self.write_audit(&store::audit::Entry {
            plugin: &self.call.plugin,
            action,
            permission,
            lead_id: lead,
            allowed,
            detail,
        })
    }

    /// Writes an audit row; false (and logged) when it could not be written.
    fn write_audit(&self, entry: &store::audit::Entry<'_>) -> bool {
        let record = |c: &store::Conn<'_>| store::audit::record(c, entry, self.now());
        // Flushed before anything leaves the machine: an allowed `ai.generate` is followed
        // by the request that carries the lead's data to the provider. The rest are flushed
        // with the next commit that is (see `Db::write_flushed_later`).
        let written = match (entry.action, entry.allowed) {
            ("ai.generate", true) => self.services.db.write(record),
            _ => self.services.db.write_flushed_later(record),
        };
        if let Err(e) = &written {
            tracing::error!("cannot write audit record: {e:#}");
        }
        written.is_ok()
    }

    fn granted(&self, permission: Permission) -> bool {
        if let Some(started) = &self.call.started_with {
            return started.grants.contains(&permission);
        }
        self.services
            .db
            .read(|c| store::plugins::is_granted(c, &self.call.plugin, permission))
            .unwrap_or_else(|e| {
                tracing::error!("cannot read grants: {e:#}");
                false
            })
    }

    /// Checks one permission for one host call. Denials are always audited; grants are
    /// audited when the call touches a lead.
    fn check(
        &self,
        action: &str,
        permission: Permission,
        lead: Option<i64>,
    ) -> Result<(), wit::Error> {
        self.check_noting(action, permission, lead, None)
    }

    /// [`HostState::check`], with a note for the audit row of an allowed call (such as who
    /// receives the data).
    fn check_noting(
        &self,
        action: &str,
        permission: Permission,
        lead: Option<i64>,
        note: Option<&str>,
    ) -> Result<(), wit::Error> {
        self.require(action, permission, lead)?;
        // An allowed call on a lead's data goes ahead only once it is on record.
        if lead.is_some() && !self.audit(action, Some(permission), lead, true, note) {
            return Err(wit::Error::Unavailable("host storage error".into()));
        }
        Ok(())
    }

    /// Checks one permission, auditing only a denial: for calls that may still refuse
    /// after it (an argument, a limit) and so audit themselves as allowed only once they
    /// act. The audit never calls a refused call allowed.
    fn require(
        &self,
        action: &str,
        permission: Permission,
        lead: Option<i64>,
    ) -> Result<(), wit::Error> {
        if self.granted(permission) {
            return Ok(());
        }
        self.audit(action, Some(permission), lead, false, Some("not granted"));
        Err(crate::bindings::permission_denied(permission))
    }

    /// The purpose limit ([`policy::purpose_permission`]): the event's own lead is in
    /// reach of its hook; for any other lead `call` needs `leads:read` (audited with the
    /// lead either way).
    fn reach(&self, action: &str, call: Call, lead: i64) -> Result<(), wit::Error> {
        let reach = Reach::of(Some(lead as u64), self.call.event_lead.map(|id| id as u64));
        match policy::purpose_permission(call, reach) {
            Some(permission) => self.check(action, permission, Some(lead)),
            None => Ok(()),
        }
    }

    /// The permission `call` itself needs, as the policy says.
    fn own_permission(call: Call) -> Permission {
        policy::call_permission(call).expect("every call on a lead's data has a permission")
    }

    fn load_lead(&self, id: i64) -> Result<crate::domain::lead::Lead, wit::Error> {
        self.services
            .db
            .read(|c| store::leads::get(c, id))
            .map_err(storage_failure)?
            .ok_or(wit::Error::NotFound)
    }

    /// The lead, unless they are do-not-contact: then their conversation is off limits to
    /// every plugin, whatever it was granted (audited as a denial).
    fn contactable_lead(
        &self,
        action: &str,
        permission: Permission,
        id: i64,
    ) -> Result<crate::domain::lead::Lead, wit::Error> {
        let lead = self.load_lead(id)?;
        policy::conversation_open(lead.is_do_not_contact()).map_err(|refusal| {
            self.audit(
                action,
                Some(permission),
                Some(id),
                false,
                Some(&refusal.message()),
            );
            refused(refusal)
        })?;
        Ok(lead)
    }

    /// Refuses an automated message the lead's channel would not carry now (Instagram's
    /// 24-hour window), as the plugin's view of the host rule the outbox enforces anyway.
    fn check_window(
        &self,
        action: &str,
        lead: &crate::domain::lead::Lead,
    ) -> Result<(), wit::Error> {
        let open = self
            .services
            .db
            .read(|c| crate::channels::window_open(c, lead, self.now()))
            .map_err(storage_failure)?;
        policy::window(open).map_err(|refusal| {
            self.audit(
                action,
                Some(Permission::MessagesSend),
                Some(lead.id),
                false,
                Some(&refusal.message()),
            );
            refused(refusal)
        })
    }

    /// The lead as this plugin may see it right now.
    fn visible_lead(&self, lead: &crate::domain::lead::Lead) -> wit::Lead {
        project_lead(lead, self.granted(Permission::LeadsReadPii)).into()
    }
}

/// A refusal of the shared rules, as the plugin sees it.
pub(super) fn refused(refusal: Refusal) -> wit::Error {
    match refusal {
        Refusal::NotGranted(permission) => crate::bindings::permission_denied(permission),
        refusal if refusal.is_unavailable() => wit::Error::Unavailable(refusal.message()),
        refusal if refusal.is_over_limit() => wit::Error::LimitExceeded(refusal.message()),
        refusal => wit::Error::Invalid(refusal.message()),
    }
}

/// A storage failure inside a host call: logged in full for the user, opaque to the plugin.
fn storage_failure(e: anyhow::Error) -> wit::Error {
    tracing::error!("storage error in a host call: {e:#}");
    wit::Error::Unavailable("host storage error".into())
}

fn to_id(id: u64) -> Result<i64, wit::Error> {
    i64::try_from(id).map_err(|_| wit::Error::NotFound)
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wit::Host for HostState {}
