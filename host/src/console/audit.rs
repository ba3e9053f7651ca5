//! The audit page: every host call a plugin made and every action a person or the host
//! took, filtered by plugin (or person), lead, action and denied-only, newest first, and
//! the same selection exported as CSV.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse as _, Response};
use axum::routing::get;
use serde::Deserialize;

use super::pages::{self, escape, lead_link, path_segment, table};
use super::{Console, Session, given as some, shown};
use crate::clock::format;
use crate::store::{self, audit::AuditFilter, audit::AuditRow};

/// Rows the page shows; the export takes up to [`EXPORTED`].
const SHOWN: u32 = 500;
const EXPORTED: u32 = 1_000_000;

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/console/audit", get(page))
        .route("/console/audit.csv", get(export))
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    #[serde(default)]
    plugin: String,
    #[serde(default)]
    lead: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    denied: String,
}

impl AuditQuery {
    fn query_string(&self) -> String {
        format!(
            "plugin={}&lead={}&action={}&denied={}",
            path_segment(&self.plugin),
            path_segment(&self.lead),
            path_segment(&self.action),
            path_segment(&self.denied)
        )
    }
}

/// The rows asked for, oldest first; `None` when the lead named does not exist.
fn rows(
    c: &crate::store::Conn<'_>,
    query: &AuditQuery,
    limit: u32,
) -> anyhow::Result<Option<Vec<AuditRow>>> {
    {
        let lead_id = match some(&query.lead) {
            Some(handle) => match store::leads::find_handle(c, &handle)? {
                Some(lead) => Some(lead.id),
                None => return Ok(None),
            },
            None => None,
        };
        let filter = AuditFilter {
            plugin: some(&query.plugin),
            lead_id,
            action: some(&query.action),
            denied_only: !query.denied.is_empty(),
            limit,
        };
        store::audit::list(c, &filter).map(Some)
    }
}

async fn page(
    State(console): State<Console>,
    session: Session,
    Query(query): Query<AuditQuery>,
) -> Response {
    shown(
        "audit",
        console
            .db
            .read(|c| rows(c, &query, SHOWN))
            .map(|rows| render(&session, &query, rows.as_deref())),
    )
}

fn render(session: &Session, query: &AuditQuery, rows: Option<&[AuditRow]>) -> Html<String> {
    let filters = format!(
        "<form method=\"get\" action=\"/console/audit\" class=\"filters\">\
         <label>Plugin or person <input name=\"plugin\" value=\"{}\" size=\"14\"></label>\
         <label>Lead <input name=\"lead\" value=\"{}\" size=\"14\"></label>\
         <label>Action <input name=\"action\" value=\"{}\" size=\"14\" placeholder=\"leads.read\"></label>\
         <label><input type=\"checkbox\" name=\"denied\" value=\"1\"{}> denied only</label>\
         <button type=\"submit\">Filter</button></form>\
         <p><a href=\"/console/audit.csv?{}\" download>Export these as CSV</a></p>",
        escape(&query.plugin),
        escape(&query.lead),
        escape(&query.action),
        if query.denied.is_empty() {
            ""
        } else {
            " checked"
        },
        escape(&query.query_string()),
    );
    let listing = match rows {
        None => format!("<p role=\"alert\">No lead @{}.</p>", escape(&query.lead)),
        Some(rows) => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .rev()
                .map(|r| {
                    vec![
                        format(r.at),
                        escape(&r.plugin),
                        escape(&r.action),
                        escape(r.permission.as_deref().unwrap_or("")),
                        r.lead.as_deref().map(lead_link).unwrap_or_default(),
                        match r.allowed {
                            true => "allowed".into(),
                            false => "<strong class=\"denied\">denied</strong>".into(),
                        },
                        escape(r.detail.as_deref().unwrap_or("")),
                    ]
                })
                .collect();
            table(
                &[
                    "At",
                    "Plugin or person",
                    "Action",
                    "Permission",
                    "Lead",
                    "",
                    "Detail",
                ],
                &cells,
            )
        }
    };
    pages::page(
        session,
        "Audit",
        "Audit",
        &format!("<h1>Audit</h1>{filters}<div id=\"audit\">{listing}</div>"),
    )
}

/// One CSV field: quoted when it must be, and a leading `=`, `+`, `-` or `@` defused so a
/// spreadsheet never runs stored text as a formula.
fn csv_field(text: &str) -> String {
    let text = match text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        true => format!("'{text}"),
        false => text.to_string(),
    };
    match text.contains([',', '"', '\n', '\r']) {
        true => format!("\"{}\"", text.replace('"', "\"\"")),
        false => text,
    }
}

async fn export(
    State(console): State<Console>,
    _session: Session,
    Query(query): Query<AuditQuery>,
) -> Response {
    let rows = console
        .read_blocking(move |c| rows(c, &query, EXPORTED))
        .await;
    match rows {
        Ok(rows) => {
            let mut csv = String::from("at,plugin,action,permission,lead,allowed,detail\n");
            for r in rows.unwrap_or_default() {
                let fields = [
                    format(r.at),
                    r.plugin,
                    r.action,
                    r.permission.unwrap_or_default(),
                    r.lead.unwrap_or_default(),
                    r.allowed.to_string(),
                    r.detail.unwrap_or_default(),
                ];
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                csv.push_str(&line.join(","));
                csv.push('\n');
            }
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"outreach-audit.csv\"",
                    ),
                ],
                csv,
            )
                .into_response()
        }
        Err(e) => shown("audit export", Err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn a_csv_field_is_quoted_when_it_must_be_and_never_a_formula() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("-2,3"), "\"'-2,3\"");
        assert_eq!(csv_field("\t=1"), "'\t=1");
    }
}
