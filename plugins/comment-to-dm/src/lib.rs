//! `comment-to-dm`: answers a comment that contains a keyword with one private reply (the
//! direct message Instagram lets an account send someone who commented), and once that
//! person answers it, sends them one follow-up.
//!
//! Settings:
//! - `keywords`: comma separated words or phrases, matched in any case; `*` matches every
//!   comment. Without it (and without a post's own), no comment is answered.
//! - `keywords.<media id>`: the keywords for one post, reel or live video, in place of
//!   `keywords` there (`-` answers nothing on that post).
//! - `messages`: the private reply, as variants separated by `|` (each lead always gets the
//!   same one); templates like `{first_name|there}` are filled from the lead.
//! - `follow_up`: sent once when the person answers the private reply; none without it.
//! - `public_reply`: also answer the comment publicly, under it (variants and templates as
//!   `messages`; needs `comments:reply`), so others see it was answered; none without it.
//!
//! Each person gets one private reply per post, however often they comment on it. The host
//! holds the rest: one private reply per comment, within 7 days of it, 750 an hour.

#[cfg(test)]
mod tests;

use outreach_sdk::{
    Hook, Inbound, Manifest, Permission, Plugin, ReplyAction, Result, comments, log, settings,
    storage, template, words,
};

const DEFAULT_MESSAGE: &str =
    "Hi {first_name|there}! Thanks for your comment - here are the details you asked for.";

pub struct CommentToDm;

impl Plugin for CommentToDm {
    fn manifest() -> Manifest {
        Manifest {
            name: "comment-to-dm".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Answers keyword comments with a direct message, and follows up once \
                          they answer."
                .into(),
            hooks: vec![Hook::Reply],
            permissions: vec![
                Permission::CommentsRead,
                Permission::MessagesSend,
                Permission::Storage,
                Permission::CommentsReply,
            ],
        }
    }

    fn reply(event: Inbound) -> Result<ReplyAction> {
        match event.kind.as_str() {
            "comment" | "live-comment" => answer_comment(&event),
            _ => follow_up(&event),
        }
    }
}

outreach_sdk::export_plugin!(CommentToDm);

/// A comment: the private reply when it holds a keyword for its post and this person has
/// not had one about that post.
fn answer_comment(event: &Inbound) -> Result<ReplyAction> {
    let post = event.reference.as_deref().unwrap_or_default();
    let keywords = settings::get(&format!("keywords.{post}")).or_else(|| settings::get("keywords"));
    let Some(keywords) = keywords else {
        return Ok(ReplyAction::NoReply);
    };
    let matches = match keywords.trim() {
        "*" => true,
        "-" => false,
        keywords => words::find(&event.text, keywords).is_some(),
    };
    if !matches {
        return Ok(ReplyAction::NoReply);
    }
    let answered = format!("lead/{}/post/{post}", event.lead.id);
    if storage::get(&answered)?.is_some() {
        return Ok(ReplyAction::NoReply);
    }
    let messages = settings::get_or("messages", DEFAULT_MESSAGE.to_string())?;
    let Some(message) = variant(&messages, event) else {
        return Ok(ReplyAction::NoReply);
    };
    if let Some(public) = settings::get("public_reply").and_then(|p| variant(&p, event)) {
        // The private reply goes whatever becomes of the public one.
        if let Err(e) = comments::reply_publicly(&public) {
            log::warn(&format!("no public answer under the comment: {e}"));
        }
    }
    storage::set(&answered, b"1")?;
    storage::set(&private_reply_key(event), b"1")?;
    Ok(ReplyAction::Send(message))
}

/// One of the `|`-separated variants, the same for each lead, filled from the lead.
fn variant(variants: &str, event: &Inbound) -> Option<String> {
    let variants: Vec<&str> = variants
        .split('|')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    let chosen = variants.get(event.lead.id as usize % variants.len().max(1))?;
    Some(template::render(chosen, &event.lead))
}

/// A message from someone this plugin answered privately: the follow-up, once. (Whether
/// the host sent that answer the plugin cannot know; that the lead was sent something, it
/// can.)
fn follow_up(event: &Inbound) -> Result<ReplyAction> {
    let Some(text) = settings::get("follow_up").filter(|t| !t.trim().is_empty()) else {
        return Ok(ReplyAction::NoReply);
    };
    if event.lead.last_outbound_at.is_none() || storage::get(&private_reply_key(event))?.is_none() {
        return Ok(ReplyAction::NoReply);
    }
    let done = format!("lead/{}/followed-up", event.lead.id);
    if storage::get(&done)?.is_some() {
        return Ok(ReplyAction::NoReply);
    }
    storage::set(&done, b"1")?;
    Ok(ReplyAction::Send(template::render(&text, &event.lead)))
}

/// Where the plugin notes that a lead had a private reply.
fn private_reply_key(event: &Inbound) -> String {
    format!("lead/{}/private-reply", event.lead.id)
}
