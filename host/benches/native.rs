//! The flow's hooks as native Rust, the baseline of (c) and (d): the same decisions and
//! host calls as lead-scorer and ai-reply, with no sandbox.

use std::future::Future;
use std::pin::Pin;

use outreach::domain::lead::Lead;
use outreach::engine::NativeHooks;
use outreach::runtime::bindings::outreach::plugin::{ai, messaging, settings};
use outreach::runtime::bindings::wit;
use outreach::runtime::hooks;
use outreach::runtime::host::HostState;
use outreach::runtime::{HookFailure, HookInput, HookOutput};

/// The native twins of lead-scorer and ai-reply: the same decisions through the same host
/// calls, in the same order, so (c) and (d) measure what the sandbox costs and nothing else.
pub(crate) struct NativeFlow;

const KEYWORDS: &str = "coach,founder,shop,studio,agency,fitness";
const HANDOVER_WORDS: &str = "human,agent,person,refund,complaint,lawyer,manager";

/// ai-reply's trigger-word match: the first trigger found in `text` as whole words.
fn handover_word<'a>(text: &str, triggers: &'a str) -> Option<&'a str> {
    let words = |t: &str| {
        t.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
    };
    let text = words(text);
    triggers.split(',').map(str::trim).find(|trigger| {
        let phrase = words(trigger);
        !phrase.is_empty() && text.windows(phrase.len()).any(|w| w == phrase)
    })
}

fn native_score(lead: &Lead, keywords: &str) -> u8 {
    let field = |k: &str| lead.custom.get(k).map(String::as_str);
    let text = [field("bio"), lead.notes.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
    let matched = keywords
        .split(',')
        .filter(|k| !k.is_empty() && text.contains(k.trim()))
        .count() as u32;
    let followers: f64 = field("followers")
        .and_then(|f| f.parse().ok())
        .unwrap_or(0.0);
    let follower_points = ((followers.max(1.0).log10() - 2.0) * 15.0)
        .clamp(0.0, 45.0)
        .round() as u32;
    let name_points = if lead.name.is_some() { 10 } else { 0 };
    ((matched * 15).min(45) + follower_points + name_points).min(100) as u8
}

impl NativeHooks for NativeFlow {
    fn call<'a>(
        &'a self,
        _plugin: &'a str,
        host: &'a mut HostState,
        input: HookInput,
    ) -> Pin<Box<dyn Future<Output = Result<HookOutput, HookFailure>> + Send + 'a>> {
        Box::pin(async move {
            match input {
                HookInput::Filter(lead) => {
                    let keywords = settings::Host::get(host, "keywords".into())
                        .await
                        .unwrap_or_else(|| KEYWORDS.into());
                    let min: u8 = settings::Host::get(host, "min_score".into())
                        .await
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(20);
                    let score = native_score(&lead, &keywords);
                    Ok(HookOutput::Filter(hooks::FilterDecision {
                        keep: score >= min,
                        reason: Some(format!("score {score}")),
                        tags: vec![],
                        score: Some(score),
                    }))
                }
                HookInput::Reply(event) => {
                    // ai-reply's host calls, in its order: three settings, the history, the
                    // model.
                    let words = settings::Host::get(host, "handover_words".into())
                        .await
                        .unwrap_or_else(|| HANDOVER_WORDS.into());
                    if let Some(word) = handover_word(&event.text, &words) {
                        return Ok(HookOutput::Reply(hooks::ReplyAction::HandOver(format!(
                            "trigger word '{word}'"
                        ))));
                    }
                    let system_prompt = settings::Host::get(host, "system_prompt".into())
                        .await
                        .unwrap_or_else(|| "You are helpful.".into());
                    let limit = settings::Host::get(host, "history".into())
                        .await
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(10);
                    let mut conversation =
                        messaging::Host::history(host, event.lead.id as u64, limit)
                            .await
                            .map_err(|e| HookFailure::Plugin(format!("{e:?}")))?;
                    let has_event = conversation.last().is_some_and(|m| {
                        m.direction == wit::Direction::Inbound && m.text == event.text
                    });
                    if !has_event {
                        conversation.push(wit::Message {
                            direction: wit::Direction::Inbound,
                            text: event.text,
                            at: event.at,
                        });
                    }
                    let request = ai::GenerateRequest {
                        system_prompt,
                        conversation,
                        max_tokens: Some(300),
                    };
                    let reply = ai::Host::generate(host, request)
                        .await
                        .map_err(|e| HookFailure::Plugin(format!("{e:?}")))?;
                    Ok(HookOutput::Reply(hooks::ReplyAction::Send(
                        reply.text.trim().into(),
                    )))
                }
                HookInput::FollowUp(_) => Ok(HookOutput::FollowUp(hooks::FollowUpAction::Stop(
                    "not part of this flow".into(),
                ))),
            }
        })
    }
}
