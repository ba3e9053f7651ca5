//! The [`Plugin`] trait plugin authors implement, and [`export_plugin!`](crate::export_plugin)
//! which turns an implementation into the component's exports.

use crate::{
    FilterDecision, FollowUpAction, FollowUpDue, Inbound, Lead, Manifest, ReplyAction, Result,
};

/// An outreach plugin. Implement [`Plugin::manifest`] and the hooks the manifest lists;
/// the host calls only those, so the defaults of the others are never reached in practice.
pub trait Plugin {
    /// What the plugin is and what it asks for. Must not call any host function: the host
    /// reads it before anything is granted.
    fn manifest() -> Manifest;

    /// Decides whether an imported or updated lead enters automation. Default: keep it
    /// unchanged.
    fn filter(_lead: Lead) -> Result<FilterDecision> {
        Ok(FilterDecision {
            keep: true,
            reason: None,
            tags: Vec::new(),
            score: None,
        })
    }

    /// Answers an inbound message. Default: no reply.
    fn reply(_event: Inbound) -> Result<ReplyAction> {
        Ok(ReplyAction::NoReply)
    }

    /// Runs a follow-up step. Default: end the sequence.
    fn follow_up(_event: FollowUpDue) -> Result<FollowUpAction> {
        Ok(FollowUpAction::Stop(
            "follow-up is not implemented by this plugin".into(),
        ))
    }
}

/// Exports a [`Plugin`] implementation as the component's `hooks`.
///
/// Use it once per plugin crate, at the crate root: `outreach_sdk::export_plugin!(MyPlugin);`.
/// It also compiles natively (without exporting anything), so the crate's unit tests
/// build with plain `cargo test`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        // In an anonymous const so the adapter type cannot clash with the plugin's names,
        // while `$plugin` still resolves in the caller's module.
        const _: () = {
            // Natively nothing calls the adapter, but it still type-checks the plugin.
            #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
            struct __OutreachPluginExports;

            impl $crate::bindings::exports::outreach::plugin::hooks::Guest for __OutreachPluginExports {
                fn manifest() -> $crate::bindings::outreach::plugin::types::PluginManifest {
                    <$plugin as $crate::Plugin>::manifest().into()
                }
                fn filter(lead: $crate::Lead) -> $crate::Result<$crate::FilterDecision> {
                    <$plugin as $crate::Plugin>::filter(lead)
                }
                fn reply(event: $crate::Inbound) -> $crate::Result<$crate::ReplyAction> {
                    <$plugin as $crate::Plugin>::reply(event)
                }
                fn follow_up(event: $crate::FollowUpDue) -> $crate::Result<$crate::FollowUpAction> {
                    <$plugin as $crate::Plugin>::follow_up(event)
                }
            }

            // Only in the component: a native `cdylib` cannot link these symbol names
            // (`outreach:plugin/hooks@0.2.0#reply`), and native tests call the hooks directly.
            // `with_types_in $crate::bindings` rather than the default module path, so a
            // plugin that renames its `outreach-sdk` dependency still builds.
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::__export_outreach_plugin!(
                __OutreachPluginExports with_types_in $crate::bindings
            );
        };
    };
}
