//! An `oci://` reference as a user or a script gives it: never a panic, and what parses
//! names a registry, a repository and a tag or sha256 digest with no login in it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outreach_registry::Reference;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(reference) = text.parse::<Reference>() {
        assert!(!reference.registry.is_empty() && !reference.registry.contains('@'));
        assert!(!reference.repository.is_empty());
        let again: Reference = reference.to_string().parse().expect("what it prints parses");
        assert_eq!(again, reference);
    }
});
