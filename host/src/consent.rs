//! Consent: the permissions a plugin can hold, what a plugin may see of a lead, and the
//! audit record of every decision. The checks themselves run in the host calls
//! ([`crate::runtime::host`]), each one asking [`crate::store::plugins::is_granted`] afresh so
//! that a revocation holds from the next call.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::leads::Lead;

/// A permission a plugin requests in its manifest and the user grants (the WIT `permission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    LeadsRead,
    LeadsReadPii,
    LeadsWrite,
    MessagesRead,
    MessagesSend,
    AiGenerate,
    Storage,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Self::LeadsRead,
        Self::LeadsReadPii,
        Self::LeadsWrite,
        Self::MessagesRead,
        Self::MessagesSend,
        Self::AiGenerate,
        Self::Storage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeadsRead => "leads:read",
            Self::LeadsReadPii => "leads:read-pii",
            Self::LeadsWrite => "leads:write",
            Self::MessagesRead => "messages:read",
            Self::MessagesSend => "messages:send",
            Self::AiGenerate => "ai:generate",
            Self::Storage => "storage",
        }
    }

    /// What granting it allows, in words shown at install time.
    pub fn describe(self) -> &'static str {
        match self {
            Self::LeadsRead => "read and query leads other than the one an event is about",
            Self::LeadsReadPii => "see personal fields: email, phone, notes, custom fields",
            Self::LeadsWrite => "change a lead's status, tags and score",
            Self::MessagesRead => "read conversation history",
            Self::MessagesSend => "queue messages to leads (through the outbox and safety rules)",
            Self::AiGenerate => "send conversation text to the configured AI provider",
            Self::Storage => "keep data in a private key-value store",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|p| p.as_str()).collect();
                format!(
                    "unknown permission {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// What a plugin is shown of a lead: personal fields only with `leads:read-pii`, and never
/// for a do-not-contact lead.
pub fn project_lead(lead: &Lead, pii_granted: bool) -> Lead {
    let mut seen = lead.clone();
    if !pii_granted || lead.is_do_not_contact() {
        seen.email = None;
        seen.phone = None;
        seen.notes = None;
        seen.custom.clear();
    }
    seen.dnc_reason = None;
    seen
}

/// What replaces personal data in text that leaves the machine.
pub const REDACTED: &str = "[redacted]";

/// Text bound for a recipient outside the host (the AI provider), with the lead's personal
/// data taken out: their stored email, phone, notes and custom field values, and anything
/// shaped like an email address or a phone number (leads write those into messages too).
pub fn redact_personal(text: &str, lead: &Lead) -> String {
    let stored = [&lead.email, &lead.phone, &lead.notes]
        .into_iter()
        .flatten()
        .chain(lead.custom.values());
    let mut text = text.to_owned();
    for value in stored.map(|v| v.trim()).filter(|v| v.len() >= 4) {
        text = replace_ignoring_ascii_case(&text, value, REDACTED);
    }
    redact_phone_numbers(&redact_email_addresses(&text))
}

fn replace_ignoring_ascii_case(text: &str, needle: &str, with: &str) -> String {
    // ASCII lower-casing keeps byte offsets, so positions found in the copy hold in the original.
    let (haystack, needle_lower) = (text.to_ascii_lowercase(), needle.to_ascii_lowercase());
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    while let Some(found) = haystack[rest..].find(&needle_lower) {
        out.push_str(&text[rest..rest + found]);
        out.push_str(with);
        rest += found + needle.len();
    }
    out.push_str(&text[rest..]);
    out
}

fn redact_email_addresses(text: &str) -> String {
    let words: Vec<String> = text
        .split(' ')
        .map(|word| {
            let bare = word.trim_matches(|c: char| !c.is_alphanumeric());
            let looks_like_email = bare.split_once('@').is_some_and(|(user, domain)| {
                !user.is_empty() && domain.contains('.') && !domain.starts_with('.')
            });
            if looks_like_email {
                word.replace(bare, REDACTED)
            } else {
                word.to_owned()
            }
        })
        .collect();
    words.join(" ")
}

/// Runs of digits with the usual separators (`+`, spaces, `-`, `.`, `(`, `)`) holding at
/// least seven digits.
fn redact_phone_numbers(text: &str) -> String {
    let is_part = |c: char| c.is_ascii_digit() || " +-.()".contains(c);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit()
            || ("+(".contains(chars[i]) && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if !starts {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut end = i;
        while end < chars.len() && is_part(chars[end]) {
            end += 1;
        }
        // Separators at the end belong to the sentence, not the number.
        while end > i && !chars[end - 1].is_ascii_digit() {
            end -= 1;
        }
        let digits = chars[i..end].iter().filter(|c| c.is_ascii_digit()).count();
        if digits >= 7 {
            out.push_str(REDACTED);
        } else {
            out.extend(&chars[i..end]);
        }
        i = end.max(i + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leads::LeadStatus;

    fn lead(status: LeadStatus) -> Lead {
        Lead {
            id: 1,
            account_id: 1,
            channel_user_id: None,
            handle: "anna".into(),
            name: Some("Anna".into()),
            email: Some("a@example.com".into()),
            phone: Some("+4912345678".into()),
            notes: Some("met at fair".into()),
            status,
            score: None,
            tags: vec!["vip".into()],
            custom: [("bio".to_string(), "coach".to_string())].into(),
            dnc_reason: Some("said STOP".into()),
            created_at: 0,
            last_inbound_at: None,
            last_outbound_at: None,
        }
    }

    #[test]
    fn personal_fields_need_the_grant_and_a_contactable_lead() {
        let hidden = project_lead(&lead(LeadStatus::New), false);
        assert_eq!(
            (hidden.email, hidden.phone, hidden.notes),
            (None, None, None)
        );
        assert!(hidden.custom.is_empty());
        assert_eq!(hidden.name.as_deref(), Some("Anna"));
        let shown = project_lead(&lead(LeadStatus::New), true);
        assert_eq!(shown.email.as_deref(), Some("a@example.com"));
        assert_eq!(shown.custom.len(), 1);
        let dnc = project_lead(&lead(LeadStatus::DoNotContact), true);
        assert_eq!(dnc.email, None);
        assert_eq!(dnc.dnc_reason, None);
    }

    #[test]
    fn personal_data_is_redacted_from_outgoing_text() {
        let l = lead(LeadStatus::New);
        let text = "Hi, I'm at A@Example.com or +49 151 2345678. Re: met at fair, coach life. Order 12 arrives 3.5 days";
        assert_eq!(
            redact_personal(text, &l),
            "Hi, I'm at [redacted] or [redacted]. Re: [redacted], [redacted] life. Order 12 arrives 3.5 days"
        );
        assert_eq!(
            redact_personal("mail me: bob@shop.io!", &l),
            "mail me: [redacted]!"
        );
        assert_eq!(
            redact_personal("call (030) 123-4567 today", &l),
            "call [redacted] today"
        );
    }

    #[test]
    fn permission_names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(p));
        }
        assert!(
            "leads:delete"
                .parse::<Permission>()
                .unwrap_err()
                .contains("leads:read-pii")
        );
    }
}
