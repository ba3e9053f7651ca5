//! Meta's webhook body, as anyone who gets past the signature (or Meta itself) may send it:
//! reading it never panics; the same delivery batched again at another time (Meta
//! redelivers) reads the same messages by the same ids, so each is stored once; every
//! message read names its account, its lead and its id.

#![no_main]

use libfuzzer_sys::fuzz_target;
use outreach_channels::instagram::payload::parse_payload;
use serde_json::{Value, json};

/// `body` with every entry stamped a second later.
fn redelivered(body: &[u8]) -> Option<Vec<u8>> {
    let mut payload: Value = serde_json::from_slice(body).ok()?;
    for entry in payload.get_mut("entry")?.as_array_mut()? {
        if let Some(time) = entry.get("time").and_then(Value::as_i64) {
            entry["time"] = json!(time.saturating_add(1_000));
        }
    }
    serde_json::to_vec(&payload).ok()
}

fuzz_target!(|body: &[u8]| {
    let Ok(messages) = parse_payload(body) else {
        return;
    };
    for m in &messages {
        assert!(!m.account_id.is_empty() && !m.sender_id.is_empty());
        assert!(!m.message_id.is_empty() && !m.text.is_empty());
    }
    if let Some(again) = redelivered(body) {
        let ids = |messages: &[outreach_channels::inbound::InboundMessage]| {
            messages
                .iter()
                .map(|m| m.message_id.clone())
                .collect::<Vec<_>>()
        };
        let again = parse_payload(&again).expect("it read once");
        assert_eq!(
            ids(&messages),
            ids(&again),
            "a redelivery reads differently"
        );
    }
});
