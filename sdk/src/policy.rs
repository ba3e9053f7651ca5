//! The rules every host call follows, whoever answers it. The outreach host compiles this
//! same file (`crates/runtime/src/consent.rs` includes it), and so does this SDK's fake host, so the
//! two cannot drift: what a plugin's unit tests see denied is what the real host denies.
//!
//! Pure decisions only, on plain facts (is this the event's lead, is the lead
//! do-not-contact, is a permission granted, how much storage is used): each side loads the
//! facts its own way, turns a [`Refusal`] into its error type, and does its own bookkeeping
//! (the host's audit log). Every limit a plugin can run into in a host call is here too
//! (text, tags, sends, storage, hidden settings), so the fake host refuses what the host does.
//! `Permission` is the including module's: `sdk/src/permission.rs`, which the host compiles
//! too, so both sides name the same permissions.

use super::Permission;

/// Leads one `leads.query` returns at most.
pub const QUERY_CAP: u32 = 500;
/// Messages one `messaging.history` returns at most.
pub const HISTORY_CAP: u32 = 50;
/// Messages one hook call may queue.
pub const SENDS_PER_CALL: usize = 5;
/// Meta's limit for an Instagram text message, in bytes; the sandbox keeps to it so nothing
/// that works there fails on the real channel.
pub const TEXT_MAX_BYTES: usize = 1000;
/// The longest tag, in characters.
pub const TAG_MAX_CHARS: usize = 64;
/// Tags a lead carries at most, unless the host's `limits.tags_per_lead` says otherwise.
pub const TAGS_PER_LEAD: u32 = 50;
/// The longest storage key, in bytes.
pub const STORAGE_KEY_MAX_BYTES: usize = 256;
/// The largest stored value, in bytes.
pub const STORAGE_VALUE_MAX_BYTES: usize = 64 * 1024;
/// What one plugin may keep in storage, keys and values together, in bytes.
pub const STORAGE_QUOTA_BYTES: u64 = 1024 * 1024;
/// Quick replies under one message at most (Instagram's limit).
pub const QUICK_REPLIES_MAX: usize = 13;
/// The longest quick reply title, in characters (Instagram's limit).
pub const QUICK_REPLY_TITLE_MAX_CHARS: usize = 20;
/// The longest quick reply payload, in bytes (Instagram's limit).
pub const QUICK_REPLY_PAYLOAD_MAX_BYTES: usize = 1000;
/// Settings under this prefix set the host's bounds on the plugin; the plugin is not shown
/// them.
pub const LIMIT_SETTINGS: &str = "limits.";

/// What a host call does, as far as permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    LeadsGet,
    LeadsQuery,
    LeadsWrite,
    MessagingHistory,
    MessagingSend,
    AiGenerate,
    Storage,
    /// Answering the event's comment publicly (it names no lead: always the event's).
    CommentsReplyPublicly,
}

impl Call {
    pub const ALL: [Call; 8] = [
        Call::LeadsGet,
        Call::LeadsQuery,
        Call::LeadsWrite,
        Call::MessagingHistory,
        Call::MessagingSend,
        Call::AiGenerate,
        Call::Storage,
        Call::CommentsReplyPublicly,
    ];
}

/// Which lead a call is about, next to the lead the hook's event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// No one lead (a query, the AI, storage).
    NoLead,
    /// The event's own lead: in reach of its hook without `leads:read`.
    EventLead,
    /// Any other lead: the purpose limit asks for `leads:read`.
    OtherLead,
}

impl Reach {
    pub fn of(lead: Option<u64>, event_lead: Option<u64>) -> Self {
        match lead {
            None => Self::NoLead,
            Some(id) if Some(id) == event_lead => Self::EventLead,
            Some(_) => Self::OtherLead,
        }
    }
}

