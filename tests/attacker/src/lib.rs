//! Test fixture, not a real plugin: `attacker` is written against `wit/plugin.wit` alone, as
//! someone probing the host would write it, and tries to outrun every per-call limit. It
//! uses only the SDK's raw bindings of the contract (what wit-bindgen generates), none of
//! the SDK's API or checks.
//!
//! The reply hook acts on the inbound text:
//! - `storage-flood N`: stores N tiny keys, then rewrites one key forever;
//! - `denied-loop`: calls `leads.query` (never granted) forever;
//! - `log-flood`: writes 1 KiB log lines forever;
//! - `clock-loop`: asks the clock the time forever (the cheapest allowed call);
//! - `huge-error`: fails with a 20 MB error text full of escape sequences;
//! - `control-send`: returns a reply holding a terminal escape sequence;
//! - `huge-handover`: hands over with a 1 MB reason holding escape sequences;
//! - `remember TEXT`: keeps TEXT about the lead in its storage (`lead/<id>/note`), as a
//!   plugin may: erasure and a person's export must find it.
//!
//! The filter hook acts on the lead's handle: `tagflood…` returns 200,000 tags in its
//! decision, `tagloop…` adds tags one by one with `leads.add-tag` forever; others are kept.
//!
//! The manifest depends on the host's clock, the only input it has: in 2001 it calls a host
//! function (which the contract forbids), in 2002 its description is 1 MB of text with
//! escape sequences; otherwise it is an ordinary manifest.

// Natively (`cargo build --workspace`) nothing exports the hooks, so all of it is unused.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use outreach_sdk::bindings::exports::outreach::plugin::hooks::{
    FilterDecision, FollowUpAction, FollowUpDue, Guest, Inbound, ReplyAction,
};
use outreach_sdk::bindings::outreach::plugin::types::{Error, Lead, PluginManifest};
use outreach_sdk::bindings::outreach::plugin::{clock, leads, log, storage};

const YEAR_MS: i64 = 31_556_952_000;

struct Attacker;

fn year_of(ms: i64) -> i64 {
    1970 + ms / YEAR_MS
}

impl Guest for Attacker {
    fn manifest() -> PluginManifest {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let description = match year_of(now) {
            2001 => {
                for _ in 0..200_000 {
                    let _ = storage::get("probe");
                }
                "called the host".to_string()
            }
            2002 => "\u{1b}[8m".repeat(1 << 17) + "requests: nothing",
            _ => "Test fixture that attacks the host's limits.".to_string(),
        };
        PluginManifest {
            name: "attacker".into(),
            version: "0.1.0".into(),
            description,
            hooks: vec!["reply".into(), "filter".into()],
            permissions: vec![
                "storage".into(),
                "leads:write".into(),
                "messages:send".into(),
            ],
        }
    }

    fn filter(lead: Lead) -> Result<FilterDecision, Error> {
        let mut decision = FilterDecision {
            keep: true,
            reason: None,
            tags: vec![],
            score: None,
        };
        if lead.handle.starts_with("tagflood") {
            decision.tags = (0..200_000).map(|i| format!("t{i}")).collect();
        } else if lead.handle.starts_with("tagloop") {
            for i in 0.. {
                let _ = leads::add_tag(lead.id, &format!("t{i}"));
            }
        }
        Ok(decision)
    }

    fn reply(event: Inbound) -> Result<ReplyAction, Error> {
        let text = event.text.trim();
        if let Some(note) = text.strip_prefix("remember ") {
            storage::set(&format!("lead/{}/note", event.lead.id), note.as_bytes())?;
            return Ok(ReplyAction::NoReply);
        }
        if let Some(n) = text.strip_prefix("storage-flood ") {
            let n: u32 = n.parse().unwrap_or(0);
            for i in 0..n {
                let _ = storage::set(&i.to_string(), b"");
            }
            loop {
                let _ = storage::set("0", b"");
            }
        }
        Ok(match text {
            "denied-loop" => loop {
                let _ = leads::query(&leads::LeadQuery {
                    status: None,
                    tag: None,
                    last_contact_before: None,
                    limit: 1,
                });
            },
            "log-flood" => {
                let line = "x".repeat(1024);
                loop {
                    log::write(log::Level::Warn, &line);
                }
            }
            "clock-loop" => {
                let mut last = 0;
                loop {
                    last = std::hint::black_box(clock::now().max(last));
                }
            }
            "huge-error" => return Err(Error::Invalid("\u{1b}[2J".repeat(5 << 20))),
            "control-send" => ReplyAction::Send("hello \u{1b}[8mhidden".into()),
            "huge-handover" => ReplyAction::HandOver("\u{1b}[41m".repeat(200_000)),
            _ => ReplyAction::NoReply,
        })
    }

    fn follow_up(_event: FollowUpDue) -> Result<FollowUpAction, Error> {
        Ok(FollowUpAction::Stop("attacker has no sequence".into()))
    }
}

// Only in the component: a native `cdylib` (`cargo build --workspace`) cannot link these
// symbol names (`outreach:plugin/hooks@0.2.0#reply`).
#[cfg(target_arch = "wasm32")]
outreach_sdk::bindings::__export_outreach_plugin!(Attacker);
