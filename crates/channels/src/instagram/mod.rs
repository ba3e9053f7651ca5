//! The Instagram Messaging API (Graph API): sending a text message to a lead by their
//! Instagram-scoped id, Meta's error bodies mapped to what the outbox should do, and the
//! Conversations API to find out whether a send with an unknown outcome arrived.

pub mod payload;
pub mod webhook;

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{Attempt, Delivery, SendError};
use crate::clock::{Millis, SECOND};
use crate::domain::account::ChannelSettings;
use crate::domain::lead::Lead;
use crate::store::outbox::Message;

pub const DEFAULT_BASE_URL: &str = "https://graph.instagram.com";
pub const DEFAULT_API_VERSION: &str = "v21.0";
/// Meta's limit for a text message, counted in bytes to be safe with any script.
pub const TEXT_MAX_BYTES: usize = 1000;

/// Ice breakers an account may have (Meta's limit), and the characters of each question.
pub const ICE_BREAKERS_MAX: usize = 4;
pub const ICE_BREAKER_CHARS_MAX: usize = 80;

/// Whether `questions` can be the account's ice breakers, as Meta counts them; the refusal
/// names the problem. (What a terminal or a browser would act on is the host's policy's.)
pub fn check_ice_breakers(questions: &[String]) -> Result<(), String> {
    if questions.len() > ICE_BREAKERS_MAX {
        return Err(format!(
            "{} questions; Instagram shows at most {ICE_BREAKERS_MAX}",
            questions.len()
        ));
    }
    for (n, question) in questions.iter().enumerate() {
        let chars = question.chars().count();
        if question.trim().is_empty() {
            return Err(format!("question {} is empty", n + 1));
        }
        if chars > ICE_BREAKER_CHARS_MAX {
            return Err(format!(
                "question {} has {chars} characters; the limit is {ICE_BREAKER_CHARS_MAX}",
                n + 1
            ));
        }
    }
    Ok(())
}
/// How far Meta's clock (a message's `created_time`) may run behind ours. A message created
/// that long before our attempt began may still be ours, unless it is attributed elsewhere.
pub const CLOCK_SKEW: Millis = 10 * SECOND;

pub struct InstagramClient {
    http: reqwest::Client,
    base: String,
    token: String,
    timeout: Duration,
    /// The account's Instagram id, when set: what it wrote is told from others' by it.
    ig_user_id: Option<String>,
}

/// Meta's error body: `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`.
/// What the User Profile API tells about a lead.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Profile {
    pub username: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: GraphError,
}

#[derive(Debug, Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    error_subcode: Option<i64>,
}

