//! Plugins shipped inside the binary: the bundled ones and the example lead scorer the demo
//! uses. They are built from the workspace's plugin crates by `build.rs`, which signs them
//! with the key whose public half is [`PUBLISHER_KEY`].

pub struct Shipped {
    pub name: &'static str,
    pub wasm: &'static [u8],
}

macro_rules! shipped {
    ($name:literal, $file:literal) => {
        Shipped {
            name: $name,
            wasm: include_bytes!(concat!(env!("OUT_DIR"), "/bundled/", $file)),
        }
    };
}

/// The bundled plugins, installable by name.
pub const BUNDLED: &[Shipped] = &[
    shipped!("ai-reply", "outreach_ai_reply.wasm"),
    shipped!("followup", "outreach_followup.wasm"),
    shipped!("comment-to-dm", "outreach_comment_to_dm.wasm"),
    shipped!("lead-scorer", "lead_scorer.wasm"),
];

pub fn find(name: &str) -> Option<&'static Shipped> {
    BUNDLED.iter().find(|s| s.name == name)
}

/// The publisher of the bundled plugins, as every binary trusts it.
pub const PUBLISHER: &str = "outreach (bundled)";

/// The public key the bundled plugins are signed with (a file's bytes: `0x01 ‖ 32 bytes`):
/// the release key, or one made for this build (`build.rs`).
pub const PUBLISHER_KEY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bundled.pub"));

/// Where the build put every plugin component, fixtures included (for tests and benches).
pub const WASM_DIR: &str = env!("OUTREACH_WASM_DIR");