/// Why the rules refuse a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A permission the plugin was not granted (the first one missing, in check order).
    NotGranted(Permission),
    /// The lead opted out: their conversation is off limits to every plugin.
    DoNotContact,
    /// The channel would not carry an automated message now (Instagram's 24-hour window).
    WindowClosed,
    /// A plugin tried to take a lead off do-not-contact.
    CannotLiftDoNotContact,
    /// A score outside 0-100.
    ScoreOutOfRange(u8),
    /// A text, tag or key the host does not take, and why.
    Invalid(String),
    /// Past a limit of one call or of the plugin's storage, named.
    OverLimit(String),
}

impl Refusal {
    /// The text the plugin is told (in `unavailable` or `invalid`; a missing permission is
    /// `permission-denied` naming it).
    pub fn message(&self) -> String {
        match self {
            Self::NotGranted(_) => "not granted".into(),
            Self::DoNotContact => "lead is do-not-contact".into(),
            Self::WindowClosed => "messaging window closed".into(),
            Self::CannotLiftDoNotContact => "a plugin cannot lift do-not-contact".into(),
            Self::ScoreOutOfRange(score) => format!("score is {score}; it must be 0-100"),
            Self::Invalid(why) | Self::OverLimit(why) => why.clone(),
        }
    }

    /// Whether the plugin is told `limit-exceeded`.
    pub fn is_over_limit(&self) -> bool {
        matches!(self, Self::OverLimit(_))
    }

    /// Whether the plugin is told `unavailable` (a state of the lead or channel) rather
    /// than `invalid` (its own request was wrong).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::DoNotContact | Self::WindowClosed)
    }
}

/// The permission the purpose limit asks for before a call on `reach`, if any.
pub fn purpose_permission(call: Call, reach: Reach) -> Option<Permission> {
    match (call, reach) {
        (Call::LeadsQuery | Call::AiGenerate | Call::Storage | Call::CommentsReplyPublicly, _) => {
            None
        }
        (_, Reach::OtherLead) => Some(Permission::LeadsRead),
        _ => None,
    }
}

/// The call's own permission, checked after the purpose limit.
pub fn call_permission(call: Call) -> Option<Permission> {
    match call {
        // Reading the event's own lead is the hook's purpose; another lead is covered by
        // the purpose limit's `leads:read`.
        Call::LeadsGet => None,
        Call::LeadsQuery => Some(Permission::LeadsRead),
        Call::LeadsWrite => Some(Permission::LeadsWrite),
        Call::MessagingHistory => Some(Permission::MessagesRead),
        Call::MessagingSend => Some(Permission::MessagesSend),
        Call::AiGenerate => Some(Permission::AiGenerate),
        Call::Storage => Some(Permission::Storage),
        Call::CommentsReplyPublicly => Some(Permission::CommentsReply),
    }
}

/// Every permission `call` on `reach` needs, in the order they are checked.
pub fn needed(call: Call, reach: Reach) -> impl Iterator<Item = Permission> {
    purpose_permission(call, reach)
        .into_iter()
        .chain(call_permission(call))
}

/// The first permission `call` on `reach` needs and `granted` says is missing.
pub fn check_grants(
    call: Call,
    reach: Reach,
    granted: impl Fn(Permission) -> bool,
) -> Result<(), Refusal> {
    match needed(call, reach).find(|p| !granted(*p)) {
        Some(missing) => Err(Refusal::NotGranted(missing)),
        None => Ok(()),
    }
}

/// Whether a plugin is shown a lead's personal fields (email, phone, notes, custom
/// fields): only with `leads:read-pii`, and never a do-not-contact lead's.
pub fn shows_personal_fields(pii_granted: bool, do_not_contact: bool) -> bool {
    pii_granted && !do_not_contact
}

/// The kinds of inbound message that are comments on the account's posts and live videos
/// (public, and not a conversation yet): a plugin's reply hook is called for them only with
/// `comments:read`.
pub const COMMENT_KINDS: [&str; 2] = ["comment", "live-comment"];

/// Whether a plugin's reply hook is called for an inbound message of `kind` (its contract
/// name): every kind, except comments without `comments:read`.
pub fn hook_sees(kind: &str, comments_granted: bool) -> bool {
    comments_granted || !COMMENT_KINDS.contains(&kind)
}

