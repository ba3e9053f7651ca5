//! The operator console: web pages `outreach serve` offers beside the webhooks, under
//! `/console`. Every page but the login needs a console user's session (an HttpOnly,
//! SameSite=Strict cookie that expires); every state-changing request carries the
//! session's CSRF token and comes from this origin; logins are throttled; every response
//! carries security headers (a CSP without inline script, no framing). Stored text is
//! escaped on every page. What a person does here goes through [`crate::operator`], the
//! same code as the CLI, audited as `console:<user>`.

mod accounts;
mod analytics;
mod audit;
mod auth;
mod conversations;
mod html;
mod imports;
mod inbox;
mod leads;
mod pages;
mod plugins;
mod replies;
mod shadow;
mod throttle;
mod upload;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, FromRequest, FromRequestParts as _, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use auth::Session;
pub use auth::{LINK_USER, hash_password, new_login_link, valid_user_name};
use throttle::{Throttle, Wait};

use crate::clock::Clock;
use crate::config::SendingConfig;
use crate::engine::CallsInFlight;
use crate::engine::shadow::ShadowRunner;
use crate::store::Db;

#[derive(Clone)]
struct Console {
    db: Db,
    clock: Arc<dyn Clock>,
    /// A connection of its own for work that takes a while (reports, exports, imports), so
    /// that it holds up no page.
    background: Db,
    imports: Arc<imports::Imports>,
    /// The configured sending defaults, for caps and quiet hours shown per account.
    sending: Arc<SendingConfig>,
    throttle: Arc<Throttle>,
    /// Password checks (argon2, ~20 MB and tens of ms each) run one at a time, off the
    /// async threads: a flood of logins queues here instead of starving the webhooks.
    password_checks: Arc<tokio::sync::Semaphore>,
    /// The engine's hook calls running now, by plugin.
    calls_in_flight: Arc<CallsInFlight>,
    /// The sandbox for shadow runs of a plugin's new version (none where plugins do not
    /// run, as in a benchmark of the pages).
    shadow: Option<Arc<ShadowRunner>>,
}

/// The console's routes, all under `/console`. `db` serves the pages and changes,
/// `background` (another connection to the same file) reports, exports and imports;
/// `calls_in_flight` is the engine's running beside it; `shadow` runs new plugin versions.
pub fn router(
    db: Db,
    background: Db,
    clock: Arc<dyn Clock>,
    sending: SendingConfig,
    calls_in_flight: Arc<CallsInFlight>,
    shadow: Option<ShadowRunner>,
) -> Router {
    let console = Console {
        calls_in_flight,
        shadow: shadow.map(Arc::new),
        db,
        background,
        imports: Arc::default(),
        clock,
        sending: Arc::new(sending),
        throttle: Arc::new(Throttle::default()),
        password_checks: Arc::new(tokio::sync::Semaphore::new(1)),
    };
    Router::new()
        .route("/console/login", get(login_page).post(login))
        .route("/console/login/once/{token}", get(login_once))
        .route("/console/logout", post(logout))
        .route("/console/assets/console.css", get(stylesheet))
        .route("/console/assets/console.js", get(script))
        .merge(inbox::routes())
        .merge(conversations::routes())
        .merge(leads::routes())
        .merge(
            Router::new()
                .merge(conversations::owner_routes())
                .merge(leads::owner_routes())
                .merge(plugins::routes())
                .merge(shadow::routes())
                .merge(audit::routes())
                .merge(analytics::routes())
                .merge(accounts::routes())
                .merge(replies::routes())
                .route_layer(axum::middleware::from_fn_with_state(
                    console.clone(),
                    owners_only,
                )),
        )
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

/// The sections only an owner may open (plugins, grants, accounts, imports, the audit and
/// its export, analytics, forgetting a lead): a 404 for anyone else, as for a page that is
/// not there. Without a session, the login, as everywhere.
async fn owners_only(
    State(console): State<Console>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    match Session::from_request_parts(&mut parts, &console).await {
        Err(to_login) => to_login,
        Ok(session) if !session.access.is_owner() => StatusCode::NOT_FOUND.into_response(),
        Ok(session) => {
            parts.extensions.insert(session);
            next.run(Request::from_parts(parts, body)).await
        }
    }
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: with it a browser sends `Origin: null` on this site's own
        // forms, and the origin check is what refuses a forged cross-site post.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The assets are part of the binary: the console works offline, with no CDN.
async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/console.css"),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/console.js"),
    )
        .into_response()
}

/// A form or query value, trimmed; `None` when empty.
fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The fields of a posted form, in order (a name may repeat).
#[derive(Deserialize)]
#[serde(transparent)]
struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A state-changing request of a logged-in user, its CSRF token and origin checked: 401
/// without a session, 403 without the token or from another origin. Extract it last.
struct Change {
    session: Session,
    fields: Fields,
    /// Who the audit names: `console:<user>`.
    actor: String,
}

