//! The fake host's side of every host call, under the real host's rules ([`policy`], the
//! same source the host compiles): permissions and the purpose limit, personal fields
//! hidden, do-not-contact honoured, caps applied.

use super::{FakeHost, State};
use crate::host::HostApi;
use crate::policy::{self, Call, HISTORY_CAP, QUERY_CAP, Reach, Refusal, TAGS_PER_LEAD};
use crate::{
    Error, GenerateRequest, Generated, Lead, LeadQuery, LeadStatus, Level, Message, Result,
};

fn refused(refusal: Refusal) -> Error {
    match refusal {
        Refusal::NotGranted(permission) => Error::permission_denied(permission),
        refusal if refusal.is_unavailable() => Error::Unavailable(refusal.message()),
        refusal if refusal.is_over_limit() => Error::LimitExceeded(refusal.message()),
        refusal => Error::Invalid(refusal.message()),
    }
}

impl State {
    /// The permissions `call` on `lead` needs; with no event lead set, every lead counts
    /// as the event's.
    fn permit(&self, call: Call, lead: Option<u64>) -> Result<()> {
        let reach = match (lead, self.event_lead) {
            (Some(_), None) => Reach::EventLead,
            (lead, event_lead) => Reach::of(lead, event_lead),
        };
        policy::check_grants(call, reach, |p| self.granted.contains(&p)).map_err(refused)
    }

    /// The lead, unless their conversation is closed to plugins.
    fn contactable(&self, id: u64) -> Result<&Lead> {
        let lead = self.known_lead(id)?;
        policy::conversation_open(lead.status == LeadStatus::DoNotContact).map_err(refused)?;
        Ok(lead)
    }

    fn known_lead(&self, id: u64) -> Result<&Lead> {
        self.leads.get(&id).ok_or(Error::NotFound)
    }

    /// The lead as the plugin may see it.
    fn project(&self, lead: &Lead) -> Lead {
        let mut seen = lead.clone();
        let pii = self.granted.contains(&crate::Permission::LeadsReadPii);
        if !policy::shows_personal_fields(pii, lead.status == LeadStatus::DoNotContact) {
            seen.email = None;
            seen.phone = None;
            seen.notes = None;
            seen.custom_fields.clear();
        }
        seen
    }

    fn write_lead(&mut self, id: u64, change: impl FnOnce(&mut Lead) -> Result<()>) -> Result<()> {
        self.permit(Call::LeadsWrite, Some(id))?;
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
        s.permit(Call::LeadsGet, Some(id))?;
        Ok(s.project(s.known_lead(id)?))
    }

    fn leads_query(&self, query: &LeadQuery) -> Result<Vec<Lead>> {
        let s = self.state.borrow();
        s.permit(Call::LeadsQuery, None)?;
        let mut found: Vec<&Lead> = s.leads.values().filter(|l| matches(l, query)).collect();
        found.sort_by_key(|l| (l.created_at, l.id));
        let limit = QUERY_CAP.min(query.limit) as usize;
        Ok(found
            .into_iter()
            .take(limit)
            .map(|l| s.project(l))
            .collect())
    }

    fn leads_set_status(&self, id: u64, status: LeadStatus) -> Result<()> {
        self.state.borrow_mut().write_lead(id, |lead| {
            policy::status_change(
                lead.status == LeadStatus::DoNotContact,
                status == LeadStatus::DoNotContact,
            )
            .map_err(refused)?;
            lead.status = status;
            Ok(())
        })
    }

    fn leads_add_tag(&self, id: u64, tag: &str) -> Result<()> {
        self.state.borrow_mut().write_lead(id, |lead| {
            let tag = policy::tag(tag).map_err(refused)?;
            let already = lead.tags.iter().any(|t| t == tag);
            policy::tag_room(lead.tags.len(), already, TAGS_PER_LEAD).map_err(refused)?;
            if !already {
                lead.tags.push(tag.into());
            }
            Ok(())
        })
    }

