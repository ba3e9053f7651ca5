//! A lead's page: their details and consent state, the conversation, the team's notes, the
//! outbox and the events about them, with the person's actions: reply (typed or saved),
//! take or release the conversation, resume automation, mark converted, block, forget
//! (after a confirmation). The inbox's conversation pane ([`super::inbox`]) shows the same
//! thread and reply form.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse as _, Response};
use axum::routing::get;

use super::pages::{self, destructive_form, escape, form, path_segment, table};
use super::{Change, Console, Session, done, shown};
use crate::clock::format;
use crate::domain::console_access::Role;
use crate::domain::lead::{Lead, LeadStatus};
use crate::operator;
use crate::store::events::{EventFilter, EventSummary};
use crate::store::messages::{Direction, Message};
use crate::store::outbox::OutboxRow;
use crate::store::saved_replies::SavedReply;
use crate::store::{self};

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

/// Who wrote an outbound message: a plugin, or a person (an actor with a colon).
fn author(source: &str) -> String {
    if source == store::messages::INSTAGRAM_APP {
        return "sent from Instagram (a person, in the app)".into();
    }
    if source == store::messages::INSTAGRAM_PUBLIC_REPLY {
        return "answered publicly under the comment (plugin)".into();
    }
    match source.split_once(':') {
        Some((_, person)) => format!("{} (a person)", escape(person)),
        None => format!("{} (plugin)", escape(source)),
    }
}

/// The conversation, oldest first, refreshing itself (`data-live`).
pub(super) fn thread(view: &LeadView) -> String {
    let lead = &view.lead;
    let items: String = view
        .messages
        .iter()
        .map(|m| {
            let (class, who) = match m.direction {
                Direction::Inbound if m.source == store::messages::INSTAGRAM_COMMENT => (
                    "in",
                    format!("@{}, a comment on a post", escape(&lead.handle)),
                ),
                Direction::Inbound => ("in", format!("@{}", escape(&lead.handle))),
                Direction::Outbound => ("out", author(&m.source)),
            };
            format!(
                "<li class=\"{class}\"><small>{} · {who}</small><br>{}</li>\n",
                format(m.at),
                escape(&m.text)
            )
        })
        .collect();
    format!("<ol id=\"thread\" class=\"thread\" data-live>\n{items}</ol>")
}

/// Where a form goes back to once done: `back` (a console page), else the lead's page.
fn back_field(back: Option<&str>) -> String {
    back.map(|back| {
        format!(
            "<input type=\"hidden\" name=\"back\" value=\"{}\">",
            escape(back)
        )
    })
    .unwrap_or_default()
}

/// The reply forms: typed, or one of the team's saved replies filled in for the lead (each
/// shown as it will read). None for a lead on do-not-contact.
pub(super) fn reply_forms(session: &Session, view: &LeadView, back: Option<&str>) -> String {
    let lead = &view.lead;
    if lead.is_do_not_contact() {
        return String::new();
    }
    let action = format!("/console/leads/{}/reply", path_segment(&lead.handle));
    let back = back_field(back);
    let typed = form(
        session,
        &action,
        &format!(
            "{back}<label>Reply <textarea name=\"text\" required maxlength=\"1000\"></textarea></label>"
        ),
        "Send",
    );
    if view.saved_replies.is_empty() {
        return typed;
    }
    let options: String = view
        .saved_replies
        .iter()
        .map(|saved| {
            let text = crate::domain::template::render(&saved.text, lead);
            format!(
                "<option value=\"{}\" title=\"{}\">{}: {}</option>",
                saved.id,
                escape(&text),
                escape(&saved.name),
                escape(&crate::text::ellipsize(&text, 60))
            )
        })
        .collect();
    let saved = form(
        session,
        &action,
        &format!(
            "{back}<label>Saved reply <select name=\"saved\" required>\
             <option value=\"\">choose…</option>{options}</select></label>"
        ),
        "Send saved reply",
    );
    format!("{typed}<div class=\"saved-replies\">{saved}</div>")
}

/// Who the conversation is with, for the page's reader.
pub(super) fn with_whom(session: &Session, view: &LeadView) -> String {
    match view.assigned_to.as_deref() {
        Some(user) if user == session.user => "you".to_owned(),
        Some(user) => escape(user),
        None => "nobody yet".to_owned(),
    }
}

/// "Take it", or "Release to the team" when the conversation is the user's.
pub(super) fn assignment_form(session: &Session, view: &LeadView, back: Option<&str>) -> String {
    let base = format!("/console/leads/{}", path_segment(&view.lead.handle));
    let back = back_field(back);
    match view.assigned_to.as_deref() == Some(session.user.as_str()) {
        true => form(
            session,
            &format!("{base}/release"),
            &back,
            "Release to the team",
        ),
        false => form(session, &format!("{base}/take"), &back, "Take it"),
    }
}

