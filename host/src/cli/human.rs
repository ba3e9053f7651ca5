//! `conversations reply`, `leads resume`, `leads convert`: [`crate::operator`]'s actions,
//! as the person at the terminal (`operator:cli`).

use super::App;
use super::data::OPERATOR;
use super::output::safe;
use crate::operator;

pub fn reply(app: &App, handle: &str, text: &str) -> anyhow::Result<()> {
    let lead = operator::reply(
        &app.db,
        OPERATOR,
        handle,
        operator::Reply::Typed(text),
        app.now(),
    )?
    .map_err(anyhow::Error::msg)?;
    println!(
        "queued a reply to @{} (sent by the next `outreach run` under the account's safety rules)",
        safe(&lead.handle)
    );
    Ok(())
}

pub fn resume(app: &App, handle: &str) -> anyhow::Result<()> {
    operator::resume(&app.db, OPERATOR, handle, app.now())?;
    println!(
        "@{}: automation answers their next message again",
        safe(handle)
    );
    Ok(())
}

pub fn convert(app: &App, handle: &str) -> anyhow::Result<()> {
    let stopped = operator::convert(&app.db, OPERATOR, handle, app.now())?;
    println!(
        "@{} converted; {stopped} follow-up sequence(s) stopped",
        safe(handle)
    );
    Ok(())
}
