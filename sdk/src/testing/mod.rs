//! A fake host for unit-testing plugins natively with plain `cargo test` (feature
//! `testing`): seed it with leads, messages, settings and an AI, install it on the test's
//! thread, call the hooks directly, then inspect what the plugin did.

mod host_api;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::{
    Error, GenerateRequest, Generated, Inbound, Lead, LeadStatus, Level, Message, Permission,
    Result,
};

/// The fake clock's default time: 2026-01-01T00:00:00Z, in Unix milliseconds.
pub const DEFAULT_NOW: i64 = 1_767_225_600_000;

/// What the fake AI answers when a test configured none, like the host without a provider.
pub const OFFLINE_REPLY: &str = "Thanks for your message! We'll get back to you soon.";

type Ai = Rc<dyn Fn(&GenerateRequest) -> Result<Generated>>;

/// A fake outreach host that enforces permissions and lead rules like the real one.
///
/// Its rules are the host's own: both compile [`crate::policy`]. Cloning gives another
/// handle to the same fake, so a test keeps one to inspect after
/// [`install`](FakeHost::install)ing it. Differences from the real host: unless
/// [`with_event_lead`](FakeHost::with_event_lead) says which lead the event is about, every
/// known lead counts as the event's (in reach without `leads:read`); the clock stands
/// still; the messaging window is always open; and sent messages are recorded (see
/// [`sent`](FakeHost::sent)) instead of entering an outbox.
#[derive(Clone)]
pub struct FakeHost {
    state: Rc<RefCell<State>>,
}

struct State {
    granted: Vec<Permission>,
    event_lead: Option<u64>,
    now: i64,
    leads: BTreeMap<u64, Lead>,
    messages: BTreeMap<u64, Vec<Message>>,
    settings: BTreeMap<String, String>,
    storage: BTreeMap<String, Vec<u8>>,
    ai: Ai,
    ai_requests: Vec<GenerateRequest>,
    sent: Vec<(u64, String)>,
    /// Messages queued since [`FakeHost::install`]: one installed fake is one hook call.
    sends_this_call: usize,
    /// The event is a comment ([`FakeHost::with_comment_event`]).
    comment_event: bool,
    public_replies: Vec<String>,
    /// Whether the comment was answered publicly since [`FakeHost::install`].
    replied_publicly_this_call: bool,
    logs: Vec<(Level, String)>,
}

impl Default for FakeHost {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeHost {
    /// A fake with every permission granted (see [`FakeHost::for_plugin`] for what a
    /// plugin's manifest requests), the clock at [`DEFAULT_NOW`], no data, and an
    /// AI that answers [`OFFLINE_REPLY`].
    pub fn new() -> Self {
        let offline: Ai = Rc::new(|_| {
            Ok(Generated {
                text: OFFLINE_REPLY.into(),
                model: "offline-template".into(),
                offline: true,
            })
        });
        let state = State {
            granted: Permission::ALL.to_vec(),
            event_lead: None,
            now: DEFAULT_NOW,
            leads: BTreeMap::new(),
            messages: BTreeMap::new(),
            settings: BTreeMap::new(),
            storage: BTreeMap::new(),
            ai: offline,
            ai_requests: Vec::new(),
            sent: Vec::new(),
            sends_this_call: 0,
            comment_event: false,
            public_replies: Vec::new(),
            replied_publicly_this_call: false,
            logs: Vec::new(),
        };
        Self {
            state: Rc::new(RefCell::new(state)),
        }
    }

    /// Adds (or replaces) a lead, with all its personal fields.
    pub fn with_lead(self, lead: Lead) -> Self {
        self.edit(|s| {
            s.leads.insert(lead.id, lead);
        })
    }

    /// Appends a message to a lead's history.
    pub fn with_message(self, lead_id: u64, message: Message) -> Self {
        self.edit(|s| s.messages.entry(lead_id).or_default().push(message))
    }

    /// The lead the hook's event is about: any other lead then needs `leads:read`, as under
    /// the real host (the purpose limit).
    pub fn with_event_lead(self, id: u64) -> Self {
        self.edit(|s| s.event_lead = Some(id))
    }

    /// Sets a plugin setting.
    pub fn with_setting(self, key: &str, value: &str) -> Self {
        self.edit(|s| {
            s.settings.insert(key.into(), value.into());
        })
    }

    /// Sets the clock, Unix milliseconds.
    pub fn with_now(self, now: i64) -> Self {
        self.edit(|s| s.now = now)
    }

