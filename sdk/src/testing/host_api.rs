//! The fake host's side of every host call, with the real host's rules: permission
//! checks, personal fields hidden, do-not-contact honoured, limits and caps applied.

use super::{FakeHost, State};
use crate::host::HostApi;
use crate::{
    Error, GenerateRequest, Generated, Lead, LeadQuery, LeadStatus, Level, Message, Permission,
    Result,
};

const QUERY_CAP: usize = 500;
const HISTORY_CAP: usize = 50;

impl State {
    fn require(&self, permission: Permission) -> Result<()> {
        if self.granted.contains(&permission) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(permission))
        }
    }

    fn known_lead(&self, id: u64) -> Result<&Lead> {
        self.leads.get(&id).ok_or(Error::NotFound)
    }

    /// The lead as the plugin may see it.
    fn project(&self, lead: &Lead) -> Lead {
        let mut seen = lead.clone();
        if !self.granted.contains(&Permission::LeadsReadPii)
            || lead.status == LeadStatus::DoNotContact
        {
            seen.email = None;
            seen.phone = None;
            seen.notes = None;
            seen.custom_fields.clear();
        }
        seen
    }

    fn write_lead(&mut self, id: u64, change: impl FnOnce(&mut Lead) -> Result<()>) -> Result<()> {
        self.require(Permission::LeadsWrite)?;
        change(self.leads.get_mut(&id).ok_or(Error::NotFound)?)
    }
}

fn matches(lead: &Lead, query: &LeadQuery) -> bool {
    let last_contact = lead.last_inbound_at.max(lead.last_outbound_at);
    query.status.is_none_or(|status| lead.status == status)
        && query.tag.as_ref().is_none_or(|tag| lead.tags.contains(tag))
        && query
            .last_contact_before
            .is_none_or(|before| last_contact.is_none_or(|at| at < before))
}

impl HostApi for FakeHost {
    fn leads_get(&self, id: u64) -> Result<Lead> {
        let s = self.state.borrow();
        Ok(s.project(s.known_lead(id)?))
    }

    fn leads_query(&self, query: &LeadQuery) -> Result<Vec<Lead>> {
        let s = self.state.borrow();
        s.require(Permission::LeadsRead)?;
        let mut found: Vec<&Lead> = s.leads.values().filter(|l| matches(l, query)).collect();
        found.sort_by_key(|l| (l.created_at, l.id));
        let limit = QUERY_CAP.min(query.limit as usize);
        Ok(found
            .into_iter()
            .take(limit)
            .map(|l| s.project(l))
            .collect())
    }

    fn leads_set_status(&self, id: u64, status: LeadStatus) -> Result<()> {
        self.state.borrow_mut().write_lead(id, |lead| {
            if lead.status == LeadStatus::DoNotContact && status != LeadStatus::DoNotContact {
                return Err(Error::Invalid(
                    "do-not-contact cannot be cleared by a plugin".into(),
                ));
            }
            lead.status = status;
            Ok(())
        })
    }

    fn leads_add_tag(&self, id: u64, tag: &str) -> Result<()> {
        self.state.borrow_mut().write_lead(id, |lead| {
            if !(1..=64).contains(&tag.chars().count()) {
                return Err(Error::Invalid(format!(
                    "tag {tag:?} must be 1-64 characters"
                )));
            }
            if !lead.tags.iter().any(|t| t == tag) {
                lead.tags.push(tag.into());
            }
            Ok(())
        })
    }

    fn leads_remove_tag(&self, id: u64, tag: &str) -> Result<()> {
        self.state.borrow_mut().write_lead(id, |lead| {
            lead.tags.retain(|t| t != tag);
            Ok(())
        })
    }

    fn leads_set_score(&self, id: u64, score: u8) -> Result<()> {
        self.state.borrow_mut().write_lead(id, |lead| {
            if score > 100 {
                return Err(Error::Invalid(format!("score {score} is not 0-100")));
            }
            lead.score = Some(score);
            Ok(())
        })
    }

    fn messaging_history(&self, lead: u64, limit: u32) -> Result<Vec<Message>> {
        let s = self.state.borrow();
        s.require(Permission::MessagesRead)?;
        s.known_lead(lead)?;
        let all = s.messages.get(&lead).map(Vec::as_slice).unwrap_or_default();
        let limit = HISTORY_CAP.min(limit as usize);
        Ok(all[all.len().saturating_sub(limit)..].to_vec())
    }

    fn messaging_send(&self, lead: u64, text: &str) -> Result<()> {
        let mut s = self.state.borrow_mut();
        s.require(Permission::MessagesSend)?;
        if s.known_lead(lead)?.status == LeadStatus::DoNotContact {
            return Err(Error::Unavailable("lead is do-not-contact".into()));
        }
        s.sent.push((lead, text.into()));
        Ok(())
    }

    fn ai_generate(&self, request: &GenerateRequest) -> Result<Generated> {
        let ai = {
            let mut s = self.state.borrow_mut();
            s.require(Permission::AiGenerate)?;
            s.ai_requests.push(request.clone());
            s.ai.clone()
        };
        // Called with the state released, so the test's AI may inspect the fake.
        ai(request)
    }

    fn storage_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let s = self.state.borrow();
        s.require(Permission::Storage)?;
        Ok(s.storage.get(key).cloned())
    }

    fn storage_set(&self, key: &str, value: &[u8]) -> Result<()> {
        let mut s = self.state.borrow_mut();
        s.require(Permission::Storage)?;
        s.storage.insert(key.into(), value.into());
        Ok(())
    }

    fn storage_delete(&self, key: &str) -> Result<()> {
        let mut s = self.state.borrow_mut();
        s.require(Permission::Storage)?;
        s.storage.remove(key);
        Ok(())
    }

    fn settings_get(&self, key: &str) -> Option<String> {
        self.state.borrow().settings.get(key).cloned()
    }

    fn settings_all(&self) -> Vec<(String, String)> {
        let s = self.state.borrow();
        s.settings
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn log_write(&self, level: Level, message: &str) {
        self.state.borrow_mut().logs.push((level, message.into()));
    }

    fn clock_now(&self) -> i64 {
        self.state.borrow().now
    }
}