fn render_lead(session: &Session, view: &LeadView, sent: bool, from_inbox: bool) -> Html<String> {
    let lead = &view.lead;
    let base = format!("/console/leads/{}", path_segment(&lead.handle));
    // Opened from the inbox: it stays the section, and a change comes back to this page so.
    let here = from_inbox.then(|| from_the_inbox(&lead.handle));
    let back = back_field(here.as_deref());
    let thread = thread(view);
    let reply = reply_forms(session, view, here.as_deref());
    let sent = sent_confirmation(sent);
    let consent = match (&lead.status, view.window) {
        (LeadStatus::DoNotContact, _) => format!(
            "<strong>do-not-contact</strong>{}: nothing can be sent",
            lead.dnc_reason
                .as_deref()
                .map(|r| format!(" ({})", escape(r)))
                .unwrap_or_default()
        ),
        (_, window) => format!(
            "may be contacted; the messaging window is {}",
            window.describe()
        ),
    };
    let with = with_whom(session, view);
    let mut details = vec![
        ("Account", escape(&view.account)),
        ("With", with),
        ("Status", escape(lead.status.as_str())),
        (
            "Score",
            lead.score.map(|s| s.to_string()).unwrap_or_default(),
        ),
        ("Consent", consent),
        ("Email", escape(lead.email.as_deref().unwrap_or(""))),
        ("Phone", escape(lead.phone.as_deref().unwrap_or(""))),
        ("Notes", escape(lead.notes.as_deref().unwrap_or(""))),
        ("Tags", escape(&lead.tags.join(", "))),
        ("Imported", format(lead.created_at)),
    ];
    details.extend(
        lead.custom
            .iter()
            .map(|(k, v)| ("Field", format!("{}: {}", escape(k), escape(v)))),
    );
    let details: String = details
        .iter()
        .map(|(k, v)| format!("<dt>{k}</dt><dd>{v}</dd>"))
        .collect();
    let outbox: Vec<Vec<String>> = view
        .more
        .outbox
        .iter()
        .rev()
        .map(|o| {
            vec![
                o.id.to_string(),
                author(&o.plugin),
                escape(&o.status),
                escape(&o.text),
                escape(o.detail.as_deref().unwrap_or("")),
                o.sent_at.map(format).unwrap_or_default(),
            ]
        })
        .collect();
    let events: Vec<Vec<String>> = view
        .more
        .events
        .iter()
        .map(|e| {
            let results: Vec<String> = e
                .results
                .iter()
                .map(|r| {
                    format!(
                        "{}: {} {}",
                        escape(&r.plugin),
                        escape(&format!("{:?}", r.status).to_lowercase()),
                        escape(r.error.as_deref().or(r.outcome.as_deref()).unwrap_or(""))
                    )
                })
                .collect();
            vec![
                e.id.to_string(),
                format(e.created_at),
                escape(e.shown_kind()),
                escape(&e.status),
                results.join("<br>"),
            ]
        })
        .collect();
    let assignment = assignment_form(session, view, here.as_deref());
    let notes: String = view
        .more
        .notes
        .iter()
        .map(|n| {
            format!(
                "<li><small>{} · {}</small><br>{}</li>\n",
                format(n.created_at),
                author(&n.author),
                escape(&n.text)
            )
        })
        .collect();
    let add_note = form(
        session,
        &format!("{base}/note"),
        &format!(
            "{back}<label>Team note <textarea name=\"text\" required maxlength=\"{}\"></textarea></label>",
            operator::NOTE_MAX_CHARS
        ),
        "Add team note",
    );
    let resume = match lead.status == LeadStatus::NeedsHuman {
        true => form(
            session,
            &format!("{base}/resume"),
            &back,
            "Resume automation",
        ),
        false => String::new(),
    };
    let block = match lead.is_do_not_contact() {
        true => String::new(),
        false => destructive_form(
            session,
            &format!("{base}/block"),
            &format!("{back}<input name=\"reason\" placeholder=\"why\" required size=\"14\">"),
            "Block (do-not-contact)",
        ),
    };
    let (section, way_back) = match &here {
        Some(_) => (
            "Inbox",
            format!(
                "<p class=\"back-link\"><a href=\"/console?open={}\">← The conversation in the inbox</a></p>",
                path_segment(&lead.handle)
            ),
        ),
        None => ("Leads", String::new()),
    };
    pages::page(
        session,
        section,
        &format!("@{}", lead.handle),
        &format!(
            "{way_back}<h1>@{} <small>{}</small></h1><dl class=\"details\">{details}</dl>\
             <h2>Conversation</h2>{thread}{sent}\
             {reply}<div class=\"actions\">{assignment}{resume}{}{block}\
             <a class=\"danger\" href=\"{base}/forget\">Forget this lead…</a></div>\
             <h2>Team notes <small>for the team, never sent</small></h2>\
             <ol id=\"notes\" class=\"notes\">\n{notes}</ol>{add_note}\
             <h2>Outbox</h2><div id=\"outbox\" data-live>{}</div>\
             <h2>Events</h2>{}",
            escape(&lead.handle),
            escape(lead.name.as_deref().unwrap_or("")),
            form(session, &format!("{base}/convert"), &back, "Mark converted"),
            table(&["#", "From", "Status", "Text", "Detail", "Sent"], &outbox),
            table(&["#", "At", "Kind", "Status", "Plugins"], &events),
        ),
    )
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
