//! `outreach:plugin/clock`: the host's (injectable) clock.

use super::HostState;
use crate::runtime::bindings::outreach::plugin::clock::Host;

impl Host for HostState {
    async fn now(&mut self) -> i64 {
        HostState::now(self)
    }
}