    fn leads_remove_tag(&self, id: u64, tag: &str) -> Result<()> {
        self.state.borrow_mut().write_lead(id, |lead| {
            lead.tags.retain(|t| t != tag.trim());
            Ok(())
        })
    }

    fn leads_set_score(&self, id: u64, score: u8) -> Result<()> {
        policy::score(score).map_err(refused)?;
        self.state.borrow_mut().write_lead(id, |lead| {
            lead.score = Some(score);
            Ok(())
        })
    }

    fn messaging_history(&self, lead: u64, limit: u32) -> Result<Vec<Message>> {
        let s = self.state.borrow();
        s.permit(Call::MessagingHistory, Some(lead))?;
        s.contactable(lead)?;
        let all = s.messages.get(&lead).map(Vec::as_slice).unwrap_or_default();
        let limit = HISTORY_CAP.min(limit) as usize;
        Ok(all[all.len().saturating_sub(limit)..].to_vec())
    }

    fn messaging_send(&self, lead: u64, text: &str) -> Result<()> {
        let mut s = self.state.borrow_mut();
        s.permit(Call::MessagingSend, Some(lead))?;
        s.contactable(lead)?;
        policy::message_text(text).map_err(refused)?;
        policy::send_room(s.sends_this_call).map_err(refused)?;
        s.sends_this_call += 1;
        s.sent.push((lead, text.into()));
        Ok(())
    }

    fn comments_reply_publicly(&self, text: &str) -> Result<()> {
        let mut s = self.state.borrow_mut();
        s.permit(Call::CommentsReplyPublicly, None)?;
        let event_lead = s.event_lead.filter(|_| s.comment_event).ok_or_else(|| {
            refused(Refusal::Invalid(
                "the event is not a comment on a post or reel: only those can be answered \
                 publicly (Instagram takes none under a live video)"
                    .into(),
            ))
        })?;
        s.contactable(event_lead)?;
        policy::message_text(text).map_err(refused)?;
        if s.replied_publicly_this_call {
            return Err(refused(Refusal::Invalid(
                "the comment is answered publicly once".into(),
            )));
        }
        s.replied_publicly_this_call = true;
        s.public_replies.push(text.into());
        Ok(())
    }

    fn ai_generate(&self, request: &GenerateRequest) -> Result<Generated> {
        let ai = {
            let mut s = self.state.borrow_mut();
            // As the host: the event's lead's conversation first, then the permission.
            if let Some(id) = s.event_lead {
                s.contactable(id)?;
            }
            s.permit(Call::AiGenerate, None)?;
            s.ai_requests.push(request.clone());
            s.ai.clone()
        };
        // Called with the state released, so the test's AI may inspect the fake.
        ai(request)
    }

    fn storage_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let s = self.state.borrow();
        s.permit(Call::Storage, None)?;
        policy::storage_key(key).map_err(refused)?;
        Ok(s.storage.get(key).cloned())
    }

    fn storage_set(&self, key: &str, value: &[u8]) -> Result<()> {
        let mut s = self.state.borrow_mut();
        s.permit(Call::Storage, None)?;
        // What the plugin's other keys take: a value replaced does not count against itself.
        let used = s
            .storage
            .iter()
            .filter(|(k, _)| k.as_str() != key)
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum();
        policy::storage_set(key, value, used).map_err(refused)?;
        s.storage.insert(key.into(), value.into());
        Ok(())
    }

    fn storage_delete(&self, key: &str) -> Result<()> {
        let mut s = self.state.borrow_mut();
        s.permit(Call::Storage, None)?;
        policy::storage_key(key).map_err(refused)?;
        s.storage.remove(key);
        Ok(())
    }

    fn settings_get(&self, key: &str) -> Option<String> {
        if !policy::setting_visible(key) {
            return None;
        }
        self.state.borrow().settings.get(key).cloned()
    }

    fn settings_all(&self) -> Vec<(String, String)> {
        let s = self.state.borrow();
        s.settings
            .iter()
            .filter(|(k, _)| policy::setting_visible(k))
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
