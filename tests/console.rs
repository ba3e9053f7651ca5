//! The web console over plain HTTP, against the real `outreach serve`: nothing but the
//! webhooks without a login, sessions in strict cookies, CSRF and origin checks on every
//! change, a login throttle, security headers, and stored markup shown as text.

mod support;

use std::process::Stdio;

use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE,
};
use support::{Backend, Sandbox, Served};

const PASSWORD: &str = "correct horse battery";

/// The demo, a lead whose name and message are markup, a console user, and `serve`.
fn console() -> (Sandbox, Served) {
    console_with("")
}

/// [`console`] with more configuration.
fn console_with(extra_config: &str) -> (Sandbox, Served) {
    console_on_with(Backend::Sqlite, "", extra_config)
}

/// [`console`] with its data on `backend`.
fn console_on(backend: Backend, label: &str) -> (Sandbox, Served) {
    console_on_with(backend, label, "")
}

fn console_on_with(backend: Backend, label: &str, extra_config: &str) -> (Sandbox, Served) {
    let sandbox = support::instagram_sandbox("app-secret", "verify-token", "token", extra_config)
        .with_backend(backend, label);
    // (The Instagram webhook is on here, so that the test can see it is not behind the
    // login; `serve` also runs without it.)
    sandbox.ok(&["demo"]);
    let csv = sandbox.write(
        "x.csv",
        "handle,name\nmallory,<script>alert('name')</script>\n",
    );
    sandbox.ok(&["leads", "import", csv.to_str().unwrap()]);
    sandbox.ok(&["inbox", "push", "mallory", "<img src=x onerror=alert(1)>"]);
    support::add_console_user(&sandbox, "sam", PASSWORD);
    let served = support::serve(&sandbox);
    (sandbox, served)
}

const FORM: &str = "application/x-www-form-urlencoded";

