//! Routing one event to the plugins that handle it, with retries and parking.

use std::sync::Arc;

use super::{Engine, Executor, RunStats, apply};
use crate::clock::{Millis, SECOND};
use crate::consent::{Permission, project_lead};
use crate::domain::lead::{Lead, LeadStatus};
use crate::runtime::bindings::{wit, wit_hooks};
use crate::runtime::host::{CallContext, HostState, StagedSend};
use crate::runtime::manifest::Hook;
use crate::runtime::{HookInput, HookOutput, Invocation, Limits};
use crate::store::events::{Event, EventKind, PluginResult, ResultStatus};
use crate::store::plugins::InstalledPlugin;
use crate::store::schedules::Schedule;
use crate::store::usage::CallCost;
use crate::store::{self};

/// The name results of host decisions are recorded under.
pub const HOST: &str = "(host)";

/// The tag a lead gets when a filter drops it.
pub const FILTERED_OUT: &str = "filtered-out";

/// What came of offering an event to one plugin, to be recorded.
enum Verdict {
    Applied {
        handed: Handed,
        attempts: u32,
        cost: CallCost,
        output: HookOutput,
        staged: Vec<StagedSend>,
    },
    Failed {
        handed: Handed,
        attempts: u32,
        cost: CallCost,
        parked: bool,
        reason: String,
    },
    /// A host rule ended the event before the plugin was asked.
    HostRule(String),
}

/// What a lead's turn hands its hooks: one event, and with an inbound message the older
/// messages of the same lead still waiting, which its reply hook answers together.
pub(super) struct Turn {
    pub event: Event,
    /// Older inbound events of the lead, oldest first (only with an inbound `event`).
    pub burst: Vec<Event>,
}

/// What is left to write of an event once its plugins have run: its last verdict and its
/// end (finished, or waiting for a retry).
pub(super) struct Ending {
    event: Event,
    /// Older messages answered by this event's reply hook: finished with it.
    answered_with: Vec<Event>,
    /// Take off the tag an earlier filtering left (a first evaluation).
    untag: bool,
    verdict: Option<Verdict>,
    next_retry: Option<Millis>,
    now: Millis,
    installed: Arc<[InstalledPlugin]>,
    /// What handling the event added to the run's totals.
    pub tally: RunStats,
}

/// Endings not committed yet. They are committed together: events' last writes mostly land
/// on the same few pages (the ends of the events, results, audit and outbox indexes), and
/// one commit writes each of those pages once instead of once per event. The lead of an
/// ending not committed yet gets no other event handled (see `flight`), so the next event
/// about it sees what this one did.
#[derive(Default)]
pub(super) struct Endings {
    list: Vec<Ending>,
    since: Option<tokio::time::Instant>,
}

impl Endings {
    /// Events whose endings wait at most: a crash makes that many run again.
    const MOST: usize = 50;
    /// How long an ending waits at most, so that slow hooks (an AI reply takes seconds)
    /// do not keep finished events (and their replies) out of view.
    const LONGEST: std::time::Duration = std::time::Duration::from_millis(250);

    pub fn push(&mut self, ending: Ending) {
        self.since.get_or_insert_with(tokio::time::Instant::now);
        self.list.push(ending);
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.list.len() >= Self::MOST
    }

    /// When the oldest ending must be committed at the latest.
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.since.map(|since| since + Self::LONGEST)
    }

    /// What the events of these endings add to the run's totals.
    pub fn tally(&self) -> RunStats {
        let mut total = RunStats::default();
        for ending in &self.list {
            total.add(&ending.tally);
        }
        total
    }

    /// The leads whose endings these are.
    pub fn leads(&self) -> impl Iterator<Item = i64> + '_ {
        self.list.iter().map(|e| e.event.lead_id)
    }
}

/// What a plugin was handed with the event, for the audit log. The row is written with
/// what came of the call, in one commit: if the process dies during the call, the event
/// runs again and the row is written then (whatever the plugin did through the host in
/// the lost call is audited by those calls themselves).
struct Handed {
    plugin: String,
    hook: Hook,
    lead_id: i64,
    pii: bool,
    at: Millis,
}

impl Handed {
    fn audit(&self, tx: &rusqlite::Connection) -> anyhow::Result<()> {
        let entry = store::audit::Entry {
            plugin: &self.plugin,
            action: &format!("{}.event", self.hook.as_str()),
            permission: None,
            lead_id: Some(self.lead_id),
            allowed: true,
            detail: Some(if self.pii {
                "handed the event's lead with personal fields"
            } else {
                "handed the event's lead"
            }),
        };
        store::audit::record(tx, &entry, self.at)
    }
}

