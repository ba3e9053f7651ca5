//! Leads: read the lead an event is about, read and query others (`leads:read`), and
//! change status, tags and score (`leads:write`).

use crate::host::with_host;
use crate::{Lead, LeadQuery, LeadStatus, Result};

/// One lead by id. The lead the current event is about is always readable; any other
/// needs `leads:read`.
pub fn get(id: u64) -> Result<Lead> {
    with_host(|h| h.leads_get(id))
}

/// Leads matching `query`, oldest first (at most 500). Needs `leads:read`.
pub fn query(query: &LeadQuery) -> Result<Vec<Lead>> {
    with_host(|h| h.leads_query(query))
}

/// Changes a lead's status. Needs `leads:write`; do-not-contact can never be cleared.
pub fn set_status(id: u64, status: LeadStatus) -> Result<()> {
    with_host(|h| h.leads_set_status(id, status))
}

/// Adds a tag of 1–64 characters. Needs `leads:write`.
pub fn add_tag(id: u64, tag: &str) -> Result<()> {
    with_host(|h| h.leads_add_tag(id, tag))
}

/// Removes a tag. Needs `leads:write`.
pub fn remove_tag(id: u64, tag: &str) -> Result<()> {
    with_host(|h| h.leads_remove_tag(id, tag))
}

/// Sets the score, 0–100. Needs `leads:write`.
pub fn set_score(id: u64, score: u8) -> Result<()> {
    with_host(|h| h.leads_set_score(id, score))
}
