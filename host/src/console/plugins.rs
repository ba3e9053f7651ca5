//! The plugins page: each installed plugin's version, hooks, requested and granted
//! permissions (grant and revoke one at a time), settings, enable/disable, its resource
//! figures, and its failed events with a replay button.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};

use super::pages::{self, destructive_form, escape, form, lead_link, path_segment, table};
use super::{Change, Console, Session, done, shown};
use crate::clock::format;
use crate::domain::permission::Permission;
use crate::figures::{bytes, duration_us, fuel};
use crate::operator::admin;
use crate::store::events::{EventFilter, EventSummary};
use crate::store::plugins::InstalledPlugin;
use crate::store::usage::PluginUsage;
use crate::store::{self, events::ResultStatus};

/// Failed events listed per plugin.
const FAILED_SHOWN: u32 = 20;

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/console/plugins", get(list))
        .route("/console/plugins/{name}/{action}", post(act))
        .route("/console/events/{id}/replay", post(replay))
}

struct PluginView {
    plugin: InstalledPlugin,
    settings: Vec<(String, String)>,
    usage: Option<PluginUsage>,
    failed: Vec<EventSummary>,
    /// Its hook calls running now.
    in_flight: u32,
}

async fn list(State(console): State<Console>, session: Session) -> Response {
    let page = console.db.read(|c| {
        let views = store::plugins::list(c)?
            .into_iter()
            .map(|plugin| {
                let name = plugin.name().to_string();
                let filter = EventFilter {
                    failed_only: true,
                    plugin: Some(&name),
                    limit: FAILED_SHOWN,
                    ..Default::default()
                };
                Ok(PluginView {
                    in_flight: console.calls_in_flight.of(&name),
                    settings: store::plugins::settings(c, &name)?,
                    usage: store::usage::get(c, &name)?,
                    failed: store::events::list(c, &filter)?,
                    plugin,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(render(&session, &views))
    });
    shown("plugins", page)
}

fn usage_line(usage: Option<&PluginUsage>, in_flight: u32) -> String {
    let so_far = match usage {
        None => "no hook calls yet".into(),
        Some(u) => format!(
            "{} hook calls, {} failed · p50 {} · p99 {} · {} in all · {} fuel in all · memory up to {}",
            u.calls,
            u.failures,
            duration_us(u.p50_wall_us),
            duration_us(u.p99_wall_us),
            duration_us(u.total_wall_us),
            fuel(u.total_fuel),
            bytes(u.max_memory)
        ),
    };
    match in_flight {
        0 => so_far,
        running => format!("{running} running now · {so_far}"),
    }
}

fn render(session: &Session, views: &[PluginView]) -> Html<String> {
    let mut body = String::from("<h1>Plugins</h1>");
    if views.is_empty() {
        body.push_str("<p>No plugin is installed: <code>outreach plugin install NAME</code>.</p>");
    }
    for view in views {
        body.push_str(&render_plugin(session, view));
    }
    pages::page(session, "Plugins", "Plugins", &body)
}

fn render_plugin(session: &Session, view: &PluginView) -> String {
    let p = &view.plugin;
    let m = &p.manifest;
    let base = format!("/console/plugins/{}", path_segment(&m.name));
    let hooks: Vec<&str> = m.hooks.iter().map(|h| h.as_str()).collect();
    let permissions: Vec<Vec<String>> = m
        .permissions
        .iter()
        .map(|perm| {
            let granted = p.granted.contains(perm);
            let field = format!(
                "<input type=\"hidden\" name=\"permission\" value=\"{}\">",
                perm.as_str()
            );
            let toggle = match granted {
                true => destructive_form(
                    session,
                    &format!("{base}/revoke"),
                    &field,
                    &format!("Revoke {}", perm.as_str()),
                ),
                false => form(
                    session,
                    &format!("{base}/grant"),
                    &field,
                    &format!("Grant {}", perm.as_str()),
                ),
            };
            vec![
                format!("<code>{}</code>", perm.as_str()),
                escape(perm.describe()),
                match granted {
                    true => "<span class=\"granted\">granted</span>".into(),
                    false => "<span class=\"denied\">not granted</span>".into(),
                },
                toggle,
            ]
        })
        .collect();
    let settings: Vec<Vec<String>> = view
        .settings
        .iter()
        .map(|(k, v)| {
            vec![
                format!("<code>{}</code>", escape(k)),
                format!("<pre>{}</pre>", escape(v)),
                form(
                    session,
                    &format!("{base}/unset"),
                    &format!(
                        "<input type=\"hidden\" name=\"key\" value=\"{}\">",
                        escape(k)
                    ),
                    "Unset",
                ),
            ]
        })
        .collect();
    let failed: Vec<Vec<String>> = view
        .failed
        .iter()
        .map(|e| {
            let why: Vec<String> = e
                .results
                .iter()
                .filter(|r| r.plugin == m.name && r.status != ResultStatus::Done)
                .map(|r| escape(r.error.as_deref().unwrap_or("")))
                .collect();
            vec![
                e.id.to_string(),
                format(e.created_at),
                escape(e.shown_kind()),
                lead_link(&e.lead),
                why.join("<br>"),
                form(
                    session,
                    &format!("/console/events/{}/replay", e.id),
                    "",
                    "Replay",
                ),
            ]
        })
        .collect();
    let (state, toggle) = match p.enabled {
        true => (
            "enabled",
            destructive_form(session, &format!("{base}/disable"), "", "Disable"),
        ),
        false => (
            "disabled",
            form(session, &format!("{base}/enable"), "", "Enable"),
        ),
    };
    format!(
        "<section class=\"plugin\" id=\"plugin-{id}\"><h2>{name} <small>{version} · {state}</small></h2>\
         <p>{description}</p><p>Hooks: {hooks} · {signed} · installed {installed} · sha256 <code>{sha}</code></p>\
         <p class=\"figures\">{usage}</p><div class=\"actions\">{toggle}</div>\
         <h3>Permissions</h3>{permissions}\
         <h3>Settings</h3>{settings}{set}\
         <h3>Failed events</h3>{failed}\
         <h3>Try a new version</h3><p>What it would decide about the last events this one \
         handled, beside this one: nothing is sent or written.</p>{shadow}</section>",
        id = path_segment(&m.name),
        name = escape(&m.name),
        version = escape(&m.version),
        description = escape(&m.description),
        hooks = escape(&hooks.join(", ")),
        installed = format(p.installed_at),
        signed = match &p.publisher {
            Some(publisher) => format!("signed by {}", escape(publisher)),
            None => "not signed by a trusted publisher".into(),
        },
        sha = escape(&p.sha256[..p.sha256.len().min(12)]),
        usage = usage_line(view.usage.as_ref(), view.in_flight),
        permissions = match permissions.is_empty() {
            true => "<p>It asks for nothing.</p>".into(),
            false => table(&["Permission", "What it allows", "State", ""], &permissions),
        },
        settings = match settings.is_empty() {
            true => "<p>No settings.</p>".into(),
            false => table(&["Key", "Value", ""], &settings),
        },
        set = form(
            session,
            &format!("{base}/set"),
            "<label>Key <input name=\"key\" required></label>\
             <label>Value <textarea name=\"value\" rows=\"2\"></textarea></label>",
            "Set",
        ),
        shadow = super::shadow::form(session, &m.name),
        failed = match failed.is_empty() {
            true => "<p>None.</p>".into(),
            false => table(&["#", "At", "Kind", "Lead", "Why", ""], &failed),
        },
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
    let db = &console.db;
    let permission = || -> anyhow::Result<Vec<Permission>> {
        let name = fields.get("permission");
        Ok(vec![name.parse().map_err(anyhow::Error::msg)?])
    };
    let result = match action.as_str() {
        "grant" => permission().and_then(|p| admin::grant(db, &actor, &name, &p, now)),
        "revoke" => permission().and_then(|p| admin::revoke(db, &actor, &name, &p, now)),
        "enable" => admin::set_enabled(db, &actor, &name, true, now),
        "disable" => admin::set_enabled(db, &actor, &name, false, now),
        "set" => {
            let key = fields.get("key").trim();
            match key.is_empty() {
                true => Err(anyhow::anyhow!("a setting needs a key")),
                false => {
                    admin::configure(db, &actor, &name, &[(key, Some(fields.get("value")))], now)
                }
            }
        }
        "unset" => admin::configure(db, &actor, &name, &[(fields.get("key"), None)], now),
        _ => return axum::response::IntoResponse::into_response(axum::http::StatusCode::NOT_FOUND),
    };
    done(
        &session,
        result,
        &format!("/console/plugins#plugin-{}", path_segment(&name)),
    )
}

async fn replay(
    State(console): State<Console>,
    Path(id): Path<i64>,
    Change { session, actor, .. }: Change,
) -> Response {
    let result = admin::replay(&console.db, &actor, id, console.clock.now()).and_then(|found| {
        anyhow::ensure!(found, "no event #{id}");
        Ok(())
    });
    done(&session, result, "/console/plugins")
}