impl FromRequest<Console> for Change {
    type Rejection = Response;

    async fn from_request(request: Request, console: &Console) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, console).await?;
        let headers = parts.headers.clone();
        let Form(fields) = Form::<Fields>::from_request(Request::from_parts(parts, body), console)
            .await
            .map_err(IntoResponse::into_response)?;
        if !session.allows(&headers, fields.get("csrf")) {
            return Err(auth::forbidden());
        }
        Ok(Change {
            actor: format!("console:{}", session.user),
            session,
            fields,
        })
    }
}

impl Console {
    /// The database as `session`'s user may see it: on PostgreSQL an agent's transactions
    /// are narrowed to their accounts by row-level security, beneath the pages' own filter.
    fn db_for(&self, session: &Session) -> Db {
        self.db.for_user(&session.user, &session.access)
    }

    /// Runs a read that may take a while (a report, an export) on a blocking thread, so
    /// the async threads keep answering meanwhile.
    async fn read_blocking<R: Send + 'static>(
        &self,
        read: impl FnOnce(&crate::store::Conn<'_>) -> anyhow::Result<R> + Send + 'static,
    ) -> anyhow::Result<R> {
        let db = self.background.clone();
        tokio::task::spawn_blocking(move || db.read(read)).await?
    }
}

/// A page read from the database, or a 500 that logs why (the page never shows it: it may
/// name internals).
fn shown(what: &str, page: anyhow::Result<Html<String>>) -> Response {
    match page {
        Ok(html) => html.into_response(),
        Err(e) => {
            tracing::error!("console {what}: {e:#}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// After a change: back to `back`, or the reason it was not done (a 400 naming it: the
/// rules' refusals are the operator's to read).
fn done(session: &Session, result: anyhow::Result<()>, back: &str) -> Response {
    match result {
        Ok(()) => Redirect::to(back).into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            pages::refused(session, &format!("{e:#}"), back),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

async fn login_page(Query(query): Query<LoginQuery>) -> Response {
    pages::login(None, auth::after_login(query.next.as_deref())).into_response()
}

/// A one-time login link `serve` printed: a session, once.
async fn login_once(
    State(console): State<Console>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Response {
    match auth::log_in_once(&console.db, &token, console.clock.now()) {
        Ok(Some(cookie)) => {
            let mut response = Redirect::to("/console").into_response();
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Ok(None) => (
            StatusCode::UNAUTHORIZED,
            pages::login(Some(
                "This login link was used already or has expired: restart `outreach serve` for a new one, or add a user with `outreach console user add NAME`.",
            ), "/console"),
        )
            .into_response(),
        Err(e) => {
            tracing::error!("console login link: {e:#}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(console): State<Console>,
    client: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let client = throttle::client_address(client.map(|connected| connected.0.0.ip()), &headers);
    let next = auth::after_login(form.next.as_deref());
    if !auth::same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
    }
    let wrong = || {
        (
            StatusCode::UNAUTHORIZED,
            pages::login(Some("Wrong user name or password."), next),
        )
            .into_response()
    };
    if !valid_user_name(&form.user) {
        return wrong();
    }
    let Ok(_turn) = console.password_checks.acquire().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let now = console.clock.now();
    if let Err(wait) = console.throttle.check(client, &form.user, now) {
        let message = match wait {
            Wait::Client(wait) => {
                format!("Too many attempts: try again in {} s.", (wait + 999) / 1000)
            }
            Wait::Everyone => "Many logins at once: try again in a moment.".to_owned(),
        };
        return (
            StatusCode::TOO_MANY_REQUESTS,
            pages::login(Some(&message), next),
        )
            .into_response();
    }
    let db = console.db.clone();
    let (user, password) = (form.user.clone(), form.password);
    let checked =
        tokio::task::spawn_blocking(move || auth::log_in(&db, &user, &password, now)).await;
    match checked.map_err(anyhow::Error::from).and_then(|r| r) {
        Ok(Some(cookie)) => {
            console.throttle.succeeded(client, &form.user);
            let mut response = Redirect::to(next).into_response();
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Ok(None) => {
            console.throttle.failed(client, &form.user, now);
            wrong()
        }
        Err(e) => {
            tracing::error!("console login: {e:#}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn logout(State(console): State<Console>, Change { session, .. }: Change) -> Response {
    if let Err(e) = console.db.write(|tx| {
        crate::store::console::end_session(tx, &session.token_sha256, console.clock.now())
    }) {
        tracing::error!("console logout: {e:#}");
    }
    let mut response = Redirect::to("/console/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, auth::expired_cookie());
    response
}
