//! Shadow runs: a new version of an installed plugin handed the events the installed one
//! handled, in the sandbox, beside the installed version, and their decisions compared.
//! Both run on the same view of the data as it is now, through a database handle whose
//! writes are all rolled back ([`Db::discarding_writes`](crate::store::Db)), so nothing is
//! stored, sent or audited; what a call stages to send is only compared. Running the
//! installed version again, rather than reading what it decided then, makes the
//! difference one of code, not of what changed in the data since.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::apply::FILTERED_OUT;
use super::dispatch::{call_context, hook_input, hook_of, shown_kind};
use crate::clock::Millis;
use crate::consent::{Permission, policy};
use crate::runtime::hooks::{FilterDecision, FollowUpAction, ReplyAction};
use crate::runtime::host::HostServices;
use crate::runtime::manifest::Manifest;
use crate::runtime::{HookOutput, Limits, Runtime};
use crate::store::plugins::InstalledPlugin;
use crate::store::{self, Db};

/// What a version decided about one event, as far as it changes what happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    Kept {
        score: Option<u8>,
        tags: Vec<String>,
    },
    Dropped {
        score: Option<u8>,
        tags: Vec<String>,
    },
    Reply {
        text: String,
    },
    NoReply,
    HandOver {
        reason: String,
    },
    FollowUp {
        text: String,
        next_at: Option<Millis>,
    },
    WaitUntil {
        at: Millis,
    },
    Stop {
        reason: String,
    },
    /// The call failed (a trap, a limit, an error the plugin returned).
    Failed {
        why: String,
    },
    /// The version has no hook for the event, or may not see it.
    NotCalled,
}

/// A decision with what the call queued beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decided {
    #[serde(flatten)]
    pub decision: Decision,
    /// Messages queued with `messaging.send` during the call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sends: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_reply: Option<String>,
    /// A filter's explanation: shown, not counted as a change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Decided {
    fn differs_from(&self, other: &Decided) -> bool {
        (&self.decision, &self.sends, &self.public_reply)
            != (&other.decision, &other.sends, &other.public_reply)
    }
}

/// One event the two versions decided differently.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub event_id: i64,
    pub handle: String,
    pub hook: &'static str,
    /// What kind of change it is (`kept → dropped`, `reply`, `hand-over`, …).
    pub change: &'static str,
    pub installed: Decided,
    pub new: Decided,
}

/// What a shadow run found.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowReport {
    pub plugin: String,
    pub installed_version: String,
    pub new_version: String,
    /// Events both versions were handed.
    pub events: u32,
    /// Events they decided differently, and how many of each kind of change.
    pub changed: u32,
    pub changes: BTreeMap<&'static str, u32>,
    /// Permissions the new version requests that the installed one does not: not granted
    /// in the shadow run (an upgrade would ask for them).
    pub not_granted: Vec<Permission>,
    pub differences: Vec<Difference>,
}

/// Which past events a shadow run replays: the last `limit` created at or after `since`.
#[derive(Debug, Clone, Copy)]
pub struct Selection {
    pub since: Millis,
    pub limit: u32,
}

/// A version of the plugin: its manifest, component and the grants it runs with.
struct Version<'a> {
    manifest: &'a Manifest,
    wasm: &'a [u8],
    grants: Vec<Permission>,
}

