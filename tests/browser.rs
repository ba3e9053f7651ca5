//! The console in a real headless Chromium, as an operator uses it after `demo`: log in,
//! answer the lead waiting for a person and see the reply in the thread and the outbox,
//! hand them back to automation, revoke a plugin's permission and find the denial in the
//! audit, upload a CSV with a bad row and read its line number. The screenshots it takes
//! (under the target directory's `console-screenshots/`) are the README's.

#[path = "support/browser.rs"]
mod browser;
mod support;

use std::path::PathBuf;

use browser::Browser;
use support::Sandbox;

const PASSWORD: &str = "correct horse battery";

fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")
}

fn demo_with_console_user() -> Sandbox {
    let sandbox = Sandbox::new("[engine]\npoll_ms = 20\n");
    sandbox.ok(&["demo"]);
    support::add_console_user(&sandbox, "sam", PASSWORD);
    sandbox
}

#[tokio::test]
async fn an_operator_works_the_demo_in_a_real_browser() {
    let sandbox = demo_with_console_user();
    let served = support::serve(&sandbox);
    let root = served.base();
    let browser = Browser::start().await;
    let shots = screenshot_dir();

    // Not logged in: the console sends the browser to its login.
    browser.goto(&format!("{root}/console")).await;
    assert!(
        browser
            .url()
            .await
            .ends_with("/console/login?next=%2Fconsole")
    );
    browser.type_into("input[name=user]", "sam").await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser.click("form.login button").await;
    browser.wait_for_text("h1", "Inbox").await;

    // The demo's lead waiting for a person is on top.
    let first = browser.text("#inbox li:first-child").await;
    assert!(
        first.contains("@lena.studio") && first.contains("needs a person"),
        "{first}"
    );
    browser.screenshot(&shots.join("inbox.png")).await;

    // Answer her by hand beside the list: the page says the reply is queued, and the
    // thread shows it once the engine `serve` runs has sent it (it refreshes itself).
    browser.click("#inbox li:first-child a.open").await;
    browser
        .wait_for_text("#conversation h2", "@lena.studio")
        .await;
    let reply = "Hi Lena, Sam here: the refund is on its way.";
    browser
        .type_into("#conversation textarea[name=text]", reply)
        .await;
    browser
        .click("#conversation form[action$='/reply'] button")
        .await;
    browser
        .wait_for_text("#conversation [role=status]", "Reply queued")
        .await;
    let thread = browser.wait_for_text("#thread", reply).await;
    assert!(thread.contains("sam (a person)"), "{thread}");
    assert!(
        sandbox
            .conversation("lena.studio")
            .iter()
            .any(|m| m.contains("Sam here"))
    );

    // She writes again while Sam is typing: her message appears without a reload, and
    // what Sam typed is still there.
    browser
        .type_into("#conversation textarea[name=text]", "Half-written")
        .await;
    sandbox.ok(&["inbox", "push", "lena.studio", "Thank you so much!"]);
    browser.wait_for_text("#thread", "Thank you so much!").await;
    assert_eq!(
        browser.value("#conversation textarea[name=text]").await,
        "Half-written"
    );

    // Her page has the rest: the outbox with Sam's reply as his.
    browser
        .click("#conversation a[href^='/console/leads/lena.studio?']")
        .await;
    browser.wait_for_text("h1", "@lena.studio").await;
    // Opened from the inbox, the navigation stays there.
    assert_eq!(browser.text("nav a[aria-current=page]").await, "Inbox");
    let outbox = browser.wait_for_text("#outbox", reply).await;
    assert!(outbox.contains("sam (a person)"), "{outbox}");
    browser.screenshot(&shots.join("thread.png")).await;

    // Hand her back to automation: the page comes back as it was opened.
    browser.click("form[action$='/resume'] button").await;
    browser.wait_for_text("dl.details", "replied").await;
    assert!(
        browser
            .url()
            .await
            .ends_with("/console/leads/lena.studio?from=inbox")
    );
    assert_eq!(sandbox.lead("lena.studio")["lead"]["status"], "replied");

    // Take conversation history away from ai-reply; its next reply is refused that call.
    browser.goto(&format!("{root}/console/plugins")).await;
    browser
        .click("form[action='/console/plugins/ai-reply/revoke']:has(input[value='messages:read']) button")
        .await;
    browser
        .wait_for_text("#plugin-ai-reply", "Grant messages:read")
        .await;
    sandbox.ok(&["inbox", "push", "mara.fit", "What does coaching cost?"]);
    let audit = format!("{root}/console/audit?plugin=ai-reply&denied=1");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        browser.goto(&audit).await;
        let rows = browser.text("#audit").await;
        if rows.contains("messages:read") && rows.contains("denied") {
            assert!(rows.contains("@mara.fit"), "{rows}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no denial in {rows}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // The revocation itself is the operator's, audited under their name.
    browser
        .goto(&format!("{root}/console/audit?plugin=console%3Asam"))
        .await;
    browser.wait_for_text("#audit", "plugins.revoke").await;

    // A CSV with a bad row: the good rows land, the bad one is named by its line.
    let csv = sandbox.write(
        "new-leads.csv",
        "handle,name\nnina.art,Nina Berg\n,No Handle\nolaf.fit,Olaf Lund\n",
    );
    browser.goto(&format!("{root}/console/import")).await;
    browser
        .type_into("input[type=file]", csv.to_str().unwrap())
        .await;
    browser.click("form[data-upload] button").await;
    browser
        .wait_for_text("#import-summary", "imported 2, merged 0, rejected 1")
        .await;
    let rejects = browser.text("#rejects").await;
    assert!(rejects.contains("new-leads.csv:3:"), "{rejects}");
    assert_eq!(sandbox.lead("olaf.fit")["lead"]["name"], "Olaf Lund");

    // A file over the upload limit: the form says so and stays for another try.
    let huge = sandbox.write(
        "huge.csv",
        &format!("handle\n{}", "x".repeat(65 * 1024 * 1024)),
    );
    browser.goto(&format!("{root}/console/import")).await;
    browser
        .type_into("input[type=file]", huge.to_str().unwrap())
        .await;
    browser.click("form[data-upload] button").await;
    browser
        .wait_for_text("form[data-upload] p[role=alert]", "over 64 MiB")
        .await;
    browser
        .screenshot(&shots.join("upload-too-large.png"))
        .await;

    // The analytics read without script: the charts are SVG from the server.
    browser.goto(&format!("{root}/console/analytics")).await;
    browser.wait_for_text("h1", "Analytics").await;
    browser.screenshot(&shots.join("analytics.png")).await;
    browser.quit().await;
}

/// Logs `user` in on `browser` and waits for the inbox.
async fn log_in(browser: &Browser, root: &str, user: &str) {
    browser.goto(&format!("{root}/console/login")).await;
    browser.type_into("input[name=user]", user).await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser.click("form.login button").await;
    browser.wait_for_text("h1", "Inbox").await;
}

/// The inbox's line for `handle` as `browser` shows it now.
async fn line(browser: &Browser, handle: &str) -> String {
    browser
        .text(&format!(
            "#inbox li:has(a.page[href^='/console/leads/{handle}?'])"
        ))
        .await
}

/// Lets the page notify, recording what it shows in `window.shown` (headless Chromium
/// shows nothing); a page loaded later has the browser's own `Notification` again.
async fn record_notifications(browser: &Browser) {
    browser
        .execute(
            "window.shown = [];
             window.Notification = class {
               constructor(title, options) { window.shown.push(title + ' / ' + options.body); }
               addEventListener() {}
               static get permission() { return 'granted'; }
             };",
        )
        .await;
}

/// The unread count `browser`'s inbox shows for `handle` (`""`: none).
async fn unread(browser: &Browser, handle: &str) -> String {
    let script = format!(
        "const badge = document.querySelector(\"#inbox li:has(a.page[href^='/console/leads/{handle}?']) .unread\");
         return badge ? badge.textContent : '';"
    );
    browser.execute(&script).await.as_str().unwrap().to_owned()
}

/// Waits until `browser`'s inbox line for `handle` satisfies `wanted`.
async fn wait_for_line(browser: &Browser, handle: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let shown = line(browser, handle).await;
        if wanted(&shown) {
            return shown;
        }
        assert!(std::time::Instant::now() < deadline, "@{handle}: {shown}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Two agents and an owner share the demo's inbox, each in their own browser: unread
/// counts that are each person's own, a conversation taken (mine, unassigned, everyone's),
/// a saved reply filled in for the lead and sent, a browser notification and the team's
/// webhook when a plugin hands a lead over, and a message's direction override shown
/// neutralised. The screenshot of the two panes is the README's.
#[tokio::test]
async fn a_team_shares_the_inbox_in_a_real_browser() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let mut sandbox = Sandbox::new("[engine]\npoll_ms = 20\n");
    sandbox.env.extend([
        (
            "OUTREACH_SECRET_KEY".into(),
            "a long test key for sealing urls".into(),
        ),
        (
            "OUTREACH_NOTIFY_URL".into(),
            format!("{}/hooks/team", hook.uri()),
        ),
    ]);
    sandbox.ok(&["demo"]);
    sandbox.ok(&["account", "notify", "default"]);
    support::add_console_user(&sandbox, "olive", PASSWORD);
    for agent in ["ana", "ben"] {
        support::add_console_user_as(
            &sandbox,
            agent,
            PASSWORD,
            &["--role", "agent", "--accounts", "default"],
        );
    }
    // What came before they joined is not new to them; Lena writing again is.
    sandbox.ok(&["inbox", "push", "lena.studio", "Is anyone there?"]);
    let served = support::serve(&sandbox);
    let root = served.base();
    let shots = screenshot_dir();

    // The owner saves a reply with the lead's variables.
    let olive = Browser::start().await;
    log_in(&olive, root, "olive").await;
    olive.goto(&format!("{root}/console/replies")).await;
    olive.type_into("input[name=name]", "hours").await;
    olive
        .type_into(
            "textarea[name=text]",
            "Hi {first_name|there}, we answer 9 to 5; a person writes back today.",
        )
        .await;
    olive.click("form[action='/console/replies'] button").await;
    olive.wait_for_text("#saved-replies", "hours").await;
    olive.quit().await;

    let ana = Browser::start().await;
    let ben = Browser::start().await;
    log_in(&ana, root, "ana").await;
    log_in(&ben, root, "ben").await;
    // Lena's new message is new to both.
    for agent in [&ana, &ben] {
        assert!(line(agent, "lena.studio").await.contains("needs a person"));
        assert_eq!(unread(agent, "lena.studio").await, "1");
    }

    // Ana's browser notifies (the page's Notification, recorded: headless Chromium shows
    // none), once the script knows who is waiting now.
    record_notifications(&ana).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while ana
        .execute("return sessionStorage.getItem('outreach.waiting');")
        .await
        .is_null()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the script never asked who waits"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // Ana opens Lena's conversation beside the list and takes it.
    ana.click("#inbox li:has(a.page[href^='/console/leads/lena.studio?']) a.open")
        .await;
    ana.wait_for_text("#conversation h2", "@lena.studio").await;
    ana.wait_for_text("#conversation .window", "messaging window is open")
        .await;
    ana.click("#conversation form[action$='/take'] button")
        .await;
    ana.wait_for_text("#conversation .about", "with you").await;
    wait_for_line(&ana, "lena.studio", |l| l.contains("yours")).await;
    assert_eq!(unread(&ana, "lena.studio").await, "", "read by Ana");
    // For Ben she is Ana's now, and still unread.
    ben.goto(&format!("{root}/console")).await;
    assert!(line(&ben, "lena.studio").await.contains("with ana"));
    assert_eq!(unread(&ben, "lena.studio").await, "1");
    ben.goto(&format!("{root}/console?show=unassigned")).await;
    assert!(!ben.text("#inbox").await.contains("@lena.studio"));
    ben.goto(&format!("{root}/console?show=mine")).await;
    assert!(!ben.text("#inbox").await.contains("@lena.studio"));
    ana.click(".filters a[href*='show=mine']").await;
    ana.wait_for_text("#inbox", "@lena.studio").await;
    ana.click("#inbox li:has(a.page[href^='/console/leads/lena.studio?']) a.open")
        .await;
    ana.wait_for_text("#conversation h2", "@lena.studio").await;

    // Ana answers with the saved reply, filled in for Lena.
    ana.click("#conversation select[name=saved] option:nth-child(2)")
        .await;
    ana.click("#conversation .saved-replies button").await;
    ana.wait_for_text("#conversation [role=status]", "Reply queued")
        .await;
    let sent = "Hi Lena, we answer 9 to 5; a person writes back today.";
    ana.wait_for_text("#thread", sent).await;
    assert!(
        sandbox
            .conversation("lena.studio")
            .iter()
            .any(|m| m.contains(sent)),
        "{:?}",
        sandbox.conversation("lena.studio")
    );
    // Mara writes meanwhile: new to Ana, beside Lena's conversation.
    sandbox.ok(&["inbox", "push", "mara.fit", "Do you have a price list?"]);
    ana.goto(&format!("{root}/console?open=lena.studio")).await;
    ana.wait_for_text("#thread", sent).await;
    assert_eq!(unread(&ana, "mara.fit").await, "1");
    ana.screenshot(&shots.join("inbox-team.png")).await;
    // On a phone the open conversation takes the screen, with the way back to the list,
    // and nothing is wider than the screen.
    ana.resize(390, 844).await;
    ana.goto(&format!("{root}/console?open=lena.studio")).await;
    ana.wait_for_text("#conversation .back", "All conversations")
        .await;
    ana.screenshot(&shots.join("inbox-phone.png")).await;
    let wide = ana
        .execute(
            "return [window.innerWidth, document.documentElement.scrollWidth, ...[...document.querySelectorAll('body *')]
               .filter(e => e.getBoundingClientRect().right > window.innerWidth)
               .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))];",
        )
        .await;
    let layout = ana
        .execute(
            "return [getComputedStyle(document.querySelector('.inbox .list')).display,
                     document.documentElement.scrollWidth <= window.innerWidth];",
        )
        .await;
    assert_eq!(layout, serde_json::json!(["none", true]), "{wide}");
    ana.click("#conversation .back a").await;
    ana.wait_for_text("#inbox", "@lena.studio").await;
    ana.resize(1280, 900).await;

    // Mara asks for a person: ai-reply hands her over; Ana's browser says so, and the
    // team's webhook is called.
    record_notifications(&ana).await;
    sandbox.ok(&["inbox", "push", "mara.fit", "Can a human call me?"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let shown = ana.execute("return window.shown;").await;
        if shown.to_string().contains("@mara.fit needs a person") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no notification: {shown}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let requests = hook.received_requests().await.unwrap();
        let leads: Vec<serde_json::Value> = requests
            .iter()
            .map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["lead"].clone())
            .collect();
        if leads.contains(&serde_json::json!("mara.fit")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no webhook: {leads:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // A right-to-left override in a message is shown neutralised: the text reads as stored.
    sandbox.ok(&["inbox", "push", "mara.fit", "invoice-rtl\u{202e}fdp.exe"]);
    let shown = ana
        .wait_for_text("#inbox", "invoice-rtl\u{FFFD}fdp.exe")
        .await;
    assert!(!shown.contains('\u{202e}'), "{shown}");
    // And a search finds conversations by what was written.
    ana.goto(&format!("{root}/console")).await;
    ana.type_into("input[name=q]", "refund").await;
    ana.click("form.search button").await;
    ana.wait_for_text("#inbox", "@lena.studio").await;
    assert!(!ana.text("#inbox").await.contains("@mara.fit"));
    ana.quit().await;
    ben.quit().await;
}
