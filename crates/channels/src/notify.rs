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

/// Why a notification did not go out, and whether trying again can change that.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct NotifyError {
    pub reason: String,
    /// The URL refused it for good (gone, not found, refused): no retry.
    pub permanent: bool,
}

impl NotifyError {
    fn retry(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            permanent: false,
        }
    }
}

/// Why `url` cannot take notifications, if it cannot: an https URL (http only to this
/// machine, where nothing crosses a network). The reason never repeats the URL, which is a
/// credential.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    let host = parsed.host_str().filter(|h| !h.is_empty());
    let host = host.ok_or_else(|| "a URL without a host".to_string())?;
    let ip = host.trim_matches(['[', ']']).parse::<std::net::IpAddr>();
    let local = host == "localhost" || ip.is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if local => Ok(()),
        "http" => Err("http would send the URL and the lead's data in the clear: use https".into()),
        scheme => Err(format!("a {scheme}: URL, not https")),
    }
}

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
        // No redirects, and no Referer: a redirect would hand the URL, a credential, and
        // the lead's data to wherever it points.
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .build()?;
        Ok(Self { http, secret })
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
            NotifyError::retry(match e.is_connect() {
                true => "cannot connect to the notification URL",
                false => "no answer from the notification URL",
            })
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let reason = format!("the notification URL answered {status}");
        // Gone, not found, refused: asking again gets the same. Too many, too slow, or a
        // server's trouble: later may do.
        let permanent = status.is_client_error() && !matches!(status.as_u16(), 408 | 429);
        Err(NotifyError { reason, permanent })
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
    use super::{check_url, slack_escaped};

    #[test]
    fn only_https_urls_take_notifications_or_http_to_this_machine() {
        assert_eq!(check_url("https://hooks.slack.com/services/T/B/x"), Ok(()));
        assert_eq!(check_url("http://127.0.0.1:9/hooks"), Ok(()));
        assert_eq!(check_url("http://[::1]/hooks"), Ok(()));
        assert_eq!(check_url("http://localhost/hooks"), Ok(()));
        let refused = |url| check_url(url).unwrap_err();
        assert!(refused("http://hooks.example/secret-token").contains("use https"));
        assert!(!refused("http://hooks.example/secret-token").contains("secret-token"));
        assert!(refused("ftp://files.example/x").contains("not https"));
        assert!(check_url("file:///etc/passwd").is_err());
        assert!(refused("https://").contains("not a URL") || refused("https://").contains("host"));
        assert!(refused("hooks.slack.com").contains("not a URL"));
    }

    #[test]
    fn nothing_in_a_notification_becomes_a_slack_mention_or_link() {
        assert_eq!(
            slack_escaped("<!channel> & <https://x.example|click>"),
            "&lt;!channel&gt; &amp; &lt;https://x.example|click&gt;"
        );
    }
}
