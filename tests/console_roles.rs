//! Console roles against the real `outreach serve`: an agent reaches the leads and
//! conversations of the accounts they are given and nothing else (another account's lead
//! is a 404, as a lead that does not exist; the owner's sections are 404s); roles and users
//! change from the command line, audited, and apply from the next request.

mod support;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use support::{Backend, Sandbox, Served, add_console_user_as};

const PASSWORD: &str = "correct horse battery";
const FORM: &str = "application/x-www-form-urlencoded";

/// Two accounts, a lead with a message in each, an owner (olive) and an agent of the
/// first account (adam), and `serve`.
fn team(backend: Backend, label: &str) -> (Sandbox, Served) {
    team_with(backend, label, |_| {})
}

/// [`team`], with `before_serve` done to the sandbox before `serve` starts.
fn team_with(
    backend: Backend,
    label: &str,
    before_serve: impl FnOnce(&Sandbox),
) -> (Sandbox, Served) {
    let sandbox = Sandbox::on(backend, label, "");
    sandbox.ok(&["account", "add", "shop2", "--channel", "sandbox"]);
    let first = sandbox.write("a.csv", "handle,name\nalice_a,Alice\n");
    sandbox.ok(&["leads", "import", first.to_str().unwrap()]);
    let second = sandbox.write("b.csv", "handle,name\nbob_b,Bob\n");
    sandbox.ok(&[
        "leads",
        "import",
        second.to_str().unwrap(),
        "--account",
        "shop2",
    ]);
    sandbox.ok(&["inbox", "push", "alice_a", "hello from the first shop"]);
    sandbox.ok(&["inbox", "push", "bob_b", "hello from the second shop"]);
    add_console_user_as(&sandbox, "olive", PASSWORD, &[]);
    add_agent_of_default(&sandbox, "adam");
    before_serve(&sandbox);
    let served = support::serve(&sandbox);
    (sandbox, served)
}

