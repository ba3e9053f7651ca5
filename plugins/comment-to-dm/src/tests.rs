//! The reply hook against a fake host: which comments get a private reply, once per person
//! and post, and the follow-up once they answer.

use outreach_sdk::testing::{self, FakeHost, lead};
use outreach_sdk::{Inbound, Permission, Plugin, ReplyAction};

use crate::CommentToDm;

fn comment(lead_id: u64, post: &str, text: &str) -> Inbound {
    testing::comment(lead(lead_id, "ana.fit"), text, post)
}

fn host() -> FakeHost {
    FakeHost::for_plugin::<CommentToDm>()
        .with_lead(lead(1, "ana.fit"))
        .with_lead(lead(2, "ben"))
        .with_setting("keywords", "price, how much")
        .with_setting("messages", "Hi {handle}, the price list: example.com/p")
}

fn sent(text: &str) -> outreach_sdk::Result<ReplyAction> {
    Ok(ReplyAction::Send(text.into()))
}

#[test]
fn a_keyword_comment_gets_one_private_reply_per_person_and_post() {
    let _host = host().install();
    assert_eq!(
        CommentToDm::reply(comment(1, "POST-1", "What's the PRICE?")),
        sent("Hi ana.fit, the price list: example.com/p")
    );
    // The same person again under the same post: they have it already.
    assert_eq!(
        CommentToDm::reply(comment(1, "POST-1", "how much though")),
        Ok(ReplyAction::NoReply)
    );
    // Under another post, and someone else under the first: each their own.
    assert!(matches!(
        CommentToDm::reply(comment(1, "POST-2", "price?")),
        Ok(ReplyAction::Send(_))
    ));
    assert!(matches!(
        CommentToDm::reply(comment(2, "POST-1", "price?")),
        Ok(ReplyAction::Send(_))
    ));
}

#[test]
fn comments_without_a_keyword_and_unconfigured_plugins_answer_nothing() {
    let _host = host().install();
    assert_eq!(
        CommentToDm::reply(comment(1, "POST-1", "priceless photo")),
        Ok(ReplyAction::NoReply)
    );
    let _bare = FakeHost::for_plugin::<CommentToDm>()
        .with_lead(lead(1, "ana.fit"))
        .install();
    assert_eq!(
        CommentToDm::reply(comment(1, "POST-1", "price?")),
        Ok(ReplyAction::NoReply)
    );
}

#[test]
fn a_post_can_have_its_own_keywords_every_comment_or_none() {
    let _host = host()
        .with_setting("keywords.POST-9", "*")
        .with_setting("keywords.POST-0", "-")
        .install();
    assert!(matches!(
        CommentToDm::reply(comment(1, "POST-9", "nice")),
        Ok(ReplyAction::Send(_))
    ));
    assert_eq!(
        CommentToDm::reply(comment(2, "POST-0", "price?")),
        Ok(ReplyAction::NoReply)
    );
}

#[test]
fn the_comment_is_also_answered_publicly_when_configured_and_allowed() {
    let answered = host()
        .with_setting("public_reply", "Sent you a DM, {handle}!")
        .with_comment_event(1)
        .install();
    assert!(matches!(
        CommentToDm::reply(comment(1, "POST-1", "price?")),
        Ok(ReplyAction::Send(_))
    ));
    assert_eq!(answered.public_replies(), ["Sent you a DM, ana.fit!"]);
    // Without comments:reply the private reply still goes, and the refusal is logged.
    let refused = host()
        .with_setting("public_reply", "Sent you a DM!")
        .with_comment_event(2)
        .grant_only(&[
            Permission::CommentsRead,
            Permission::MessagesSend,
            Permission::Storage,
        ])
        .install();
    assert!(matches!(
        CommentToDm::reply(comment(2, "POST-1", "price?")),
        Ok(ReplyAction::Send(_))
    ));
    assert!(refused.public_replies().is_empty());
    assert!(
        (refused.logs().iter())
            .any(|(_, line)| line.contains("PermissionDenied(\"comments:reply\")")),
        "{:?}",
        refused.logs()
    );
}

#[test]
fn variants_are_spread_over_leads_and_stable_for_each() {
    let _host = host().with_setting("messages", "one | two").install();
    assert_eq!(CommentToDm::reply(comment(1, "P", "price")), sent("two"));
    assert_eq!(CommentToDm::reply(comment(2, "P", "price")), sent("one"));
}

#[test]
fn the_follow_up_goes_once_they_answer_the_private_reply_and_only_then() {
    let _host = host()
        .with_setting("follow_up", "Great! Want to book?")
        .install();
    let answer = |id, sent_to: bool| {
        let mut lead = lead(id, "ana.fit");
        lead.last_outbound_at = sent_to.then_some(testing::DEFAULT_NOW);
        testing::message(lead, "thanks!")
    };
    // Lead 2 never had a private reply: their message is not this plugin's.
    assert_eq!(
        CommentToDm::reply(answer(2, true)),
        Ok(ReplyAction::NoReply)
    );
    CommentToDm::reply(comment(1, "POST-1", "price")).unwrap();
    // The host did not send it (refused, or set aside): no follow-up to nothing.
    assert_eq!(
        CommentToDm::reply(answer(1, false)),
        Ok(ReplyAction::NoReply)
    );
    assert_eq!(
        CommentToDm::reply(answer(1, true)),
        sent("Great! Want to book?")
    );
    assert_eq!(
        CommentToDm::reply(answer(1, true)),
        Ok(ReplyAction::NoReply)
    );
}
