//! Writing what came of an event: each plugin's verdict recorded and applied, the audit row of
//! what it was handed, retries scheduled, and the event finished, for several events in one
//! commit ([`Endings`]).

use std::sync::Arc;

use super::apply::{self, FILTERED_OUT};
use super::{Engine, RunStats};
use crate::clock::Millis;
use crate::runtime::HookOutput;
use crate::runtime::host::StagedSend;
use crate::runtime::manifest::Hook;
use crate::store::events::{Event, EventKind, PluginResult, ResultStatus};
use crate::store::plugins::InstalledPlugin;
use crate::store::usage::CallCost;
use crate::store::{self};

/// The name results of host decisions are recorded under.
pub const HOST: &str = "(host)";

/// What came of offering an event to one plugin, to be recorded.
pub(super) enum Verdict {
    Applied {
        handed: Handed,
        attempts: u32,
        cost: CallCost,
        output: HookOutput,
        staged: Vec<StagedSend>,
        /// What the hook answered its event's comment with publicly.
        public_reply: Option<String>,
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

/// What is left to write of an event once its plugins have run: its last verdict and its
/// end (finished, or waiting for a retry).
pub(super) struct Ending {
    pub event: Event,
    /// Older messages answered by this event's reply hook: finished with it.
    pub answered_with: Vec<Event>,
    /// Take off the tag an earlier filtering left (a first evaluation).
    pub untag: bool,
    pub verdict: Option<Verdict>,
    pub next_retry: Option<Millis>,
    pub now: Millis,
    pub installed: Arc<[InstalledPlugin]>,
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
pub(super) struct Handed {
    pub plugin: String,
    pub hook: Hook,
    pub lead_id: i64,
    pub pii: bool,
    pub at: Millis,
}

impl Handed {
    fn audit(&self, tx: &crate::store::Conn<'_>) -> anyhow::Result<()> {
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
        // Lost with a crash of the server, these events run again: what they queued had not
        // gone out, since a send's attempt record is flushed and follows this commit.
        self.db().write_flushed_later(|tx| {
            list.into_iter().try_for_each(|ending| {
                if let Some(claims) = &self.claims
                    && !claims.release(tx, ending.event.lead_id)?
                {
                    // This worker's claim expired and another took the lead over: its
                    // events run there again, and this ending is not theirs to write.
                    tracing::warn!(
                        "event #{} ran past this worker's claim on its lead; another worker handles it",
                        ending.event.id
                    );
                    return Ok(());
                }
                self.end_event(tx, ending)
            })
        })
    }

    fn end_event(&self, tx: &crate::store::Conn<'_>, ending: Ending) -> anyhow::Result<()> {
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
    pub(super) fn record_verdict(
        &self,
        tx: &crate::store::Conn<'_>,
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
                public_reply,
            } => {
                handed.audit(tx)?;
                let plugin = handed.plugin.as_str();
                // The lead as it is now: the user or an opt-out may have changed it while
                // the hook ran.
                let outcome = match store::leads::get(tx, event.lead_id)? {
                    Some(current) => {
                        let limits = &self.services.config.limits;
                        // What the hook sent during the call goes first, its decision last:
                        // Instagram keeps a message's quick replies only while it is the
                        // newest.
                        let sent = apply::queue_staged(tx, plugin, event, &staged, now)?;
                        let public = public_reply.as_deref();
                        let answered =
                            super::comments::queue_public_reply(tx, plugin, event, public, now)?;
                        apply::apply(tx, plugin, event, &current, output, limits, now)?
                            + &sent
                            + &answered
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
}
