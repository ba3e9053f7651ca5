//! A lead's page: their details and consent state, the conversation, the team's notes, the
//! outbox and the events about them, with the person's actions: reply (typed or saved),
//! take or release the conversation, resume automation, mark converted, block, forget
//! (after a confirmation). The inbox's conversation pane ([`super::inbox`]) shows the same
//! thread and reply form.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;

use super::pages::{self, destructive_form, escape, path_segment};
use super::{Change, Console, Session, done, shown};
use crate::domain::console_access::Role;
use crate::domain::lead::Lead;
use crate::operator;
use crate::store::events::{EventFilter, EventSummary};
use crate::store::messages::Message;
use crate::store::outbox::OutboxRow;
use crate::store::saved_replies::SavedReply;
use crate::store::{self};

mod view;

use view::render_lead;
pub(super) use view::{assignment_form, reply_forms, thread, with_whom};

/// Messages, events and outbox rows a lead's page shows.
const HISTORY: u32 = 500;

/// What an owner or an agent may open; an agent's only for the leads of their accounts.
pub fn routes() -> Router<Console> {
    Router::new()
        .route("/console/leads/{handle}", get(lead_page))
        .route("/console/leads/{handle}/{action}", axum::routing::post(act))
}

/// What only an owner may open.
pub fn owner_routes() -> Router<Console> {
    Router::new().route(
        "/console/leads/{handle}/forget",
        get(confirm_forget).post(forget),
    )
}

/// A lead as a page shows them.
pub(super) struct LeadView {
    pub lead: Lead,
    pub assigned_to: Option<String>,
    pub account: String,
    pub window: crate::channels::Window,
    pub messages: Vec<Message>,
    /// The team's saved replies, to answer with.
    pub saved_replies: Vec<SavedReply>,
    /// What only the lead's own page shows (empty in the inbox's pane).
    pub more: MoreAboutTheLead,
}

/// The team's notes, the outbox and the events about a lead.
#[derive(Default)]
pub(super) struct MoreAboutTheLead {
    pub notes: Vec<store::lead_notes::Note>,
    pub outbox: Vec<OutboxRow>,
    pub events: Vec<EventSummary>,
}

/// How much of a lead a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shown {
    /// The conversation, to answer it (the inbox's pane, refreshed every few seconds).
    Conversation,
    /// Everything (the lead's page).
    Everything,
}

/// The lead `handle` as `session`'s user may see them (`None`: no such lead, or another
/// account's), their conversation marked read for that user up to the newest message
/// shown: opening it is reading it.
pub(super) fn open_lead(
    console: &Console,
    session: &Session,
    handle: &str,
    shown: Shown,
) -> anyhow::Result<Option<LeadView>> {
    let now = console.clock.now();
    let db = console.db_for(session);
    let read = db.read(|c| {
        let Some(lead) = store::leads::find_handle(c, handle)? else {
            return Ok(None);
        };
        if !session.access.sees_account(lead.account_id) {
            return Ok(None);
        }
        let account = store::accounts::get(c, lead.account_id)?
            .map(|a| a.name)
            .unwrap_or_default();
        let more = match shown {
            Shown::Conversation => MoreAboutTheLead::default(),
            Shown::Everything => MoreAboutTheLead {
                notes: store::lead_notes::for_lead(c, lead.id)?,
                outbox: store::outbox::for_lead(c, lead.id)?,
                events: store::events::list(
                    c,
                    &EventFilter {
                        lead_id: Some(lead.id),
                        limit: HISTORY,
                        ..Default::default()
                    },
                )?,
            },
        };
        let last_read = store::console::last_read(c, &session.user, lead.id)?;
        let view = LeadView {
            window: crate::channels::window(c, &lead, now)?,
            messages: store::messages::recent(c, lead.id, HISTORY)?,
            assigned_to: store::console::assignee(c, lead.id)?,
            saved_replies: store::saved_replies::all(c)?,
            account,
            lead,
            more,
        };
        Ok(Some((view, last_read)))
    })?;
    let Some((view, last_read)) = read else {
        return Ok(None);
    };
    // Written only when something new was shown: a page refreshing itself writes nothing.
    // A read mark lost is a badge shown again, so a failure only goes to the log.
    let newest = view.messages.iter().map(|m| m.id).max();
    if let Some(newest) = newest.filter(|&newest| last_read.is_none_or(|read| newest > read)) {
        let marked = db.write_flushed_later(|tx| {
            store::console::mark_read(tx, &session.user, view.lead.id, newest)
        });
        if let Err(e) = marked {
            tracing::warn!(
                "console: marking @{} read for {}: {e:#}",
                view.lead.handle,
                session.user
            );
        }
    }
    Ok(Some(view))
}

/// `?sent=1`: a reply was just queued, and the page says so.
#[derive(Debug, Default, serde::Deserialize)]
struct LeadQuery {
    #[serde(default)]
    sent: Option<String>,
    /// `inbox` when opened from the inbox: the navigation stays on it, and the page's
    /// forms come back here so.
    #[serde(default)]
    from: String,
}

/// A lead's page as the inbox links to it.
pub(super) fn from_the_inbox(handle: &str) -> String {
    format!("/console/leads/{}?from=inbox", path_segment(handle))
}

async fn lead_page(
    State(console): State<Console>,
    session: Session,
    Path(handle): Path<String>,
    Query(query): Query<LeadQuery>,
) -> Response {
    match open_lead(&console, &session, &handle, Shown::Everything) {
        Ok(Some(view)) => {
            let from_inbox = query.from == "inbox";
            render_lead(&session, &view, query.sent.is_some(), from_inbox).into_response()
        }
        Ok(None) => no_lead(&session, &handle),
        Err(e) => shown("lead", Err(e)),
    }
}

