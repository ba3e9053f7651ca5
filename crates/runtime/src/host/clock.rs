//! `outreach:plugin/clock`: the host's (injectable) clock.

use super::HostState;
use crate::bindings::outreach::plugin::clock::Host;

impl Host for HostState {
    async fn now(&mut self) -> i64 {
        // Counted like any host call; past the budget the call hook stops the guest.
        let _ = self.enter();
        HostState::now(self)
    }
}
