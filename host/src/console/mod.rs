//! The operator console: web pages `outreach serve` offers beside the webhooks, under
//! `/console`. Every page but the login needs a console user's session (an HttpOnly,
//! SameSite=Strict cookie that expires); every state-changing request carries the
//! session's CSRF token and comes from this origin; logins are throttled; every response
//! carries security headers (a CSP without inline script, no framing). Stored text is
//! escaped on every page.

mod auth;
mod pages;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

pub use auth::hash_password;
use auth::{Session, Throttle};

use crate::clock::Clock;
use crate::store::Db;

#[derive(Clone)]
struct Console {
    db: Db,
    clock: Arc<dyn Clock>,
    throttle: Arc<Throttle>,
}

/// The console's routes, all under `/console`.
pub fn router(db: Db, clock: Arc<dyn Clock>) -> Router {
    let console = Console {
        db,
        clock,
        throttle: Arc::new(Throttle::default()),
    };
    Router::new()
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console", get(inbox))
        .route("/console/leads/{handle}", get(thread))
        .route("/console/leads/{handle}/{action}", post(act))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn login_page() -> Response {
    pages::login(None).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
}

async fn login(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !auth::same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
    }
    let now = console.clock.now();
    if let Err(wait) = console.throttle.check(&form.user, now) {
        let message = format!("Too many attempts: try again in {} s.", (wait + 999) / 1000);
        return (StatusCode::TOO_MANY_REQUESTS, pages::login(Some(&message))).into_response();
    }
    match auth::log_in(&console.db, &form.user, &form.password, now) {
        Ok(Some(cookie)) => {
            console.throttle.succeeded(&form.user);
            let mut response = Redirect::to("/console").into_response();
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Ok(None) => {
            console.throttle.failed(&form.user, now);
            (
                StatusCode::UNAUTHORIZED,
                pages::login(Some("Wrong user name or password.")),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!("console login: {e:#}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    /// Missing is refused like wrong (403), not as a malformed form.
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !session.allows(&headers, &form.csrf) {
        return auth::forbidden();
    }
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

async fn inbox(State(console): State<Console>, session: Session) -> Response {
    match console.db.read(|c| crate::store::console::inbox(c, 200)) {
        Ok(rows) => pages::inbox(&session, &rows).into_response(),
        Err(e) => {
            tracing::error!("console inbox: {e:#}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn thread(
    State(console): State<Console>,
    session: Session,
    Path(handle): Path<String>,
) -> Response {
    let found = console.db.read(|c| {
        let Some(lead) = crate::store::leads::by_handle(c, &handle)? else {
            return Ok(None);
        };
        let messages: Vec<crate::store::messages::Message> =
            crate::store::messages::recent(c, lead.id, 500)?;
        Ok(Some((lead, messages)))
    });
    match found {
        Ok(Some((lead, messages))) => pages::thread(&session, &lead, &messages).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such lead").into_response(),
        Err(e) => {
            tracing::error!("console thread: {e:#}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Deserialize)]
struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

/// A person's action on a lead: `reply`, `resume` or `convert`, under the same rules as
/// from the CLI, audited as `console:<user>`.
async fn act(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    Path((handle, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    if !session.allows(&headers, &form.csrf) {
        return auth::forbidden();
    }
    let actor = format!("console:{}", session.user);
    let now = console.clock.now();
    let db = &console.db;
    let done: anyhow::Result<Result<(), String>> = match action.as_str() {
        "reply" => crate::operator::reply(db, &actor, &handle, &form.text, now)
            .map(|queued| queued.map(|_| ())),
        "resume" => Ok(crate::operator::resume(db, &actor, &handle, now)
            .map(|_| ())
            .map_err(|e| format!("{e:#}"))),
        "convert" => Ok(crate::operator::convert(db, &actor, &handle, now)
            .map(|_| ())
            .map_err(|e| format!("{e:#}"))),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match done {
        Ok(Ok(())) => Redirect::to(&format!("/console/leads/{}", pages::path_segment(&handle)))
            .into_response(),
        Ok(Err(why)) => (StatusCode::BAD_REQUEST, pages::refused(&why)).into_response(),
        Err(e) => {
            tracing::error!("console {action}: {e:#}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
