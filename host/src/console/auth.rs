//! Console users' passwords (argon2), sessions, the CSRF and same-origin checks.

use argon2::password_hash::rand_core::{OsRng, RngCore as _};
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::Console;
use crate::clock::{HOUR, Millis, SECOND};
use crate::domain::console_access::Access;
use crate::domain::sha256_hex;
use crate::store::{self, Db};

const COOKIE: &str = "outreach_session";
/// How long a session lasts.
const SESSION_LIFE: Millis = 12 * HOUR;

/// Whether `name` can be a console user's (what `console user add` accepts): checked
/// before anything else is done with a login.
pub fn valid_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Checks the password and starts a session; returns its cookie, or `None` for a wrong
/// user name or password (told apart by nothing, timing included).
pub fn log_in(
    db: &Db,
    user: &str,
    password: &str,
    now: Millis,
) -> anyhow::Result<Option<HeaderValue>> {
    // An unknown user is checked against a hash too, so that the time taken does not say
    // which user names exist.
    const UNKNOWN: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2xqMDzzl7AYhFGR6W2tNuMxkWcKsA1J4ej2uF9kEjLI";
    // A user made for a login link has no password (''): no password logs them in.
    let stored = db
        .read(|c| store::console::password_hash(c, user))?
        .filter(|hash| !hash.is_empty());
    let hash = stored.as_deref().unwrap_or(UNKNOWN);
    let parsed = PasswordHash::new(hash).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
    let matches = argon2::Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    if !(matches && stored.is_some()) {
        return Ok(None);
    }
    start_session(db, user, now).map(Some)
}

/// A new session for `user`; returns its cookie.
fn start_session(db: &Db, user: &str, now: Millis) -> anyhow::Result<HeaderValue> {
    let token = random_hex();
    db.write(|tx| {
        store::console::start_session(
            tx,
            &sha256_hex(token.as_bytes()),
            user,
            &random_hex(),
            now + SESSION_LIFE,
        )
    })?;
    let cookie = format!(
        "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_LIFE / SECOND
    );
    Ok(HeaderValue::from_str(&cookie)?)
}

/// Who a one-time login link logs in, and for how long it works.
pub const LINK_USER: &str = "owner";
pub const LINK_LIFE: Millis = 15 * 60 * SECOND;

/// A new one-time login link's path (earlier ones stop working).
pub fn new_login_link(db: &Db, now: Millis) -> anyhow::Result<String> {
    let token = random_hex();
    db.write(|tx| {
        store::console::add_login_link(
            tx,
            &sha256_hex(token.as_bytes()),
            LINK_USER,
            now,
            now + LINK_LIFE,
        )
    })?;
    Ok(format!("/console/login/once/{token}"))
}

/// Uses up a login link: a session cookie if it was valid.
pub fn log_in_once(db: &Db, token: &str, now: Millis) -> anyhow::Result<Option<HeaderValue>> {
    let user =
        db.write(|tx| store::console::take_login_link(tx, &sha256_hex(token.as_bytes()), now))?;
    user.map(|user| start_session(db, &user, now)).transpose()
}

pub fn expired_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "outreach_session=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
    )
}

/// Whether a request comes from a page of this server: the browser's `Sec-Fetch-Site`
/// says same-origin (a header no page can set; it holds behind a proxy that rewrites
/// `Host`), or else its `Origin` matches `Host`. A client that sends neither (not a
/// browser) passes here and still needs the CSRF token. An opaque `Origin: null` (privacy
/// settings send it) passes only with `Sec-Fetch-Site: same-origin`.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let fetch_site = headers.get("sec-fetch-site").and_then(|s| s.to_str().ok());
    if fetch_site == Some("same-origin") {
        return true;
    }
    match (
        headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()),
        host,
    ) {
        (Some("null"), _) => false,
        (Some(origin), Some(host)) => {
            origin == format!("http://{host}") || origin == format!("https://{host}")
        }
        (Some(_), None) => false,
        (None, _) => fetch_site.is_none_or(|site| site == "same-origin" || site == "none"),
    }
}

