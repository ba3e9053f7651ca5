//! The leads page: search and filter (text, status, tag, account, score), a page at a
//! time, newest first; and the CSV import by upload, run in the background with its
//! progress on its own page and the same line-numbered rejects as `outreach leads import`.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse as _, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::imports::{REJECTS_KEPT, Watch};
use super::pages::{self, escape, form, lead_link, path_segment, select, table};
use super::{Console, Session, given as some, shown, upload};
use crate::domain::lead::{Lead, LeadStatus};
use crate::leads::import::{ImportOptions, Phase, import_bytes};
use crate::store::{self, leads::LeadSearch};

/// Leads per page.
const PAGE: u32 = 100;
/// The largest CSV the console takes (the CLI has no limit: it streams from disk).
const MAX_UPLOAD: usize = 64 * 1024 * 1024;

/// What an owner or an agent may open (an agent sees their accounts' leads).
pub fn routes() -> Router<Console> {
    Router::new().route("/console/leads", get(list))
}

/// What only an owner may open: imports.
pub fn owner_routes() -> Router<Console> {
    Router::new()
        .route(
            "/console/import",
            get(import_page)
                .post(upload)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .route("/console/import/{id}", get(import_status))
}

#[derive(Deserialize, Default)]
struct LeadQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    min_score: String,
    before: Option<i64>,
    #[serde(default)]
    forgotten: String,
}

async fn list(
    State(console): State<Console>,
    session: Session,
    Query(query): Query<LeadQuery>,
) -> Response {
    let page = console.db_for(&session).read(|c| {
        let mut accounts = store::accounts::list(c)?;
        accounts.retain(|account| session.access.sees_account(account.id));
        let search = LeadSearch {
            text: some(&query.q),
            status: some(&query.status).and_then(|s| s.parse().ok()),
            tag: some(&query.tag),
            account_id: accounts
                .iter()
                .find(|a| a.name == query.account)
                .map(|a| a.id),
            within_accounts: session.access.account_filter(),
            min_score: query.min_score.trim().parse().ok(),
            before_id: query.before,
            limit: PAGE,
        };
        let leads = store::leads::search(c, &search)?;
        Ok(render_list(&session, &query, &accounts, &leads))
    });
    shown("leads", page)
}

fn render_list(
    session: &Session,
    query: &LeadQuery,
    accounts: &[crate::domain::account::Account],
    leads: &[Lead],
) -> Html<String> {
    let statuses: Vec<(String, String)> = LeadStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), s.as_str().to_string()))
        .collect();
    let account_names: Vec<(String, String)> = accounts
        .iter()
        .map(|a| (a.name.clone(), a.name.clone()))
        .collect();
    let filters = format!(
        "<form method=\"get\" action=\"/console/leads\" class=\"filters\">\
         <label>Search <input name=\"q\" value=\"{}\" placeholder=\"handle, name or email\"></label>{}\
         <label>Tag <input name=\"tag\" value=\"{}\" size=\"10\"></label>{}\
         <label>Score at least <input name=\"min_score\" value=\"{}\" size=\"3\" inputmode=\"numeric\"></label>\
         <button type=\"submit\">Filter</button></form>",
        escape(&query.q),
        select("status", "Status", &statuses, &query.status),
        escape(&query.tag),
        select("account", "Account", &account_names, &query.account),
        escape(&query.min_score),
    );
    let rows: Vec<Vec<String>> = leads
        .iter()
        .map(|l| {
            vec![
                lead_link(&l.handle),
                escape(l.name.as_deref().unwrap_or("")),
                escape(l.status.as_str()),
                l.score.map(|s| s.to_string()).unwrap_or_default(),
                escape(&l.tags.join(", ")),
            ]
        })
        .collect();
    let next = match (leads.len() as u32 == PAGE, leads.last()) {
        (true, Some(last)) => format!(
            "<p><a href=\"/console/leads?q={}&amp;status={}&amp;tag={}&amp;account={}&amp;min_score={}&amp;before={}\">Older leads</a></p>",
            path_segment(&query.q),
            path_segment(&query.status),
            path_segment(&query.tag),
            path_segment(&query.account),
            path_segment(&query.min_score),
            last.id
        ),
        _ => String::new(),
    };
    let notice = match query.forgotten.is_empty() {
        true => "",
        false => "<p role=\"status\">The lead was forgotten.</p>",
    };
    pages::page(
        session,
        "Leads",
        "Leads",
        &format!(
            "<h1>Leads</h1>{notice}<p><a href=\"/console/import\">Import a CSV file…</a></p>{filters}{}{next}",
            table(&["Handle", "Name", "Status", "Score", "Tags"], &rows)
        ),
    )
}

fn import_form(session: &Session, accounts: &[crate::domain::account::Account]) -> String {
    let options: String = accounts
        .iter()
        .map(|a| format!("<option>{}</option>", escape(&a.name)))
        .collect();
    form(
        session,
        "/console/import",
        &format!(
            "<label>CSV file <input type=\"file\" name=\"file\" accept=\".csv,text/csv\" required></label>\
             <label>Into account <select name=\"account\">{options}</select></label>\
             <progress id=\"upload-progress\" max=\"100\" value=\"0\" hidden></progress>"
        ),
        "Import",
    )
    .replace(
        "<form ",
        &format!("<form enctype=\"multipart/form-data\" data-upload data-max-bytes=\"{MAX_UPLOAD}\" "),
    )
}