    /// Answers AI requests with `ai`.
    pub fn with_ai(self, ai: impl Fn(&GenerateRequest) -> Result<Generated> + 'static) -> Self {
        self.edit(|s| s.ai = Rc::new(ai))
    }

    /// Answers every AI request with `text` from model `fake-model`.
    pub fn with_ai_reply(self, text: &str) -> Self {
        let text = text.to_owned();
        self.with_ai(move |_| {
            Ok(Generated {
                text: text.clone(),
                model: "fake-model".into(),
                offline: false,
            })
        })
    }

    /// Fails every AI request with `error`.
    pub fn with_ai_error(self, error: Error) -> Self {
        self.with_ai(move |_| Err(error.clone()))
    }

    /// A fake that grants exactly what plugin `P` requests in its manifest, as a user who
    /// installs it with `--grant-requested` would: a call the manifest forgot to ask for is
    /// denied here as under the real host.
    pub fn for_plugin<P: crate::Plugin>() -> Self {
        Self::new().grant_only(&P::manifest().permissions)
    }

    /// Grants exactly these permissions (instead of all).
    pub fn grant_only(self, permissions: &[Permission]) -> Self {
        self.edit(|s| s.granted = permissions.to_vec())
    }

    /// Makes this fake the host of the SDK's calls on the current thread, replacing any
    /// other, and returns it for inspection. The per-call limits (messages queued) count
    /// from here, as for one hook call of the real host.
    pub fn install(self) -> Self {
        let this = self.edit(|s| {
            s.sends_this_call = 0;
            s.replied_publicly_this_call = false;
        });
        crate::host::fake::install(Rc::new(this.clone()));
        this
    }

    /// Says the event is a comment on a post by lead `id` (added with
    /// [`with_lead`](FakeHost::with_lead)), as [`comment`] builds one: the plugin may answer
    /// it publicly.
    pub fn with_comment_event(self, id: u64) -> Self {
        self.edit(|s| {
            s.event_lead = Some(id);
            s.comment_event = true;
        })
    }

    /// What the plugin answered comments with publicly, in order.
    pub fn public_replies(&self) -> Vec<String> {
        self.state.borrow().public_replies.clone()
    }

    /// Messages the plugin sent, as (lead id, text), in order.
    pub fn sent(&self) -> Vec<(u64, String)> {
        self.state.borrow().sent.clone()
    }

    /// A lead as stored now, including changes the plugin made.
    pub fn lead(&self, id: u64) -> Option<Lead> {
        self.state.borrow().leads.get(&id).cloned()
    }

    /// Everything the plugin logged, in order.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.state.borrow().logs.clone()
    }

    /// The plugin's stored value under `key`.
    pub fn storage_get(&self, key: &str) -> Option<Vec<u8>> {
        self.state.borrow().storage.get(key).cloned()
    }

    /// Every request the plugin made to the AI, in order.
    pub fn ai_requests(&self) -> Vec<GenerateRequest> {
        self.state.borrow().ai_requests.clone()
    }

    fn edit(self, change: impl FnOnce(&mut State)) -> Self {
        change(&mut self.state.borrow_mut());
        self
    }
}

/// A direct message (kind `message`) from `lead` for the reply hook: event 1, sent at
/// [`DEFAULT_NOW`]. Change the fields for a story reply or a burst of lines.
pub fn message(lead: Lead, text: &str) -> Inbound {
    Inbound {
        event_id: 1,
        lead,
        text: text.into(),
        at: DEFAULT_NOW,
        kind: "message".into(),
        reference: None,
    }
}

/// A comment by `lead` on the account's post `post` (kind `comment`) for the reply hook of
/// a plugin with `comments:read`: event 1, made at [`DEFAULT_NOW`].
pub fn comment(lead: Lead, text: &str, post: &str) -> Inbound {
    Inbound {
        kind: "comment".into(),
        reference: Some(post.into()),
        ..message(lead, text)
    }
}

/// A lead for tests: status new, created at [`DEFAULT_NOW`], and nothing else set (no
/// name, tags, score, personal fields or contact times).
pub fn lead(id: u64, handle: &str) -> Lead {
    Lead {
        id,
        handle: handle.into(),
        name: None,
        status: LeadStatus::New,
        tags: Vec::new(),
        score: None,
        email: None,
        phone: None,
        notes: None,
        custom_fields: Vec::new(),
        created_at: DEFAULT_NOW,
        last_inbound_at: None,
        last_outbound_at: None,
    }
}
