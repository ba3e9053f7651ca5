//! `outreach:plugin/ai`: replies from the configured provider. The host builds the request:
//! it keeps the last messages only, cuts long ones, takes out personal data the plugin was
//! not granted, and records that the provider received the data of every lead the plugin
//! read in this call.

use super::{HostState, storage_failure};
use crate::ai::AiRequest;
use crate::bindings::outreach::plugin::ai::{GenerateRequest, Generated, Host};
use crate::bindings::wit;
use crate::consent::policy::Call;
use crate::consent::{Permission, redact_personal};
use crate::domain::lead::Lead;
use crate::store;

/// Leads named one by one in `ai.generate` audit rows per hook call.
const AUDITED_LEADS_PER_CALL: usize = 100;

impl HostState {
    /// The leads read in this call, as stored now (a lead forgotten meanwhile has nothing
    /// left to redact).
    fn seen_leads(&self) -> Result<Vec<Lead>, wit::Error> {
        let ids = &self.call.seen_leads;
        self.services
            .db
            .read(|c| {
                ids.iter()
                    .filter_map(|&id| store::leads::get(c, id).transpose())
                    .collect()
            })
            .map_err(storage_failure)
    }
}

impl Host for HostState {
    async fn generate(&mut self, request: GenerateRequest) -> Result<Generated, wit::Error> {
        self.enter()?;
        let permission = Self::own_permission(Call::AiGenerate);
        let lead = match self.call.event_lead {
            Some(id) => Some(self.contactable_lead("ai.generate", permission, id)?),
            None => None,
        };
        let account = match &lead {
            Some(lead) => self
                .services
                .db
                .read(|c| store::accounts::get(c, lead.account_id))
                .map_err(storage_failure)?,
            None => None,
        };
        let model = account.and_then(|a| a.ai_model);
        let recipient = format!("sent to {}", self.services.ai.recipient(model.as_deref()));
        self.check_noting(
            "ai.generate",
            permission,
            self.call.event_lead,
            Some(&recipient),
        )?;
        // The plugin can pass on anything it read in this call, so every lead it read is a
        // lead whose data goes to the provider; the check above recorded the event's lead.
        // Each lead is named once per hook call, and past the first few the rest share one
        // row, so a loop of queries and generations cannot flood the audit log.
        let unnamed: Vec<i64> = self
            .call
            .seen_leads
            .iter()
            .filter(|&&id| Some(id) != self.call.event_lead && !self.call.sent_to_ai.contains(&id))
            .copied()
            .collect();
        let room = AUDITED_LEADS_PER_CALL.saturating_sub(self.call.sent_to_ai.len());
        for &id in unnamed.iter().take(room) {
            self.audit(
                "ai.generate",
                Some(Permission::AiGenerate),
                Some(id),
                true,
                Some(&recipient),
            );
        }
        if unnamed.len() > room {
            let detail = format!("{recipient}; and {} more leads' data", unnamed.len() - room);
            self.audit(
                "ai.generate",
                Some(Permission::AiGenerate),
                None,
                true,
                Some(&detail),
            );
        }
        self.call.sent_to_ai.extend(unnamed);
        // Personal data this plugin may not see does not leave through it either, whichever
        // lead it belongs to (another lead's history shows what they wrote).
        let redact_for = if self.granted(Permission::LeadsReadPii) {
            None
        } else {
            Some(self.seen_leads()?)
        };
        let outgoing = |text: String| match &redact_for {
            Some(leads) => redact_personal(&text, leads),
            None => text,
        };
        let ai = &self.services.config.ai;
        let keep = ai.max_context_messages as usize;
        let skip = request.conversation.len().saturating_sub(keep);
        let request = AiRequest {
            model,
            system_prompt: outgoing(request.system_prompt),
            conversation: request
                .conversation
                .into_iter()
                .skip(skip)
                .map(|m| {
                    // Redacted before it is cut, so a cut cannot hide an address from the redaction.
                    let text: String = outgoing(m.text)
                        .chars()
                        .take(ai.max_message_chars as usize)
                        .collect();
                    (matches!(m.direction, wit::Direction::Inbound), text)
                })
                .collect(),
            max_tokens: request
                .max_tokens
                .map_or(ai.max_tokens, |t| t.min(ai.max_tokens)),
        };
        match self.services.ai.generate(&request).await {
            Ok(reply) => Ok(Generated {
                text: reply.text,
                model: reply.model,
                offline: reply.offline,
            }),
            Err(e) => {
                tracing::warn!(plugin = %self.call.plugin, "AI provider failed: {e}");
                Err(wit::Error::Unavailable(format!("ai provider: {e}")))
            }
        }
    }
}
