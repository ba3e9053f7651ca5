//! The team's saved replies: owners write them here (a name, and a text with the lead's
//! variables), everyone sends them from a conversation ([`super::conversations`]).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};

use super::pages::{self, destructive_form, escape, form, table};
use super::{Change, Console, Session, done, shown};
use crate::operator::admin::{self, SAVED_REPLY_NAME_MAX};
use crate::store;

/// Owners only.
pub fn routes() -> Router<Console> {
    Router::new()
        .route("/console/replies", get(list).post(save))
        .route("/console/replies/{id}/remove", post(remove))
}

async fn list(State(console): State<Console>, session: Session) -> Response {
    let replies = console.db_for(&session).read(store::saved_replies::all);
    shown(
        "saved replies",
        replies.map(|replies| {
            let rows: Vec<Vec<String>> = replies
                .iter()
                .map(|reply| {
                    vec![
                        escape(&reply.name),
                        format!("<pre>{}</pre>", escape(&reply.text)),
                        escape(&reply.saved_by),
                        destructive_form(
                            &session,
                            &format!("/console/replies/{}/remove", reply.id),
                            "",
                            "Remove",
                        ),
                    ]
                })
                .collect();
            let add = form(
                &session,
                "/console/replies",
                &format!(
                    "<label>Name <input name=\"name\" required maxlength=\"{SAVED_REPLY_NAME_MAX}\" \
                     placeholder=\"prices\"></label>\
                     <label>Text <textarea name=\"text\" required maxlength=\"1000\" \
                     placeholder=\"Hi {{first_name|there}}, our prices are on the pinned post.\"></textarea></label>"
                ),
                "Save reply",
            );
            pages::page(
                &session,
                "Replies",
                "Saved replies",
                &format!(
                    "<h1>Saved replies</h1><p class=\"hint\">Answers the team sends again and again, \
                     chosen under a conversation's reply box. <code>{{first_name}}</code>, \
                     <code>{{name}}</code>, <code>{{handle}}</code> and any imported column \
                     (<code>{{city}}</code>) are filled in for the lead; <code>{{first_name|there}}</code> \
                     says what to write when the lead has none. Saving under a name already used \
                     changes that reply.</p>\
                     <div id=\"saved-replies\">{}</div><h2>Save a reply</h2>{add}",
                    table(&["Name", "Text", "Saved by", ""], &rows)
                ),
            )
        }),
    )
}

async fn save(
    State(console): State<Console>,
    Change {
        session,
        fields,
        actor,
    }: Change,
) -> Response {
    let saved = admin::save_reply(
        &console.db,
        &actor,
        fields.get("name"),
        fields.get("text"),
        console.clock.now(),
    );
    done(&session, saved, "/console/replies")
}

async fn remove(
    State(console): State<Console>,
    Path(id): Path<i64>,
    Change { session, actor, .. }: Change,
) -> Response {
    let removed = admin::remove_saved_reply(&console.db, &actor, id, console.clock.now()).and_then(
        |removed| match removed {
            true => Ok(()),
            false => Err(anyhow::anyhow!("no saved reply #{id}: removed already")),
        },
    );
    done(&session, removed, "/console/replies")
}
