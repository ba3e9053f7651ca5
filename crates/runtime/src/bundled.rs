//! Plugins shipped inside the binary: the bundled ones and the example lead scorer the demo
//! uses. They are built from the workspace's plugin crates by `build.rs`.

pub struct Shipped {
    pub name: &'static str,
    pub wasm: &'static [u8],
}

macro_rules! shipped {
    ($name:literal, $file:literal) => {
        Shipped {
            name: $name,
            wasm: include_bytes!(concat!(env!("OUTREACH_WASM_DIR"), "/", $file)),
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

/// Where the build put every plugin component, fixtures included (for tests and benches).
pub const WASM_DIR: &str = env!("OUTREACH_WASM_DIR");