/// A do-not-contact lead's conversation can be neither read nor written to.
pub fn conversation_open(do_not_contact: bool) -> Result<(), Refusal> {
    if do_not_contact {
        Err(Refusal::DoNotContact)
    } else {
        Ok(())
    }
}

/// An automated message goes out only while the channel's window is open.
pub fn window(open: bool) -> Result<(), Refusal> {
    if open {
        Ok(())
    } else {
        Err(Refusal::WindowClosed)
    }
}

/// A plugin may set any status but may not take a lead off do-not-contact.
pub fn status_change(is_do_not_contact: bool, to_do_not_contact: bool) -> Result<(), Refusal> {
    if is_do_not_contact && !to_do_not_contact {
        Err(Refusal::CannotLiftDoNotContact)
    } else {
        Ok(())
    }
}

pub fn score(score: u8) -> Result<(), Refusal> {
    if score > 100 {
        Err(Refusal::ScoreOutOfRange(score))
    } else {
        Ok(())
    }
}

/// A character a terminal would act on: control characters and the bidirectional
/// overrides and isolates that make text read differently from what it is.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The first character of `text` a terminal would act on, allowing line breaks and tabs
/// when `multiline`, as an error naming it and its position.
pub fn reject_unsafe(text: &str, multiline: bool) -> Result<(), String> {
    let allowed = |c: char| multiline && matches!(c, '\n' | '\t' | '\r');
    match text
        .chars()
        .enumerate()
        .find(|&(_, c)| is_unsafe_char(c) && !allowed(c))
    {
        Some((at, c)) => Err(format!(
            "contains the control character U+{:04X} at character {}",
            c as u32,
            at + 1
        )),
        None => Ok(()),
    }
}

/// A message's text: not empty, no character that would act on a terminal (line breaks
/// are fine in a DM), within the channel's length.
pub fn message_text(text: &str) -> Result<(), Refusal> {
    if text.trim().is_empty() {
        return Err(Refusal::Invalid("message text is empty".into()));
    }
    reject_unsafe(text, true).map_err(|why| Refusal::Invalid(format!("message text {why}")))?;
    if text.len() > TEXT_MAX_BYTES {
        return Err(Refusal::Invalid(format!(
            "message text is {} bytes; the limit is {TEXT_MAX_BYTES}",
            text.len()
        )));
    }
    Ok(())
}

/// The quick replies under a message, as `(title, payload)`: at most [`QUICK_REPLIES_MAX`],
/// each title 1-[`QUICK_REPLY_TITLE_MAX_CHARS`] characters and each payload
/// 1-[`QUICK_REPLY_PAYLOAD_MAX_BYTES`] bytes, on one line and with nothing that would act on
/// a terminal (the console and the CLI show them).
pub fn quick_replies<'a>(
    replies: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) -> Result<(), Refusal> {
    if replies.len() > QUICK_REPLIES_MAX {
        return Err(Refusal::Invalid(format!(
            "{} quick replies; the limit is {QUICK_REPLIES_MAX}",
            replies.len()
        )));
    }
    for (n, (title, payload)) in replies.enumerate() {
        let n = n + 1;
        if title.trim().is_empty() {
            return Err(Refusal::Invalid(format!(
                "quick reply {n}'s title is empty"
            )));
        }
        // Counted whole: Meta counts the spaces too.
        let chars = title.chars().count();
        if chars > QUICK_REPLY_TITLE_MAX_CHARS {
            return Err(Refusal::Invalid(format!(
                "quick reply {n}'s title has {chars} characters; it must have \
                 1-{QUICK_REPLY_TITLE_MAX_CHARS}"
            )));
        }
        if payload.is_empty() || payload.len() > QUICK_REPLY_PAYLOAD_MAX_BYTES {
            return Err(Refusal::Invalid(format!(
                "quick reply {n}'s payload is {} bytes; it must be \
                 1-{QUICK_REPLY_PAYLOAD_MAX_BYTES}",
                payload.len()
            )));
        }
        for (field, value) in [("title", title), ("payload", payload)] {
            reject_unsafe(value, false)
                .map_err(|why| Refusal::Invalid(format!("quick reply {n}'s {field} {why}")))?;
        }
    }
    Ok(())
}

