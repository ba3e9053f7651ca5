//! A lead as the host knows it: status, tags, personal fields and contact times.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::clock::Millis;

pub use crate::policy::TAG_MAX_CHARS;

/// A tag as the host stores it: trimmed, 1-64 characters, and nothing in it that would act
/// on the terminal of whoever lists the lead's tags (the shared policy's rule).
pub fn valid_tag(tag: &str) -> Result<&str, String> {
    crate::policy::tag(tag).map_err(|refusal| refusal.message())
}

/// Where a lead is in the outreach flow (the WIT `lead-status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeadStatus {
    New,
    Contacted,
    Replied,
    NeedsHuman,
    Converted,
    DoNotContact,
}

impl LeadStatus {
    pub const ALL: [LeadStatus; 6] = [
        Self::New,
        Self::Contacted,
        Self::Replied,
        Self::NeedsHuman,
        Self::Converted,
        Self::DoNotContact,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Contacted => "contacted",
            Self::Replied => "replied",
            Self::NeedsHuman => "needs-human",
            Self::Converted => "converted",
            Self::DoNotContact => "do-not-contact",
        }
    }
}

impl fmt::Display for LeadStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LeadStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "unknown lead status {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// A stored lead with every field. What a plugin sees is a projection of this
/// (see `consent::project_lead` in the runtime crate).
#[derive(Debug, Clone, Serialize)]
pub struct Lead {
    pub id: i64,
    pub account_id: i64,
    /// The lead's id on the channel (the Instagram-scoped user id), once known.
    pub channel_user_id: Option<String>,
    pub handle: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub notes: Option<String>,
    pub status: LeadStatus,
    pub score: Option<u8>,
    pub tags: Vec<String>,
    pub custom: BTreeMap<String, String>,
    pub dnc_reason: Option<String>,
    pub created_at: Millis,
    pub last_inbound_at: Option<Millis>,
    pub last_outbound_at: Option<Millis>,
}

impl crate::template::Variables for Lead {
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    fn handle(&self) -> &str {
        &self.handle
    }
    fn field(&self, key: &str) -> Option<&str> {
        self.custom
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

impl Lead {
    pub fn is_do_not_contact(&self) -> bool {
        self.status == LeadStatus::DoNotContact
    }
}

/// One valid lead row, after normalisation and merging of later rows that
/// named the same handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadRecord {
    /// 1-based physical line where the record starts (the header is line 1).
    pub line: u64,
    pub handle: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Sorted and deduplicated.
    pub tags: Vec<String>,
    pub notes: Option<String>,
    /// Keyed by the header as written (trimmed); values are never empty.
    pub custom: BTreeMap<String, String>,
}

impl LeadRecord {
    /// A lead from `line` known by its handle alone (already normal); the other fields are
    /// filled in as they are read.
    pub fn new(line: u64, handle: &str) -> Self {
        Self {
            line,
            handle: handle.to_owned(),
            name: None,
            email: None,
            phone: None,
            tags: Vec::new(),
            notes: None,
            custom: BTreeMap::new(),
        }
    }
}
