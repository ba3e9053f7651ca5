//! The console's pages, rendered on the server: plain HTML, no script, every piece of
//! stored text escaped.

use axum::response::Html;

use super::auth::Session;
use crate::clock::format;
use crate::store::console::InboxRow;

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
            "<li><b>@{}</b> {}{waiting} <small>{} · {}</small><br>{}</li>\n",
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