/// Runs `new` (manifest and component) beside the installed plugin over the events it
/// handled. `services` are what the calls get: their database must discard writes, and
/// their AI provider is the caller's choice (an offline one unless the user asked).
pub async fn shadow(
    runtime: &Runtime,
    services: Arc<HostServices>,
    installed: &InstalledPlugin,
    new: (&Manifest, &[u8]),
    selection: Selection,
) -> anyhow::Result<ShadowReport> {
    let db: Db = services.db.clone();
    anyhow::ensure!(
        db.discards_writes(),
        "a shadow run must not write: give it a database that discards writes"
    );
    let name = installed.name();
    let (settings, installed_wasm, events) = db.read(|c| {
        Ok((
            store::plugins::settings(c, name)?,
            store::plugins::wasm(c, name)?,
            store::events::handled_by(c, name, selection.since, selection.limit)?,
        ))
    })?;
    let (new_manifest, new_wasm) = new;
    anyhow::ensure!(
        new_manifest.name == name,
        "the new version is plugin {:?}, not {name:?}",
        new_manifest.name
    );
    // What an upgrade would keep: the grants the new version still requests.
    let kept: Vec<Permission> = (installed.granted.iter())
        .filter(|p| new_manifest.permissions.contains(p))
        .copied()
        .collect();
    let versions = [
        Version {
            manifest: &installed.manifest,
            wasm: &installed_wasm,
            grants: installed.granted.clone(),
        },
        Version {
            manifest: new_manifest,
            wasm: new_wasm,
            grants: kept,
        },
    ];
    let limits = Limits::for_plugin(&services.config.limits, &settings);
    let mut report = ShadowReport {
        plugin: name.to_owned(),
        installed_version: installed.manifest.version.clone(),
        new_version: new_manifest.version.clone(),
        events: 0,
        changed: 0,
        changes: BTreeMap::new(),
        not_granted: (new_manifest.permissions.iter())
            .filter(|p| !installed.manifest.permissions.contains(p))
            .copied()
            .collect(),
        differences: Vec::new(),
    };
    for event in &events {
        let Some(mut lead) = db.read(|c| store::leads::get(c, event.lead_id))? else {
            continue; // forgotten since
        };
        // As a first attempt sees it: without the verdict of the import it replays.
        lead.tags.retain(|tag| tag != FILTERED_OUT);
        let schedule = match event.payload.schedule_id {
            Some(id) => db.read(|c| store::schedules::get(c, id))?,
            None => None,
        };
        let mut decided = Vec::with_capacity(2);
        for version in &versions {
            let hook = hook_of(event.kind);
            let sees = policy::hook_sees(
                shown_kind(event),
                version.grants.contains(&Permission::CommentsRead),
            );
            if !version.manifest.hooks.contains(&hook) || !sees {
                decided.push(not_called());
                continue;
            }
            let pii = version.grants.contains(&Permission::LeadsReadPii);
            let input = hook_input(event, &lead, pii, schedule.as_ref());
            let call = call_context(name, event, &lead, version.grants.clone(), settings.clone());
            let pre = runtime.prepare(version.wasm)?;
            let invocation = runtime
                .invoke(&pre, services.clone(), call, limits, input)
                .await?;
            decided.push(Decided::from_call(
                invocation.result.map_err(|f| f.to_string()),
                &invocation.call,
            ));
        }
        report.events += 1;
        let [old, new]: [Decided; 2] = decided.try_into().expect("two versions");
        if old.differs_from(&new) {
            let change = change_of(&old.decision, &new.decision);
            report.changed += 1;
            *report.changes.entry(change).or_default() += 1;
            report.differences.push(Difference {
                event_id: event.id,
                handle: lead.handle.clone(),
                hook: hook_of(event.kind).as_str(),
                change,
                installed: old,
                new,
            });
        }
    }
    Ok(report)
}

fn not_called() -> Decided {
    Decided {
        decision: Decision::NotCalled,
        sends: Vec::new(),
        public_reply: None,
        reason: None,
    }
}

impl Decided {
    fn from_call(
        result: Result<HookOutput, String>,
        call: &crate::runtime::host::CallContext,
    ) -> Self {
        let mut reason = None;
        let decision = match result {
            Err(why) => Decision::Failed { why },
            Ok(HookOutput::Filter(FilterDecision {
                keep,
                reason: why,
                tags,
                score,
            })) => {
                reason = why;
                match keep {
                    true => Decision::Kept { score, tags },
                    false => Decision::Dropped { score, tags },
                }
            }
            Ok(HookOutput::Reply(ReplyAction::NoReply)) => Decision::NoReply,
            Ok(HookOutput::Reply(ReplyAction::Send(out))) => Decision::Reply { text: out.text },
            Ok(HookOutput::Reply(ReplyAction::HandOver(reason))) => Decision::HandOver { reason },
            Ok(HookOutput::FollowUp(FollowUpAction::Send(send))) => Decision::FollowUp {
                text: send.message.text,
                next_at: send.next_at,
            },
            Ok(HookOutput::FollowUp(FollowUpAction::WaitUntil(at))) => Decision::WaitUntil { at },
            Ok(HookOutput::FollowUp(FollowUpAction::Stop(reason))) => Decision::Stop { reason },
        };
        Decided {
            decision,
            sends: call.staged_sends.iter().map(|s| s.text.clone()).collect(),
            public_reply: call.staged_public_reply.clone(),
            reason,
        }
    }
}

/// What kind of change going from `old` to `new` is.
fn change_of(old: &Decision, new: &Decision) -> &'static str {
    use Decision::*;
    match (old, new) {
        (Kept { .. }, Dropped { .. }) => "kept → dropped",
        (Dropped { .. }, Kept { .. }) => "dropped → kept",
        (Kept { .. }, Kept { .. }) | (Dropped { .. }, Dropped { .. }) => "score or tags",
        (Failed { .. }, _) | (_, Failed { .. }) => "failures",
        (NotCalled, _) | (_, NotCalled) => "hooks",
        (HandOver { .. }, _) | (_, HandOver { .. }) => "hand-over",
        (Reply { .. } | NoReply, Reply { .. } | NoReply) => "reply",
        (FollowUp { .. } | WaitUntil { .. } | Stop { .. }, _) => "follow-up",
        _ if old == new => "messages sent",
        _ => "other",
    }
}
