//! What a plugin says about itself (its `manifest` export: any strings it likes) and the
//! interface names of its component: the checks never panic, and what they accept is what
//! the install screen can show safely: a plain name, bounded fields without control
//! characters, known hooks and permissions once each, and a contract version this host
//! speaks, named by the component.

#![no_main]

use libfuzzer_sys::fuzz_target;
use outreach_domain::contract::{SPOKEN, check};
use outreach_domain::manifest::{
    DESCRIPTION_MAX_CHARS, Declared, VERSION_MAX_CHARS, check as check_manifest,
};
use outreach_domain::text::is_unsafe_char;

fuzz_target!(|input: (
    String,
    String,
    String,
    Vec<String>,
    Vec<String>,
    Vec<String>
)| {
    let (name, version, description, hooks, permissions, interfaces) = input;
    let declared = Declared {
        name,
        version,
        description,
        hooks,
        permissions,
    };
    if let Ok(manifest) = check_manifest(declared) {
        assert!((1..=64).contains(&manifest.name.len()));
        assert!(
            manifest
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        assert!(manifest.version.chars().count() <= VERSION_MAX_CHARS);
        assert!(manifest.description.chars().count() <= DESCRIPTION_MAX_CHARS);
        for shown in [&manifest.version, &manifest.description] {
            assert!(!shown.chars().any(is_unsafe_char), "{shown:?}");
        }
        assert!(manifest.hooks.windows(2).all(|w| w[0] < w[1]));
        assert!(manifest.permissions.windows(2).all(|w| w[0] < w[1]));
    }
    let names: Vec<&str> = interfaces.iter().map(String::as_str).collect();
    if let Ok(version) = check(&names, &SPOKEN) {
        let named = format!("@{version}");
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("outreach:plugin/") && n.ends_with(&named))
        );
        assert!(version <= *SPOKEN.last().unwrap());
    }
});
