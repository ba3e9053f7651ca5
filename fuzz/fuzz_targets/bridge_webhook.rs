//! A bridge delivery's body once its signature checked (the bridge's operator, or whoever
//! holds its secret): reading it never panics, and a message it accepts names a handle
//! that is already normal.

#![no_main]

use libfuzzer_sys::fuzz_target;
use outreach_channels::bridge::read_message;
use outreach_domain::handle::normalize_handle;

fuzz_target!(|body: &[u8]| {
    let Ok(message) = read_message(body) else {
        return;
    };
    assert!(normalize_handle(&message.handle).is_ok(), "{message:?}");
});
