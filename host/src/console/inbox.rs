//! The inbox, where a team answers conversations all day: the list (needs-human first,
//! newest first; everyone's, mine or unassigned; searched by handle, name or message) with
//! each reader's own unread counts, and beside it the open conversation with its window,
//! whom it is with and the reply forms. The list and the thread refresh themselves; the
//! script asks `/console/waiting` for who needs a person, for browser notifications.

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse as _, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::conversations::{self, LeadView, Shown};
use super::pages::{self, escape, path_segment};
use super::{Console, Session, shown};
use crate::clock::format;
use crate::domain::lead::LeadStatus;
use crate::store::console::{Assigned, InboxQuery, InboxRow, UNREAD_COUNTED};
use crate::store::{self};

/// Conversations the inbox shows.
const INBOX_SIZE: u32 = 200;
/// Leads waiting for a person that `/console/waiting` names, at most.
const WAITING_NAMED: u32 = 50;
/// The longest search, in characters.
const SEARCH_MAX_CHARS: usize = 100;

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/console", get(inbox))
        .route("/console/waiting", get(waiting))
}

/// `?show=mine|unassigned` (else everyone's), `?q=` a search, `?open=HANDLE` the
/// conversation shown beside the list, `?sent=1` after a reply was queued there.
#[derive(Debug, Default, Clone, serde::Deserialize)]
struct InboxParams {
    #[serde(default)]
    show: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    open: String,
    #[serde(default)]
    sent: Option<String>,
}

impl InboxParams {
    /// This inbox's address with `open` as the open conversation (`""`: none); the
    /// filter and the search kept.
    fn href(&self, open: &str) -> String {
        let query: Vec<String> = [
            ("show", self.show.as_str()),
            ("q", self.search()),
            ("open", open),
        ]
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{key}={}", path_segment(value)))
        .collect();
        match query.is_empty() {
            true => "/console".to_owned(),
            false => format!("/console?{}", query.join("&")),
        }
    }

    fn search(&self) -> &str {
        let q = self.q.trim();
        match q.char_indices().nth(SEARCH_MAX_CHARS) {
            Some((cut, _)) => &q[..cut],
            None => q,
        }
    }
}

/// The inbox's filters: query value and label.
const SHOWS: [(&str, &str); 3] = [("", "All"), ("mine", "Mine"), ("unassigned", "Unassigned")];

async fn inbox(
    State(console): State<Console>,
    session: Session,
    Query(params): Query<InboxParams>,
) -> Response {
    let accounts = session.access.account_filter();
    let query = InboxQuery {
        reader: &session.user,
        unread_after: session.unread_after,
        limit: INBOX_SIZE,
        within_accounts: accounts.as_deref(),
        assigned: match params.show.as_str() {
            "mine" => Assigned::To(&session.user),
            "unassigned" => Assigned::Nobody,
            _ => Assigned::Anyone,
        },
        search: Some(params.search()).filter(|q| !q.is_empty()),
    };
    // The open conversation first: opening it marks it read, which the list then shows.
    let open = match params.open.as_str() {
        "" => Ok(None),
        handle => conversations::open_lead(&console, &session, handle, Shown::Conversation),
    };
    let page = open.and_then(|open| {
        let rows = console
            .db_for(&session)
            .read(|c| store::console::inbox(c, &query))?;
        Ok(inbox_page(&session, &params, &rows, open.as_ref()))
    });
    shown("inbox", page)
}

fn inbox_page(
    session: &Session,
    params: &InboxParams,
    rows: &[InboxRow],
    open: Option<&LeadView>,
) -> Html<String> {
    let open_handle = open.map(|view| view.lead.handle.as_str());
    let list: String = rows
        .iter()
        .map(|row| list_item(session, params, row, open_handle))
        .collect();
    let unread = rows.iter().filter(|row| row.unread > 0).count();
    let filters: Vec<String> = SHOWS
        .iter()
        .map(|(value, label)| {
            let href = InboxParams {
                show: value.to_string(),
                ..params.clone()
            }
            .href("");
            match *value == params.show {
                true => format!("<strong aria-current=\"page\">{label}</strong>"),
                false => format!("<a href=\"{}\">{label}</a>", escape(&href)),
            }
        })
        .collect();
    let search = format!(
        "<form class=\"search\" method=\"get\" action=\"/console\" role=\"search\">{}\
         <input type=\"search\" name=\"q\" value=\"{}\" maxlength=\"{SEARCH_MAX_CHARS}\" \
         placeholder=\"Handle, name or words in a message\" aria-label=\"Search the conversations\">\
         <button type=\"submit\">Search</button></form>",
        match params.show.as_str() {
            "" => String::new(),
            show => format!(
                "<input type=\"hidden\" name=\"show\" value=\"{}\">",
                escape(show)
            ),
        },
        escape(params.search())
    );
    let empty = match (rows.is_empty(), params.search()) {
        (false, _) => String::new(),
        (true, "") => "<p class=\"hint\">No conversations here yet.</p>".to_owned(),
        (true, q) => format!(
            "<p class=\"hint\">No conversation holds “{}”.</p>",
            escape(q)
        ),
    };
    let pane = match open {
        Some(view) => pane(session, params, view),
        None if params.open.is_empty() => {
            "<p class=\"hint\">Choose a conversation to read and answer it here.</p>".to_owned()
        }
        None => format!(
            "<p role=\"alert\">No lead @{} here.</p>",
            escape(&params.open)
        ),
    };
    // A search reads messages: run once when asked, not again every few seconds.
    let live = match params.search() {
        "" => " data-live",
        _ => "",
    };
    let layout = match open {
        Some(_) => "inbox open",
        None => "inbox",
    };
    pages::page(
        session,
        "Inbox",
        "Inbox",
        &format!(
            "<h1>Inbox <small id=\"unread-total\" data-live>{}</small></h1>\
             <div class=\"{layout}\">\
             <section class=\"list\" aria-label=\"Conversations\">\
             <nav class=\"filters\" aria-label=\"Whose conversations\">{}</nav>{search}\
             <p class=\"hint\">Leads waiting for a person first, then the newest. New messages appear by themselves. \
             <button type=\"button\" id=\"notify-me\" hidden>Notify me when someone needs a person</button></p>\
             {empty}<ul id=\"inbox\" class=\"conversations\"{live}>\n{list}</ul></section>\
             <section class=\"pane\" id=\"conversation\" aria-label=\"Conversation\">{pane}</section></div>",
            match unread {
                0 => String::new(),
                1 => "1 conversation unread".to_owned(),
                n => format!("{n} conversations unread"),
            },
            filters.join(" · "),
        ),
    )
}