fn hook_of(kind: EventKind) -> Hook {
    match kind {
        EventKind::LeadImported => Hook::Filter,
        EventKind::Inbound => Hook::Reply,
        EventKind::FollowUp => Hook::FollowUp,
    }
}

impl Engine {
    /// Writes the endings of several events in one transaction. Each is its event's last
    /// write: if the process dies first, those events run again (nothing left the machine
    /// meanwhile: sends are only queued here and delivered after the commit).
    pub(super) fn commit_endings(&self, endings: &mut Endings) -> anyhow::Result<()> {
        if endings.list.is_empty() {
            return Ok(());
        }
        let list = std::mem::take(&mut endings.list);
        endings.since = None;
        self.db().write(|tx| {
            list.into_iter()
                .try_for_each(|ending| self.end_event(tx, ending))
        })
    }

    /// Why no plugin should see this event (for this lead, now), if there is a reason.
    /// These are the host's rules: they hold whatever a plugin would decide.
    fn host_rule(event: &Event, lead: &Lead, schedule: Option<&Schedule>) -> Option<String> {
        if lead.is_do_not_contact() {
            return Some("lead is do-not-contact".into());
        }
        let stopped = match lead.status {
            LeadStatus::NeedsHuman => Some("lead is with a human"),
            LeadStatus::Converted => Some("lead converted"),
            _ => None,
        };
        match event.kind {
            EventKind::LeadImported => None,
            EventKind::Inbound => stopped.map(String::from),
            EventKind::FollowUp => {
                let Some(schedule) = schedule.filter(|s| s.state == "active") else {
                    return Some("the follow-up sequence is no longer active".into());
                };
                let replied = lead
                    .last_inbound_at
                    .is_some_and(|at| at > schedule.started_at);
                stopped
                    .or(replied.then_some("lead replied"))
                    .map(String::from)
            }
        }
    }

