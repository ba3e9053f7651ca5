//! A bridge delivery's body once its signature checked (the bridge's operator, or whoever
//! holds its secret): reading it never panics, and a message it accepts names a handle that
//! becomes one stable handle (normalising it again changes nothing), so the same person
//! written `@Anna` or `anna` is one lead.

#![no_main]

use libfuzzer_sys::fuzz_target;
use outreach_channels::bridge::read_message;
use outreach_domain::handle::normalize_handle;

fuzz_target!(|body: &[u8]| {
    let Ok(message) = read_message(body) else {
        return;
    };
    let handle = normalize_handle(&message.handle).expect("read_message accepted it");
    assert_eq!(normalize_handle(&handle).as_deref(), Ok(handle.as_str()), "{message:?}");
});