fn list_item(
    session: &Session,
    params: &InboxParams,
    row: &InboxRow,
    open: Option<&str>,
) -> String {
    let waiting = match row.status == LeadStatus::NeedsHuman.as_str() {
        true => " <strong class=\"waiting\">needs a person</strong>",
        false => "",
    };
    let unread = match row.unread {
        0 => String::new(),
        n if n >= UNREAD_COUNTED => {
            format!(
                " <span class=\"unread\" title=\"unread messages\">{}+</span>",
                UNREAD_COUNTED - 1
            )
        }
        n => format!(" <span class=\"unread\" title=\"unread messages\">{n}</span>"),
    };
    let with = match &row.assigned_to {
        Some(user) if *user == session.user => " · <em>yours</em>".to_owned(),
        Some(user) => format!(" · with {}", escape(user)),
        None => String::new(),
    };
    let selected = match open == Some(row.handle.as_str()) {
        true => " class=\"selected\" aria-current=\"true\"",
        false => "",
    };
    format!(
        "<li{selected}><a class=\"open\" href=\"{}\"><b>@{}</b> {}{waiting}{unread}<br>\
         <small>{} · {}{with}</small><br>{}</a> \
         <a class=\"page\" href=\"{}\">details</a></li>\n",
        escape(&params.href(&row.handle)),
        escape(&row.handle),
        escape(row.name.as_deref().unwrap_or("")),
        escape(&row.status),
        row.last_at.map(format).unwrap_or_default(),
        escape(&crate::text::ellipsize(
            row.last_text.as_deref().unwrap_or(""),
            140
        )),
        conversations::from_the_inbox(&row.handle),
    )
}

/// The open conversation: who, whom it is with, the window, the thread, the reply forms.
fn pane(session: &Session, params: &InboxParams, view: &LeadView) -> String {
    let lead = &view.lead;
    let back = params.href(&lead.handle);
    let window = match lead.is_do_not_contact() {
        true => "do-not-contact: nothing can be sent".to_owned(),
        false => format!("the messaging window is {}", view.window.describe()),
    };
    format!(
        "<p class=\"back\"><a href=\"{}\">← All conversations</a></p>\
         <h2>@{} <small>{}</small></h2>\
         <p class=\"about\">{} · {} · with {} · <a href=\"{}\">the lead's page</a></p>\
         <p class=\"window\">{}</p>{}{}{}<div class=\"actions\">{}</div>",
        escape(&params.href("")),
        escape(&lead.handle),
        escape(lead.name.as_deref().unwrap_or("")),
        escape(&view.account),
        escape(lead.status.as_str()),
        conversations::with_whom(session, view),
        conversations::from_the_inbox(&lead.handle),
        escape(&window),
        conversations::thread(view),
        conversations::sent_confirmation(params.sent.is_some()),
        conversations::reply_forms(session, view, Some(&back)),
        conversations::assignment_form(session, view, Some(&back)),
    )
}

/// A lead waiting for a person, for a browser notification.
#[derive(serde::Serialize)]
struct Waiting {
    handle: String,
    name: String,
}

/// The leads waiting for a person that this user sees, newest first: the script notifies
/// of those it has not seen waiting before. Names are plain text, their invisible
/// formatting characters neutralised as everywhere.
async fn waiting(State(console): State<Console>, session: Session) -> Response {
    let accounts = session.access.account_filter();
    let rows = console
        .db_for(&session)
        .read(|c| store::console::waiting(c, WAITING_NAMED, accounts.as_deref()));
    match rows {
        Ok(rows) => Json(
            rows.into_iter()
                .map(|(handle, name)| Waiting {
                    handle,
                    name: crate::text::terminal_safe(name.as_deref().unwrap_or("")).into_owned(),
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => shown("waiting", Err(e)),
    }
}
