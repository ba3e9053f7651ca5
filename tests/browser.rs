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

    // Answer her by hand: queued in the outbox at once, then in the thread once the
    // engine `serve` runs has sent it (the thread refreshes itself, no reload).
    browser.click("#inbox li:first-child a").await;
    browser.wait_for_text("h1", "@lena.studio").await;
    let reply = "Hi Lena, Sam here: the refund is on its way.";
    browser.type_into("textarea[name=text]", reply).await;
    browser.click("form[action$='/reply'] button").await;
    let outbox = browser.wait_for_text("#outbox", reply).await;
    assert!(outbox.contains("sam (a person)"), "{outbox}");
    let thread = browser.wait_for_text("#thread", reply).await;
    assert!(thread.contains("sam (a person)"), "{thread}");
    assert!(
        sandbox
            .conversation("lena.studio")
            .iter()
            .any(|m| m.contains("Sam here"))
    );
    browser.screenshot(&shots.join("thread.png")).await;

    // She writes again while Sam is typing: her message appears without a reload, and
    // what Sam typed is still there.
    browser
        .type_into("textarea[name=text]", "Half-written")
        .await;
    sandbox.ok(&["inbox", "push", "lena.studio", "Thank you so much!"]);
    browser.wait_for_text("#thread", "Thank you so much!").await;
    assert_eq!(browser.value("textarea[name=text]").await, "Half-written");

    // Hand her back to automation.
    browser.click("form[action$='/resume'] button").await;
    browser.wait_for_text("dl.details", "replied").await;
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
