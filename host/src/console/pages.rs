//! The console's pages, rendered on the server: plain HTML, no script, every piece of
//! stored text escaped.

use axum::response::Html;

use super::auth::Session;
use crate::clock::format;
use crate::domain::lead::Lead;
use crate::store::console::InboxRow;
use crate::store::messages::{Direction, Message};

/// `text` safe inside HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · outreach</title></head><body>\n{body}\n</body></html>\n",
        escape(title)
    ))
}

pub fn login(message: Option<&str>) -> Html<String> {
    let message = message
        .map(|m| format!("<p role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default();
    page(
        "Log in",
        &format!(
            "<h1>outreach</h1>{message}\
             <form method=\"post\" action=\"/console/login\">\
             <label>User <input name=\"user\" autocomplete=\"username\" required></label>\
             <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
             <button type=\"submit\">Log in</button></form>"
        ),
    )
}

pub fn inbox(session: &Session, rows: &[InboxRow]) -> Html<String> {
    let mut list = String::new();
    for row in rows {
        let waiting = if row.status == "needs-human" {
            " <strong>needs a person</strong>"
        } else {
            ""
        };
        list.push_str(&format!(
            "<li><a href=\"/console/leads/{}\"><b>@{}</b></a> {}{waiting} <small>{} · {}</small><br>{}</li>\n",
            path_segment(&row.handle),
            escape(&row.handle),
            escape(row.name.as_deref().unwrap_or("")),
            escape(&row.status),
            row.last_at.map(format).unwrap_or_default(),
            escape(row.last_text.as_deref().unwrap_or("")),
        ));
    }
    page(
        "Inbox",
        &format!(
            "<header>Logged in as {} \
             <form method=\"post\" action=\"/console/logout\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\">Log out</button></form></header>\
             <h1>Inbox</h1><ul>\n{list}</ul>",
            escape(&session.user),
            escape(&session.csrf)
        ),
    )
}

/// `text` as one URL path segment (handles are letters, digits, '.' and '_'; anything else
/// is percent-encoded all the same).
pub fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

pub fn refused(why: &str) -> Html<String> {
    page(
        "Not done",
        &format!(
            "<p role=\"alert\">{}</p><p><a href=\"/console\">Back to the inbox</a></p>",
            escape(why)
        ),
    )
}

/// One conversation, with the reply form and the actions on the lead.
pub fn thread(session: &Session, lead: &Lead, messages: &[Message]) -> Html<String> {
    let mut list = String::new();
    for m in messages {
        let who = match m.direction {
            Direction::Inbound => format!("@{}", lead.handle),
            Direction::Outbound => m.source.clone(),
        };
        list.push_str(&format!(
            "<li><small>{} · {}</small><br>{}</li>\n",
            format(m.at),
            escape(&who),
            escape(&m.text)
        ));
    }
    let base = format!("/console/leads/{}", path_segment(&lead.handle));
    let csrf = escape(&session.csrf);
    let button = |action: &str, label: &str| {
        format!(
            "<form method=\"post\" action=\"{base}/{action}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\">{label}</button></form>"
        )
    };
    page(
        &format!("@{}", lead.handle),
        &format!(
            "<p><a href=\"/console\">Inbox</a></p><h1>@{} <small>{}</small></h1>\
             <p>{} · {}</p><ol>\n{list}</ol>\
             <form method=\"post\" action=\"{base}/reply\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label>Reply <textarea name=\"text\" required maxlength=\"1000\"></textarea></label>\
             <button type=\"submit\">Send</button></form>{}{}",
            escape(&lead.handle),
            escape(lead.name.as_deref().unwrap_or("")),
            escape(lead.status.as_str()),
            if lead.is_do_not_contact() {
                "do-not-contact: nothing can be sent"
            } else {
                "replies go through the outbox and the account's safety rules"
            },
            button("resume", "Resume automation"),
            button("convert", "Mark converted"),
        ),
    )
}
