//! A shadow run from the plugin page: an owner uploads a new version of an installed
//! plugin and sees, for the events the installed version handled, where the two decide
//! differently; nothing is sent, stored or asked of the AI (`engine::shadow`).

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::post;

use super::pages::{self, escape, path_segment, table};
use super::{Console, Session, upload};
use crate::engine::shadow::{Selection, ShadowReport};

/// The largest component an owner may upload (a Python plugin is ~40 MiB).
const MAX_COMPONENT: usize = 80 * 1024 * 1024;
/// Past events a shadow run from the console replays, as `plugin shadow` does by default.
const EVENTS: u32 = 1000;
/// Differences listed on the page.
const LISTED: usize = 200;

pub fn routes() -> Router<Console> {
    Router::new().route(
        "/console/plugins/{name}/shadow",
        post(run).layer(DefaultBodyLimit::max(MAX_COMPONENT)),
    )
}

/// The form on a plugin's section of the plugins page.
pub fn form(session: &Session, plugin: &str) -> String {
    pages::form(
        session,
        &format!("/console/plugins/{}/shadow", path_segment(plugin)),
        "<label>New version (.wasm) <input type=\"file\" name=\"file\" accept=\".wasm,application/wasm\" required></label>",
        "Shadow-run it",
    )
    .replace("<form ", "<form enctype=\"multipart/form-data\" ")
}

async fn run(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    Path(name): Path<String>,
    multipart: Multipart,
) -> Response {
    let back = format!("/console/plugins#plugin-{}", path_segment(&name));
    let too_large = format!(
        "the component is over {} MiB: shadow-run it with `outreach plugin shadow {name} FILE`",
        MAX_COMPONENT / (1024 * 1024)
    );
    let upload = match upload::read(multipart, &session, &headers, &back, &too_large).await {
        Ok(upload) => upload,
        Err(refused) => return refused,
    };
    let refuse = |why: String| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            pages::refused(&session, &why, &back),
        )
            .into_response()
    };
    let Some(runner) = console.shadow.clone() else {
        return refuse("shadow runs need the sandbox, which this server does not run".into());
    };
    let Some((file_name, wasm)) = upload.file.filter(|(_, bytes)| !bytes.is_empty()) else {
        return refuse("no component was uploaded".into());
    };
    let manifest = match runner.manifest(&wasm).await {
        Ok(manifest) => manifest,
        Err(e) => {
            return refuse(format!(
                "{file_name} is not a plugin this host can run: {e:#}"
            ));
        }
    };
    let selection = Selection {
        since: 0,
        limit: EVENTS,
    };
    match runner.run(&name, (&manifest, &wasm), selection).await {
        Ok(report) => render(&session, &report, &file_name).into_response(),
        Err(e) => refuse(format!("the shadow run of {file_name} failed: {e:#}")),
    }
}

fn render(
    session: &Session,
    report: &ShadowReport,
    file_name: &str,
) -> axum::response::Html<String> {
    let counts: Vec<Vec<String>> = report
        .changes
        .iter()
        .map(|(change, n)| vec![escape(change), n.to_string()])
        .collect();
    let rows: Vec<Vec<String>> = report
        .differences
        .iter()
        .take(LISTED)
        .map(|d| {
            vec![
                d.event_id.to_string(),
                pages::lead_link(&d.handle),
                d.hook.into(),
                escape(d.change),
                escape(&d.installed.to_string()),
                escape(&d.new.to_string()),
            ]
        })
        .collect();
    let not_granted = match report.not_granted.is_empty() {
        true => String::new(),
        false => format!(
            "<p>It newly requests {}: not granted in this run; an upgrade asks for it.</p>",
            escape(
                &(report.not_granted.iter())
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        ),
    };
    let more = match report.differences.len() > LISTED {
        true => format!(
            "<p>… and {} more: <code>outreach plugin shadow {} FILE --json</code> lists them all.</p>",
            report.differences.len() - LISTED,
            escape(&report.plugin)
        ),
        false => String::new(),
    };
    let body = format!(
        "<p>{file} ({new}) beside the installed {installed}, over the last {events} event(s) it \
         handled: <strong id=\"shadow-changed\">{changed}</strong> decided differently. Nothing \
         was sent or written, and no AI was asked (AI calls got a placeholder answer).</p>\
         {not_granted}{counts}{differences}{more}\
         <p><a href=\"/console/plugins#plugin-{id}\">Back to the plugin</a></p>",
        file = escape(file_name),
        new = escape(&report.new_version),
        installed = escape(&report.installed_version),
        events = report.events,
        changed = report.changed,
        counts = match counts.is_empty() {
            true => String::new(),
            false => table(&["Change", "Events"], &counts),
        },
        differences = match rows.is_empty() {
            true => "<p>Every decision is the same.</p>".into(),
            false => table(&["#", "Lead", "Hook", "Change", "Installed", "New"], &rows),
        },
        id = path_segment(&report.plugin),
    );
    pages::page(
        session,
        "Plugins",
        &format!("Shadow run of {}", report.plugin),
        &body,
    )
}
