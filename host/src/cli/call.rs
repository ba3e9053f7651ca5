//! `outreach plugin call`: one hook of a plugin run in the real sandbox against a made-up
//! lead, on a database that lives only for the call. It prints every host call the hook
//! made (allowed or denied, as the audit log has them), what the hook returned, and what
//! the call cost. Whatever language a plugin is written in, this is how to try it, and its
//! tests can run it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::App;
use super::output::{self, safe};
use super::plugin_args::{check_requested, load_source, names, parse_permissions};
use crate::ai::AiProvider;
use crate::consent::{Permission, project_lead};
use crate::domain::handle::normalize_handle;
use crate::domain::lead::LeadRecord;
use crate::engine::ingest;
use crate::runtime::hooks::{FollowUpAction, HookEvent, Outgoing, ReplyAction};
use crate::runtime::host::{CallContext, HostServices};
use crate::runtime::manifest::Hook;
use crate::runtime::{HookInput, HookOutput, Limits};
use crate::store::audit::{AuditFilter, AuditRow};
use crate::store::events::{Origin, OriginKind};
use crate::store::usage::CallCost;
use crate::store::{self, Db};

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The plugin: a .wasm file or a bundled name.
    source: String,
    /// The hook to call: filter, reply or follow-up.
    #[arg(long)]
    hook: Hook,
    /// The lead, from a JSON file: {"handle": "anna", "name": "Anna Berg", "email": "…",
    /// "phone": "…", "notes": "…", "tags": ["warm"], "fields": {"followers": "12,400"}}.
    #[arg(long, value_name = "FILE", conflicts_with = "handle")]
    lead: Option<PathBuf>,
    /// A lead with just this handle [default: someone].
    #[arg(long)]
    handle: Option<String>,
    /// The message the lead sent (for the reply hook).
    #[arg(long, default_value = "Hi! How much is it?")]
    text: String,
    /// What the message was beyond its text (for the reply hook): story-mention,
    /// story-reply, quick-reply, postback, comment or live-comment [default: a plain
    /// message]. The plugin is called whatever it was granted.
    #[arg(long, value_name = "KIND")]
    kind: Option<OriginKind>,
    /// What it refers to: the story's id, the payload of what the lead tapped, or the post
    /// commented on.
    #[arg(long, value_name = "TEXT", requires = "kind")]
    reference: Option<String>,
    /// The step of the follow-up sequence that is due (for the follow-up hook).
    #[arg(long, default_value_t = 0)]
    step: u32,
    /// Grant this permission (repeatable); nothing is granted otherwise.
    #[arg(long = "grant", value_name = "PERMISSION")]
    grants: Vec<String>,
    /// Grant every permission the plugin requests.
    #[arg(long, conflicts_with = "grants")]
    grant_requested: bool,
    /// A plugin setting, KEY=VALUE (repeatable).
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    settings: Vec<String>,
    #[arg(long)]
    json: bool,
}

/// A lead as `--lead` gives it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LeadFile {
    handle: String,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    notes: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Report {
    plugin: String,
    version: String,
    contract: String,
    hook: &'static str,
    lead: String,
    granted: Vec<Permission>,
    host_calls: Vec<AuditRow>,
    /// What the hook returned, or why it failed.
    result: serde_json::Value,
    /// Messages it queued with `messaging.send`.
    sent: Vec<String>,
    cost: CallCost,
}

