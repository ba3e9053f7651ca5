//! `outreach:plugin/ai`: replies from the configured provider. The host builds the request:
//! it keeps the last messages only, cuts long ones, takes out personal data the plugin was
//! not granted, and records that the provider received the lead's conversation.

use super::{HostState, storage_failure};
use crate::ai::AiRequest;
use crate::consent::{Permission, redact_personal};
use crate::runtime::bindings::outreach::plugin::ai::{GenerateRequest, Generated, Host};
use crate::runtime::bindings::wit;
use crate::store;

impl Host for HostState {
    async fn generate(&mut self, request: GenerateRequest) -> Result<Generated, wit::Error> {
        let lead = match self.call.event_lead {
            Some(id) => Some(self.contactable_lead("ai.generate", Permission::AiGenerate, id)?),
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
            Permission::AiGenerate,
            self.call.event_lead,
            Some(&recipient),
        )?;
        // Personal data this plugin may not see does not leave through it either.
        let redact_for = lead.filter(|_| !self.granted(Permission::LeadsReadPii));
        let outgoing = |text: String| match &redact_for {
            Some(lead) => redact_personal(&text, lead),
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