async fn import_page(State(console): State<Console>, session: Session) -> Response {
    let page = console.db.read(store::accounts::list).map(|accounts| {
        pages::page(
            &session,
            "Leads",
            "Import leads",
            &format!(
                "<h1>Import leads</h1><p>A CSV file with a header row; <code>handle</code> is required, \
                 <code>name, email, phone, notes, tags, score</code> and any other column (kept as a custom field) are optional. \
                 Rows already stored are merged; bad rows are listed by line and skipped.</p>{}",
                import_form(&session, &accounts)
            ),
        )
    });
    shown("import", page)
}

/// The upload, read into memory (up to [`MAX_UPLOAD`]) and imported like the CLI does, on
/// a blocking thread; the browser is sent to the import's page.
async fn upload(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let too_large = format!(
        "the file is over {} MiB: split it, or import it with `outreach leads import FILE`, which has no size limit",
        MAX_UPLOAD / (1024 * 1024)
    );
    let upload =
        match upload::read(multipart, &session, &headers, "/console/import", &too_large).await {
            Ok(upload) => upload,
            Err(refused) => return refused,
        };
    let account = upload.fields.get("account").cloned().unwrap_or_default();
    let Some((file_name, bytes)) = upload.file else {
        return super::done(
            &session,
            Err(anyhow::anyhow!("no file was uploaded")),
            "/console/import",
        );
    };
    let file_name = match file_name.is_empty() {
        true => "upload.csv".to_owned(),
        false => file_name,
    };
    let now = console.clock.now();
    let (id, state) = console.imports.start(&session.user, &file_name, now);
    let db = console.background.clone();
    tokio::task::spawn_blocking(move || {
        let mut watch = Watch(state);
        let outcome = db
            .read(|c| store::accounts::require(c, &account))
            .and_then(|account| {
                let options = ImportOptions {
                    source: &file_name,
                    account: account.id,
                    strict: false,
                };
                import_bytes(&db, &bytes, &options, &Watch::settings(), now, &mut watch)
            });
        watch.finish(outcome);
    });
    Redirect::to(&format!("/console/import/{id}")).into_response()
}

/// An import's page: how far it got, refreshed every second while it runs (a meta
/// refresh: no script needed), then its summary and the rejected rows by line.
async fn import_status(
    State(console): State<Console>,
    session: Session,
    Path(id): Path<u64>,
) -> Response {
    let Some(state) = console.imports.get(id, &session.user) else {
        return (
            StatusCode::NOT_FOUND,
            pages::refused(
                &session,
                "no such import (they are kept for an hour)",
                "/console/import",
            ),
        )
            .into_response();
    };
    let accounts = console.db.read(store::accounts::list).unwrap_or_default();
    let file = escape(&state.file_name);
    let rejects: String = state
        .rejects
        .iter()
        .map(|r| format!("<li>{file}:{}: {}</li>\n", r.line, escape(&r.reason)))
        .collect();
    let p = &state.progress;
    let (title, status, refresh) = match &state.done {
        None => {
            let percent = p
                .total_bytes
                .filter(|&total| total > 0)
                .map_or(0, |total| p.bytes * 100 / total);
            let phase = match p.phase {
                Phase::Checking => "checking",
                Phase::Importing => "importing",
            };
            (
                "Importing…",
                format!(
                    "<p role=\"status\" id=\"import-progress\">{file}: {phase}, {percent} % read: \
                     {} rows, imported {}, merged {}, rejected {} so far</p>\
                     <progress max=\"100\" value=\"{percent}\"></progress>",
                    p.rows, p.imported, p.merged, p.rejected
                ),
                true,
            )
        }
        Some(Ok(report)) => {
            let more = report.rejected_count.saturating_sub(state.rejects.len());
            (
                "Import done",
                format!(
                    "<p role=\"status\" id=\"import-summary\">{file}: imported {}, merged {}, rejected {}</p>{}",
                    report.imported,
                    report.merged,
                    report.rejected_count,
                    match more {
                        0 => String::new(),
                        n => format!(
                            "<p>The first {REJECTS_KEPT} rejected rows are listed; {n} more were rejected.</p>"
                        ),
                    }
                ),
                false,
            )
        }
        Some(Err(why)) => (
            "Import failed",
            format!(
                "<p role=\"alert\" id=\"import-summary\">{file}: nothing was imported: {}</p>",
                escape(why)
            ),
            false,
        ),
    };
    let again = match state.done {
        None => String::new(),
        Some(_) => format!(
            "<p><a href=\"/console/leads\">See the leads</a></p><h2>Import another file</h2>{}",
            import_form(&session, &accounts)
        ),
    };
    let body = format!(
        "<h1>{title}</h1>{status}<ol id=\"rejects\" class=\"rejects\">{rejects}</ol>{again}"
    );
    match refresh {
        true => pages::page_refreshing(&session, "Leads", title, &body, 1),
        false => pages::page(&session, "Leads", title, &body),
    }
    .into_response()
}
