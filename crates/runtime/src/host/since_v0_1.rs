//! The host functions of `outreach:plugin@0.1.0` ([`crate::bindings::since_v0_1`]): each
//! converts its arguments, calls the newest contract's function (so every check, limit and
//! audit is the same code) and converts the answer back.

use super::HostState;
use crate::bindings::latest;
use crate::bindings::since_v0_1::outreach::plugin::{
    ai, clock, leads, log, messaging, settings, storage, types as old,
};
use crate::bindings::since_v0_1::{
    to_new_message, to_new_status, to_old_error, to_old_lead, to_old_message,
};

impl old::Host for HostState {}

impl leads::Host for HostState {
    async fn get(&mut self, id: u64) -> Result<old::Lead, old::Error> {
        latest::leads::Host::get(self, id)
            .await
            .map(to_old_lead)
            .map_err(to_old_error)
    }

    async fn query(&mut self, query: leads::LeadQuery) -> Result<Vec<old::Lead>, old::Error> {
        let query = latest::leads::LeadQuery {
            status: query.status.map(to_new_status),
            tag: query.tag,
            last_contact_before: query.last_contact_before,
            limit: query.limit,
        };
        latest::leads::Host::query(self, query)
            .await
            .map(|leads| leads.into_iter().map(to_old_lead).collect())
            .map_err(to_old_error)
    }

    async fn set_status(&mut self, id: u64, status: old::LeadStatus) -> Result<(), old::Error> {
        latest::leads::Host::set_status(self, id, to_new_status(status))
            .await
            .map_err(to_old_error)
    }

    async fn add_tag(&mut self, id: u64, tag: String) -> Result<(), old::Error> {
        latest::leads::Host::add_tag(self, id, tag)
            .await
            .map_err(to_old_error)
    }

    async fn remove_tag(&mut self, id: u64, tag: String) -> Result<(), old::Error> {
        latest::leads::Host::remove_tag(self, id, tag)
            .await
            .map_err(to_old_error)
    }

    async fn set_score(&mut self, id: u64, score: u8) -> Result<(), old::Error> {
        latest::leads::Host::set_score(self, id, score)
            .await
            .map_err(to_old_error)
    }
}

impl messaging::Host for HostState {
    async fn history(&mut self, lead: u64, limit: u32) -> Result<Vec<old::Message>, old::Error> {
        latest::messaging::Host::history(self, lead, limit)
            .await
            .map(|messages| messages.into_iter().map(to_old_message).collect())
            .map_err(to_old_error)
    }

    async fn send(&mut self, lead: u64, text: String) -> Result<(), old::Error> {
        latest::messaging::Host::send(self, lead, text)
            .await
            .map_err(to_old_error)
    }
}

impl ai::Host for HostState {
    async fn generate(
        &mut self,
        request: ai::GenerateRequest,
    ) -> Result<ai::Generated, old::Error> {
        let request = latest::ai::GenerateRequest {
            system_prompt: request.system_prompt,
            conversation: request
                .conversation
                .into_iter()
                .map(to_new_message)
                .collect(),
            max_tokens: request.max_tokens,
        };
        latest::ai::Host::generate(self, request)
            .await
            .map(|g| ai::Generated {
                text: g.text,
                model: g.model,
                offline: g.offline,
            })
            .map_err(to_old_error)
    }
}

impl storage::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, old::Error> {
        latest::storage::Host::get(self, key)
            .await
            .map_err(to_old_error)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), old::Error> {
        latest::storage::Host::set(self, key, value)
            .await
            .map_err(to_old_error)
    }

    async fn delete(&mut self, key: String) -> Result<(), old::Error> {
        latest::storage::Host::delete(self, key)
            .await
            .map_err(to_old_error)
    }
}

impl settings::Host for HostState {
    async fn get(&mut self, key: String) -> Option<String> {
        latest::settings::Host::get(self, key).await
    }

    async fn all(&mut self) -> Vec<(String, String)> {
        latest::settings::Host::all(self).await
    }
}

impl log::Host for HostState {
    async fn write(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Debug => latest::log::Level::Debug,
            log::Level::Info => latest::log::Level::Info,
            log::Level::Warn => latest::log::Level::Warn,
            log::Level::Error => latest::log::Level::Error,
        };
        latest::log::Host::write(self, level, message).await
    }
}

impl clock::Host for HostState {
    async fn now(&mut self) -> i64 {
        latest::clock::Host::now(self).await
    }
}