/// Room for one more message in a call that queued `queued` already.
pub fn send_room(queued: usize) -> Result<(), Refusal> {
    if queued >= SENDS_PER_CALL {
        Err(Refusal::OverLimit(format!(
            "{SENDS_PER_CALL} messages per hook call"
        )))
    } else {
        Ok(())
    }
}

/// A tag as it is stored: trimmed, 1-[`TAG_MAX_CHARS`] characters, nothing that would act on
/// the terminal of whoever lists the lead's tags.
pub fn tag(tag: &str) -> Result<&str, Refusal> {
    let tag = tag.trim();
    let chars = tag.chars().count();
    if chars == 0 || chars > TAG_MAX_CHARS {
        return Err(Refusal::Invalid(format!(
            "a tag has 1-{TAG_MAX_CHARS} characters; got {chars}"
        )));
    }
    reject_unsafe(tag, false).map_err(|why| Refusal::Invalid(format!("the tag {why}")))?;
    Ok(tag)
}

/// Room for a tag on a lead that carries `carried` tags, `already` among them or not.
pub fn tag_room(carried: usize, already: bool, most: u32) -> Result<(), Refusal> {
    if carried >= most as usize && !already {
        Err(Refusal::OverLimit(format!(
            "a lead carries at most {most} tags"
        )))
    } else {
        Ok(())
    }
}

/// A storage key: 1-[`STORAGE_KEY_MAX_BYTES`] bytes.
pub fn storage_key(key: &str) -> Result<(), Refusal> {
    if key.is_empty() || key.len() > STORAGE_KEY_MAX_BYTES {
        Err(Refusal::Invalid(format!(
            "a key has 1-{STORAGE_KEY_MAX_BYTES} bytes; got {}",
            key.len()
        )))
    } else {
        Ok(())
    }
}

