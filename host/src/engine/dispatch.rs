//! Routing one event to the plugins that handle it, with retries and parking.

use super::{Engine, Executor, RunStats, apply};
use crate::clock::{Millis, SECOND};
use crate::consent::{Permission, project_lead};
use crate::leads::{Lead, LeadStatus};
use crate::runtime::bindings::{wit, wit_hooks};
use crate::runtime::host::{CallContext, HostState};
use crate::runtime::manifest::Hook;
use crate::runtime::{HookInput, Invocation, Limits};
use crate::store::events::{Event, EventKind, PluginResult, ResultStatus};
use crate::store::plugins::InstalledPlugin;
use crate::store::schedules::Schedule;
use crate::store::{self};

/// The name results of host decisions are recorded under.
pub const HOST: &str = "(host)";

/// The tag a lead gets when a filter drops it.
pub const FILTERED_OUT: &str = "filtered-out";

fn hook_of(kind: EventKind) -> Hook {
    match kind {
        EventKind::LeadImported => Hook::Filter,
        EventKind::Inbound => Hook::Reply,
        EventKind::FollowUp => Hook::FollowUp,
    }
}

impl Engine {
    pub(super) async fn process_due_events(&self, stats: &mut RunStats) -> anyhow::Result<usize> {
        let due = self
            .db()
            .read(|c| store::events::due(c, self.now(), super::EVENT_BATCH))?;
        if due.is_empty() {
            return Ok(0);
        }
        // Read once per batch, not per event: installing, enabling or removing a plugin
        // shows from the next batch on. Grants are not taken from here; every host call
        // asks for them afresh, so a revocation holds from the next call.
        let plugins = self.db().read(store::plugins::list)?;
        for event in &due {
            self.process_event(event, &plugins, stats).await?;
            stats.events += 1;
        }
        Ok(due.len())
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

    async fn process_event(
        &self,
        event: &Event,
        installed: &[InstalledPlugin],
        stats: &mut RunStats,
    ) -> anyhow::Result<()> {
        let now = self.now();
        let earlier = self.db().read(|c| store::events::results(c, event.id))?;
        if event.kind == EventKind::LeadImported && earlier.is_empty() {
            // A first attempt is a fresh evaluation by the filters; a retry keeps the
            // verdicts of the filters that already decided.
            self.db()
                .write(|c| store::leads::remove_tag(c, event.lead_id, FILTERED_OUT))?;
        }
        let schedule = match event.payload.schedule_id {
            Some(id) => self.db().read(|c| store::schedules::get(c, id))?,
            None => None,
        };
        let plugins = Self::plugins_for(event, installed);
        if plugins.is_empty() && event.kind == EventKind::FollowUp {
            // The sequence's plugin is disabled or gone: look again in an hour.
            if let Some(id) = event.payload.schedule_id {
                self.db()
                    .write(|c| store::schedules::postpone(c, id, now + 3600 * SECOND))?;
            }
        }
        let mut next_retry: Option<Millis> = None;
        for plugin in &plugins {
            let name = plugin.name();
            let Some(lead) = self.db().read(|c| store::leads::get(c, event.lead_id))? else {
                break; // forgotten meanwhile
            };
            if let Some(reason) = Self::host_rule(event, &lead, schedule.as_ref()) {
                self.db().write(|tx| {
                    apply::stop_sequence(tx, event, &reason)?;
                    let result = PluginResult::done(HOST, 0, reason.clone(), now);
                    store::events::record_result(tx, event.id, &result)
                })?;
                break;
            }
            let previous = earlier.iter().find(|r| r.plugin == name);
            if previous.is_some_and(|r| r.status != ResultStatus::Retry) {
                continue;
            }
            let attempts = previous.map_or(0, |r| r.attempts) + 1;
            let invocation = self.invoke(plugin, event, &lead, schedule.as_ref()).await?;
            stats.hook_calls += 1;
            match invocation.result {
                Ok(output) => {
                    let staged = invocation.call.staged_sends;
                    let limits = &self.services.config.limits;
                    self.db().write(|tx| {
                        // The lead as it is now: the user or an opt-out may have changed it
                        // while the hook ran.
                        let outcome = match store::leads::get(tx, event.lead_id)? {
                            Some(current) => {
                                apply::apply(tx, name, event, &current, output, limits, now)?
                                    + &apply::queue_staged(tx, name, event, &staged, now)?
                            }
                            None => "nothing applied: the lead was forgotten meanwhile".into(),
                        };
                        let result = PluginResult::done(name, attempts, outcome, now);
                        store::events::record_result(tx, event.id, &result)
                    })?;
                }
                Err(failure) => {
                    stats.hook_failures += 1;
                    let reason = format!("plugin {name} {failure}");
                    tracing::warn!(event = event.id, attempt = attempts, "{reason}");
                    let parked = attempts >= self.services.config.engine.max_attempts;
                    if parked {
                        stats.parked += 1;
                    } else {
                        let backoff =
                            self.services.config.engine.retry_backoff_seconds as Millis * SECOND;
                        let at = now + backoff * (1 << (attempts - 1).min(16));
                        next_retry = Some(next_retry.map_or(at, |t| t.min(at)));
                    }
                    self.db().write(|tx| {
                        let status = if parked {
                            apply::stop_sequence(tx, event, &format!("parked: {reason}"))?;
                            ResultStatus::Parked
                        } else {
                            ResultStatus::Retry
                        };
                        let result = PluginResult::failed(name, status, attempts, reason, now);
                        store::events::record_result(tx, event.id, &result)
                    })?;
                }
            }
        }
        self.db().write(|tx| match next_retry {
            Some(at) => store::events::retry_at(tx, event.id, at),
            None => {
                if event.kind == EventKind::LeadImported {
                    let sequences = installed
                        .iter()
                        .filter(|p| p.enabled && p.manifest.hooks.contains(&Hook::FollowUp))
                        .map(InstalledPlugin::name);
                    apply::start_sequences_if_kept(tx, event, sequences, now)?;
                }
                // A plugin waiting for a retry that will not come (disabled meanwhile, or a
                // host rule ended the event) is parked, not left "retrying" forever.
                store::events::park_unfinished(tx, event.id, now)?;
                store::events::finish(tx, event.id, now)
            }
        })
    }

    async fn invoke(
        &self,
        plugin: &InstalledPlugin,
        event: &Event,
        lead: &Lead,
        schedule: Option<&Schedule>,
    ) -> anyhow::Result<Invocation> {
        let name = plugin.name();
        let db = self.db();
        let settings = db.read(|c| store::plugins::settings(c, name))?;
        let limits = Limits::for_plugin(&self.services.config.limits, &settings);
        let pii = db.read(|c| store::plugins::is_granted(c, name, Permission::LeadsReadPii))?;
        let seen: wit::Lead = project_lead(lead, pii).into();
        let hook = hook_of(event.kind);
        let detail = if pii {
            "handed the event's lead with personal fields"
        } else {
            "handed the event's lead"
        };
        db.write(|c| {
            let entry = store::audit::Entry {
                plugin: name,
                action: &format!("{}.event", hook.as_str()),
                permission: None,
                lead_id: Some(lead.id),
                allowed: true,
                detail: Some(detail),
            };
            store::audit::record(c, &entry, self.now())
        })?;
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
        match &self.executor {
            Executor::Wasm(runtime) => {
                let pre = runtime.prepare_installed(&plugin.sha256, || {
                    db.read(|c| store::plugins::wasm(c, name))
                })?;
                runtime
                    .invoke(&pre, self.services.clone(), call, limits, input)
                    .await
            }
            Executor::Native(hooks) => {
                let mut host = HostState::new(self.services.clone(), call, limits);
                let result = hooks.call(name, &mut host, input).await;
                Ok(Invocation {
                    result,
                    call: host.finish(),
                    fuel_used: 0,
                })
            }
        }
    }
}
