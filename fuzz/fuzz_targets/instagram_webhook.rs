//! Meta's webhook body, as anyone who gets past the signature (or Meta itself) may send it:
//! reading it never panics, and a redelivery reads exactly as the first delivery did (so it
//! is stored once, by the same message ids). Every message read names its account, its
//! lead and its id.

#![no_main]

use libfuzzer_sys::fuzz_target;
use outreach_channels::instagram::payload::parse_payload;

fuzz_target!(|body: &[u8]| {
    let first = parse_payload(body);
    assert_eq!(first, parse_payload(body), "a redelivery reads differently");
    if let Ok(messages) = first {
        for m in &messages {
            assert!(!m.account_id.is_empty() && !m.sender_id.is_empty());
            assert!(!m.message_id.is_empty() && !m.text.is_empty());
        }
    }
});