/// A form body, as a browser encodes it.
fn form(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A console page's HTML, fetched with a session cookie.
async fn page_text(url: String, session: &str) -> String {
    client()
        .get(url)
        .header(COOKIE, session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn root(served: &Served) -> String {
    served
        .base()
        .trim_end_matches("/webhooks/instagram")
        .to_owned()
}

async fn log_in(served: &Served, password: &str) -> reqwest::Response {
    client()
        .post(format!("{}/console/login", root(served)))
        .header(CONTENT_TYPE, FORM)
        .body(form(&[("user", "sam"), ("password", password)]))
        .send()
        .await
        .unwrap()
}

/// The session cookie of a successful login, as the browser would send it back.
async fn session(served: &Served) -> String {
    let response = log_in(served, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn nothing_but_the_webhooks_answers_without_a_login() {
    let (_sandbox, served) = console();
    let base = root(&served);
    let page = client()
        .get(format!("{base}/console"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()[LOCATION], "/console/login?next=%2Fconsole");
    let change = client()
        .post(format!("{base}/console/logout"))
        .header(CONTENT_TYPE, FORM)
        .body(form(&[("csrf", "x")]))
        .send()
        .await
        .unwrap();
    assert_eq!(change.status(), StatusCode::UNAUTHORIZED);
    let forged = client()
        .get(format!("{base}/console"))
        .header(COOKIE, "outreach_session=0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::SEE_OTHER);
    // The webhook is not behind the login: Meta's handshake gets its own answer.
    let webhook = client()
        .get(format!(
            "{base}/webhooks/instagram?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(webhook.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_login_gives_a_strict_cookie_and_the_inbox_shows_markup_as_text() {
    let (_sandbox, served) = console();
    assert_eq!(
        log_in(&served, "wrong password!").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let response = log_in(&served, PASSWORD).await;
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=43200",
        "Path=/console",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = client()
        .get(format!("{}/console", root(&served)))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    // The one script is the console's own file: nothing inline, nothing stored.
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script src=\"/console/assets/console.js\" defer></script>")
            .count(),
        "{html}"
    );
    assert!(!html.contains("<img"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;"),
        "{html}"
    );
    // The lead waiting for a person comes first.
    let first = html.find("<li>").unwrap();
    assert!(
        html[first..].starts_with(
            "<li><a class=\"open\" href=\"/console?open=lena.studio\"><b>@lena.studio</b>"
        ),
        "{html}"
    );
}

#[tokio::test]
async fn a_change_needs_the_sessions_csrf_token_and_this_origin() {
    let (_sandbox, served) = console();
    let base = root(&served);
    let session = session(&served).await;
    let page = page_text(format!("{base}/console"), &session).await;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let logout = |csrf: &'static str, origin: Option<&'static str>| {
        let mut request = client()
            .post(format!("{base}/console/logout"))
            .header(COOKIE, &session)
            .header(CONTENT_TYPE, FORM)
            .body(form(&[("csrf", csrf)]));
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        request.send()
    };
    let csrf: &'static str = Box::leak(csrf.into_boxed_str());
    assert_eq!(
        logout("", None).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        logout("0000", None).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        logout(csrf, Some("http://evil.example"))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    // A browser behind a proxy that rewrites Host: Sec-Fetch-Site (no page can set it)
    // vouches for the origin, and the token still has to match.
    let proxied = |csrf: &str| {
        client()
            .post(format!("{base}/console/logout"))
            .header(COOKIE, &session)
            .header(CONTENT_TYPE, FORM)
            .header("host", "outreach-internal:8787")
            .header(ORIGIN, "https://outreach.example.com")
            .header("sec-fetch-site", "same-origin")
            .body(form(&[("csrf", csrf)]))
            .send()
    };
    assert_eq!(
        proxied("0000").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // An upload without the token is refused before its file is read.
    let boundary = "XyZ";
    let upload = client()
        .post(format!("{base}/console/import"))
        .header(COOKIE, &session)
        .header(
            CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"account\"\r\n\r\ndefault\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n\
             Content-Type: text/csv\r\n\r\nhandle\nforged.lead\n\r\n--{boundary}--\r\n"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::FORBIDDEN);
    // A user name no one can have is wrong at once, whatever its size.
    let huge = client()
        .post(format!("{base}/console/login"))
        .header(CONTENT_TYPE, FORM)
        .body(form(&[("user", &"x".repeat(100_000)), ("password", "p")]))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(proxied(csrf).await.unwrap().status(), StatusCode::SEE_OTHER);
    // The session is over.
    let after = client()
        .get(format!("{base}/console"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn repeated_wrong_passwords_make_even_the_right_one_wait() {
    let (_sandbox, served) = console();
    for _ in 0..5 {
        assert_eq!(
            log_in(&served, "not the password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        log_in(&served, PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_link_opened_before_logging_in_is_where_the_login_leads() {
    let (_sandbox, served) = console();
    let base = root(&served);
    let opened = client()
        .get(format!("{base}/console/leads/lena.studio"))
        .send()
        .await
        .unwrap();
    let login = opened.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(
        login,
        "/console/login?next=%2Fconsole%2Fleads%2Flena.studio"
    );
    let form_page = client().get(format!("{base}{login}")).send().await.unwrap();
    let html = form_page.text().await.unwrap();
    assert!(
        html.contains("name=\"next\" value=\"/console/leads/lena.studio\""),
        "{html}"
    );
    let log_in_to = |next: &str| {
        client()
            .post(format!("{base}/console/login"))
            .header(CONTENT_TYPE, FORM)
            .body(form(&[
                ("user", "sam"),
                ("password", PASSWORD),
                ("next", next),
            ]))
            .send()
    };
    let back = log_in_to("/console/leads/lena.studio").await.unwrap();
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert_eq!(back.headers()[LOCATION], "/console/leads/lena.studio");
    // Never to another site, whatever `next` says.
    for elsewhere in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let landed = log_in_to(elsewhere).await.unwrap();
        assert_eq!(landed.headers()[LOCATION], "/console", "{elsewhere}");
    }
}

/// A login from another client: another loopback address (Linux routes all of 127.0.0.0/8
/// to this machine). Returns the status and the page.
async fn log_in_from(
    served: &Served,
    from: [u8; 4],
    user: &str,
    password: &str,
) -> (StatusCode, String) {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(std::net::IpAddr::from(from))
        .build()
        .unwrap()
        .post(format!("{}/console/login", root(served)))
        .header(CONTENT_TYPE, FORM)
        .body(form(&[("user", user), ("password", password)]))
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn guessing_from_one_client_never_locks_the_owner_out_from_another() {
    let (_sandbox, served) = console();
    let attacker = [127, 0, 0, 66];
    for _ in 0..8 {
        let (status, _) = log_in_from(&served, attacker, "sam", "a guess").await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
            "{status}"
        );
    }
    let (status, page) = log_in_from(&served, attacker, "sam", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.contains("Too many attempts"), "{page}");
    // Sam, from their own machine, at once.
    let (status, _) = log_in_from(&served, [127, 0, 0, 7], "sam", PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // Made-up names from one client: it soon waits, whatever name it tries next.
    let guesser = [127, 0, 0, 99];
    let mut tries = 0;
    loop {
        tries += 1;
        let (status, page) = log_in_from(&served, guesser, &format!("made-up-{tries}"), "x").await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            // Its own bound, or (on a fast machine) the one for failing clients together.
            assert!(
                page.contains("Too many attempts") || page.contains("Many logins at once"),
                "{page}"
            );
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(tries < 25, "no limit after {tries} made-up names");
    }
    let (status, _) = log_in_from(&served, [127, 0, 0, 7], "sam", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "and still none for sam elsewhere"
    );
}

/// The CSRF token on a page.
fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned()
}

async fn a_person_answers_a_handed_over_lead_from_the_thread_page(backend: Backend) {
    let (sandbox, served) = console_on(backend, "a_person_answers_a_handed_over_lead_from");
    let base = root(&served);
    let session = session(&served).await;
    let get = |path: String| {
        client()
            .get(format!("{base}{path}"))
            .header(COOKIE, &session)
            .send()
    };
    let page = get("/console/leads/lena.studio".into()).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Can I talk to a real person about a refund?"),
        "{html}"
    );
    // What cannot simply be undone looks different from the rest.
    assert!(
        html.contains("<button type=\"submit\" class=\"danger\">Block (do-not-contact)</button>")
            && html.contains("<button type=\"submit\">Mark converted</button>"),
        "{html}"
    );
    let csrf = csrf_of(&html);
    let post = |path: &str, body: String| {
        client()
            .post(format!("{base}{path}"))
            .header(COOKIE, &session)
            .header(CONTENT_TYPE, FORM)
            .body(body)
            .send()
    };
    let text = "Hi Lena, Sam here: the refund is on its way.";
    let without_token = post("/console/leads/lena.studio/reply", form(&[("text", text)]));
    assert_eq!(without_token.await.unwrap().status(), StatusCode::FORBIDDEN);
    let sent = post(
        "/console/leads/lena.studio/reply",
        form(&[("csrf", &csrf), ("text", text)]),
    )
    .await
    .unwrap();
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    // The outbox sends it (serve runs the engine), marked as the person's.
    support::eventually("the reply is sent", || {
        sandbox
            .conversation("lena.studio")
            .iter()
            .any(|m| m.contains("Sam here"))
    });
    let shown = get("/console/leads/lena.studio".into())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(shown.contains("sam (a person)"), "{shown}");
    assert!(sandbox.audit().iter().any(|r| r["plugin"] == "console:sam"
        && r["action"] == "conversations.reply"
        && r["allowed"] == true));

    // The rules hold here too: nothing to someone who said stop.
    let refused = post(
        "/console/leads/jonas_builds/reply",
        form(&[("csrf", &csrf), ("text", "come back?")]),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("lead is do-not-contact")
    );

    let resumed = post(
        "/console/leads/lena.studio/resume",
        form(&[("csrf", &csrf)]),
    );
    assert_eq!(resumed.await.unwrap().status(), StatusCode::SEE_OTHER);
    assert_eq!(sandbox.lead("lena.studio")["lead"]["status"], "replied");
}

#[tokio::test]
async fn serve_offers_the_console_without_an_instagram_app() {
    let sandbox = Sandbox::new("");
    sandbox.ok(&["demo"]);
    let served = support::serve(&sandbox);
    assert!(served.url.ends_with("/console"), "{}", served.url);
    let page = client()
        .get(format!("{}/console/login", served.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let webhook = client()
        .get(format!("{}/webhooks/instagram", served.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(webhook.status(), StatusCode::NOT_FOUND);
}

const PAGES: [&str; 13] = [
    "/console",
    "/console?open=lena.studio&q=refund",
    "/console/waiting",
    "/console/replies",
    "/console/leads?q=lena",
    "/console/leads/lena.studio",
    "/console/leads/lena.studio/forget",
    "/console/import",
    "/console/plugins",
    "/console/audit?denied=1",
    "/console/audit.csv",
    "/console/analytics",
    "/console/accounts",
];

const CHANGES: [(&str, &[(&str, &str)]); 18] = [
    ("/console/leads/lena.studio/block", &[("reason", "forged")]),
    ("/console/leads/lena.studio/reply", &[("text", "hello")]),
    ("/console/leads/lena.studio/resume", &[]),
    ("/console/leads/lena.studio/convert", &[]),
    (
        "/console/leads/lena.studio/forget",
        &[("confirm", "lena.studio")],
    ),
    (
        "/console/plugins/ai-reply/revoke",
        &[("permission", "messages:read")],
    ),
    (
        "/console/plugins/ai-reply/grant",
        &[("permission", "messages:read")],
    ),
    ("/console/plugins/ai-reply/disable", &[]),
    ("/console/plugins/ai-reply/enable", &[]),
    (
        "/console/plugins/followup/set",
        &[("key", "x"), ("value", "1")],
    ),
    ("/console/plugins/followup/unset", &[("key", "steps")]),
    ("/console/events/1/replay", &[]),
    ("/console/accounts/default/pause", &[("reason", "forged")]),
    ("/console/accounts/default/resume", &[]),
    ("/console/leads/lena.studio/take", &[]),
    ("/console/replies", &[("name", "forged"), ("text", "hi")]),
    ("/console/replies/1/remove", &[]),
    ("/console/logout", &[]),
];

async fn every_page_needs_a_session_and_every_change_its_token_and_origin(backend: Backend) {
    let (sandbox, served) = console_on(backend, "every_page_needs_a_session_and_every_cha");
    let base = root(&served);
    // What the changes would touch (the engine `serve` runs may still be answering the
    // fixture's message meanwhile, so not the whole export).
    let state = || {
        let export: serde_json::Value = serde_json::from_str(&sandbox.ok(&["export"])).unwrap();
        let plugins: Vec<_> = export["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["granted"].clone(),
                    p["enabled"].clone(),
                    p["settings"].clone(),
                )
            })
            .collect();
        let lena = export["leads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["handle"] == "lena.studio")
            .map(|l| (l["status"].clone(), l["messages"].as_array().unwrap().len()));
        let people = export["audit"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["plugin"].as_str().unwrap().contains(':'))
            .count();
        (
            plugins,
            export["accounts"][0]["paused"].clone(),
            lena,
            people,
        )
    };
    let before = state();
    assert!(before.2.is_some());
    for path in PAGES {
        let page = client().get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::SEE_OTHER, "{path}");
        let location = page.headers()[LOCATION].to_str().unwrap();
        assert!(
            location.starts_with("/console/login?next=%2Fconsole"),
            "{path}: {location}"
        );
    }
    for (path, fields) in CHANGES {
        let anonymous = client()
            .post(format!("{base}{path}"))
            .header(CONTENT_TYPE, FORM)
            .body(form(fields))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let session = session(&served).await;
    let page = page_text(format!("{base}/console/plugins"), &session).await;
    let csrf = csrf_of(&page);
    let own_origin: &'static str = base.clone().leak();
    for (path, fields) in CHANGES {
        let post = |fields: Vec<(&str, &str)>, origin: &'static str, site: &'static str| {
            client()
                .post(format!("{base}{path}"))
                .header(COOKIE, &session)
                .header(CONTENT_TYPE, FORM)
                .header(ORIGIN, origin)
                .header("sec-fetch-site", site)
                .body(form(&fields))
        };
        let no_token = post(fields.to_vec(), own_origin, "same-origin");
        assert_eq!(
            no_token.send().await.unwrap().status(),
            StatusCode::FORBIDDEN,
            "{path} without a token"
        );
        let with_token: Vec<(&str, &str)> = [("csrf", csrf.as_str())]
            .into_iter()
            .chain(fields.iter().copied())
            .collect();
        for (origin, site) in [
            ("http://evil.example", "cross-site"),
            ("null", "cross-site"),
        ] {
            let forged = post(with_token.clone(), origin, site);
            assert_eq!(
                forged.send().await.unwrap().status(),
                StatusCode::FORBIDDEN,
                "{path} from {origin}"
            );
        }
    }
    // Not one of them changed anything or was recorded as done.
    assert_eq!(state(), before);
}

async fn stored_markup_is_text_on_every_page_and_formulas_are_defused_in_the_export(
    backend: Backend,
) {
    let (sandbox, served) = console_on(backend, "stored_markup_is_text_on_every_page_and_");
    let base = root(&served);
    // A person's note about mallory in the audit, written as markup and a formula.
    sandbox.ok(&[
        "account",
        "pause",
        "default",
        "--reason",
        "=HYPERLINK(\"http://evil\")<b>x</b>",
    ]);
    let session = session(&served).await;
    for path in [
        "/console",
        "/console/leads",
        "/console/leads?q=mallory",
        "/console/leads/mallory",
        "/console/audit",
        "/console/accounts",
    ] {
        let html = page_text(format!("{base}{path}"), &session).await;
        assert!(!html.contains("<script>alert"), "{path}: {html}");
        assert!(!html.contains("<img src=x"), "{path}: {html}");
        assert!(!html.contains("<b>x</b>"), "{path}: {html}");
    }
    let lead = page_text(format!("{base}/console/leads/mallory"), &session).await;
    assert!(
        lead.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{lead}"
    );
    let csv = page_text(
        format!("{base}/console/audit.csv?action=account.pause"),
        &session,
    )
    .await;
    let row = csv.lines().nth(1).unwrap_or_else(|| panic!("{csv}"));
    assert!(row.contains("account.pause"), "{csv}");
    assert!(
        !row.contains(",=HYPERLINK") && !row.contains(",\"=HYPERLINK"),
        "{csv}"
    );
}

async fn a_blocked_lead_gets_nothing_more_and_the_block_is_the_persons(backend: Backend) {
    let (sandbox, served) = console_on(backend, "a_blocked_lead_gets_nothing_more_and_the");
    let base = root(&served);
    let session = session(&served).await;
    // The handle as a person types it finds the lead too.
    let page = page_text(format!("{base}/console/leads/@Anna.Agency"), &session).await;
    assert!(page.contains("Anna Weiss"), "{page}");
    let csrf = csrf_of(&page);
    let post = |path: &str, fields: &[(&str, &str)]| {
        client()
            .post(format!("{base}{path}"))
            .header(COOKIE, &session)
            .header(CONTENT_TYPE, FORM)
            .body(form(fields))
            .send()
    };
    let no_reason = post(
        "/console/leads/anna.agency/block",
        &[("csrf", &csrf), ("reason", " ")],
    );
    assert_eq!(no_reason.await.unwrap().status(), StatusCode::BAD_REQUEST);
    let blocked = post(
        "/console/leads/anna.agency/block",
        &[("csrf", &csrf), ("reason", "asked by phone")],
    );
    assert_eq!(blocked.await.unwrap().status(), StatusCode::SEE_OTHER);
    let lead = sandbox.lead("anna.agency");
    assert_eq!(lead["lead"]["status"], "do-not-contact");
    assert!(sandbox.audit().iter().any(|r| r["plugin"] == "console:sam"
        && r["action"] == "leads.block"
        && r["detail"].as_str().unwrap().contains("asked by phone")));
    let reply = post(
        "/console/leads/anna.agency/reply",
        &[("csrf", &csrf), ("text", "one more thing")],
    );
    assert_eq!(reply.await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert!(
        !sandbox
            .conversation("anna.agency")
            .iter()
            .any(|m| m.contains("one more thing"))
    );
}

/// `serve`'s one-time login link, read from its standard error.
fn serve_with_link(sandbox: &Sandbox) -> (std::process::Child, String, Option<String>) {
    use std::io::BufRead as _;
    let mut child = sandbox
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let root = line
        .split_whitespace()
        .nth(2)
        .and_then(|url| url.split("/console").next())
        .unwrap()
        .to_owned();
    // Keep reading both pipes so that `serve` never writes into a closed one.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let (found, link) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if !sent && line.contains("no console user has a password yet") {
                let url = line
                    .split_whitespace()
                    .find(|w| w.contains("/console/login/once/"));
                let _ = found.send(url.map(str::to_owned));
                sent = true;
            }
        }
        if !sent {
            let _ = found.send(None);
        }
    });
    let link = link
        .recv_timeout(std::time::Duration::from_millis(1500))
        .ok()
        .flatten();
    (child, root, link)
}

#[tokio::test]
async fn after_the_demo_serve_prints_a_link_that_logs_in_once() {
    let sandbox = Sandbox::new("[engine]\npoll_ms = 20\n");
    sandbox.ok(&["demo"]);
    let (mut serve, root, link) = serve_with_link(&sandbox);
    let link = link.expect("serve printed no login link");
    assert!(link.starts_with(&root), "{link} on {root}");
    let first = client().get(&link).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let cookie = first.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let session = cookie.split(';').next().unwrap().to_owned();
    let inbox = client()
        .get(format!("{root}/console"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(inbox.status(), StatusCode::OK);
    assert!(inbox.text().await.unwrap().contains("@lena.studio"));
    // Once only, and a made-up token is nothing.
    for url in [
        link.clone(),
        format!("{root}/console/login/once/{}", "ab".repeat(32)),
    ] {
        let again = client().get(&url).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::UNAUTHORIZED, "{url}");
        assert!(again.headers().get(SET_COOKIE).is_none());
    }
    // The link's user has no password to guess: an empty one does not log in.
    let empty = client()
        .post(format!("{root}/console/login"))
        .header(CONTENT_TYPE, FORM)
        .body(form(&[("user", "owner"), ("password", "")]))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::UNAUTHORIZED);
    serve.kill().unwrap();
    serve.wait().unwrap();

    // Once someone has a password, `serve` prints no more links, and the session the
    // link opened is over.
    support::add_console_user(&sandbox, "sam", PASSWORD);
    let (mut serve, root, link) = serve_with_link(&sandbox);
    assert_eq!(link, None);
    let ended = client()
        .get(format!("{root}/console"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    serve.kill().unwrap();
    serve.wait().unwrap();
}

/// The console is one more writer on the database the engine works through: people
/// reading every page, replying, changing a plugin's settings and pausing an account
/// while the engine works through a backlog and another process writes too. Nothing may
/// fail with "database is locked", the engine must finish, and every reply must land.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_engine_runs_on_while_people_use_the_console() {
    // No cap or pacing to wait for: every send of the backlog and every reply goes out.
    let (sandbox, mut served) = console_with(
        "\n[sending]\ndaily_cap = 1000000\nmin_gap_seconds = 0\njitter_seconds = 0\nquiet_hours = \"\"\n",
    );
    let mut csv = String::from("handle,name,followers\n");
    for i in 0..1_500 {
        csv.push_str(&format!("busy{i},Busy {i},{}\n", 500 + i * 7));
    }
    let file = sandbox.write("busy.csv", &csv);
    sandbox.ok(&["leads", "import", file.to_str().unwrap()]);
    let base = root(&served);
    let session = session(&served).await;
    let csrf = csrf_of(&page_text(format!("{base}/console"), &session).await);
    let readers = (0..3).map(|n| {
        let (base, session) = (base.clone(), session.clone());
        tokio::spawn(async move {
            let pages = [
                "/console",
                "/console/leads?q=busy1",
                "/console/leads?status=contacted",
                "/console/analytics",
                "/console/audit?denied=1",
                "/console/plugins",
                "/console/accounts",
                "/console/leads/lena.studio",
            ];
            for round in 0..12 {
                let path = pages[(round + n) % pages.len()];
                let status = client()
                    .get(format!("{base}{path}"))
                    .header(COOKIE, &session)
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status, StatusCode::OK, "{path}");
            }
        })
    });
    let writer = {
        let (base, session, csrf) = (base.clone(), session.clone(), csrf.clone());
        tokio::spawn(async move {
            let mut replies = Vec::new();
            for i in 0..10 {
                let text = format!("Reply number {i} from Sam");
                for (path, fields) in [
                    (
                        "/console/leads/lena.studio/reply",
                        vec![("csrf", csrf.as_str()), ("text", text.as_str())],
                    ),
                    (
                        "/console/plugins/followup/set",
                        vec![
                            ("csrf", csrf.as_str()),
                            ("key", "note"),
                            ("value", text.as_str()),
                        ],
                    ),
                    (
                        "/console/accounts/default/pause",
                        vec![("csrf", csrf.as_str()), ("reason", "a short break")],
                    ),
                    (
                        "/console/accounts/default/resume",
                        vec![("csrf", csrf.as_str())],
                    ),
                ] {
                    let status = client()
                        .post(format!("{base}{path}"))
                        .header(COOKIE, &session)
                        .header(CONTENT_TYPE, FORM)
                        .body(form(&fields))
                        .send()
                        .await
                        .unwrap()
                        .status();
                    assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
                }
                replies.push(text);
            }
            replies
        })
    };
    // And another process writing meanwhile: messages arriving through the CLI.
    let cli = {
        let dir = sandbox.dir.path().to_owned();
        tokio::task::spawn_blocking(move || {
            for i in 0..10 {
                let status = std::process::Command::new(env!("CARGO_BIN_EXE_outreach"))
                    .current_dir(&dir)
                    .args(["inbox", "push", "mara.fit", &format!("question {i}")])
                    .status()
                    .unwrap();
                assert!(status.success());
            }
        })
    };
    for reader in readers {
        reader.await.unwrap();
    }
    let replies = writer.await.unwrap();
    cli.await.unwrap();
    assert!(served.is_running(), "serve died under the load");
    // Every reply went out, once each, and the engine got through its backlog.
    // A 1,500-lead backlog: more patience than a single message needs on a busy machine.
    let patience = std::time::Duration::from_secs(120);
    support::eventually_within(patience, "the replies are sent", || {
        let sent = sandbox.conversation("lena.studio");
        replies
            .iter()
            .all(|r| sent.iter().filter(|m| m.contains(r.as_str())).count() == 1)
    });
    support::eventually_within(patience, "the backlog is done", || {
        sandbox
            .json(&["events", "--limit", "100000"])
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "done")
    });
    assert!(served.is_running());
}

/// A multipart body as a browser sends the import form: the token first, then the file.
fn upload_body(boundary: &str, csrf: &str, file_name: &str, csv: &str) -> String {
    format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"account\"\r\n\r\ndefault\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    )
}

#[tokio::test]
async fn an_upload_over_the_limit_is_refused_saying_so() {
    let (_sandbox, mut served) = console();
    let base = root(&served);
    let session = session(&served).await;
    let csrf = csrf_of(&page_text(format!("{base}/console/import"), &session).await);
    let huge = format!("handle\n{}", "x".repeat(65 * 1024 * 1024));
    let refused = client()
        .post(format!("{base}/console/import"))
        .header(COOKIE, &session)
        .header(CONTENT_TYPE, "multipart/form-data; boundary=b0undary")
        .body(upload_body("b0undary", &csrf, "huge.csv", &huge))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("role=\"alert\">the file is over 64 MiB"),
        "{page}"
    );
    assert!(served.is_running());
}

async fn an_upload_imports_in_the_background_and_its_page_follows_it_to_the_end(backend: Backend) {
    let (sandbox, served) = console_on(backend, "an_upload_imports_in_the_background_and_");
    let base = root(&served);
    let session = session(&served).await;
    let csrf = csrf_of(&page_text(format!("{base}/console/import"), &session).await);
    // 20,600 rows, every 35th (from line 3 on) without a handle.
    let mut csv = String::from("handle,name\n");
    let mut bad_lines = Vec::new();
    for i in 0..20_600 {
        if i % 35 == 1 {
            csv.push_str(",No Handle\n");
            bad_lines.push(i + 2);
        } else {
            csv.push_str(&format!("upload{i},Upload {i}\n"));
        }
    }
    let (good, bad) = (20_600 - bad_lines.len(), bad_lines.len());
    let started = client()
        .post(format!("{base}/console/import"))
        .header(COOKIE, &session)
        .header(CONTENT_TYPE, "multipart/form-data; boundary=b0undary")
        .body(upload_body("b0undary", &csrf, "big.csv", &csv))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let page = format!("{base}{}", started.headers()[LOCATION].to_str().unwrap());
    assert!(page.contains("/console/import/"), "{page}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let done = loop {
        let html = page_text(page.clone(), &session).await;
        if html.contains("id=\"import-summary\"") {
            break html;
        }
        // Under way: the page reloads itself and says how far it got.
        assert!(
            html.contains("http-equiv=\"refresh\"") && html.contains("id=\"import-progress\""),
            "{html}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the import never ended"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(
        done.contains(&format!(
            "big.csv: imported {good}, merged 0, rejected {bad}"
        )),
        "{done}"
    );
    assert!(!done.contains("http-equiv=\"refresh\""));
    // The first 500 rejects by line, and the rest counted.
    assert_eq!(done.matches("<li>big.csv:").count(), 500);
    assert!(done.contains(&format!("<li>big.csv:{}:", bad_lines[0])));
    assert!(
        done.contains(&format!("{} more were rejected", bad - 500)),
        "{done}"
    );
    assert_eq!(sandbox.lead("upload20599")["lead"]["name"], "Upload 20599");
    // Only the user who started it sees it.
    support::add_console_user(&sandbox, "kim", PASSWORD);
    let kim = {
        let response = client()
            .post(format!("{base}/console/login"))
            .header(CONTENT_TYPE, FORM)
            .body(form(&[("user", "kim"), ("password", PASSWORD)]))
            .send()
            .await
            .unwrap();
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        cookie.split(';').next().unwrap().to_owned()
    };
    let other = client()
        .get(&page)
        .header(COOKIE, &kim)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

on_both_backends!(async:
    every_page_needs_a_session_and_every_change_its_token_and_origin,
    stored_markup_is_text_on_every_page_and_formulas_are_defused_in_the_export,
    a_person_answers_a_handed_over_lead_from_the_thread_page,
    an_upload_imports_in_the_background_and_its_page_follows_it_to_the_end,
    a_blocked_lead_gets_nothing_more_and_the_block_is_the_persons,
);

/// A component uploaded as the plugin page's form sends it: the token, then the file.
fn component_upload(boundary: &str, csrf: Option<&str>, wasm: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(csrf) = csrf {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"v2.wasm\"\r\n\
             Content-Type: application/wasm\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend(wasm);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

#[tokio::test]
async fn the_plugin_page_shadow_runs_a_new_version_as_the_cli_does() {
    let (sandbox, served) = console();
    let base = root(&served);
    let session = session(&served).await;
    let v2 = support::plugin_wasm("outreach_fixture_scorer_v2.wasm");
    let from_cli = sandbox.json(&["plugin", "shadow", "lead-scorer", &v2]);
    let plugins = page_text(format!("{base}/console/plugins"), &session).await;
    assert!(
        plugins.contains("/console/plugins/lead-scorer/shadow"),
        "{plugins}"
    );
    let csrf = csrf_of(&plugins);
    let wasm = std::fs::read(&v2).unwrap();
    let post = |csrf: Option<String>| {
        client()
            .post(format!("{base}/console/plugins/lead-scorer/shadow"))
            .header(COOKIE, &session)
            .header(CONTENT_TYPE, "multipart/form-data; boundary=b0undary")
            .body(component_upload("b0undary", csrf.as_deref(), &wasm))
            .send()
    };
    let forged = post(None).await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let shown = post(Some(csrf)).await.unwrap();
    assert_eq!(shown.status(), StatusCode::OK);
    let page = shown.text().await.unwrap();
    let changed = format!("id=\"shadow-changed\">{}<", from_cli["changed"]);
    assert!(page.contains(&changed), "{changed} in\n{page}");
    assert!(page.contains("Nothing was sent or written"), "{page}");
    assert!(from_cli["events"].as_u64().unwrap() > 0, "{from_cli}");
    let events = format!("over the last {} event(s)", from_cli["events"]);
    assert!(page.contains(&events), "{events} in\n{page}");
}
