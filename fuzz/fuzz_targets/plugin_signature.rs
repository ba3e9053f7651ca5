//! A plugin component's signature section, as `plugin install` reads it from any file or
//! registry: never a panic, and never accepted unless the trusted key signed exactly it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outreach_signing::{PublicKey, TrustedKey, verify};

fuzz_target!(|data: &[u8]| {
    // A fixed trusted key (RFC 8032's first test key: no kept input carries a signature
    // it made, and none can be made without its secret): inputs naming its key id reach
    // the signature check itself.
    let mut key = [0x01u8; 33];
    key[1..].copy_from_slice(&[
        0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64,
        0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68,
        0xf7, 0x07, 0x51, 0x1a,
    ]);
    let trusted = [TrustedKey {
        publisher: "fuzz".into(),
        key: PublicKey::from_bytes(&key).unwrap(),
    }];
    assert!(
        verify(data, &trusted).is_err(),
        "accepted as signed by a key whose secret nobody here has"
    );
});
