//! The leads page: search and filter (text, status, tag, account, score), a page at a
//! time, newest first; and the CSV import by upload, with the same line-numbered rejects
//! as `outreach leads import`.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse as _, Response};
use axum::routing::get;
use serde::Deserialize;

use super::pages::{self, escape, form, lead_link, path_segment, select, table};
use super::{Console, Session, given as some, shown};
use crate::domain::lead::{Lead, LeadStatus};
use crate::leads::import::{ImportOptions, ImportReport, import_bytes};
use crate::store::{self, leads::LeadSearch};

/// Leads per page.
const PAGE: u32 = 100;
/// The largest CSV the console takes (the CLI has no limit: it streams from disk).
const MAX_UPLOAD: usize = 64 * 1024 * 1024;
/// Rejected rows listed on the result page (all are counted).
const REJECTS_SHOWN: usize = 500;

pub fn routes() -> Router<Console> {
    Router::new().route("/console/leads", get(list)).route(
        "/console/import",
        get(import_page)
            .post(upload)
            .layer(DefaultBodyLimit::max(MAX_UPLOAD)),
    )
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
    let page = console.db.read(|c| {
        let accounts = store::accounts::list(c)?;
        let search = LeadSearch {
            text: some(&query.q),
            status: some(&query.status).and_then(|s| s.parse().ok()),
            tag: some(&query.tag),
            account_id: accounts
                .iter()
                .find(|a| a.name == query.account)
                .map(|a| a.id),
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
    .replace("<form ", "<form enctype=\"multipart/form-data\" data-upload ")
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

/// The upload, read into memory (up to [`MAX_UPLOAD`]) and imported like the CLI does.
async fn upload(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let mut csrf = String::new();
    let mut account = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return (StatusCode::BAD_REQUEST, format!("upload: {e}")).into_response(),
        };
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        // The form sends its token first: a file is not even read without it.
        if name == "file" && !session.allows(&headers, &csrf) {
            return super::auth::forbidden();
        }
        let bytes = match field.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return (StatusCode::BAD_REQUEST, format!("upload: {e}")).into_response(),
        };
        match name.as_str() {
            "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
            "account" => account = String::from_utf8_lossy(&bytes).into_owned(),
            "file" => {
                file = Some((
                    file_name.unwrap_or_else(|| "upload.csv".into()),
                    bytes.to_vec(),
                ))
            }
            _ => {}
        }
    }
    if !session.allows(&headers, &csrf) {
        return super::auth::forbidden();
    }
    let Some((file_name, bytes)) = file else {
        return super::done(
            &session,
            Err(anyhow::anyhow!("no file was uploaded")),
            "/console/import",
        );
    };
    let db = console.db.clone();
    let now = console.clock.now();
    let source = file_name.clone();
    let imported = tokio::task::spawn_blocking(move || {
        let account = db.read(|c| store::accounts::require(c, &account))?;
        let options = ImportOptions {
            source: &source,
            account: account.id,
            strict: false,
        };
        import_bytes(&db, &bytes, &options, now, |_, _| {})
    })
    .await
    .map_err(anyhow::Error::from)
    .and_then(|r| r);
    match imported {
        Ok(report) => {
            let accounts = console.db.read(store::accounts::list).unwrap_or_default();
            import_result(&session, &file_name, &report, &accounts).into_response()
        }
        Err(e) => super::done(&session, Err(e), "/console/import"),
    }
}

fn import_result(
    session: &Session,
    file_name: &str,
    report: &ImportReport,
    accounts: &[crate::domain::account::Account],
) -> Html<String> {
    let rejects: String = report
        .rejected
        .iter()
        .take(REJECTS_SHOWN)
        .map(|r| {
            format!(
                "<li>{}:{}: {}</li>\n",
                escape(file_name),
                r.line,
                escape(&r.reason)
            )
        })
        .collect();
    let more = report.rejected_count.saturating_sub(REJECTS_SHOWN);
    let more = match more {
        0 => String::new(),
        n => format!("<p>… and {n} more.</p>"),
    };
    pages::page(
        session,
        "Leads",
        "Import done",
        &format!(
            "<h1>Import done</h1><p role=\"status\" id=\"import-summary\">{}: imported {}, merged {}, rejected {}</p>\
             <ol id=\"rejects\" class=\"rejects\">{rejects}</ol>{more}\
             <p><a href=\"/console/leads\">See the leads</a></p><h2>Import another file</h2>{}",
            escape(file_name),
            report.imported,
            report.merged,
            report.rejected_count,
            import_form(session, accounts)
        ),
    )
}
