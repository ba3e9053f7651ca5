//! Notifications to a team: a JSON body POSTed to the URL an account set, Slack-compatible
//! (its `text` is what a Slack incoming webhook shows), signed like the bridge
//! (`X-Outreach-Signature: sha256=<hex HMAC of the body>`) with `OUTREACH_NOTIFY_SECRET`
//! when it is set, and an `Idempotency-Key` that a retry reuses.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use super::bridge::SIGNATURE_HEADER;
use super::signing;
use crate::secrets::SecretKey;
use crate::store::messages::Direction;
use crate::store::notifications::Notification;
use crate::store::{self, Conn};

/// The environment variable whose value signs notifications.
pub const SECRET_ENV: &str = "OUTREACH_NOTIFY_SECRET";

/// Why a notification did not go out; every failure is retried until the sender gives up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotifyError(pub String);

pub struct Notifier {
    http: reqwest::Client,
    secret: Option<Vec<u8>>,
}

impl Notifier {
    /// A notifier signing with `OUTREACH_NOTIFY_SECRET` when it is set.
    pub fn from_env(timeout: Duration) -> anyhow::Result<Self> {
        let secret = std::env::var(SECRET_ENV)
            .ok()
            .filter(|s| !s.is_empty())
            .map(String::into_bytes);
        Ok(Self {
            http: reqwest::Client::builder().timeout(timeout).build()?,
            secret,
        })
    }

    /// POSTs `body` (JSON) to `url`; `key` names the notification across retries.
    pub async fn post(&self, url: &str, key: &str, body: &[u8]) -> Result<(), NotifyError> {
        let mut request = self
            .http
            .post(url)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", key)
            .body(body.to_vec());
        if let Some(secret) = &self.secret {
            request = request.header(SIGNATURE_HEADER, signing::sign(secret, body));
        }
        let response = request.send().await.map_err(|e| {
            NotifyError(match e.is_connect() {
                true => "cannot connect to the notification URL".into(),
                false => "no answer from the notification URL".into(),
            })
        })?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(NotifyError(format!(
                "the notification URL answered {status}"
            ))),
        }
    }
}

/// Where the notification goes and what it says (Slack-compatible JSON: `text` is what a
/// Slack incoming webhook shows), or `None` when its account has no URL any more.
pub fn compose(c: &Conn<'_>, n: &Notification) -> anyhow::Result<Option<(String, Vec<u8>)>> {
    let Some(sealed) = store::accounts::notify_url(c, n.account_id)? else {
        return Ok(None);
    };
    let url = String::from_utf8(SecretKey::from_env()?.open(&sealed)?)
        .context("the sealed notification URL is not text")?;
    let account = store::accounts::get(c, n.account_id)?.context("the account is gone")?;
    let lead = store::leads::get(c, n.lead_id)?.context("the lead is gone")?;
    let mut text = format!(
        "@{} needs a person (account {}): {}",
        lead.handle, account.name, n.reason
    );
    let mut body = json!({
        "event": "needs-person",
        "account": account.name,
        "lead": lead.handle,
        "reason": n.reason,
    });
    if account.settings.notify_with_text == Some(true) {
        let recent = store::messages::recent(c, lead.id, 20)?;
        if let Some(last) = recent
            .iter()
            .rev()
            .find(|m| m.direction == Direction::Inbound)
        {
            text.push_str(&format!("\n> {}", last.text));
            body["message"] = json!(last.text);
        }
    }
    body["text"] = json!(slack_escaped(&text));
    Ok(Some((url, serde_json::to_vec(&body)?)))
}

/// Text as Slack reads it literally: `&`, `<` and `>` escaped, so a lead's or a plugin's
/// words cannot become a mention (`<!channel>`) or a link.
fn slack_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::slack_escaped;

    #[test]
    fn nothing_in_a_notification_becomes_a_slack_mention_or_link() {
        assert_eq!(
            slack_escaped("<!channel> & <https://x.example|click>"),
            "&lt;!channel&gt; &amp; &lt;https://x.example|click&gt;"
        );
    }
}
