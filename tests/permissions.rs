//! Every permission walked through each place it must appear: the WIT contract's manifest, the host's
//! `Permission` (its name and description), the shared policy (the host call, or the
//! events, it guards), the SDK's fake host (which must deny that call without it) and the
//! README's table. A permission added in one place and forgotten in another fails here,
//! naming both.

use std::path::Path;

use outreach::consent::Permission;
use outreach::consent::policy::{self, Call, Reach};
use outreach_sdk::testing::{FakeHost, lead};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn read(path: &str) -> String {
    let path = Path::new(REPO).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The permission names the WIT's manifest documents, in order: the backquoted names in
/// the doc comment of `permissions: list<string>`.
fn wit_permissions() -> Vec<String> {
    let wit = read("wit/plugin.wit");
    let field = wit
        .find("permissions: list<string>")
        .expect("the WIT's manifest has permissions: list<string>");
    let doc: Vec<&str> = wit[..field]
        .lines()
        .rev()
        .skip(1)
        .map(str::trim)
        .take_while(|l| l.starts_with("///"))
        .collect();
    let doc: String = doc.into_iter().rev().collect::<Vec<_>>().join(" ");
    doc.split('`')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

/// `call` made through the SDK against the installed fake host, about lead 2 (not the
/// event's lead 1, so the purpose limit applies too).
fn make(call: Call) -> outreach_sdk::Result<()> {
    use outreach_sdk as sdk;
    match call {
        Call::LeadsGet => sdk::leads::get(2).map(drop),
        Call::LeadsQuery => sdk::leads::query(&sdk::LeadQuery {
            status: None,
            tag: None,
            last_contact_before: None,
            limit: 10,
        })
        .map(drop),
        Call::LeadsWrite => sdk::leads::set_score(2, 50),
        Call::MessagingHistory => sdk::messaging::history(2, 10).map(drop),
        Call::MessagingSend => sdk::messaging::send(2, "hi"),
        Call::AiGenerate => sdk::ai::generate(&sdk::GenerateRequest {
            system_prompt: String::new(),
            conversation: vec![],
            max_tokens: None,
        })
        .map(drop),
        Call::Storage => sdk::storage::set("k", b"v"),
        Call::CommentsReplyPublicly => sdk::comments::reply_publicly("thanks!"),
    }
}

/// The host's permission as the SDK's: the one of the same name.
fn sdk_permission(permission: Permission) -> outreach_sdk::Permission {
    outreach_sdk::Permission::ALL
        .into_iter()
        .find(|p| p.as_str() == permission.as_str())
        .unwrap_or_else(|| panic!("the SDK has no permission named {permission}"))
}

#[test]
fn every_permission_is_in_the_wit_the_host_the_policy_the_fake_host_and_the_readme() {
    let wit = wit_permissions();
    let host: Vec<String> = Permission::ALL.iter().map(|p| p.as_str().into()).collect();
    assert_eq!(host, wit, "the host's permissions, in the WIT's order");
    let sdk: Vec<String> = (outreach_sdk::Permission::ALL.iter())
        .map(|p| p.as_str().into())
        .collect();
    assert_eq!(sdk, host, "the SDK's permissions, in the host's order");

    let readme = read("README.md");
    for permission in Permission::ALL {
        let name = permission.as_str();
        assert_eq!(
            name.parse::<Permission>(),
            Ok(permission),
            "{name} parses back"
        );

        let row = format!("| `{name}` | {}", permission.describe());
        assert!(
            readme.lines().any(|l| l.starts_with(&row)),
            "README's permission table has no row {row:?}"
        );

        if permission == Permission::CommentsRead {
            // It guards no call but which events reach a hook: comments.
            for kind in policy::COMMENT_KINDS {
                assert!(!policy::hook_sees(kind, false) && policy::hook_sees(kind, true));
            }
            assert!(policy::hook_sees("message", false));
            continue;
        }
        let guarded: Vec<Call> = Call::ALL
            .into_iter()
            .filter(|call| policy::needed(*call, Reach::OtherLead).any(|p| p == permission))
            .collect();
        if permission == Permission::LeadsReadPii {
            // It guards no call but what a call shows: personal fields.
            assert!(!policy::shows_personal_fields(false, false));
            let fake = without(permission);
            let seen = outreach_sdk::leads::get(1).unwrap();
            assert_eq!(
                seen.email, None,
                "the fake host shows personal fields without {name}"
            );
            drop(fake);
            continue;
        }
        assert!(
            !guarded.is_empty(),
            "{name} guards no host call in the policy"
        );
        for call in guarded {
            let _fake = without(permission);
            assert_eq!(
                make(call),
                Err(outreach_sdk::Error::permission_denied(sdk_permission(
                    permission
                ))),
                "the fake host lets {call:?} through without {name}"
            );
        }
    }
}

/// A fake host with every permission but `missing`, two leads (1 is the event's, with an
/// email) and installed on this thread.
fn without(missing: Permission) -> FakeHost {
    let grants: Vec<outreach_sdk::Permission> = Permission::ALL
        .into_iter()
        .filter(|p| *p != missing)
        .map(sdk_permission)
        .collect();
    let mut first = lead(1, "anna");
    first.email = Some("anna@example.com".into());
    FakeHost::new()
        .grant_only(&grants)
        .with_event_lead(1)
        .with_lead(first)
        .with_lead(lead(2, "ben"))
        .install()
}
