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
use crate::ai::AiProvider;
use crate::clock::{Clock, Millis};
use crate::config::Config;
use crate::consent::{Permission, policy};
use crate::runtime::bindings::Prepared;
use crate::runtime::hooks::{FilterDecision, FollowUpAction, ReplyAction};
use crate::runtime::host::{HostServices, HostState};
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

/// What a shadow run needs besides the database: the sandbox, and the services its calls
/// get (their database discarding writes).
pub struct ShadowRunner {
    pub runtime: Arc<Runtime>,
    pub services: Arc<HostServices>,
    /// With a real AI provider: the database (keeping writes) where a run records, before it
    /// starts, each lead whose data it may send to the provider.
    ai_audit: Option<Db>,
}

/// The answer AI calls get in a shadow run unless the user lets them ask the provider:
/// the same for both versions, so it is never a difference between them.
pub const PLACEHOLDER_AI_ANSWER: &str = "(AI answer: not asked in a shadow run)";

impl ShadowRunner {
    /// Shadow runs in `runtime` on `db`, whose writes this runner discards, with no AI
    /// request (`ai`: the provider to ask instead, when the user said so).
    pub fn new(
        runtime: Arc<Runtime>,
        db: &Db,
        clock: Arc<dyn Clock>,
        config: Arc<Config>,
        ai: Option<AiProvider>,
    ) -> Self {
        let ai_audit = ai.is_some().then(|| db.clone());
        let ai = ai.unwrap_or_else(|| AiProvider::Offline {
            reply: PLACEHOLDER_AI_ANSWER.into(),
        });
        let services = Arc::new(HostServices {
            db: db.discarding_writes(),
            clock,
            ai,
            config,
        });
        Self {
            runtime,
            services,
            ai_audit,
        }
    }

    /// [`shadow`] of `new` beside the installed plugin `name`.
    pub async fn run(
        &self,
        name: &str,
        new: (&Manifest, &[u8]),
        selection: Selection,
    ) -> anyhow::Result<ShadowReport> {
        let installed = self
            .services
            .db
            .read(|c| store::plugins::require(c, name))?;
        shadow(
            &self.runtime,
            self.services.clone(),
            &installed,
            new,
            selection,
            self.ai_audit.as_ref(),
        )
        .await
    }

    /// The manifest of a component, read in the sandbox.
    pub async fn manifest(&self, wasm: &[u8]) -> anyhow::Result<Manifest> {
        self.runtime
            .read_manifest(wasm, self.services.clone())
            .await
    }
}

/// Which past events a shadow run replays: the last `limit` created at or after `since`.
#[derive(Debug, Clone, Copy)]
pub struct Selection {
    pub since: Millis,
    pub limit: u32,
}

/// A version of the plugin: its manifest, component (compiled) and the grants it runs with.
struct Version<'a> {
    manifest: &'a Manifest,
    prepared: Prepared<HostState>,
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
    ai_audit: Option<&Db>,
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
            prepared: runtime.prepare(&installed_wasm)?,
            grants: installed.granted.clone(),
        },
        Version {
            manifest: new_manifest,
            prepared: runtime.prepare(new_wasm)?,
            grants: kept,
        },
    ];
    let limits = Limits::for_plugin(&services.config.limits, &settings);
    if let Some(audit) = ai_audit
        && versions
            .iter()
            .any(|v| v.grants.contains(&Permission::AiGenerate))
    {
        record_possible_ai_requests(audit, name, &events, services.clock.now())?;
    }
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
            let invocation = runtime
                .invoke(&version.prepared, services.clone(), call, limits, input)
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

impl std::fmt::Display for Decided {
    /// The decision in a few words, unescaped: each front end escapes it its own way.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let score = |s: &Option<u8>| s.map(|s| format!(", score {s}")).unwrap_or_default();
        let tags = |t: &[String]| match t.is_empty() {
            true => String::new(),
            false => format!(", tags {}", t.join(" ")),
        };
        match &self.decision {
            Decision::Kept { score: s, tags: t } => write!(f, "kept{}{}", score(s), tags(t))?,
            Decision::Dropped { score: s, tags: t } => write!(f, "dropped{}{}", score(s), tags(t))?,
            Decision::Reply { text } => write!(f, "reply {text:?}")?,
            Decision::NoReply => write!(f, "no reply")?,
            Decision::HandOver { reason } => write!(f, "hand over ({reason})")?,
            Decision::FollowUp { text, .. } => write!(f, "follow up {text:?}")?,
            Decision::WaitUntil { at } => write!(f, "wait until {}", crate::clock::format(*at))?,
            Decision::Stop { reason } => write!(f, "stop ({reason})")?,
            Decision::Failed { why } => write!(f, "failed: {why}")?,
            Decision::NotCalled => write!(f, "not called")?,
        }
        for send in &self.sends {
            write!(f, " + send {send:?}")?;
        }
        if let Some(public) = &self.public_reply {
            write!(f, " + public reply {public:?}")?;
        }
        Ok(())
    }
}

/// What leaves the machine is on record before it leaves, also in a shadow run whose own
/// writes are all undone: each lead of `events`, whose data an `ai.generate` call may send.
fn record_possible_ai_requests(
    db: &Db,
    plugin: &str,
    events: &[crate::store::events::Event],
    now: Millis,
) -> anyhow::Result<()> {
    let leads: std::collections::BTreeSet<i64> = events.iter().map(|e| e.lead_id).collect();
    db.write(|tx| {
        for lead in leads {
            let entry = store::audit::Entry {
                plugin,
                action: "ai.generate",
                permission: Some(Permission::AiGenerate),
                lead_id: Some(lead),
                allowed: true,
                detail: Some("shadow run: its data may go to the AI provider"),
            };
            store::audit::record(tx, &entry, now)?;
        }
        Ok(())
    })
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
        _ if old == new => "messages sent",
        (Kept { .. }, Dropped { .. }) => "kept → dropped",
        (Dropped { .. }, Kept { .. }) => "dropped → kept",
        (Kept { .. }, Kept { .. }) | (Dropped { .. }, Dropped { .. }) => "score or tags",
        (Failed { .. }, _) | (_, Failed { .. }) => "failures",
        (NotCalled, _) | (_, NotCalled) => "hooks",
        (HandOver { .. }, _) | (_, HandOver { .. }) => "hand-over",
        (Reply { .. } | NoReply, Reply { .. } | NoReply) => "reply",
        (FollowUp { .. } | WaitUntil { .. } | Stop { .. }, _) => "follow-up",
        _ => "other",
    }
}