/// A logged-in console user. As an extractor it refuses a request without a valid
/// session: a page is redirected to the login, anything else is 401. Read once a request:
/// a route layer that looked it up leaves it in the request's extensions.
#[derive(Clone)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    pub token_sha256: String,
    /// What the user may reach, as it is at this request.
    pub access: Access,
    /// Messages up to this id were there before the user was: none is new to them.
    pub unread_after: i64,
}

impl Session {
    /// The checks of a state-changing request: same origin and this session's CSRF token.
    pub fn allows(&self, headers: &HeaderMap, csrf: &str) -> bool {
        let token_ok = csrf.len() == self.csrf.len()
            && csrf
                .bytes()
                .zip(self.csrf.bytes())
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0;
        same_origin(headers) && token_ok
    }
}

/// The answer to a change [`Session::allows`] refused.
pub fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "missing or wrong CSRF token, or another origin",
    )
        .into_response()
}

impl FromRequestParts<Console> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        if let Some(session) = parts.extensions.get::<Session>() {
            return Ok(session.clone());
        }
        let token = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .find_map(|pair| {
                pair.trim()
                    .strip_prefix(&format!("{COOKIE}="))
                    .map(str::to_owned)
            });
        let found = match token {
            Some(token) => {
                let token_sha256 = sha256_hex(token.as_bytes());
                console
                    .db
                    .read(|c| store::console::session(c, &token_sha256, console.clock.now()))
                    .ok()
                    .flatten()
                    .map(|row| Session {
                        user: row.user,
                        csrf: row.csrf,
                        access: row.access,
                        unread_after: row.unread_after,
                        token_sha256,
                    })
            }
            None => None,
        };
        found.ok_or_else(|| {
            if parts.method == axum::http::Method::GET {
                // Back to the page asked for once logged in (a link someone was sent).
                let asked = parts
                    .uri
                    .path_and_query()
                    .map_or("/console", |p| p.as_str());
                Redirect::to(&format!(
                    "/console/login?next={}",
                    super::html::path_segment(asked)
                ))
                .into_response()
            } else {
                (StatusCode::UNAUTHORIZED, "log in first").into_response()
            }
        })
    }
}

/// Where to go after logging in: `next` when it is a console page of this site, else the
/// inbox. Never another site (`//evil.example`, `/\\evil.example`, `https://…`), never the
/// login or logout itself.
pub fn after_login(next: Option<&str>) -> &str {
    next.filter(|next| is_console_page(next))
        .unwrap_or("/console")
}

/// Whether `next` is a console page of this site to send the browser to: after a login,
/// or back where a change was made.
pub fn is_console_page(next: &str) -> bool {
    let path = next.split(['?', '#']).next().unwrap_or("");
    // Dot segments, plain or encoded, would leave /console once the browser
    // normalises the path.
    let dot_segment = path
        .to_ascii_lowercase()
        .replace("%2e", ".")
        .split(['/', '\\'])
        .any(|segment| segment == "." || segment == "..");
    (path == "/console" || path.starts_with("/console/"))
        && !path.contains("//")
        && !dot_segment
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c == ' ')
        && !path.starts_with("/console/login")
        && path != "/console/logout"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_login_goes_back_to_a_console_page_and_never_elsewhere() {
        assert_eq!(
            after_login(Some("/console/leads/lena.studio")),
            "/console/leads/lena.studio"
        );
        assert_eq!(
            after_login(Some("/console/leads?status=new&q=x")),
            "/console/leads?status=new&q=x"
        );
        for elsewhere in [
            "//evil.example/console",
            "/console//evil.example",
            "https://evil.example/console",
            "/\\evil.example",
            "/console\\..\\x",
            "/consolex",
            "/console/login?next=//evil",
            "/console/logout",
            "/console/\u{0}x",
            "/console/x/../login/once/TOKEN",
            "/console/%2e%2e/login",
            "/console/%2E%2E/%2E%2E/elsewhere",
            "/console/./x",
            "",
        ] {
            assert_eq!(after_login(Some(elsewhere)), "/console", "{elsewhere:?}");
        }
        assert_eq!(after_login(None), "/console");
        // A search that holds an address is still a console page.
        assert_eq!(
            after_login(Some("/console/leads?q=https://shop.example")),
            "/console/leads?q=https://shop.example"
        );
    }
}