impl InstagramClient {
    pub fn new(
        settings: &ChannelSettings,
        token: String,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let base = settings
            .base_url
            .as_deref()
            .unwrap_or(DEFAULT_BASE_URL)
            .trim_end_matches('/');
        let version = settings
            .api_version
            .as_deref()
            .unwrap_or(DEFAULT_API_VERSION);
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Self {
            http,
            base: format!("{base}/{version}"),
            token,
            timeout,
            ig_user_id: settings.ig_user_id.clone(),
        })
    }

    /// How long after a send began it may still reach the conversation: our request
    /// timeout, and a second for Meta to list what it took.
    pub fn settle_time(&self) -> Millis {
        Millis::try_from(self.timeout.as_millis()).unwrap_or(Millis::MAX / 2) + SECOND
    }

    fn recipient(lead: &Lead) -> Result<&str, SendError> {
        lead.channel_user_id.as_deref().ok_or_else(|| {
            SendError::Permanent(
                "the lead has no Instagram id yet: they must message the account first".into(),
            )
        })
    }

    /// Sends a message (its quick replies as Meta's `quick_replies`) to `lead`, or for a
    /// private reply to the comment it answers (`recipient: {comment_id}`); Meta
    /// answers `{"recipient_id": "...", "message_id": "..."}`. With `human_agent`, tagged as
    /// a person's reply after the 24-hour window (`messaging_type: MESSAGE_TAG`, `tag:
    /// HUMAN_AGENT`).
    pub async fn send(
        &self,
        lead: &Lead,
        message: Message<'_>,
        human_agent: bool,
    ) -> Result<Delivery, SendError> {
        if let Some(answering) = message.answering.filter(|a| a.public) {
            return self
                .reply_publicly(&answering.comment_id, message.text)
                .await;
        }
        let text = message.text;
        if text.len() > TEXT_MAX_BYTES {
            return Err(SendError::Permanent(format!(
                "text is {} bytes; Instagram takes at most {TEXT_MAX_BYTES}",
                text.len()
            )));
        }
        // A private reply goes to the comment: Meta finds its author.
        let recipient = match message.answering {
            Some(answering) => json!({ "comment_id": answering.comment_id }),
            None => json!({ "id": Self::recipient(lead)? }),
        };
        let mut body = json!({ "recipient": recipient, "message": { "text": text } });
        if !message.quick_replies.is_empty() {
            body["message"]["quick_replies"] = (message.quick_replies.iter())
                .map(|q| json!({ "content_type": "text", "title": q.title, "payload": q.payload }))
                .collect();
        }
        if human_agent {
            body["messaging_type"] = json!("MESSAGE_TAG");
            body["tag"] = json!("HUMAN_AGENT");
        }
        let url = format!("{}/me/messages", self.base);
        self.post_delivery(&url, &body, "message_id")
            .await
            .map_err(|(error, _)| error)
    }

    /// POSTs a message (or an answer to a comment) whose answer names the new object under
    /// `id_field`. A server error can come after Meta took it, so it is an unknown outcome,
    /// to be reconciled before any resend. On an error, the answer's body comes along.
    async fn post_delivery(
        &self,
        url: &str,
        body: &serde_json::Value,
        id_field: &str,
    ) -> Result<Delivery, (SendError, String)> {
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| (request_failure(e), String::new()))?;
        let status = response.status().as_u16();
        // Meta took it; an unreadable answer only costs us its id.
        let body = response.text().await.unwrap_or_default();
        if (200..300).contains(&status) {
            let message_id = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|answer| answer[id_field].as_str().map(str::to_owned));
            return Ok(Delivery { message_id });
        }
        let error = match classify(status, &body) {
            SendError::Transient(why) => SendError::Unknown(why),
            other => other,
        };
        Err((error, body))
    }

    /// Sets the account's ice breakers (the questions someone opening a conversation with
    /// it can tap; a tap arrives as a postback whose payload is `ice-breaker-N`), or with
    /// none removes them. Checked with [`check_ice_breakers`] first.
    pub async fn set_ice_breakers(&self, questions: &[String]) -> Result<(), SendError> {
        let url = format!("{}/me/messenger_profile", self.base);
        let request = match questions {
            [] => self
                .http
                .delete(url)
                .json(&json!({ "fields": ["ice_breakers"] })),
            questions => {
                let actions: Vec<serde_json::Value> = questions
                    .iter()
                    .enumerate()
                    .map(|(n, question)| {
                        json!({ "question": question, "payload": format!("ice-breaker-{}", n + 1) })
                    })
                    .collect();
                self.http.post(url).json(&json!({
                    "platform": "instagram",
                    "ice_breakers": [{ "call_to_actions": actions, "locale": "default" }]
                }))
            }
        };
        let response = request
            .bearer_auth(&self.token)
            .query(&[("platform", "instagram")])
            .send()
            .await
            .map_err(request_failure)?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        match (200..300).contains(&status) {
            true => Ok(()),
            false => Err(classify(status, &body)),
        }
    }

    /// A GET on the Graph API, answered with JSON.
    async fn get_json(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<serde_json::Value, SendError> {
        let response = self
            .http
            .get(format!("{}/{path}", self.base))
            .bearer_auth(&self.token)
            .query(query)
            .send()
            .await
            .map_err(request_failure)?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(classify(status, &body));
        }
        serde_json::from_str(&body)
            .map_err(|_| SendError::Transient(format!("unreadable answer from /{path}")))
    }

    /// A lead's Instagram username and name, by their Instagram-scoped id (the User Profile
    /// API, which answers for people who messaged the account).
    pub async fn profile(&self, igsid: &str) -> Result<Profile, SendError> {
        let profile = self.get_json(igsid, &[("fields", "username,name")]).await?;
        serde_json::from_value(profile)
            .map_err(|_| SendError::Permanent("unreadable profile".into()))
    }

    /// Posts `text` under comment `comment_id`, as the account; Meta answers `{"id": "..."}`,
    /// the id of the new comment.
    async fn reply_publicly(&self, comment_id: &str, text: &str) -> Result<Delivery, SendError> {
        let url = format!("{}/{comment_id}/replies", self.base);
        let body = json!({ "message": text });
        self.post_delivery(&url, &body, "id")
            .await
            .map_err(|(error, answer)| match error {
                // No messaging window applies under a comment: Meta refused the answer
                // itself (a token without the comments permission, say).
                SendError::WindowClosed => SendError::Permanent(format!(
                    "Meta refused the public answer: {}",
                    meta_message(&answer).unwrap_or_else(|| "no reason given".into())
                )),
                other => other,
            })
    }

    /// Whether the account's live video `media_id` is being broadcast now (a live comment
    /// gets its private reply only while it is): whether the account's live media lists it.
    pub async fn is_live(&self, media_id: &str) -> Result<bool, SendError> {
        let live = self.get_json("me/live_media", &[("fields", "id")]).await?;
        let listed = live["data"].as_array().into_iter().flatten();
        Ok(listed
            .filter_map(|media| media["id"].as_str())
            .any(|id| id == media_id))
    }

    /// Who the token belongs to (`@username`), for `outreach doctor`.
    pub async fn whoami(&self) -> Result<String, SendError> {
        let me = self
            .get_json("me", &[("fields", "user_id,username")])
            .await?;
        Ok(me["username"]
            .as_str()
            .map_or_else(|| "an unnamed account".into(), |u| format!("@{u}")))
    }

    /// Asks the Conversations API whether our message is in the conversation (for a public
    /// answer, the comment's replies whether it is under the comment): one with our text,
    /// created at or after the attempt began, that no other outbox row has taken. Returns it
    /// (with its id) when there is one.
    pub async fn was_delivered(
        &self,
        lead: &Lead,
        message: Message<'_>,
        attempt: &Attempt,
    ) -> Result<Option<Delivery>, SendError> {
        let text = message.text;
        if let Some(answering) = message.answering.filter(|a| a.public) {
            let path = format!("{}/replies", answering.comment_id);
            let query = [("fields", "id,text,timestamp,from"), ("limit", "100")];
            let listing = self.get_json(&path, &query).await?;
            // Only the account's own answers: someone else may have written the same.
            let ours = |reply: &&serde_json::Value| {
                let from = reply["from"]["id"].as_str();
                self.ig_user_id
                    .as_deref()
                    .is_none_or(|id| from.is_none_or(|f| f == id))
            };
            let replies = listing["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(ours);
            return Ok(closest(replies, ("text", "timestamp"), text, attempt));
        }
        // What `send` refuses before any request cannot have arrived.
        let Some(recipient) = lead.channel_user_id.as_deref() else {
            return Ok(None);
        };
        if text.len() > TEXT_MAX_BYTES {
            return Ok(None);
        }
        let query = [
            ("platform", "instagram"),
            ("user_id", recipient),
            ("fields", "messages{id,message,created_time}"),
        ];
        let listing = self.get_json("me/conversations", &query).await?;
        let messages = listing["data"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|conversation| {
                conversation["messages"]["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
            });
        Ok(closest(
            messages,
            ("message", "created_time"),
            text,
            attempt,
        ))
    }
}

/// Of the messages Meta listed (their text and creation time under `fields`), the one that
/// is our attempt's: our text, created at or after the attempt began, taken by no other row;
/// one created after the attempt began before one only the clock skew allows, then the
/// oldest (Meta lists newest first): the one closest to our attempt.
fn closest<'a>(
    listed: impl Iterator<Item = &'a serde_json::Value>,
    (text_field, time_field): (&str, &str),
    text: &str,
    attempt: &Attempt,
) -> Option<Delivery> {
    let earliest = earliest_match(attempt);
    let began = attempt.started_at.div_euclid(SECOND) * SECOND;
    let created = |m: &serde_json::Value| m[time_field].as_str().and_then(parse_graph_time);
    listed
        .filter(|m| {
            let id = m["id"].as_str();
            m[text_field].as_str() == Some(text)
                && !id.is_some_and(|id| attempt.taken.contains(id))
                // Asked for, so always there; if not, at most once wins over a lost message.
                && created(m).is_none_or(|at| at >= earliest)
        })
        .min_by_key(|m| {
            let at = created(m);
            (at.is_some_and(|at| at < began), at)
        })
        .map(|m| Delivery {
            message_id: m["id"].as_str().map(str::to_owned),
        })
}