pub async fn call(app: &App, args: CallArgs) -> anyhow::Result<()> {
    let wasm = load_source(&args.source).await?;
    let record = lead_record(&args)?;
    // Nothing of the user's database is touched: the call gets one of its own.
    let db = Db::open_in_memory()?;
    let services = Arc::new(HostServices {
        db: db.clone(),
        clock: app.clock.clone(),
        ai: AiProvider::from_config(&app.config.ai, |name| std::env::var(name).ok()),
        config: app.config.clone(),
    });
    let runtime = app.runtime()?;
    let manifest = runtime
        .read_manifest(&wasm, services.clone())
        .await
        .with_context(|| format!("cannot call {}", args.source))?;
    let name = manifest.name.clone();
    anyhow::ensure!(
        manifest.hooks.contains(&args.hook),
        "{name} has no {} hook; it has: {}",
        args.hook.as_str(),
        manifest
            .hooks
            .iter()
            .map(|h| h.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let contract = runtime.contract(&wasm)?;
    let granted = if args.grant_requested {
        manifest.permissions.clone()
    } else {
        parse_permissions(&args.grants)?
    };
    check_requested(&manifest, &granted)?;
    let settings = args
        .settings
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .with_context(|| format!("--setting {kv:?}: expected KEY=VALUE"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let now = app.now();
    let lead_id = db.write(|tx| {
        store::plugins::install(
            tx,
            &store::plugins::Component {
                manifest: &manifest,
                contract: &contract,
                wasm: &wasm,
                sha256: "",
                publisher: None,
            },
            now,
        )?;
        for p in &granted {
            store::plugins::grant(tx, &name, *p, now)?;
        }
        for (key, value) in &settings {
            store::plugins::set_setting(tx, &name, key, Some(value))?;
        }
        Ok(store::leads::upsert(tx, &record, 1, now)?.id())
    })?;
    let origin = args.kind.map(|kind| Origin {
        kind,
        reference: args.reference.clone(),
    });
    let event_id = match args.hook {
        // The message is stored as the engine would store it: the hook can read it back.
        Hook::Reply => {
            let message = ingest::InboundMessage {
                account: 1,
                from: ingest::Sender::Handle(&record.handle),
                text: &args.text,
                at: now,
                source: "plugin call",
                dedupe_key: None,
                origin: origin.clone(),
                comment: None,
            };
            ingest::inbound(&db, &app.config.consent, &message, now)?
                .event_id
                .context("the message was not stored")?
        }
        _ => 1,
    };
    let lead = db
        .read(|c| store::leads::get(c, lead_id))?
        .context("the lead was not stored")?;
    let input = HookInput::new(
        args.hook,
        project_lead(&lead, granted.contains(&Permission::LeadsReadPii)),
        HookEvent {
            id: event_id,
            text: &args.text,
            at: now,
            step: args.step,
            started_at: now,
            origin: origin.as_ref(),
        },
    );
    let limits = Limits::for_plugin(
        &app.config.limits,
        &db.read(|c| store::plugins::settings(c, &name))?,
    );
    let pre = runtime.prepare(&wasm)?;
    let call = CallContext::new(&name, event_id, Some(lead_id));
    let invocation = runtime.invoke(&pre, services, call, limits, input).await?;
    let host_calls = db.read(|c| {
        store::audit::list(
            c,
            &AuditFilter {
                plugin: Some(name.clone()),
                limit: u32::MAX,
                ..Default::default()
            },
        )
    })?;
    let failure = invocation.result.as_ref().err().map(ToString::to_string);
    let report = Report {
        plugin: name,
        version: manifest.version.clone(),
        contract,
        hook: args.hook.as_str(),
        lead: record.handle.clone(),
        granted,
        host_calls,
        result: match &invocation.result {
            Ok(output) => describe_output(output),
            Err(failure) => json!({ "failed": failure.to_string() }),
        },
        sent: invocation
            .call
            .staged_sends
            .iter()
            .map(|s| s.text.clone())
            .collect(),
        cost: invocation.cost,
    };
    if args.json {
        output::json(&report)?;
    } else {
        print(&report);
    }
    match failure {
        Some(failure) => anyhow::bail!("the {} hook failed: {failure}", report.hook),
        None => Ok(()),
    }
}

fn lead_record(args: &CallArgs) -> anyhow::Result<LeadRecord> {
    let file = match &args.lead {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str::<LeadFile>(&text)
                .with_context(|| format!("{} is not a lead", path.display()))?
        }
        None => LeadFile {
            handle: args.handle.clone().unwrap_or_else(|| "someone".into()),
            name: None,
            email: None,
            phone: None,
            notes: None,
            tags: Vec::new(),
            fields: BTreeMap::new(),
        },
    };
    let handle = normalize_handle(&file.handle)
        .map_err(|why| anyhow::anyhow!("handle {:?}: {why}", file.handle))?;
    let mut tags = file
        .tags
        .iter()
        .map(|t| {
            crate::domain::lead::valid_tag(t)
                .map(str::to_owned)
                .map_err(|why| anyhow::anyhow!("tag {t:?}: {why}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    tags.sort();
    tags.dedup();
    Ok(LeadRecord {
        line: 1,
        handle,
        name: file.name,
        email: file.email,
        phone: file.phone,
        tags,
        notes: file.notes,
        custom: file.fields,
    })
}

/// What a hook returned, as JSON a test can read.
fn describe_output(output: &HookOutput) -> serde_json::Value {
    match output {
        HookOutput::Filter(d) => json!({
            "keep": d.keep, "reason": d.reason, "tags": d.tags, "score": d.score,
        }),
        HookOutput::Reply(ReplyAction::Send(message)) => {
            with_quick_replies(json!({ "reply": message.text }), message)
        }
        HookOutput::Reply(ReplyAction::NoReply) => json!({ "no_reply": true }),
        HookOutput::Reply(ReplyAction::HandOver(reason)) => {
            json!({ "hand_over": reason })
        }
        HookOutput::FollowUp(FollowUpAction::Send(send)) => {
            let step = json!({ "send": send.message.text, "next_at": send.next_at });
            with_quick_replies(step, &send.message)
        }
        HookOutput::FollowUp(FollowUpAction::WaitUntil(at)) => {
            json!({ "wait_until": at })
        }
        HookOutput::FollowUp(FollowUpAction::Stop(reason)) => json!({ "stop": reason }),
    }
}

/// `described` with the message's quick replies, when it has any.
fn with_quick_replies(mut described: serde_json::Value, message: &Outgoing) -> serde_json::Value {
    if !message.quick_replies.is_empty() {
        described["quick_replies"] = json!(message.quick_replies);
    }
    described
}

fn print(report: &Report) {
    println!(
        "{} {} (outreach:plugin@{}), {} hook, lead @{}; granted: {}",
        safe(&report.plugin),
        safe(&report.version),
        report.contract,
        report.hook,
        safe(&report.lead),
        names(&report.granted)
    );
    println!("host calls, as the audit log records them:");
    if report.host_calls.is_empty() {
        println!("  none");
    }
    for row in &report.host_calls {
        println!(
            "  {:<8} {}{}{}",
            if row.allowed { "allowed" } else { "DENIED" },
            safe(&row.action),
            row.permission
                .as_deref()
                .map_or(String::new(), |p| format!(" ({p})")),
            row.detail
                .as_deref()
                .map_or(String::new(), |d| format!(": {}", safe(d)))
        );
    }
    println!("result: {}", safe(&report.result.to_string()));
    for text in &report.sent {
        println!("queued by messaging.send: {}", safe(text));
    }
    println!("cost: {}", output::call_cost(&report.cost));
}
