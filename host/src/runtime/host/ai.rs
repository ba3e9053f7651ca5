//! `outreach:plugin/ai`: replies from the configured provider. The host builds the request,
//! caps its size and records that the provider received the lead's conversation.

use super::HostState;
use crate::ai::AiRequest;
use crate::consent::Permission;
use crate::runtime::bindings::outreach::plugin::ai::{GenerateRequest, Generated, Host};
use crate::runtime::bindings::wit;

impl Host for HostState {
    async fn generate(&mut self, request: GenerateRequest) -> Result<Generated, wit::Error> {
        if let Some(lead) = self.call.event_lead {
            self.contactable_lead("ai.generate", Permission::AiGenerate, lead)?;
        }
        let recipient = format!("sent to {}", self.services.ai.recipient());
        self.check_noting(
            "ai.generate",
            Permission::AiGenerate,
            self.call.event_lead,
            Some(&recipient),
        )?;
        let cap = self.services.config.ai.max_tokens;
        let request = AiRequest {
            system_prompt: request.system_prompt,
            conversation: request
                .conversation
                .into_iter()
                .map(|m| (matches!(m.direction, wit::Direction::Inbound), m.text))
                .collect(),
            max_tokens: request.max_tokens.map_or(cap, |t| t.min(cap)),
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
