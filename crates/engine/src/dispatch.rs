//! Routing one event to the plugins that handle it, with retries and parking.

use std::sync::Arc;

use super::apply::FILTERED_OUT;
use super::ending::{Ending, Handed, Verdict};
use super::{Engine, Executor, RunStats};
use crate::clock::{Millis, SECOND};
use crate::consent::{Permission, policy, project_lead};
use crate::domain::lead::{Lead, LeadStatus};
use crate::runtime::hooks::HookEvent;
use crate::runtime::host::{CallContext, HostState};
use crate::runtime::manifest::Hook;
use crate::runtime::{HookInput, Invocation, Limits};
use crate::store::events::{Event, EventKind, OriginKind, ResultStatus};
use crate::store::plugins::InstalledPlugin;
use crate::store::schedules::Schedule;
use crate::store::usage::CallCost;
use crate::store::{self};

/// What a lead's turn hands its hooks: one event, and with an inbound message the older
/// messages of the same lead still waiting, which its reply hook answers together.
pub(super) struct Turn {
    pub event: Event,
    /// Older inbound events of the lead, oldest first (only with an inbound `event`).
    pub burst: Vec<Event>,
}

pub(super) fn hook_of(kind: EventKind) -> Hook {
    match kind {
        EventKind::LeadImported => Hook::Filter,
        EventKind::Inbound => Hook::Reply,
        EventKind::FollowUp => Hook::FollowUp,
    }
}

impl Engine {
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

    /// The enabled plugins with the event's hook, in order (just its own for a follow-up);
    /// for a comment, those that asked to see comments.
    fn plugins_for<'p>(
        event: &Event,
        installed: &'p [InstalledPlugin],
    ) -> Vec<&'p InstalledPlugin> {
        let hook = hook_of(event.kind);
        let kind = shown_kind(event);
        installed
            .iter()
            .filter(|p| p.enabled && p.manifest.hooks.contains(&hook))
            .filter(|p| {
                let asked = p.manifest.permissions.contains(&Permission::CommentsRead);
                policy::hook_sees(kind, asked)
            })
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
            let Some((invocation, handed)) = self
                .invoke(plugin, &event, &lead, schedule.as_ref())
                .await?
            else {
                continue; // a comment, and `comments:read` not granted (or revoked)
            };
            tally.hook_calls += 1;
            let verdict = match invocation.result {
                Ok(output) => Verdict::Applied {
                    handed,
                    attempts,
                    cost: invocation.cost,
                    output,
                    staged: invocation.call.staged_sends,
                    public_reply: invocation.call.staged_public_reply,
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

    /// Calls the plugin's hook for the event; `None` when its grants do not let it see the
    /// event (a comment without `comments:read`): it is not called at all.
    async fn invoke(
        &self,
        plugin: &InstalledPlugin,
        event: &Event,
        lead: &Lead,
        schedule: Option<&Schedule>,
    ) -> anyhow::Result<Option<(Invocation, Handed)>> {
        let name = plugin.name();
        let db = self.db();
        // What the call runs with, answering all its checks and settings.
        let read = || {
            db.read(|c| {
                Ok((
                    store::plugins::settings(c, name)?,
                    store::plugins::granted(c, name)?,
                ))
            })
        };
        let (mut settings, mut grants) = read()?;
        // A plugin held to N calls at once waits here for its turn, inside no transaction,
        // and reads them again once it may start: a revoke while it waited holds for it.
        let slot = self.plugin_slots.enter(name, &settings).await;
        if slot.is_some() {
            (settings, grants) = read()?;
        }
        if !policy::hook_sees(
            shown_kind(event),
            grants.contains(&Permission::CommentsRead),
        ) {
            return Ok(None);
        }
        let limits = Limits::for_plugin(&self.services.config.limits, &settings);
        let pii = grants.contains(&Permission::LeadsReadPii);
        let _counted = self.calls_in_flight.enter(name);
        let handed = Handed {
            plugin: name.to_owned(),
            hook: hook_of(event.kind),
            lead_id: lead.id,
            pii,
            at: self.now(),
        };
        let input = hook_input(event, lead, pii, schedule);
        let call = call_context(name, event, lead, grants, settings);
        let invocation = match &self.executor {
            Executor::Wasm(runtime) => {
                // The version this turn read, even if an upgrade landed since.
                let pre = runtime.prepare_installed(&plugin.sha256, || {
                    db.read(|c| store::plugins::wasm_of_version(c, name, &plugin.sha256))
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
        Ok(Some((invocation, handed)))
    }
}

/// Who calls about what, for plugin `name`'s call about `event`, answered from the grants
/// and settings read as it started.
pub(super) fn call_context(
    name: &str,
    event: &Event,
    lead: &Lead,
    grants: Vec<Permission>,
    settings: Vec<(String, String)>,
) -> CallContext {
    let mut call = CallContext::new(name, event.id, Some(lead.id)).started(grants, settings);
    // Instagram takes no public answers under a live video.
    call.answering_comment = event.payload.comment_id.is_some()
        && (event.payload.origin.as_ref()).is_some_and(|o| o.kind == OriginKind::Comment);
    call
}

/// What the hook that handles `event` about `lead` is handed (with personal fields when
/// `pii` is granted).
pub(super) fn hook_input(
    event: &Event,
    lead: &Lead,
    pii: bool,
    schedule: Option<&Schedule>,
) -> HookInput {
    HookInput::new(
        hook_of(event.kind),
        project_lead(lead, pii),
        HookEvent {
            id: event.id,
            text: event.payload.text.as_deref().unwrap_or_default(),
            at: event.payload.at.unwrap_or(event.created_at),
            step: event.payload.step.unwrap_or(0),
            started_at: schedule.map_or(event.created_at, |s| s.started_at),
            origin: event.payload.origin.as_ref(),
        },
    )
}

/// The kind of message an event is, by its contract name (`message` when it is no
/// particular kind, or no message).
pub(super) fn shown_kind(event: &Event) -> &'static str {
    event
        .payload
        .origin
        .as_ref()
        .map_or("message", |origin| origin.kind.as_str())
}