/// Console user `name`, an agent of the default account.
fn add_agent_of_default(sandbox: &Sandbox, name: &str) {
    add_console_user_as(
        sandbox,
        name,
        PASSWORD,
        &["--role", "agent", "--accounts", "default"],
    );
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A logged-in user: their session cookie and CSRF token.
struct User {
    base: String,
    cookie: String,
    csrf: String,
}

impl User {
    async fn log_in(served: &Served, name: &str) -> User {
        let base = served.base().to_owned();
        let response = client()
            .post(format!("{base}/console/login"))
            .header(CONTENT_TYPE, FORM)
            .body(format!(
                "user={name}&password={}",
                PASSWORD.replace(' ', "+")
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name} logs in");
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let mut user = User {
            base,
            cookie,
            csrf: String::new(),
        };
        let (_, page) = user.get("/console").await;
        user.csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a page carries the CSRF token")
            .to_owned();
        user
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = client()
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn post(&self, path: &str, fields: &str) -> StatusCode {
        self.post_to(path, fields).await.0
    }

    /// The handles `/console/waiting` names for this user, sorted.
    async fn waiting(&self) -> Vec<String> {
        let (status, body) = self.get("/console/waiting").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut handles: Vec<String> = serde_json::from_str::<serde_json::Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|lead| lead["handle"].as_str().unwrap().to_owned())
            .collect();
        handles.sort();
        handles
    }

    /// [`User::post`], with where it sends the browser next.
    async fn post_to(&self, path: &str, fields: &str) -> (StatusCode, String) {
        let response = client()
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .header(CONTENT_TYPE, FORM)
            .body(format!("csrf={}&{fields}", self.csrf))
            .send()
            .await
            .unwrap();
        let next = response
            .headers()
            .get(LOCATION)
            .map(|to| to.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (response.status(), next)
    }
}

/// Every section only an owner may open, and a change in each.
const OWNER_PAGES: &[&str] = &[
    "/console/plugins",
    "/console/audit",
    "/console/audit.csv",
    "/console/analytics",
    "/console/accounts",
    "/console/import",
    "/console/leads/alice_a/forget",
    "/console/replies",
];
const OWNER_CHANGES: &[&str] = &[
    "/console/plugins/anything/disable",
    "/console/events/1/replay",
    "/console/accounts/default/pause",
    "/console/accounts/shop2/pause",
    "/console/leads/alice_a/forget",
    "/console/import",
    "/console/replies",
    "/console/replies/1/remove",
];

async fn an_agent_reaches_only_the_leads_of_their_accounts(backend: Backend) {
    let (sandbox, served) = team(backend, "an_agent_reaches_only_the_leads_of_their");
    let adam = User::log_in(&served, "adam").await;
    for list in ["/console", "/console/leads", "/console/leads?account=shop2"] {
        let (status, page) = adam.get(list).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert!(
            !page.contains("bob_b"),
            "{list} shows the other account's lead"
        );
        if list != "/console/leads?account=shop2" {
            assert!(page.contains("alice_a"), "{list} shows adam's lead");
        }
    }
    let (status, page) = adam.get("/console/leads/alice_a").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("hello from the first shop"));
    let bob_before = sandbox.lead("bob_b")["lead"]["status"].clone();
    assert!(bob_before.is_string(), "{bob_before}");
    // The other account's lead is answered as one that does not exist.
    let (status, page) = adam.get("/console/leads/bob_b").await;
    let (_, missing) = adam.get("/console/leads/nobody_here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!page.contains("hello from the second shop"));
    assert_eq!(page.replace("bob_b", "nobody_here"), missing);
    for action in ["reply", "resume", "convert", "block"] {
        let status = adam
            .post(
                &format!("/console/leads/bob_b/{action}"),
                "text=from+adam&reason=spam",
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action} on bob_b");
    }
    assert_eq!(
        sandbox.conversation("bob_b"),
        ["< hello from the second shop"],
        "nothing reached the other account's lead"
    );
    assert_eq!(sandbox.lead("bob_b")["lead"]["status"], bob_before);
    // Their own account's lead they answer.
    let status = adam
        .post("/console/leads/alice_a/reply", "text=hello+from+adam")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    support::eventually("adam's reply reaches alice_a", || {
        sandbox
            .conversation("alice_a")
            .contains(&"> hello from adam".to_owned())
    });
    // And mark converted: on PostgreSQL as the agent role, under row-level security.
    let status = adam.post("/console/leads/alice_a/convert", "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(sandbox.lead("alice_a")["lead"]["status"], "converted");
    // And block: the suppression list, the outbox and the follow-ups, as the agent role.
    let status = adam
        .post("/console/leads/alice_a/block", "reason=asked+us+to+stop")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(sandbox.lead("alice_a")["lead"]["status"], "do-not-contact");
}

async fn an_agent_opens_none_of_the_owners_sections(backend: Backend) {
    let (_sandbox, served) = team(backend, "an_agent_opens_none_of_the_owners_sectio");
    let adam = User::log_in(&served, "adam").await;
    let olive = User::log_in(&served, "olive").await;
    for page in OWNER_PAGES {
        assert_eq!(
            adam.get(page).await.0,
            StatusCode::NOT_FOUND,
            "adam: {page}"
        );
        assert_eq!(olive.get(page).await.0, StatusCode::OK, "olive: {page}");
    }
    for change in OWNER_CHANGES {
        assert_eq!(
            adam.post(change, "confirm=alice_a").await,
            StatusCode::NOT_FOUND,
            "adam: POST {change}"
        );
    }
    let (_, inbox) = adam.get("/console").await;
    for section in ["/console/plugins", "/console/audit", "/console/accounts"] {
        assert!(
            !inbox.contains(section),
            "adam's navigation offers {section}"
        );
    }
    let (_, inbox) = olive.get("/console").await;
    assert!(inbox.contains("bob_b") && inbox.contains("alice_a"));
    assert!(inbox.contains("/console/plugins"));
    // Nothing adam tried changed anything an owner keeps.
    let (_, accounts) = olive.get("/console/accounts").await;
    assert!(!accounts.contains("paused by"), "{accounts}");
}

async fn roles_and_users_change_from_the_command_line_from_the_next_request(backend: Backend) {
    let (sandbox, served) = team(backend, "roles_and_users_change_from_the_command_");
    let listed = sandbox.ok(&["console", "user", "list"]);
    assert!(listed.contains("adam\tagent of default"), "{listed}");
    assert!(listed.contains("olive\towner"), "{listed}");
    // A new password is not a new role: adam stays an agent of the same account.
    add_console_user_as(&sandbox, "adam", PASSWORD, &[]);
    let listed = sandbox.ok(&["console", "user", "list"]);
    assert!(listed.contains("adam\tagent of default"), "{listed}");
    let adam = User::log_in(&served, "adam").await;

    sandbox.ok(&[
        "console",
        "user",
        "set",
        "adam",
        "--role",
        "agent",
        "--accounts",
        "shop2",
    ]);
    let (_, inbox) = adam.get("/console").await;
    assert!(
        inbox.contains("bob_b") && !inbox.contains("alice_a"),
        "{inbox}"
    );
    assert_eq!(
        adam.get("/console/leads/alice_a").await.0,
        StatusCode::NOT_FOUND
    );

    sandbox.ok(&["console", "user", "set", "adam", "--role", "owner"]);
    assert_eq!(adam.get("/console/plugins").await.0, StatusCode::OK);

    sandbox.ok(&["console", "user", "remove", "adam"]);
    let gone = client()
        .get(format!("{}/console", served.base()))
        .header(COOKIE, &adam.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::SEE_OTHER, "the session ended");
    assert_eq!(gone.headers()[LOCATION], "/console/login?next=%2Fconsole");

    let actions: Vec<String> = sandbox
        .audit()
        .iter()
        .filter_map(|row| row["action"].as_str().map(str::to_owned))
        .filter(|action| action.starts_with("console.user."))
        .collect();
    assert_eq!(
        actions,
        [
            "console.user.add",
            "console.user.add",
            "console.user.add",
            "console.user.set",
            "console.user.set",
            "console.user.remove"
        ]
    );

    for (args, says) in [
        (
            vec!["set", "nobody", "--role", "owner"],
            "no console user \"nobody\"",
        ),
        (
            vec!["set", "olive", "--role", "agent"],
            "an agent needs --accounts",
        ),
        (
            vec!["set", "olive", "--role", "agent", "--accounts", "nope"],
            "no account \"nope\"",
        ),
        (
            vec!["set", "olive", "--role", "owner", "--accounts", "default"],
            "--accounts is for --role agent",
        ),
        (vec!["remove", "nobody"], "no console user \"nobody\""),
    ] {
        let error = sandbox.fails(&[&["console", "user"], args.as_slice()].concat());
        assert!(error.contains(says), "{args:?}: {error}");
    }
    assert!(
        sandbox
            .ok(&["console", "user", "list"])
            .contains("olive\towner")
    );
}

async fn a_team_splits_the_inbox_mine_unassigned_and_everyones(backend: Backend) {
    let (sandbox, served) = team(backend, "a_team_splits_the_inbox_mine_unassi");
    add_agent_of_default(&sandbox, "amy");
    let adam = User::log_in(&served, "adam").await;
    let amy = User::log_in(&served, "amy").await;
    let lists = |page: &str, handle: &str| page.contains(&inbox_link(handle));

    // Nobody has alice yet: in everyone's "unassigned", in nobody's "mine".
    let (_, unassigned) = amy.get("/console?show=unassigned").await;
    assert!(lists(&unassigned, "alice_a"), "{unassigned}");
    assert_eq!(
        adam.post("/console/leads/alice_a/take", "").await,
        StatusCode::SEE_OTHER
    );

    let (_, mine) = adam.get("/console?show=mine").await;
    assert!(lists(&mine, "alice_a") && mine.contains("yours"), "{mine}");
    let (_, amys) = amy.get("/console?show=mine").await;
    assert!(!lists(&amys, "alice_a"), "{amys}");
    let (_, unassigned) = amy.get("/console?show=unassigned").await;
    assert!(!lists(&unassigned, "alice_a"), "{unassigned}");
    let (_, all) = amy.get("/console").await;
    assert!(lists(&all, "alice_a") && all.contains("with adam"), "{all}");
    let (_, page) = amy.get("/console/leads/alice_a").await;
    assert!(page.contains("<dt>With</dt><dd>adam</dd>"), "{page}");
    // Another account's lead cannot be taken: it is not there for them.
    assert_eq!(
        amy.post("/console/leads/bob_b/take", "").await,
        StatusCode::NOT_FOUND
    );
    // Nor is adam's taken from him, or released for him, by another agent.
    for action in ["take", "release"] {
        let path = format!("/console/leads/alice_a/{action}");
        assert_eq!(
            amy.post(&path, "").await,
            StatusCode::BAD_REQUEST,
            "{action}"
        );
    }
    let (_, page) = amy.get("/console/leads/alice_a").await;
    assert!(page.contains("<dt>With</dt><dd>adam</dd>"), "{page}");

    assert_eq!(
        adam.post("/console/leads/alice_a/release", "").await,
        StatusCode::SEE_OTHER
    );
    let (_, unassigned) = amy.get("/console?show=unassigned").await;
    assert!(lists(&unassigned, "alice_a"), "{unassigned}");
    // An owner may take one over; a user who is removed gives theirs back to the team.
    let olive = User::log_in(&served, "olive").await;
    let take = "/console/leads/alice_a/take";
    let release = "/console/leads/alice_a/release";
    assert_eq!(adam.post(take, "").await, StatusCode::SEE_OTHER);
    assert_eq!(olive.post(take, "").await, StatusCode::SEE_OTHER);
    assert_eq!(amy.post(release, "").await, StatusCode::BAD_REQUEST);
    assert_eq!(olive.post(release, "").await, StatusCode::SEE_OTHER);
    assert_eq!(amy.post(take, "").await, StatusCode::SEE_OTHER);
    sandbox.ok(&["console", "user", "remove", "amy"]);
    let (_, unassigned) = adam.get("/console?show=unassigned").await;
    assert!(lists(&unassigned, "alice_a"), "{unassigned}");
    let assigned: Vec<String> = (sandbox.audit().iter())
        .filter(|row| row["action"] == "leads.assign")
        .map(|row| format!("{} {}", row["plugin"], row["detail"]))
        .collect();
    assert_eq!(
        assigned,
        [
            r#""console:adam" "nobody -> adam""#,
            r#""console:adam" "adam -> nobody""#,
            r#""console:adam" "nobody -> adam""#,
            r#""console:olive" "adam -> olive""#,
            r#""console:olive" "olive -> nobody""#,
            r#""console:amy" "nobody -> amy""#,
        ]
    );
}

async fn notes_on_a_lead_are_for_the_team_never_sent_and_go_with_the_lead(backend: Backend) {
    let (sandbox, served) = team(backend, "notes_on_a_lead_are_for_the_team_ne");
    let adam = User::log_in(&served, "adam").await;
    let olive = User::log_in(&served, "olive").await;
    let note = "text=Prefers+mornings%0D%0A%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    assert_eq!(
        adam.post("/console/leads/alice_a/note", note).await,
        StatusCode::SEE_OTHER
    );
    // Not theirs to write on: another account's lead is not there.
    assert_eq!(
        adam.post("/console/leads/bob_b/note", "text=hi").await,
        StatusCode::NOT_FOUND
    );
    let (_, page) = olive.get("/console/leads/alice_a").await;
    assert!(
        page.contains("Prefers mornings\n&lt;script&gt;alert(1)&lt;/script&gt;")
            && page.contains("adam (a person)"),
        "{page}"
    );
    // Never sent, never a message: the outbox and the conversation have none of it.
    let lead = sandbox.lead("alice_a");
    assert!(!lead["outbox"].to_string().contains("Prefers"), "{lead}");
    assert!(!lead["messages"].to_string().contains("Prefers"), "{lead}");
    // The person's export has it; the audit has that it was written, not what.
    let export = sandbox.ok(&["leads", "export", "alice_a"]);
    assert!(export.contains("Prefers mornings"), "{export}");
    let audit = serde_json::to_string(&sandbox.audit()).unwrap();
    assert!(
        audit.contains("leads.note") && !audit.contains("Prefers"),
        "{audit}"
    );
    assert!(sandbox.ok(&["export"]).contains("Prefers mornings"));
    // Erased with the lead.
    sandbox.ok(&["leads", "forget", "alice_a"]);
    let (status, _) = olive.get("/console/leads/alice_a").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let left = sandbox.ok(&["export"]);
    assert!(!left.contains("Prefers"), "{left}");
}

/// The link an inbox line has to `handle`'s page.
fn inbox_link(handle: &str) -> String {
    format!("/console/leads/{handle}?from=inbox\"")
}

/// The unread badge `page` (an inbox) shows on `handle`'s line, if any.
fn unread_on(page: &str, handle: &str) -> Option<String> {
    let line = page
        .split("<li")
        .find(|line| line.contains(&inbox_link(handle)))?;
    let badge = line
        .split("<span class=\"unread\" title=\"unread messages\">")
        .nth(1)?;
    Some(badge.split('<').next()?.to_owned())
}

async fn each_person_has_their_own_unread_and_the_team_its_saved_replies(backend: Backend) {
    let (sandbox, served) = team(backend, "each_person_has_their_own_unread_and");
    add_agent_of_default(&sandbox, "amy");
    let adam = User::log_in(&served, "adam").await;
    let amy = User::log_in(&served, "amy").await;
    let olive = User::log_in(&served, "olive").await;

    // What was there before they were added is not new to them; Alice's next message is,
    // to each of them until they open it, whoever else did.
    let (_, inbox) = amy.get("/console").await;
    assert_eq!(unread_on(&inbox, "alice_a"), None, "{inbox}");
    sandbox.ok(&["inbox", "push", "alice_a", "second question"]);
    for user in [&adam, &amy] {
        let (_, inbox) = user.get("/console").await;
        assert_eq!(
            unread_on(&inbox, "alice_a").as_deref(),
            Some("1"),
            "{inbox}"
        );
    }
    let (status, pane) = adam.get("/console?open=alice_a").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        pane.contains("second question") && pane.contains("messaging window"),
        "{pane}"
    );
    assert_eq!(unread_on(&pane, "alice_a"), None, "{pane}");
    sandbox.ok(&["inbox", "push", "alice_a", "third question"]);
    let (_, adams) = adam.get("/console").await;
    assert_eq!(
        unread_on(&adams, "alice_a").as_deref(),
        Some("1"),
        "{adams}"
    );
    let (_, amys) = amy.get("/console").await;
    assert_eq!(unread_on(&amys, "alice_a").as_deref(), Some("2"), "{amys}");
    // Another account's conversation does not open by its handle, and reads as absent.
    let (_, other) = adam.get("/console?open=bob_b").await;
    assert!(
        other.contains("No lead @bob_b here") && !other.contains("hello from the second shop"),
        "{other}"
    );

    // A search finds conversations by handle, name or any message, in any case; `%` is
    // a character like any other, not "anything".
    for (query, found) in [("ALICE", true), ("SECOND+question", true), ("%25", false)] {
        let (_, results) = olive.get(&format!("/console?q={query}")).await;
        assert_eq!(
            results.contains(&inbox_link("alice_a")),
            found,
            "{query}: {results}"
        );
        assert!(
            !results.contains(&inbox_link("bob_b")),
            "{query}: {results}"
        );
    }
    // Both shops' leads wrote "shop": an agent finds only their account's.
    let (_, found) = olive.get("/console?q=shop").await;
    assert!(found.contains(&inbox_link("bob_b")), "{found}");
    let (_, found) = adam.get("/console?q=shop").await;
    assert!(
        found.contains(&inbox_link("alice_a")) && !found.contains("bob_b"),
        "{found}"
    );

    // The owner saves a reply; an agent sends it, filled in for the lead, and lands back
    // where they were, told it is queued.
    assert_eq!(
        olive
            .post(
                "/console/replies",
                "name=hello&text=Hi+%7Bfirst_name%7Cthere%7D%2C+thanks+for+%7Bcity%7Cwriting%7D%21"
            )
            .await,
        StatusCode::SEE_OTHER
    );
    let (_, saved) = olive.get("/console/replies").await;
    let id = saved
        .split("/console/replies/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("the saved reply's remove form")
        .to_owned();
    let (_, pane) = adam.get("/console?show=mine&open=alice_a").await;
    assert!(
        pane.contains("hello: Hi Alice, thanks for writing!"),
        "{pane}"
    );
    let (status, next) = adam
        .post_to(
            "/console/leads/alice_a/reply",
            &format!("saved={id}&back=%2Fconsole%3Fshow%3Dmine%26open%3Dalice_a"),
        )
        .await;
    assert_eq!(
        (status, next.as_str()),
        (
            StatusCode::SEE_OTHER,
            "/console?show=mine&open=alice_a&sent=1"
        )
    );
    let (_, confirmed) = adam.get(&next).await;
    assert!(confirmed.contains("Reply queued"), "{confirmed}");
    let lead = sandbox.lead("alice_a");
    assert!(
        lead["outbox"]
            .to_string()
            .contains("Hi Alice, thanks for writing!"),
        "{lead}"
    );
    // Back to another site is never where a form leads.
    let (_, next) = adam
        .post_to(
            "/console/leads/alice_a/take",
            "back=%2F%2Fevil.example%2Fconsole",
        )
        .await;
    assert_eq!(next, "/console/leads/alice_a");
    // A saved reply that is gone is said so, and nothing is queued.
    assert_eq!(
        olive
            .post(&format!("/console/replies/{id}/remove"), "")
            .await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        adam.post("/console/leads/alice_a/reply", &format!("saved={id}"))
            .await,
        StatusCode::BAD_REQUEST
    );
    let outbox = sandbox.lead("alice_a")["outbox"].as_array().unwrap().len();
    assert_eq!(outbox, 1);
    // Saved and removed by name in the audit, never by text.
    let audit = serde_json::to_string(&sandbox.audit()).unwrap();
    assert!(
        audit.contains("replies.save")
            && audit.contains("replies.remove")
            && !audit.contains("thanks for"),
        "{audit}"
    );
}

/// The browser's notifications ask who is waiting for a person: an agent hears only of
/// their accounts' leads.
async fn an_agent_is_told_only_of_their_accounts_leads_waiting(backend: Backend) {
    let (_sandbox, served) =
        team_with(backend, "an_agent_is_told_only_of_their_accou", |sandbox| {
            sandbox.ok(&["plugin", "install", "ai-reply", "--grant-requested"]);
            for lead in ["alice_a", "bob_b"] {
                sandbox.ok(&["inbox", "push", lead, "can a human help me?"]);
            }
        });
    let olive = User::log_in(&served, "olive").await;
    let adam = User::log_in(&served, "adam").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while olive.waiting().await.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "nobody handed over");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(olive.waiting().await, ["alice_a", "bob_b"]);
    assert_eq!(adam.waiting().await, ["alice_a"]);
}

on_both_backends!(async:
    an_agent_is_told_only_of_their_accounts_leads_waiting,
    each_person_has_their_own_unread_and_the_team_its_saved_replies,
    notes_on_a_lead_are_for_the_team_never_sent_and_go_with_the_lead,
    a_team_splits_the_inbox_mine_unassigned_and_everyones,
    an_agent_reaches_only_the_leads_of_their_accounts,
    an_agent_opens_none_of_the_owners_sections,
    roles_and_users_change_from_the_command_line_from_the_next_request,
);
