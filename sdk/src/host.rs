//! Dispatch of every host call, implemented once: the component's imports inside the
//! outreach host, a fake host in native unit tests, and a clear panic anywhere else.

use crate::{GenerateRequest, Generated, Lead, LeadQuery, LeadStatus, Level, Message, Result};

/// One method per function the host imports into a plugin.
pub(crate) trait HostApi {
    fn leads_get(&self, id: u64) -> Result<Lead>;
    fn leads_query(&self, query: &LeadQuery) -> Result<Vec<Lead>>;
    fn leads_set_status(&self, id: u64, status: LeadStatus) -> Result<()>;
    fn leads_add_tag(&self, id: u64, tag: &str) -> Result<()>;
    fn leads_remove_tag(&self, id: u64, tag: &str) -> Result<()>;
    fn leads_set_score(&self, id: u64, score: u8) -> Result<()>;
    fn messaging_history(&self, lead: u64, limit: u32) -> Result<Vec<Message>>;
    fn messaging_send(&self, lead: u64, text: &str) -> Result<()>;
    fn comments_reply_publicly(&self, text: &str) -> Result<()>;
    fn ai_generate(&self, request: &GenerateRequest) -> Result<Generated>;
    fn storage_get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    fn storage_set(&self, key: &str, value: &[u8]) -> Result<()>;
    fn storage_delete(&self, key: &str) -> Result<()>;
    fn settings_get(&self, key: &str) -> Option<String>;
    fn settings_all(&self) -> Vec<(String, String)>;
    fn log_write(&self, level: Level, message: &str);
    fn clock_now(&self) -> i64;
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn with_host<R>(call: impl FnOnce(&dyn HostApi) -> R) -> R {
    call(&wasm::ComponentImports)
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn with_host<R>(call: impl FnOnce(&dyn HostApi) -> R) -> R {
    let Some(host) = fake::installed() else {
        panic!(
            "outreach-sdk: host functions are only available inside the outreach host \
             or with the `testing` feature's FakeHost installed"
        )
    };
    call(&*host)
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::HostApi;
    use crate::bindings::outreach::plugin::{
        ai, clock, comments, leads, log, messaging, settings, storage,
    };
    use crate::{GenerateRequest, Generated, Lead, LeadQuery, LeadStatus, Level, Message, Result};

    pub(super) struct ComponentImports;

    impl HostApi for ComponentImports {
        fn leads_get(&self, id: u64) -> Result<Lead> {
            leads::get(id)
        }
        fn leads_query(&self, query: &LeadQuery) -> Result<Vec<Lead>> {
            leads::query(query)
        }
        fn leads_set_status(&self, id: u64, status: LeadStatus) -> Result<()> {
            leads::set_status(id, status)
        }
        fn leads_add_tag(&self, id: u64, tag: &str) -> Result<()> {
            leads::add_tag(id, tag)
        }
        fn leads_remove_tag(&self, id: u64, tag: &str) -> Result<()> {
            leads::remove_tag(id, tag)
        }
        fn leads_set_score(&self, id: u64, score: u8) -> Result<()> {
            leads::set_score(id, score)
        }
        fn messaging_history(&self, lead: u64, limit: u32) -> Result<Vec<Message>> {
            messaging::history(lead, limit)
        }
        fn messaging_send(&self, lead: u64, text: &str) -> Result<()> {
            messaging::send(lead, text)
        }
        fn comments_reply_publicly(&self, text: &str) -> Result<()> {
            comments::reply_publicly(text)
        }
        fn ai_generate(&self, request: &GenerateRequest) -> Result<Generated> {
            ai::generate(request)
        }
        fn storage_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
            storage::get(key)
        }
        fn storage_set(&self, key: &str, value: &[u8]) -> Result<()> {
            storage::set(key, value)
        }
        fn storage_delete(&self, key: &str) -> Result<()> {
            storage::delete(key)
        }
        fn settings_get(&self, key: &str) -> Option<String> {
            settings::get(key)
        }
        fn settings_all(&self) -> Vec<(String, String)> {
            settings::all()
        }
        fn log_write(&self, level: Level, message: &str) {
            log::write(level, message)
        }
        fn clock_now(&self) -> i64 {
            clock::now()
        }
    }
}

/// The fake host of the current test thread. Thread-local because the test harness runs
/// each test on its own thread, so tests cannot see each other's fakes.
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub(crate) mod fake {
    use super::HostApi;
    use std::cell::RefCell;
    use std::rc::Rc;

    thread_local! {
        static INSTALLED: RefCell<Option<Rc<dyn HostApi>>> = const { RefCell::new(None) };
    }

    pub(crate) fn install(host: Rc<dyn HostApi>) {
        INSTALLED.with(|slot| *slot.borrow_mut() = Some(host));
    }

    // A clone, so the slot is not borrowed while a call runs (an AI callback may call the SDK).
    pub(super) fn installed() -> Option<Rc<dyn HostApi>> {
        INSTALLED.with(|slot| slot.borrow().clone())
    }
}

// Without the `testing` feature nothing can install a fake, so native calls always panic.
#[cfg(all(not(feature = "testing"), not(target_arch = "wasm32")))]
mod fake {
    pub(super) fn installed() -> Option<std::rc::Rc<dyn super::HostApi>> {
        None
    }
}
