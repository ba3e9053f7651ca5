//! `outreach:plugin/leads`: reading leads (projected by the grants) and changing them.

use super::{HostState, refused, storage_failure, to_id};
use crate::bindings::outreach::plugin::leads::{Host, LeadQuery};
use crate::bindings::wit;
use crate::consent::Permission;
use crate::consent::policy::{self, Call, QUERY_CAP};
use crate::domain::lead::LeadStatus;
use crate::store;

impl HostState {
    /// Checks `leads:write` on a lead in reach and returns it; the caller audits the write
    /// as allowed ([`HostState::wrote`]) once its own checks pass too.
    fn writable_lead(
        &self,
        action: &str,
        id: u64,
    ) -> Result<crate::domain::lead::Lead, wit::Error> {
        let id = to_id(id)?;
        self.reach(action, Call::LeadsWrite, id)?;
        self.require(action, Self::own_permission(Call::LeadsWrite), Some(id))?;
        self.load_lead(id)
    }

    fn wrote(&self, action: &str, lead: i64) {
        self.audit(action, Some(Permission::LeadsWrite), Some(lead), true, None);
    }
}

impl Host for HostState {
    async fn get(&mut self, id: u64) -> Result<wit::Lead, wit::Error> {
        self.enter()?;
        let id = to_id(id)?;
        if self.call.event_lead == Some(id) {
            self.audit("leads.get", None, Some(id), true, Some("the event's lead"));
        } else {
            self.reach("leads.get", Call::LeadsGet, id)?;
        }
        let lead = self.load_lead(id)?;
        self.call.saw_lead(id);
        Ok(self.visible_lead(&lead))
    }

    async fn query(&mut self, query: LeadQuery) -> Result<Vec<wit::Lead>, wit::Error> {
        self.enter()?;
        self.check("leads.query", Self::own_permission(Call::LeadsQuery), None)?;
        let filter = store::leads::LeadFilter {
            status: query.status.map(LeadStatus::from),
            tag: query.tag,
            last_contact_before: query.last_contact_before,
            limit: Some(query.limit.min(QUERY_CAP)),
        };
        let leads = self
            .services
            .db
            .read(|c| store::leads::list(c, &filter))
            .map_err(storage_failure)?;
        self.audit(
            "leads.query",
            Some(Permission::LeadsRead),
            None,
            true,
            Some(&format!("{} leads", leads.len())),
        );
        for lead in &leads {
            self.call.saw_lead(lead.id);
        }
        Ok(leads.iter().map(|l| self.visible_lead(l)).collect())
    }

    async fn set_status(&mut self, id: u64, status: wit::LeadStatus) -> Result<(), wit::Error> {
        self.enter()?;
        let lead = self.writable_lead("leads.set-status", id)?;
        let status = LeadStatus::from(status);
        policy::status_change(lead.is_do_not_contact(), status == LeadStatus::DoNotContact)
            .map_err(super::refused)?;
        self.wrote("leads.set-status", lead.id);
        let now = self.now();
        let reason = format!("set by plugin {}", self.call.plugin);
        self.services
            .db
            .write(|tx| match status {
                LeadStatus::DoNotContact => {
                    store::leads::mark_do_not_contact(tx, lead.id, &reason, now)
                }
                _ => store::leads::set_status(tx, lead.id, status, now),
            })
            .map_err(storage_failure)
    }

    async fn add_tag(&mut self, id: u64, tag: String) -> Result<(), wit::Error> {
        self.enter()?;
        let lead = self.writable_lead("leads.add-tag", id)?;
        let tag = policy::tag(&tag).map_err(refused)?;
        let already = lead.tags.iter().any(|t| t == tag);
        policy::tag_room(lead.tags.len(), already, self.budget.limits().tags_per_lead)
            .map_err(refused)?;
        self.wrote("leads.add-tag", lead.id);
        self.services
            .db
            .write(|c| store::leads::add_tag(c, lead.id, tag))
            .map_err(storage_failure)
    }

    async fn remove_tag(&mut self, id: u64, tag: String) -> Result<(), wit::Error> {
        self.enter()?;
        let lead = self.writable_lead("leads.remove-tag", id)?;
        self.wrote("leads.remove-tag", lead.id);
        self.services
            .db
            .write(|c| store::leads::remove_tag(c, lead.id, tag.trim()))
            .map_err(storage_failure)
    }

    async fn set_score(&mut self, id: u64, score: u8) -> Result<(), wit::Error> {
        self.enter()?;
        policy::score(score).map_err(super::refused)?;
        let lead = self.writable_lead("leads.set-score", id)?;
        self.wrote("leads.set-score", lead.id);
        let now = self.now();
        self.services
            .db
            .write(|c| store::leads::set_score(c, lead.id, score, now))
            .map_err(storage_failure)
    }
}
