//! The accounts page: each sending account's channel, state, today's cap and sends, quiet
//! hours and time zone, with pause (giving a reason) and resume. Credentials are only said
//! to be set or not: no secret reaches a page.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};

use super::pages::{self, destructive_form, escape, form, path_segment, table};
use super::{Change, Console, Session, done, shown};
use crate::clock::Millis;
use crate::config::SendingConfig;
use crate::domain::account::Account;
use crate::operator::admin;
use crate::store;

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/console/accounts", get(page))
        .route("/console/accounts/{name}/{action}", post(act))
}

async fn page(State(console): State<Console>, session: Session) -> Response {
    let now = console.clock.now();
    let page = console.db.read(|c| {
        let accounts = store::accounts::list(c)?
            .into_iter()
            .map(|a| {
                // The day the cap counts: the account's own, in its time zone.
                let sent = match a.sending_rules(&console.sending, now) {
                    Ok(rules) => {
                        let (start, end) = rules.day_bounds(now);
                        Some(store::outbox::sent_between(c, a.id, start, end, u32::MAX)?)
                    }
                    Err(_) => None,
                };
                Ok((a, sent))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(render(&session, &console.sending, &accounts, now))
    });
    shown("accounts", page)
}

fn render(
    session: &Session,
    defaults: &SendingConfig,
    accounts: &[(Account, Option<u32>)],
    now: Millis,
) -> Html<String> {
    let rows: Vec<Vec<String>> = accounts
        .iter()
        .map(|(a, sent_today)| {
            let base = format!("/console/accounts/{}", path_segment(&a.name));
            let (state, action) = match a.paused {
                true => (
                    format!(
                        "<strong>paused</strong> {}",
                        escape(a.pause_reason.as_deref().unwrap_or(""))
                    ),
                    form(session, &format!("{base}/resume"), "", "Resume"),
                ),
                false => (
                    "sending".to_string(),
                    destructive_form(
                        session,
                        &format!("{base}/pause"),
                        "<input name=\"reason\" placeholder=\"why\" required size=\"12\">",
                        "Pause",
                    ),
                ),
            };
            let cap = match a.sending_rules(defaults, now) {
                Ok(rules) => rules.daily_cap.to_string(),
                Err(e) => format!("invalid: {}", escape(&e.to_string())),
            };
            let quiet = a
                .rules
                .quiet_hours
                .clone()
                .unwrap_or_else(|| defaults.quiet_hours.clone());
            vec![
                escape(&a.name),
                a.channel.as_str().to_string(),
                state,
                match sent_today {
                    Some(sent) => format!("{sent} of {cap}"),
                    None => cap,
                },
                escape(if quiet.is_empty() { "none" } else { &quiet }),
                escape(a.rules.timezone.as_deref().unwrap_or(&defaults.timezone)),
                if a.has_credentials { "set" } else { "-" }.into(),
                action,
            ]
        })
        .collect();
    pages::page(
        session,
        "Accounts",
        "Accounts",
        &format!(
            "<h1>Accounts</h1><p class=\"hint\">Caps and quiet hours are changed with <code>outreach account add</code>'s options; pausing holds every message of the account in the outbox.</p>{}",
            table(
                &[
                    "Name",
                    "Channel",
                    "State",
                    "Sent today (its time zone)",
                    "Quiet hours",
                    "Time zone",
                    "Credentials",
                    ""
                ],
                &rows
            )
        ),
    )
}

async fn act(
    State(console): State<Console>,
    Path((name, action)): Path<(String, String)>,
    Change {
        session,
        fields,
        actor,
    }: Change,
) -> Response {
    let now = console.clock.now();
    let reason = fields.get("reason").trim();
    let result = match action.as_str() {
        "pause" if reason.is_empty() => Err(anyhow::anyhow!("say why the account is paused")),
        "pause" => admin::pause_account(&console.db, &actor, &name, Some(reason), now),
        "resume" => admin::pause_account(&console.db, &actor, &name, None, now),
        _ => return axum::response::IntoResponse::into_response(axum::http::StatusCode::NOT_FOUND),
    };
    done(&session, result, "/console/accounts")
}
