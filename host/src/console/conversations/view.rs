//! The lead's page and the inbox's pane as HTML: the thread, the reply forms, who has the
//! conversation, and the whole page with the lead's notes, outbox and events.

use axum::response::Html;

use super::{LeadView, from_the_inbox, sent_confirmation};
use crate::clock::format;
use crate::console::Session;
use crate::console::pages::{self, destructive_form, escape, form, path_segment, table};
use crate::domain::lead::LeadStatus;
use crate::operator;
use crate::store::messages::Direction;
use crate::store::{self};

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
pub(in crate::console) fn thread(view: &LeadView) -> String {
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
pub(in crate::console) fn reply_forms(
    session: &Session,
    view: &LeadView,
    back: Option<&str>,
) -> String {
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
pub(in crate::console) fn with_whom(session: &Session, view: &LeadView) -> String {
    match view.assigned_to.as_deref() {
        Some(user) if user == session.user => "you".to_owned(),
        Some(user) => escape(user),
        None => "nobody yet".to_owned(),
    }
}

/// "Take it", or "Release to the team" when the conversation is the user's.
pub(in crate::console) fn assignment_form(
    session: &Session,
    view: &LeadView,
    back: Option<&str>,
) -> String {
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

pub(super) fn render_lead(
    session: &Session,
    view: &LeadView,
    sent: bool,
    from_inbox: bool,
) -> Html<String> {
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
