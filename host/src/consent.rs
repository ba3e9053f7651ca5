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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leads::LeadStatus;

    fn lead(status: LeadStatus) -> Lead {
        Lead {
            id: 1,
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
