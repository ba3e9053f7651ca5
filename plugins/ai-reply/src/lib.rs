//! `ai-reply`: answers inbound messages with the AI provider the user configured, and
//! hands the conversation to a person when the lead asks for one or the AI cannot answer.
//!
//! Settings: `system_prompt` (instructions for the model), `handover_words` (comma
//! separated words or phrases that hand over at once) and `history` (how many earlier
//! messages the model sees).

#[cfg(test)]
mod tests;

use outreach_sdk::{
    Direction, GenerateRequest, Hook, Inbound, Manifest, Message, Permission, Plugin, ReplyAction,
    Result, ai, log, messaging, settings, words,
};

const DEFAULT_SYSTEM_PROMPT: &str = "You are a friendly sales assistant answering Instagram \
direct messages for a small business. Reply in the lead's language, in one to three short \
sentences. Be warm and helpful, never pushy. Do not invent prices, dates or promises: if you \
are unsure, say that a person from the team will follow up.";
const DEFAULT_HANDOVER_WORDS: &str = "human,agent,person,refund,complaint,lawyer,manager";
const DEFAULT_HISTORY: u32 = 10;
// A direct message is a few sentences; the cap keeps a rambling model short and cheap.
const MAX_REPLY_TOKENS: u32 = 300;

pub struct AiReply;

impl Plugin for AiReply {
    fn manifest() -> Manifest {
        Manifest {
            name: "ai-reply".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Answers inbound messages with AI and hands over to a person when asked."
                .into(),
            hooks: vec![Hook::Reply],
            permissions: vec![
                Permission::MessagesRead,
                Permission::AiGenerate,
                Permission::MessagesSend,
            ],
        }
    }

    fn reply(event: Inbound) -> Result<ReplyAction> {
        let words = settings::get_or("handover_words", DEFAULT_HANDOVER_WORDS.to_string())?;
        if let Some(word) = words::find(&event.text, &words) {
            return Ok(ReplyAction::HandOver(format!("trigger word '{word}'")));
        }
        let request = GenerateRequest {
            system_prompt: settings::get_or("system_prompt", DEFAULT_SYSTEM_PROMPT.to_string())?,
            conversation: conversation(event)?,
            max_tokens: Some(MAX_REPLY_TOKENS),
        };
        Ok(match ai::generate(&request) {
            Ok(generated) if generated.text.trim().is_empty() => {
                ReplyAction::HandOver("AI returned an empty reply".into())
            }
            Ok(generated) => ReplyAction::Send(generated.text.trim().into()),
            Err(e) => {
                let why = format!("AI unavailable: {e}");
                log::warn(&why);
                ReplyAction::HandOver(why)
            }
        })
    }
}

outreach_sdk::export_plugin!(AiReply);

/// The recent history ending with the event's message. The host may or may not have
/// stored the inbound message before calling the hook, so it is added only if missing.
/// (Several messages sent in a row arrive as one event whose text holds them all, one per
/// line, stamped with the last one's time: the history has them already.)
fn conversation(event: Inbound) -> Result<Vec<Message>> {
    let limit = settings::get_or("history", DEFAULT_HISTORY)?;
    let mut messages = messaging::history(event.lead.id, limit)?;
    let has_event = messages.last().is_some_and(|m| {
        m.direction == Direction::Inbound && (m.text == event.text || m.at == event.at)
    });
    if !has_event {
        messages.push(Message {
            direction: Direction::Inbound,
            text: event.text,
            at: event.at,
        });
    }
    Ok(messages)
}
