//! The reply hook against a fake host: hand-over words, AI replies and AI failures.

use outreach_sdk::testing::{self, DEFAULT_NOW, FakeHost, lead};
use outreach_sdk::{Direction, Error, Inbound, Level, Message, Permission, Plugin, ReplyAction};

use crate::{AiReply, DEFAULT_SYSTEM_PROMPT};

fn inbound(text: &str) -> Inbound {
    testing::message(lead(1, "ana.fit"), text)
}

fn message(direction: Direction, text: &str, at: i64) -> Message {
    Message {
        direction,
        text: text.into(),
        at,
    }
}

fn host() -> FakeHost {
    FakeHost::for_plugin::<AiReply>().with_lead(lead(1, "ana.fit"))
}

#[test]
fn trigger_word_hands_over_without_asking_the_ai() {
    let host = host().install();
    let action = AiReply::reply(inbound("I want a Refund now"));
    assert_eq!(
        action,
        Ok(ReplyAction::HandOver("trigger word 'refund'".into()))
    );
    assert!(host.ai_requests().is_empty());
}

#[test]
fn custom_trigger_words_replace_the_defaults() {
    host()
        .with_setting("handover_words", "price")
        .with_ai_reply("ok")
        .install();
    assert_eq!(
        AiReply::reply(inbound("how much?")),
        Ok(ReplyAction::Send("ok".into()))
    );
    let action = AiReply::reply(inbound("what's the PRICE"));
    assert_eq!(
        action,
        Ok(ReplyAction::HandOver("trigger word 'price'".into()))
    );
}

#[test]
fn sends_the_trimmed_ai_reply() {
    host().with_ai_reply("  Sure, Tuesdays work!\n").install();
    assert_eq!(
        AiReply::reply(inbound("open on tuesday?")),
        Ok(ReplyAction::Send("Sure, Tuesdays work!".into()))
    );
}

#[test]
fn empty_ai_reply_hands_over() {
    host().with_ai_reply(" \n").install();
    let action = AiReply::reply(inbound("hi"));
    assert_eq!(
        action,
        Ok(ReplyAction::HandOver("AI returned an empty reply".into()))
    );
}

#[test]
fn ai_error_hands_over_and_warns() {
    let error = Error::Unavailable("ai provider unreachable".into());
    let host = host().with_ai_error(error.clone()).install();
    let why = format!("AI unavailable: {error}");
    assert_eq!(
        AiReply::reply(inbound("hi")),
        Ok(ReplyAction::HandOver(why.clone()))
    );
    assert_eq!(host.logs(), vec![(Level::Warn, why)]);
}

#[test]
fn request_carries_the_prompt_and_the_conversation_ending_with_the_message() {
    let earlier = message(Direction::Outbound, "Hi Ana!", 1);
    let host = host()
        .with_message(1, earlier.clone())
        .with_ai_reply("ok")
        .install();
    AiReply::reply(inbound("what do you offer?")).unwrap();
    let [request] = host.ai_requests().try_into().unwrap();
    assert_eq!(request.system_prompt, DEFAULT_SYSTEM_PROMPT);
    let latest = message(Direction::Inbound, "what do you offer?", DEFAULT_NOW);
    assert_eq!(request.conversation, vec![earlier, latest]);
}

#[test]
fn message_already_in_history_is_not_repeated_and_history_is_limited() {
    let host = (0..5)
        .fold(host(), |h, at| {
            h.with_message(1, message(Direction::Outbound, "ping", at))
        })
        .with_message(1, message(Direction::Inbound, "hello?", 9))
        .with_setting("history", "3")
        .with_setting("system_prompt", "Be brief.")
        .install();
    AiReply::reply(inbound("hello?")).unwrap();
    let [request] = host.ai_requests().try_into().unwrap();
    assert_eq!(request.system_prompt, "Be brief.");
    let texts: Vec<&str> = request
        .conversation
        .iter()
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(texts, ["ping", "ping", "hello?"]);
}

#[test]
fn a_burst_of_messages_is_asked_about_once_with_each_message_once() {
    // Three lines sent in a row reach the hook as one event, stamped with the last one.
    let host = host()
        .with_message(1, message(Direction::Inbound, "hi", DEFAULT_NOW - 2))
        .with_message(
            1,
            message(Direction::Inbound, "how much is it", DEFAULT_NOW - 1),
        )
        .with_message(
            1,
            message(Direction::Inbound, "for two people?", DEFAULT_NOW),
        )
        .install();
    let action = AiReply::reply(inbound("hi\nhow much is it\nfor two people?")).unwrap();
    assert!(matches!(action, ReplyAction::Send(_)), "{action:?}");
    let [request] = host.ai_requests().try_into().unwrap();
    let texts: Vec<&str> = request
        .conversation
        .iter()
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(texts, ["hi", "how much is it", "for two people?"]);
}

#[test]
fn invalid_history_setting_is_an_error() {
    host().with_setting("history", "lots").install();
    assert!(
        matches!(AiReply::reply(inbound("hi")), Err(Error::Invalid(why)) if why.starts_with("setting `history`"))
    );
}

#[test]
fn without_read_permission_the_error_surfaces() {
    host().grant_only(&[Permission::AiGenerate]).install();
    assert_eq!(
        AiReply::reply(inbound("hi")),
        Err(Error::permission_denied(Permission::MessagesRead))
    );
}
