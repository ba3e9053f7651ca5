//! `outreach:plugin/settings`: the values the user set with `outreach plugin config`. Keys
//! under `limits.` configure the host's bounds on the plugin and are not shown to it.

use super::HostState;
use crate::bindings::outreach::plugin::settings::Host;
use crate::consent::policy::setting_visible as visible;
use crate::store;

// Settings and the clock return no error to the guest: past its limits a call gets nothing,
// and the store's call hook stops the guest as the call returns.
impl Host for HostState {
    async fn get(&mut self, key: String) -> Option<String> {
        if self.enter().is_err() || !visible(&key) {
            return None;
        }
        if let Some(settings) = self.call.settings() {
            return (settings.iter())
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone());
        }
        self.services
            .db
            .read(|c| store::plugins::setting(c, &self.call.plugin, &key))
            .ok()
            .flatten()
    }

    async fn all(&mut self) -> Vec<(String, String)> {
        if self.enter().is_err() {
            return Vec::new();
        }
        let all = match self.call.settings() {
            Some(settings) => settings.to_vec(),
            None => self
                .services
                .db
                .read(|c| store::plugins::settings(c, &self.call.plugin))
                .unwrap_or_default(),
        };
        all.into_iter().filter(|(k, _)| visible(k)).collect()
    }
}