    /// The enabled plugins with the event's hook, in order (just its own for a follow-up).
    fn plugins_for<'p>(
        event: &Event,
        installed: &'p [InstalledPlugin],
    ) -> Vec<&'p InstalledPlugin> {
        let hook = hook_of(event.kind);
        installed
            .iter()
            .filter(|p| p.enabled && p.manifest.hooks.contains(&hook))
            .filter(|p| {
                event
                    .plugin
                    .as_deref()
                    .is_none_or(|target| p.name() == target)
            })
            .collect()
    }

    /// Offers the turn's event to its plugins, each seeing what the one before it did, and
    /// returns what is left to write: the last plugin's verdict and the event's end. `None`
    /// when the event is no longer waiting (replayed, finished or forgotten meanwhile).
    pub(super) async fn process_event(
        &self,
        turn: Turn,
        installed: Arc<[InstalledPlugin]>,
    ) -> anyhow::Result<Option<Ending>> {
        let Turn { mut event, burst } = turn;
        let now = self.now();
        let mut tally = RunStats::default();
        let read = self.db().read(|c| {
            if !store::events::is_pending(c, event.id)? {
                return Ok(None);
            }
            let schedule = match event.payload.schedule_id {
                Some(id) => store::schedules::get(c, id)?,
                None => None,
            };
            let earlier = store::events::results(c, event.id)?;
            // Older messages join the answer only while nothing was decided about them or
            // about this one yet; a retry is answered alone.
            let mut answered_with = Vec::new();
            if earlier.is_empty() {
                for older in burst {
                    if store::events::is_pending(c, older.id)?
                        && store::events::results(c, older.id)?.is_empty()
                    {
                        answered_with.push(older);
                    }
                }
            }
            Ok(Some((earlier, schedule, answered_with)))
        })?;
        let Some((earlier, schedule, answered_with)) = read else {
            return Ok(None);
        };
        if !answered_with.is_empty() {
            // The reply hook sees every waiting message of the burst, oldest first, as one.
            let texts = answered_with
                .iter()
                .chain(std::iter::once(&event))
                .filter_map(|e| e.payload.text.as_deref());
            event.payload.text = Some(texts.collect::<Vec<_>>().join("\n"));
        }
        tally.events = 1 + answered_with.len() as u32;
        // A first attempt is a fresh evaluation by the filters, without the verdict of an
        // earlier import; a retry keeps the verdicts of the filters that already decided.
        let mut untag = event.kind == EventKind::LeadImported && earlier.is_empty();
        let plugins = Self::plugins_for(&event, &installed);
        if plugins.is_empty() && event.kind == EventKind::FollowUp {
            // The sequence's plugin is disabled or gone: look again in an hour.
            if let Some(id) = event.payload.schedule_id {
                self.db()
                    .write(|c| store::schedules::postpone(c, id, now + 3600 * SECOND))?;
            }
        }
        let mut next_retry: Option<Millis> = None;
        // The last plugin's verdict is written with the event's end (nothing outside the
        // database happens in between).
        let mut last_verdict: Option<Verdict> = None;
        for (index, plugin) in plugins.iter().enumerate() {
            let name = plugin.name();
            let Some(mut lead) = self.db().read(|c| store::leads::get(c, event.lead_id))? else {
                break; // forgotten meanwhile
            };
            if untag {
                lead.tags.retain(|tag| tag != FILTERED_OUT);
            }
            if let Some(reason) = Self::host_rule(&event, &lead, schedule.as_ref()) {
                last_verdict = Some(Verdict::HostRule(reason));
                break;
            }
            let previous = earlier.iter().find(|r| r.plugin == name);
            if previous.is_some_and(|r| r.status != ResultStatus::Retry) {
                continue;
            }
            let attempts = previous.map_or(0, |r| r.attempts) + 1;
            let (invocation, handed) = self
                .invoke(plugin, &event, &lead, schedule.as_ref())
                .await?;
            tally.hook_calls += 1;
            let verdict = match invocation.result {
                Ok(output) => Verdict::Applied {
                    handed,
                    attempts,
                    cost: invocation.cost,
                    output,
                    staged: invocation.call.staged_sends,
                },
                Err(failure) => {
                    tally.hook_failures += 1;
                    let reason = format!("plugin {name} {failure}");
                    tracing::warn!(event = event.id, attempt = attempts, "{reason}");
                    let parked = attempts >= self.services.config.engine.max_attempts;
                    if parked {
                        tally.parked += 1;
                    } else {
                        let backoff =
                            self.services.config.engine.retry_backoff_seconds as Millis * SECOND;
                        let at = now + backoff * (1 << (attempts - 1).min(16));
                        next_retry = Some(next_retry.map_or(at, |t| t.min(at)));
                    }
                    Verdict::Failed {
                        handed,
                        attempts,
                        cost: invocation.cost,
                        parked,
                        reason,
                    }
                }
            };
            if index + 1 == plugins.len() {
                last_verdict = Some(verdict);
            } else {
                // The next plugin sees the lead as this one left it.
                self.db().write(|tx| {
                    if std::mem::take(&mut untag) {
                        store::leads::remove_tag(tx, event.lead_id, FILTERED_OUT)?;
                    }
                    self.record_verdict(tx, &event, verdict, now)
                })?;
            }
        }
        let installed = installed.clone();
        Ok(Some(Ending {
            event,
            answered_with,
            untag,
            verdict: last_verdict,
            next_retry,
            now,
            installed,
            tally,
        }))
    }

    fn end_event(&self, tx: &rusqlite::Transaction<'_>, ending: Ending) -> anyhow::Result<()> {
        let Ending {
            event,
            answered_with,
            untag,
            verdict,
            next_retry,
            now,
            installed,
            tally: _,
        } = ending;
        if untag {
            store::leads::remove_tag(tx, event.lead_id, FILTERED_OUT)?;
        }
        // The older messages of a burst end as the newest did: answered with it, or
        // ended by the same host rule.
        let together = match &verdict {
            Some(Verdict::HostRule(reason)) => reason.clone(),
            _ => format!("answered together with event #{}", event.id),
        };
        for older in &answered_with {
            if store::events::get(tx, older.id)?.is_some() {
                let result = PluginResult::done(HOST, 0, together.clone(), now);
                store::events::record_result(tx, older.id, &result)?;
                store::events::finish(tx, older.id, now)?;
            }
        }
        if let Some(verdict) = verdict {
            self.record_verdict(tx, &event, verdict, now)?;
        }
        match next_retry {
            Some(at) => store::events::retry_at(tx, event.id, at),
            None => {
                if event.kind == EventKind::LeadImported {
                    let sequences = installed
                        .iter()
                        .filter(|p| p.enabled && p.manifest.hooks.contains(&Hook::FollowUp))
                        .map(InstalledPlugin::name);
                    apply::start_sequences_if_kept(tx, &event, sequences, now)?;
                }
                // A plugin waiting for a retry that will not come (disabled meanwhile, or a
                // host rule ended the event) is parked, not left "retrying" forever.
                store::events::park_unfinished(tx, event.id, now)?;
                store::events::finish(tx, event.id, now)
            }
        }
    }

    /// Records what one plugin (or a host rule) decided about the event, and applies it.
    fn record_verdict(
        &self,
        tx: &rusqlite::Transaction<'_>,
        event: &Event,
        verdict: Verdict,
        now: Millis,
    ) -> anyhow::Result<()> {
        if store::events::get(tx, event.id)?.is_none() {
            // The lead was forgotten while the hook ran, and the event with it: there is
            // nothing to record (and nothing of theirs may be written again).
            return Ok(());
        }
        let result = match verdict {
            Verdict::Applied {
                handed,
                attempts,
                cost,
                output,
                staged,
            } => {
                handed.audit(tx)?;
                let plugin = handed.plugin.as_str();
                // The lead as it is now: the user or an opt-out may have changed it while
                // the hook ran.
                let outcome = match store::leads::get(tx, event.lead_id)? {
                    Some(current) => {
                        let limits = &self.services.config.limits;
                        apply::apply(tx, plugin, event, &current, output, limits, now)?
                            + &apply::queue_staged(tx, plugin, event, &staged, now)?
                    }
                    None => "nothing applied: the lead was forgotten meanwhile".into(),
                };
                PluginResult::done(plugin, attempts, outcome, now).with_cost(cost)
            }
            Verdict::Failed {
                handed,
                attempts,
                cost,
                parked,
                reason,
            } => {
                handed.audit(tx)?;
                let plugin = handed.plugin.as_str();
                let status = if parked {
                    apply::stop_sequence(tx, event, &format!("parked: {reason}"))?;
                    ResultStatus::Parked
                } else {
                    ResultStatus::Retry
                };
                PluginResult::failed(plugin, status, attempts, reason, now).with_cost(cost)
            }
            Verdict::HostRule(reason) => {
                apply::stop_sequence(tx, event, &reason)?;
                PluginResult::done(HOST, 0, reason, now)
            }
        };
        store::events::record_result(tx, event.id, &result)
    }

    async fn invoke(
        &self,
        plugin: &InstalledPlugin,
        event: &Event,
        lead: &Lead,
        schedule: Option<&Schedule>,
    ) -> anyhow::Result<(Invocation, Handed)> {
        let name = plugin.name();
        let db = self.db();
        let (settings, pii) = db.read(|c| {
            Ok((
                store::plugins::settings(c, name)?,
                store::plugins::is_granted(c, name, Permission::LeadsReadPii)?,
            ))
        })?;
        let limits = Limits::for_plugin(&self.services.config.limits, &settings);
        // A plugin held to N calls at once waits here for its turn, inside no transaction.
        let _slot = self.plugin_slots.enter(name, &settings).await;
        let _counted = self.calls_in_flight.enter(name);
        let seen: wit::Lead = project_lead(lead, pii).into();
        let handed = Handed {
            plugin: name.to_owned(),
            hook: hook_of(event.kind),
            lead_id: lead.id,
            pii,
            at: self.now(),
        };
        let input = match event.kind {
            EventKind::LeadImported => HookInput::Filter(seen),
            EventKind::Inbound => HookInput::Reply(wit_hooks::Inbound {
                event_id: event.id as u64,
                lead: seen,
                text: event.payload.text.clone().unwrap_or_default(),
                at: event.payload.at.unwrap_or(event.created_at),
            }),
            EventKind::FollowUp => {
                let started_at = schedule.map_or(event.created_at, |s| s.started_at);
                HookInput::FollowUp(wit_hooks::FollowUpDue {
                    event_id: event.id as u64,
                    lead: seen,
                    step: event.payload.step.unwrap_or(0),
                    started_at,
                })
            }
        };
        let call = CallContext::new(name, event.id, Some(lead.id));
        let invocation = match &self.executor {
            Executor::Wasm(runtime) => {
                let pre = runtime.prepare_installed(&plugin.sha256, || {
                    db.read(|c| store::plugins::wasm(c, name))
                })?;
                runtime
                    .invoke(&pre, self.services.clone(), call, limits, input)
                    .await?
            }
            Executor::Native(hooks) => {
                let started = std::time::Instant::now();
                let mut host = HostState::new(self.services.clone(), call, limits);
                let result = hooks.call(name, &mut host, input).await;
                Invocation {
                    result,
                    call: host.finish(),
                    // Native hooks burn no fuel and have no memory of their own.
                    cost: CallCost {
                        wall_us: started.elapsed().as_micros() as u64,
                        ..CallCost::default()
                    },
                }
            }
        };
        Ok((invocation, handed))
    }
}