/// The earliest `created_time` (whole seconds, Meta's clock) a message may have to be the
/// attempt's: from the second the attempt began, less the clock skew Meta's clock may have,
/// but never back to (or before) the second another row delivered the same text without a
/// known id — that message may be the one created then. Messages attributed by id are
/// excluded separately, whatever their time.
fn earliest_match(attempt: &Attempt) -> Millis {
    let second = |at: Millis| at.div_euclid(SECOND) * SECOND;
    let began = second(attempt.started_at);
    let skewed = began - CLOCK_SKEW;
    match attempt.unidentified_before {
        Some(other) => skewed.max(second(other) + SECOND).min(began),
        None => skewed,
    }
}

/// Graph API times look like `2026-11-26T10:00:00+0000`.
fn parse_graph_time(text: &str) -> Option<Millis> {
    chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%z")
        .ok()
        .map(|t| t.timestamp_millis())
}

/// A request that failed without an HTTP answer. If the connection was never made nothing
/// was sent; any other failure may have happened after Meta received the message.
fn request_failure(error: reqwest::Error) -> SendError {
    if error.is_connect() {
        SendError::Transient("cannot connect to the Graph API".into())
    } else if error.is_timeout() {
        SendError::Unknown("no answer from the Graph API in time".into())
    } else {
        SendError::Unknown("the connection to the Graph API failed".into())
    }
}

