//! The console's page frame and the pieces every page uses: the navigation, forms that
//! carry the CSRF token, escaping (from [`super::html`]). Pages are plain HTML rendered on
//! the server; the one script (`/console/assets/console.js`) only adds live refresh, upload
//! progress and browser notifications.

use axum::response::Html;

use super::auth::Session;
pub use super::html::{escape, path_segment};

/// A link to a lead's page.
pub fn lead_link(handle: &str) -> String {
    format!(
        "<a href=\"/console/leads/{}\">@{}</a>",
        path_segment(handle),
        escape(handle)
    )
}

/// The sections, and whether only an owner may open them.
const SECTIONS: [(&str, &str, bool); 7] = [
    ("/console", "Inbox", false),
    ("/console/leads", "Leads", false),
    ("/console/plugins", "Plugins", true),
    ("/console/audit", "Audit", true),
    ("/console/analytics", "Analytics", true),
    ("/console/accounts", "Accounts", true),
    ("/console/replies", "Replies", true),
];

fn frame(title: &str, nav: &str, body: &str) -> Html<String> {
    framed(title, "", nav, body)
}

fn framed(title: &str, head: &str, nav: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{head}\
         <title>{} · outreach</title>\
         <link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
         <script src=\"/console/assets/console.js\" defer></script></head><body>\n\
         {nav}<main>\n{body}\n</main></body></html>\n",
        escape(title)
    ))
}

/// A page for a logged-in user: the navigation, `current` marked, and the log-out button.
pub fn page(session: &Session, current: &str, title: &str, body: &str) -> Html<String> {
    framed(title, "", &navigation(session, current), body)
}

/// [`page`] that the browser loads again every `seconds` (something under way).
pub fn page_refreshing(
    session: &Session,
    current: &str,
    title: &str,
    body: &str,
    seconds: u32,
) -> Html<String> {
    let head = format!("<meta http-equiv=\"refresh\" content=\"{seconds}\">");
    framed(title, &head, &navigation(session, current), body)
}

fn navigation(session: &Session, current: &str) -> String {
    let links: String = SECTIONS
        .iter()
        .filter(|(_, _, owners_only)| !owners_only || session.access.is_owner())
        .map(|(href, label, _)| {
            let here = if *label == current {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<a href=\"{href}\"{here}>{label}</a>")
        })
        .collect();
    format!(
        "<nav><b>outreach</b>{links}<span class=\"user\">{}</span>{}</nav>",
        escape(&session.user),
        form(session, "/console/logout", "", "Log out")
    )
}

/// A POST form with the session's CSRF token, `fields` inside and one submit button.
pub fn form(session: &Session, action: &str, fields: &str, button: &str) -> String {
    form_with_button(session, action, fields, button, "")
}

/// [`form`] for what cannot simply be undone (forget, block, revoke, disable, pause): its
/// button looks different from every other.
pub fn destructive_form(session: &Session, action: &str, fields: &str, button: &str) -> String {
    form_with_button(session, action, fields, button, " class=\"danger\"")
}

fn form_with_button(
    session: &Session,
    action: &str,
    fields: &str,
    button: &str,
    button_class: &str,
) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">{fields}\
         <button type=\"submit\"{button_class}>{button}</button></form>",
        escape(&session.csrf)
    )
}

/// A `<select>` of `options` (value, label) with `selected` chosen; `""` is "any".
pub fn select(name: &str, label: &str, options: &[(String, String)], selected: &str) -> String {
    let mut html =
        format!("<label>{label} <select name=\"{name}\"><option value=\"\">any</option>");
    for (value, text) in options {
        let chosen = if value == selected { " selected" } else { "" };
        html.push_str(&format!(
            "<option value=\"{}\"{chosen}>{}</option>",
            escape(value),
            escape(text)
        ));
    }
    html.push_str("</select></label>");
    html
}

/// A table of already-escaped cells.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let head: String = headers.iter().map(|h| format!("<th>{h}</th>")).collect();
    let body: String = rows
        .iter()
        .map(|row| {
            let cells: String = row.iter().map(|c| format!("<td>{c}</td>")).collect();
            format!("<tr>{cells}</tr>\n")
        })
        .collect();
    format!("<table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>")
}

/// The login form; `next` is where to go once logged in ([`super::auth::after_login`]).
pub fn login(message: Option<&str>, next: &str) -> Html<String> {
    let message = message
        .map(|m| format!("<p role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default();
    let next = format!(
        "<input type=\"hidden\" name=\"next\" value=\"{}\">",
        escape(next)
    );
    frame(
        "Log in",
        "",
        &format!(
            "<h1>outreach</h1>{message}\
             <form method=\"post\" action=\"/console/login\" class=\"login\">\
             <label>User <input name=\"user\" autocomplete=\"username\" required></label>\
             <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
             {next}<button type=\"submit\">Log in</button></form>"
        ),
    )
}

/// What was refused and why, with the way back.
pub fn refused(session: &Session, why: &str, back: &str) -> Html<String> {
    page(
        session,
        "",
        "Not done",
        &format!(
            "<h1>Not done</h1><p role=\"alert\">{}</p><p><a href=\"{}\">Back</a></p>",
            escape(why),
            escape(back)
        ),
    )
}
