//! Turning due follow-up sequences into events, one per sequence step.

use super::Engine;
use crate::store::events::{EventKind, NewEvent, Payload};
use crate::store::{self};

impl Engine {
    /// Returns how many new events were queued. A queued step is marked as waiting in its
    /// event, so each pass reads only the steps that became due since.
    pub(super) fn enqueue_due_followups(&self) -> anyhow::Result<usize> {
        let now = self.now();
        self.db().write(|tx| {
            let mut queued = 0;
            for schedule in store::schedules::due(tx, now, super::EVENT_BATCH)? {
                let payload = Payload {
                    schedule_id: Some(schedule.id),
                    step: Some(schedule.step),
                    ..Payload::default()
                };
                let event = NewEvent {
                    kind: EventKind::FollowUp,
                    lead_id: schedule.lead_id,
                    plugin: Some(&schedule.plugin),
                    payload,
                    // One event per step and due time: a step that is already queued or
                    // being retried is not queued again.
                    dedupe_key: Some(format!(
                        "follow-up:{}:{}:{}",
                        schedule.id, schedule.step, schedule.due_at
                    )),
                };
                if let Some(id) = store::events::insert(tx, &event, now)? {
                    store::schedules::mark_pending(tx, schedule.id, id)?;
                    queued += 1;
                }
            }
            Ok(queued)
        })
    }
}