/// Maps an HTTP status and Meta's error body to what the outbox should do.
/// The message of Meta's error body, if it is one.
fn meta_message(body: &str) -> Option<String> {
    let error = serde_json::from_str::<ErrorBody>(body).ok()?.error;
    Some(error.message.chars().take(200).collect())
}

fn classify(status: u16, body: &str) -> SendError {
    let error = serde_json::from_str::<ErrorBody>(body)
        .ok()
        .map(|b| b.error);
    let (code, subcode, message) = match &error {
        Some(e) => (
            e.code,
            e.error_subcode,
            e.message.chars().take(200).collect::<String>(),
        ),
        None => (0, None, format!("HTTP {status}")),
    };
    match (code, subcode) {
        (190, _) => SendError::Credentials(message),
        (10, _) | (_, Some(2534022)) => SendError::WindowClosed,
        (4 | 17 | 32 | 613, _) => SendError::RateLimited(message),
        _ if status == 429 => SendError::RateLimited(message),
        (100, Some(2534014)) => {
            SendError::Permanent(format!("Instagram user not found: {message}"))
        }
        (551, _) => SendError::Permanent(format!("the person is not available: {message}")),
        (1 | 2, _) => SendError::Transient(message),
        _ if status >= 500 => SendError::Transient(message),
        _ => SendError::Permanent(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: i64, subcode: Option<i64>) -> String {
        json!({"error": {"message": "m", "type": "OAuthException", "code": code, "error_subcode": subcode, "fbtrace_id": "x"}})
            .to_string()
    }

    #[test]
    fn meta_errors_map_to_what_the_outbox_does() {
        assert_eq!(
            classify(400, &body(190, Some(463))),
            SendError::Credentials("m".into())
        );
        assert_eq!(
            classify(400, &body(10, Some(2534022))),
            SendError::WindowClosed
        );
        assert_eq!(
            classify(400, &body(100, Some(2534022))),
            SendError::WindowClosed
        );
        assert_eq!(
            classify(400, &body(613, None)),
            SendError::RateLimited("m".into())
        );
        assert_eq!(
            classify(429, "not json"),
            SendError::RateLimited("HTTP 429".into())
        );
        assert!(
            matches!(classify(400, &body(100, Some(2534014))), SendError::Permanent(m) if m.contains("not found"))
        );
        assert_eq!(
            classify(500, &body(2, None)),
            SendError::Transient("m".into())
        );
        assert_eq!(classify(503, ""), SendError::Transient("HTTP 503".into()));
        assert_eq!(
            classify(400, &body(100, None)),
            SendError::Permanent("m".into())
        );
    }

    #[test]
    fn graph_times_parse() {
        assert_eq!(parse_graph_time("1970-01-01T00:00:01+0000"), Some(1000));
        assert_eq!(parse_graph_time("yesterday"), None);
    }

    #[test]
    fn a_match_is_created_after_the_attempt_began_less_only_the_clock_skew() {
        let attempt = |started_at, unidentified_before| Attempt {
            started_at,
            unidentified_before,
            ..Attempt::default()
        };
        // Graph times are whole seconds: the second the attempt began counts.
        assert_eq!(
            earliest_match(&attempt(100_700, None)),
            100_000 - CLOCK_SKEW
        );
        // An earlier delivery of the same text without a known id: the skew stops after it…
        assert_eq!(earliest_match(&attempt(100_700, Some(95_200))), 96_000);
        // …and never reaches past the attempt's own second.
        assert_eq!(earliest_match(&attempt(100_700, Some(100_100))), 100_000);
    }
}
