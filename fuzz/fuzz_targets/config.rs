//! The user's config file (`outreach.toml`), whatever it holds: reading it never panics,
//! and a config it accepts runs the engine with at least one lead at a time and no more
//! than the instances the runtime keeps ready.

#![no_main]

use libfuzzer_sys::fuzz_target;
use outreach_domain::config::Config;

fuzz_target!(|text: &[u8]| {
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(config) = Config::parse(text) else {
        return;
    };
    let at_once = config.engine.concurrency(&config.limits);
    assert!((1..=config.limits.instances.max(1) as usize).contains(&at_once));
});
