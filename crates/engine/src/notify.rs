//! Telling a team that a lead needs them: the notifications queued when a lead is handed
//! over (or taken over in the Instagram app) are POSTed to their account's URL, sealed in
//! the database and opened with the secret key, and retried with waits that double, for
//! about a day. What one says is composed as it is sent, from the lead as they are then.

use std::time::Duration;

use super::Engine;
use crate::channels::notify::{Notifier, NotifyError, compose};
use crate::clock::{MINUTE, Millis};
use crate::store;

/// Notifications sent in one pass, at most.
const BATCH: u32 = 50;
/// How long a notification URL has to answer.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long one pass spends on notifications at most: a slow or dead URL must not hold back
/// the replies and sends of the pass (nor the claims it renews); the rest wait for the next.
const PASS_BUDGET: Duration = Duration::from_secs(10);
/// Sends before giving up: the waits between them double from a minute, about a day in all.
const ATTEMPTS: u32 = 11;

impl Engine {
    /// Sends the notifications that are due; returns how many went out.
    pub(super) async fn notify_due(&self) -> anyhow::Result<usize> {
        let due = self
            .db()
            .read(|c| store::notifications::due(c, self.now(), BATCH))?;
        if due.is_empty() {
            return Ok(0);
        }
        let started = std::time::Instant::now();
        let notifier = Notifier::from_env(TIMEOUT)?;
        let mut sent = 0;
        for notification in due {
            if started.elapsed() >= PASS_BUDGET {
                break;
            }
            let outcome = match self.db().read(|c| compose(c, &notification)) {
                Ok(Some((url, body))) => notifier.post(&url, &notification.key(), &body).await,
                Ok(None) => Err(NotifyError {
                    reason: "the account has no notification URL any more".into(),
                    permanent: true,
                }),
                // (The sealing key missing where this runs, say: it may be set again.)
                Err(e) => Err(NotifyError {
                    reason: format!("{e:#}"),
                    permanent: false,
                }),
            };
            let id = notification.id;
            let retry = retry_at(notification.attempts, self.now());
            match outcome {
                Ok(()) => {
                    sent += 1;
                    self.db().write(|c| store::notifications::done(c, id))?;
                }
                Err(error) => {
                    // The URL is a secret: the reason never holds it.
                    let why = error.reason;
                    match retry.filter(|_| !error.permanent) {
                        Some(at) => {
                            tracing::warn!("notification #{id}: {why}; trying again later");
                            self.db()
                                .write(|c| store::notifications::retry_at(c, id, at, &why))?;
                        }
                        None => {
                            tracing::error!("notification #{id} given up: {why}");
                            self.db().write(|c| store::notifications::done(c, id))?;
                        }
                    }
                }
            }
        }
        Ok(sent)
    }
}

/// When a notification that failed `attempts` times before (and now once more) is tried
/// again, if it is.
fn retry_at(attempts: u32, now: Millis) -> Option<Millis> {
    (attempts + 1 < ATTEMPTS).then(|| now + MINUTE * (1 << attempts.min(16)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_a_minute_and_stop_after_about_a_day() {
        let waits: Vec<Millis> = (0..ATTEMPTS).map_while(|n| retry_at(n, 0)).collect();
        assert_eq!(waits[..3], [MINUTE, 2 * MINUTE, 4 * MINUTE]);
        assert_eq!(waits.len() as u32, ATTEMPTS - 1);
        let total: Millis = waits.iter().sum();
        assert!(
            (16 * 60 * MINUTE..48 * 60 * MINUTE).contains(&total),
            "{total}"
        );
    }
}
