//! What every request to the provider passes through, whichever hook call makes it: at most
//! `ai.max_concurrent` in flight, and after a rate limit (HTTP 429) none sent until the
//! provider's `Retry-After` has passed (or the retry backoff, when it gives none), so a
//! hundred calls waiting on one provider back off together instead of each hitting it again.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The longest a `Retry-After` holds every call back: past it, each call's own deadline
/// decides.
const LONGEST_HOLD: Duration = Duration::from_secs(60);

pub struct Throttle {
    slots: Semaphore,
    /// No request leaves before this.
    hold_until: Mutex<Option<Instant>>,
    /// Held back after a 429 without `Retry-After`.
    default_hold: Duration,
    in_flight: AtomicU32,
}

impl Throttle {
    pub fn new(max_concurrent: u32, default_hold: Duration) -> Arc<Self> {
        Arc::new(Self {
            slots: Semaphore::new(max_concurrent.max(1) as usize),
            hold_until: Mutex::new(None),
            default_hold,
            in_flight: AtomicU32::new(0),
        })
    }

    /// Requests waiting on the provider right now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn held_until(&self) -> Option<Instant> {
        *self.hold_until.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds every request back for `wait` from now (never shortening a longer hold).
    fn hold(&self, wait: Duration) {
        let until = Instant::now() + wait.min(LONGEST_HOLD);
        let mut held = self.hold_until.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_none_or(|at| at < until) {
            *held = Some(until);
        }
    }

    /// Sends one request when its turn comes.
    pub async fn send(
        &self,
        http: &reqwest::Client,
        request: HttpRequestFactory,
    ) -> Result<reqwest::Response, OpenAIError> {
        // Waiting here holds no slot: a hold after a 429 lets nobody through.
        while let Some(until) = self.held_until().filter(|at| *at > Instant::now()) {
            tokio::time::sleep_until(until).await;
        }
        let _slot =
            self.slots.acquire().await.map_err(|_| {
                OpenAIError::InvalidArgument("the AI client is shutting down".into())
            })?;
        // A hold that began while this request waited for its slot applies to it too.
        if let Some(until) = self.held_until().filter(|at| *at > Instant::now()) {
            tokio::time::sleep_until(until).await;
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let sent = async {
            let request = request.build().await?;
            http.execute(request).await.map_err(OpenAIError::Reqwest)
        }
        .await;
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Ok(response) = &sent
            && response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS
        {
            self.hold(retry_after(response.headers()).unwrap_or(self.default_hold));
        }
        sent
    }
}

/// `Retry-After` in seconds (the form providers use for rate limits).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, "0.5".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(500)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[tokio::test]
    async fn a_hold_is_never_shortened() {
        let throttle = Throttle::new(1, Duration::from_millis(10));
        throttle.hold(Duration::from_secs(5));
        let long = throttle.held_until().unwrap();
        throttle.hold(Duration::from_millis(1));
        assert_eq!(throttle.held_until(), Some(long));
    }
}
