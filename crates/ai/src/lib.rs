//! AI replies: an OpenAI-compatible chat-completions endpoint (OpenRouter by default) through
//! async-openai, or, with no API key set, an offline provider that answers from a template
//! and says so. The key is read from the environment, never stored or printed. Every
//! request goes through one [`throttle::Throttle`]: bounded in flight, held back together
//! after a rate limit.

// The domain crate under the name the module paths use.
use outreach_domain::config;

mod throttle;

use std::sync::Arc;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessageArgs, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs,
    CreateChatCompletionRequestArgs,
};

use crate::config::AiConfig;

/// What the host asks the provider: the plugin's system prompt and the conversation
/// (`true` marks the lead's messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiRequest {
    /// The model to ask instead of the configured one (an account's own choice).
    pub model: Option<String>,
    pub system_prompt: String,
    pub conversation: Vec<(bool, String)>,
    pub max_tokens: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiReply {
    pub text: String,
    pub model: String,
    pub offline: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AiError {
    #[error("no answer within {0} s")]
    Timeout(u64),
    /// `retryable`: a rate limit, a server error or a network failure, worth another try.
    #[error("{message}")]
    Provider { message: String, retryable: bool },
    #[error("the provider returned no text")]
    Empty,
}

/// How the host talks to a remote provider.
pub struct RemoteAi {
    client: Client<OpenAIConfig>,
    /// For `outreach doctor`'s probe, which async-openai's chat client does not cover.
    base: String,
    api_key: String,
    model: String,
    host: String,
    timeout: Duration,
    retries: u32,
    retry_backoff: Duration,
    throttle: Arc<throttle::Throttle>,
}

pub enum AiProvider {
    Remote(Box<RemoteAi>),
    Offline { reply: String },
}

impl AiProvider {
    /// The remote provider when one of `config.api_key_env` is set, else the offline one.
    pub fn from_config(config: &AiConfig, env: impl Fn(&str) -> Option<String>) -> Self {
        let key = config.api_key_env.iter().find_map(|name| {
            env(name)
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty())
        });
        let Some(key) = key else {
            return Self::Offline {
                reply: config.offline_reply.clone(),
            };
        };
        let base = config.base_url.trim_end_matches('/').to_owned();
        let host = host_of(&base);
        let mut client_config = OpenAIConfig::new()
            .with_api_base(base)
            .with_api_key(key.clone());
        // Attribution is opt-in: OpenRouter publishes app usage on its rankings.
        let attribution = [
            ("HTTP-Referer", &config.app_url),
            ("X-OpenRouter-Title", &config.app_title),
            ("X-Title", &config.app_title),
        ];
        for (name, value) in attribution {
            if let Some(value) = value {
                match client_config.clone().with_header(name, value.as_str()) {
                    Ok(with_header) => client_config = with_header,
                    Err(_) => {
                        tracing::warn!("ai: {name} value {value:?} is not a valid header; left out")
                    }
                }
            }
        }
        let retry_backoff = Duration::from_millis(config.retry_backoff_ms);
        let throttle = throttle::Throttle::new(config.max_concurrent, retry_backoff);
        let http = reqwest::Client::new();
        let through_throttle = throttle.clone();
        let service = tower::service_fn(
            move |request: async_openai::middleware::HttpRequestFactory| {
                let (throttle, http) = (through_throttle.clone(), http.clone());
                async move { throttle.send(&http, request).await }
            },
        );
        Self::Remote(Box::new(RemoteAi {
            client: Client::with_config(client_config).with_http_service(service),
            base: config.base_url.trim_end_matches('/').to_owned(),
            api_key: key.trim().to_owned(),
            model: config.model.clone(),
            host,
            timeout: Duration::from_secs(config.timeout_seconds),
            retries: config.retries,
            retry_backoff,
            throttle,
        }))
    }

    /// Who receives the conversation (asked for `model` when given), for the audit log and
    /// the user.
    pub fn recipient(&self, model: Option<&str>) -> String {
        match self {
            Self::Remote(remote) => {
                format!("{} (model {})", remote.host, model.unwrap_or(&remote.model))
            }
            Self::Offline { .. } => "the offline template (nothing leaves this machine)".into(),
        }
    }

    /// Requests waiting on the provider right now (none offline).
    pub fn in_flight(&self) -> u32 {
        match self {
            Self::Remote(remote) => remote.throttle.in_flight(),
            Self::Offline { .. } => 0,
        }
    }

    pub async fn generate(&self, request: &AiRequest) -> Result<AiReply, AiError> {
        match self {
            Self::Offline { reply } => Ok(AiReply {
                text: reply.clone(),
                model: "offline-template".into(),
                offline: true,
            }),
            Self::Remote(remote) => {
                let timeout = remote.timeout;
                tokio::time::timeout(timeout, remote.generate_with_retries(request))
                    .await
                    .map_err(|_| AiError::Timeout(timeout.as_secs()))?
            }
        }
    }
}

