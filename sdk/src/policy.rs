//! The rules every host call follows, whoever answers it. The outreach host compiles this
//! same file (`crates/runtime/src/consent.rs` includes it), and so does this SDK's fake host, so the
//! two cannot drift: what a plugin's unit tests see denied is what the real host denies.
//!
//! Pure decisions only, on plain facts (is this the event's lead, is the lead
//! do-not-contact, is a permission granted): each side loads the facts its own way, turns a
//! [`Refusal`] into its error type, and does its own bookkeeping (the host's audit log).
//! `Permission` is the including module's: the WIT permission, with the same variants on
//! both sides.

use super::Permission;

/// Leads one `leads.query` returns at most.
pub const QUERY_CAP: u32 = 500;
/// Messages one `messaging.history` returns at most.
pub const HISTORY_CAP: u32 = 50;
/// Messages one hook call may queue.
pub const SENDS_PER_CALL: usize = 5;

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
        }
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
        (Call::LeadsQuery | Call::AiGenerate | Call::Storage, _) => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    const CALLS: [Call; 7] = [
        Call::LeadsGet,
        Call::LeadsQuery,
        Call::LeadsWrite,
        Call::MessagingHistory,
        Call::MessagingSend,
        Call::AiGenerate,
        Call::Storage,
    ];

    #[test]
    fn the_event_lead_needs_only_the_calls_own_permission() {
        for call in CALLS {
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
}