/// The answer for a lead that does not exist, and for another account's lead alike.
pub(super) fn no_lead(session: &Session, handle: &str) -> Response {
    (
        axum::http::StatusCode::NOT_FOUND,
        pages::refused(session, &format!("no lead @{handle}"), "/console/leads"),
    )
        .into_response()
}

/// A person's action on a lead: `reply`, `resume`, `convert`, `block`, `take` and `release`
/// the conversation, or a `note` for the team, under the same rules as from the CLI.
async fn act(
    State(console): State<Console>,
    Path((handle, action)): Path<(String, String)>,
    Change {
        session,
        fields,
        actor,
    }: Change,
) -> Response {
    let now = console.clock.now();
    let db = &console.db_for(&session);
    // Another account's lead is answered as one that does not exist.
    let visible = db.read(|c| {
        Ok(store::leads::find_handle(c, &handle)?
            .is_some_and(|lead| session.access.sees_account(lead.account_id)))
    });
    match visible {
        Ok(true) => {}
        Ok(false) => return no_lead(&session, &handle),
        Err(e) => return shown("lead", Err(e)),
    }
    let result = match action.as_str() {
        "reply" => {
            let reply = match fields.get("saved") {
                "" => Ok(operator::Reply::Typed(fields.get("text"))),
                id => id
                    .parse()
                    .map(operator::Reply::Saved)
                    .map_err(|_| anyhow::anyhow!("no saved reply {id:?}")),
            };
            reply
                .and_then(|reply| operator::reply(db, &actor, &handle, reply, now))
                .and_then(|queued| queued.map(|_| ()).map_err(anyhow::Error::msg))
        }
        "resume" => operator::resume(db, &actor, &handle, now).map(|_| ()),
        "convert" => operator::convert(db, &actor, &handle, now).map(|_| ()),
        "take" | "release" => {
            // An owner may take a conversation over, or release it for someone; an agent
            // only takes one nobody has and releases their own.
            let holder_must_be = match session.access.role {
                Role::Owner => None,
                Role::Agent => Some(session.user.as_str()),
            };
            let to = (action == "take").then_some(session.user.as_str());
            operator::assign(db, &actor, &handle, to, holder_must_be, now)
        }
        "note" => operator::add_note(db, &actor, &handle, fields.get("text"), now),
        "block" => match fields.get("reason").trim() {
            "" => Err(anyhow::anyhow!("say why the lead is blocked")),
            reason => operator::block(db, &actor, &handle, reason, now).map(|_| ()),
        },
        _ => return axum::http::StatusCode::NOT_FOUND.into_response(),
    };
    // Back where the person was (the inbox's pane, or the lead's page), saying a reply
    // was queued.
    let back = match fields.get("back").split('#').next().unwrap_or("") {
        back if super::auth::is_console_page(back) => back.to_owned(),
        _ => format!("/console/leads/{}", path_segment(&handle)),
    };
    match (result, action.as_str()) {
        (Ok(()), "reply") => {
            let separator = if back.contains('?') { '&' } else { '?' };
            done(&session, Ok(()), &format!("{back}{separator}sent=1"))
        }
        (result, _) => done(&session, result, &back),
    }
}

/// What a person reads once their reply is queued: where it is and when it goes.
pub(super) fn sent_confirmation(sent: bool) -> &'static str {
    match sent {
        true => {
            "<p role=\"status\" class=\"confirmation\">Reply queued: it goes out in turn, within the \
             account's limits, and shows in the conversation once sent.</p>"
        }
        false => "",
    }
}

async fn confirm_forget(session: Session, Path(handle): Path<String>) -> Response {
    let base = format!("/console/leads/{}", path_segment(&handle));
    pages::page(
        &session,
        "Leads",
        "Forget a lead",
        &format!(
            "<h1>Forget @{h}?</h1><p>This erases the lead, their messages, outbox, events, follow-ups and \
             every plugin's storage about them, for good; the audit keeps its rows without the lead. \
             A lead who opted out stays on the suppression list.</p>{}<p><a href=\"{base}\">Keep them</a></p>",
            destructive_form(
                &session,
                &format!("{base}/forget"),
                &format!(
                    "<label>Type the handle to confirm <input name=\"confirm\" autocomplete=\"off\" required placeholder=\"{}\"></label>", escape(&handle)
                ),
                "Forget for good"
            ),
            h = escape(&handle),
        ),
    )
    .into_response()
}

async fn forget(
    State(console): State<Console>,
    Path(handle): Path<String>,
    Change {
        session,
        fields,
        actor,
    }: Change,
) -> Response {
    let confirmed = fields.get("confirm").trim().trim_start_matches('@') == handle;
    let result = match confirmed {
        false => Err(anyhow::anyhow!(
            "not forgotten: the handle typed does not match @{handle}"
        )),
        true => {
            let db = console.db.clone();
            let now = console.clock.now();
            let handle = handle.clone();
            // Clearing the write-ahead log may wait for other readers: off the async threads.
            tokio::task::spawn_blocking(move || operator::admin::forget(&db, &actor, &handle, now))
                .await
                .map_err(anyhow::Error::from)
                .and_then(|r| r.map(|_| ()))
        }
    };
    match result {
        Ok(()) => done(&session, Ok(()), "/console/leads?forgotten=1"),
        Err(e) => done(
            &session,
            Err(e),
            &format!("/console/leads/{}/forget", path_segment(&handle)),
        ),
    }
}