/// Storing `value` under `key` when the plugin's other keys and values take `used` bytes.
pub fn storage_set(key: &str, value: &[u8], used: u64) -> Result<(), Refusal> {
    storage_key(key)?;
    if value.len() > STORAGE_VALUE_MAX_BYTES {
        return Err(Refusal::OverLimit(format!(
            "a value has at most {STORAGE_VALUE_MAX_BYTES} bytes"
        )));
    }
    if used + (key.len() + value.len()) as u64 > STORAGE_QUOTA_BYTES {
        return Err(Refusal::OverLimit(format!(
            "storage quota of {STORAGE_QUOTA_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Whether a plugin is shown its setting `key` (the host's bounds on it are not).
pub fn setting_visible(key: &str) -> bool {
    !key.starts_with(LIMIT_SETTINGS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_replies_keep_to_instagrams_limits() {
        let ok = |replies: &[(&str, &str)]| quick_replies(replies.iter().copied());
        assert_eq!(ok(&[]), Ok(()));
        assert_eq!(ok(&[("Yes, please", "yes"), ("No", "no")]), Ok(()));
        let thirteen = [("a", "b"); 13];
        assert_eq!(ok(&thirteen), Ok(()));
        let refused = |replies: &[(&str, &str)]| ok(replies).unwrap_err().message();
        assert_eq!(
            refused(&[("a", "b"); 14]),
            "14 quick replies; the limit is 13"
        );
        assert_eq!(
            refused(&[("ok", "ok"), ("twenty-one characters", "p")]),
            "quick reply 2's title has 21 characters; it must have 1-20"
        );
        assert_eq!(refused(&[("  ", "p")]), "quick reply 1's title is empty");
        let padded = format!("Yes{}", " ".repeat(30));
        assert_eq!(
            refused(&[(&padded, "p")]),
            "quick reply 1's title has 33 characters; it must have 1-20"
        );
        let long = "p".repeat(1001);
        assert_eq!(
            refused(&[("ok", &long)]),
            "quick reply 1's payload is 1001 bytes; it must be 1-1000"
        );
        assert!(refused(&[("ok", "")]).contains("payload is 0 bytes"));
        assert!(
            refused(&[("\u{1b}[2Jok", "p")]).starts_with("quick reply 1's title contains"),
            "escape sequences are refused"
        );
        assert!(refused(&[("ok", "a\nb")]).starts_with("quick reply 1's payload contains"));
    }

    #[test]
    fn the_event_lead_needs_only_the_calls_own_permission() {
        for call in Call::ALL {
            assert_eq!(purpose_permission(call, Reach::EventLead), None, "{call:?}");
        }
        assert_eq!(
            check_grants(Call::LeadsGet, Reach::EventLead, |_| false),
            Ok(())
        );
    }

    #[test]
    fn another_lead_needs_leads_read_first() {
        assert_eq!(
            check_grants(Call::MessagingSend, Reach::OtherLead, |_| false),
            Err(Refusal::NotGranted(Permission::LeadsRead))
        );
        assert_eq!(
            check_grants(Call::MessagingSend, Reach::OtherLead, |p| p
                == Permission::LeadsRead),
            Err(Refusal::NotGranted(Permission::MessagesSend))
        );
        assert_eq!(
            check_grants(Call::LeadsGet, Reach::OtherLead, |p| p
                == Permission::LeadsRead),
            Ok(())
        );
    }

    #[test]
    fn personal_fields_need_the_grant_and_consent() {
        assert!(shows_personal_fields(true, false));
        assert!(!shows_personal_fields(false, false));
        assert!(!shows_personal_fields(true, true));
    }

    #[test]
    fn do_not_contact_cannot_be_lifted_or_messaged() {
        assert_eq!(
            status_change(true, false),
            Err(Refusal::CannotLiftDoNotContact)
        );
        assert_eq!(status_change(false, true), Ok(()));
        assert_eq!(status_change(true, true), Ok(()));
        assert_eq!(conversation_open(true), Err(Refusal::DoNotContact));
        assert_eq!(window(false), Err(Refusal::WindowClosed));
        assert_eq!(score(101), Err(Refusal::ScoreOutOfRange(101)));
        assert_eq!(score(100), Ok(()));
    }

    #[test]
    fn every_limit_refuses_one_past_it_and_takes_it_exactly() {
        assert!(message_text(&"a".repeat(TEXT_MAX_BYTES)).is_ok());
        assert!(message_text(&"a".repeat(TEXT_MAX_BYTES + 1)).is_err());
        assert!(message_text("two\nlines").is_ok());
        assert!(message_text(" ").is_err());
        assert!(message_text("rtl\u{202E} gnp.exe").is_err());
        assert_eq!(send_room(SENDS_PER_CALL - 1), Ok(()));
        assert!(send_room(SENDS_PER_CALL).unwrap_err().is_over_limit());
        assert_eq!(tag(" vip "), Ok("vip"));
        assert!(tag(&"t".repeat(TAG_MAX_CHARS)).is_ok());
        assert!(tag(&"t".repeat(TAG_MAX_CHARS + 1)).is_err());
        assert!(tag("a\u{1b}[2J").is_err());
        assert!(tag_room(TAGS_PER_LEAD as usize, true, TAGS_PER_LEAD).is_ok());
        assert!(tag_room(TAGS_PER_LEAD as usize, false, TAGS_PER_LEAD).is_err());
        assert!(storage_key(&"k".repeat(STORAGE_KEY_MAX_BYTES)).is_ok());
        assert!(storage_key("").is_err());
        let value = vec![0; STORAGE_VALUE_MAX_BYTES];
        assert!(storage_set("k", &value, 0).is_ok());
        assert!(storage_set("k", &[0; STORAGE_VALUE_MAX_BYTES + 1], 0).is_err());
        assert!(storage_set("k", &value, STORAGE_QUOTA_BYTES - value.len() as u64 - 1).is_ok());
        assert!(storage_set("k", &value, STORAGE_QUOTA_BYTES - value.len() as u64).is_err());
        assert!(setting_visible("greeting") && !setting_visible("limits.fuel"));
    }
}