impl RemoteAi {
    /// Asks the provider for its model list with our key: whether it is reachable and, for
    /// providers that check keys there, whether the key is accepted. Returns the HTTP status.
    pub async fn probe(&self) -> Result<u16, String> {
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .build()
            .map_err(|e| e.to_string())?;
        let response = client
            .get(format!("{}/models", self.base))
            .bearer_auth(&self.api_key)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "no answer in time".to_string()
                } else {
                    "cannot connect".to_string()
                }
            })?;
        Ok(response.status().as_u16())
    }

    /// Retries rate limits, server errors and network failures with exponential backoff,
    /// all within the overall timeout.
    async fn generate_with_retries(&self, request: &AiRequest) -> Result<AiReply, AiError> {
        let mut attempt = 0;
        loop {
            let model = request.model.as_deref().unwrap_or(&self.model);
            match remote_generate(&self.client, model, request).await {
                Err(AiError::Provider {
                    retryable: true,
                    message,
                }) if attempt < self.retries => {
                    tracing::warn!("ai provider: {message}; trying again");
                    tokio::time::sleep(self.retry_backoff * 2u32.pow(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// The host of a URL, without any `user:password@` part (which may hold a key).
fn host_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split('/').next().unwrap_or_default();
    authority.rsplit('@').next().unwrap_or_default().to_owned()
}

/// A provider failure in a few words. The provider's own text is cut short and response
/// bodies are left out: they end up in stored event results and logs, and an unreadable
/// body could hold anything.
fn describe(error: async_openai::error::OpenAIError) -> AiError {
    use async_openai::error::OpenAIError;
    let worth_retrying = |status: u16| status == 429 || status >= 500;
    let (message, retryable) = match error {
        OpenAIError::ApiError(e) => {
            let status = e.status_code.as_u16();
            let message: String = e.api_error.message.chars().take(120).collect();
            (format!("HTTP {status}: {message}"), worth_retrying(status))
        }
        OpenAIError::Reqwest(e) if e.is_timeout() => ("the request timed out".into(), true),
        OpenAIError::Reqwest(e) if e.is_connect() => ("cannot connect".into(), true),
        OpenAIError::Reqwest(e) => match e.status() {
            Some(status) => (
                format!("HTTP {}", status.as_u16()),
                worth_retrying(status.as_u16()),
            ),
            None => ("network error".into(), true),
        },
        // OpenRouter's error bodies carry the status as a number in `error.code`, which
        // async-openai cannot parse as its own error type.
        OpenAIError::JSONDeserialize(_, body) => match openrouter_error(&body) {
            Some((status, message)) => {
                (format!("HTTP {status}: {message}"), worth_retrying(status))
            }
            None => ("unreadable response".into(), false),
        },
        other => (other.to_string().chars().take(120).collect(), false),
    };
    AiError::Provider { message, retryable }
}

/// `{"error": {"code": 429, "message": "…"}}`, OpenRouter's error shape.
fn openrouter_error(body: &str) -> Option<(u16, String)> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let status = u16::try_from(value["error"]["code"].as_u64()?).ok()?;
    let message = value["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .take(120)
        .collect();
    Some((status, message))
}

async fn remote_generate(
    client: &Client<OpenAIConfig>,
    model: &str,
    request: &AiRequest,
) -> Result<AiReply, AiError> {
    let mut messages: Vec<ChatCompletionRequestMessage> = vec![
        ChatCompletionRequestSystemMessageArgs::default()
            .content(request.system_prompt.as_str())
            .build()
            .map_err(describe)?
            .into(),
    ];
    for (from_lead, text) in &request.conversation {
        messages.push(if *from_lead {
            ChatCompletionRequestUserMessageArgs::default()
                .content(text.as_str())
                .build()
                .map_err(describe)?
                .into()
        } else {
            ChatCompletionRequestAssistantMessageArgs::default()
                .content(text.as_str())
                .build()
                .map_err(describe)?
                .into()
        });
    }
    let body = CreateChatCompletionRequestArgs::default()
        .model(model)
        .max_completion_tokens(request.max_tokens)
        .messages(messages)
        .build()
        .map_err(describe)?;
    let response = client.chat().create(body).await.map_err(describe)?;
    let text = response
        .choices
        .into_iter()
        .find_map(|c| c.message.content)
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or(AiError::Empty)?;
    Ok(AiReply {
        text,
        model: response.model,
        offline: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recipient_never_shows_credentials_in_the_url() {
        assert_eq!(host_of("https://openrouter.ai/api/v1"), "openrouter.ai");
        assert_eq!(
            host_of("https://user:sk-secret@gateway.example:8443/v1"),
            "gateway.example:8443"
        );
        assert_eq!(host_of("localhost:11434/v1"), "localhost:11434");
    }
}
