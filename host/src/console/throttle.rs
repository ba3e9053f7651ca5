//! The login throttle, built so that it cannot be turned against a user: failures slow down
//! the client that makes them, not the account they name. A wrong password makes that
//! client wait for that user name (after a few); many failures from one client make it
//! wait for every name (someone trying made-up names); and all clients that failed lately,
//! together, get a bounded number of password checks per second (many addresses guessing
//! at once). A client that has not failed is never held by another's failures: the owner
//! logging in from elsewhere while someone guesses their password is not kept waiting.
//!
//! The client is the peer's address; behind a reverse proxy on the same machine (the peer
//! is a loopback address) it is the last address of `X-Forwarded-For`, the one that proxy
//! added ([`client_address`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::clock::{HOUR, Millis, SECOND};

/// Failures of one client for one user name before each further try must wait.
const FREE_FAILURES_PER_NAME: u32 = 5;
/// Failures of one client, whatever the names, before each further try must wait.
const FREE_FAILURES_PER_CLIENT: u32 = 20;
const LONGEST_WAIT: Millis = 300 * SECOND;
/// A client's failures are forgotten this long after its last one.
const FORGET_AFTER: Millis = HOUR;
/// Password checks all clients that failed lately may ask for, together, in one second.
const CHECKS_PER_SECOND: u32 = 20;
/// Entries each table remembers at most.
const TRACKED: usize = 10_000;

/// Why a login must wait, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// This client failed too often (for this name, or for any): milliseconds to wait.
    Client(Millis),
    /// Too many logins this second from clients that failed lately: try again in a moment.
    Everyone,
}

/// Failures counted per key, each key waiting longer after each failure past the free ones.
struct Backoff<K> {
    free: u32,
    entries: HashMap<K, Failures>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    until: Millis,
    last: Millis,
}

impl<K: Eq + Hash + Clone> Backoff<K> {
    fn new(free: u32) -> Self {
        Self {
            free,
            entries: HashMap::new(),
        }
    }

    fn wait(&self, key: &K, now: Millis) -> Option<Millis> {
        self.entries
            .get(key)
            .filter(|f| f.until > now)
            .map(|f| f.until - now)
    }

    fn failed(&mut self, key: K, now: Millis) {
        // Made-up keys must not grow this without bound: forget the stale ones, and past
        // that, the oldest.
        if self.entries.len() >= TRACKED {
            self.entries
                .retain(|_, f| f.until > now || now - f.last < FORGET_AFTER);
            while self.entries.len() >= TRACKED {
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, f)| f.last)
                    .map(|(key, _)| key.clone());
                oldest.map(|key| self.entries.remove(&key));
            }
        }
        let entry = self.entries.entry(key).or_insert(Failures {
            count: 0,
            until: 0,
            last: now,
        });
        if now - entry.last >= FORGET_AFTER {
            entry.count = 0;
        }
        entry.count += 1;
        entry.last = now;
        if entry.count >= self.free {
            let doublings = (entry.count - self.free).min(10);
            entry.until = now + (SECOND << doublings).min(LONGEST_WAIT);
        }
    }

    fn forget(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Whether `key` failed within the last hour.
    fn failed_lately(&self, key: &K, now: Millis) -> bool {
        self.entries
            .get(key)
            .is_some_and(|f| now - f.last < FORGET_AFTER)
    }
}

/// Who is logging in: the peer's address, or behind a reverse proxy on this machine (a
/// loopback peer) the last `X-Forwarded-For` address, the one the proxy added. A peer from
/// elsewhere cannot choose its address this way.
pub fn client_address(peer: Option<IpAddr>, headers: &axum::http::HeaderMap) -> Option<IpAddr> {
    let forwarded = || {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .last()
            .and_then(|last| last.trim().parse::<IpAddr>().ok())
    };
    match peer {
        Some(peer) if peer.is_loopback() => forwarded().or(Some(peer)),
        peer => peer,
    }
    .map(|ip| ip.to_canonical())
}

struct State {
    per_name: Backoff<(Option<IpAddr>, String)>,
    per_client: Backoff<Option<IpAddr>>,
    /// The second being counted, and the checks asked for in it.
    second: (Millis, u32),
}

/// The console's login throttle ([the module](self)).
pub struct Throttle {
    state: Mutex<State>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                per_name: Backoff::new(FREE_FAILURES_PER_NAME),
                per_client: Backoff::new(FREE_FAILURES_PER_CLIENT),
                second: (0, 0),
            }),
        }
    }
}

impl Throttle {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `client` may try `user`'s password now; a try that may goes toward this
    /// second's bound. `client` is `None` where the address is not known (one client).
    pub fn check(&self, client: Option<IpAddr>, user: &str, now: Millis) -> Result<(), Wait> {
        let mut state = self.state();
        let key = (client, user.to_owned());
        let waits = [
            state.per_name.wait(&key, now),
            state.per_client.wait(&client, now),
        ];
        if let Some(longest) = waits.into_iter().flatten().max() {
            return Err(Wait::Client(longest));
        }
        if !state.per_client.failed_lately(&client, now) {
            return Ok(());
        }
        let this_second = now / SECOND;
        if state.second.0 != this_second {
            state.second = (this_second, 0);
        }
        if state.second.1 >= CHECKS_PER_SECOND {
            return Err(Wait::Everyone);
        }
        state.second.1 += 1;
        Ok(())
    }

    pub fn failed(&self, client: Option<IpAddr>, user: &str, now: Millis) {
        let mut state = self.state();
        state.per_name.failed((client, user.to_owned()), now);
        state.per_client.failed(client, now);
    }

    /// The right password: this client's failures for this name are forgotten (its
    /// failures for other names still count).
    pub fn succeeded(&self, client: Option<IpAddr>, user: &str) {
        self.state().per_name.forget(&(client, user.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    #[test]
    fn an_attackers_failures_never_keep_the_owner_waiting_elsewhere() {
        let throttle = Throttle::default();
        let mut now = 1_000_000;
        for _ in 0..50 {
            now += SECOND;
            if throttle.check(ip(66), "owner", now).is_ok() {
                throttle.failed(ip(66), "owner", now);
            }
        }
        assert!(matches!(
            throttle.check(ip(66), "owner", now),
            Err(Wait::Client(_))
        ));
        // The owner, from their own address, right away.
        assert_eq!(throttle.check(ip(7), "owner", now), Ok(()));
    }

    #[test]
    fn made_up_names_from_one_client_make_it_wait_for_every_name() {
        let throttle = Throttle::default();
        let now = 1_000_000;
        for n in 0..FREE_FAILURES_PER_CLIENT {
            assert_eq!(
                throttle.check(ip(66), &format!("guess{n}"), now + n as i64 * SECOND),
                Ok(())
            );
            throttle.failed(ip(66), &format!("guess{n}"), now + n as i64 * SECOND);
        }
        // Just after the last of them.
        let later = now + (FREE_FAILURES_PER_CLIENT as i64 - 1) * SECOND + 1;
        assert!(matches!(
            throttle.check(ip(66), "a-new-guess", later),
            Err(Wait::Client(_))
        ));
        assert_eq!(throttle.check(ip(7), "a-new-guess", later), Ok(()));
        // Forgotten after an hour of quiet.
        assert_eq!(
            throttle.check(ip(66), "owner", later + HOUR + LONGEST_WAIT),
            Ok(())
        );
    }

    #[test]
    fn waits_double_up_to_five_minutes_and_a_success_clears_its_name() {
        let throttle = Throttle::default();
        let now = 1_000_000;
        let mut waits = Vec::new();
        for _ in 0..20 {
            throttle.failed(ip(1), "sam", now);
            if let Err(Wait::Client(wait)) = throttle.check(ip(1), "sam", now) {
                waits.push(wait);
            }
        }
        assert_eq!(waits.first(), Some(&SECOND));
        assert_eq!(waits[1], 2 * SECOND);
        assert_eq!(waits.last(), Some(&LONGEST_WAIT));
        throttle.succeeded(ip(1), "sam");
        assert!(
            matches!(throttle.check(ip(1), "sam", now), Err(Wait::Client(_))),
            "the client's own bound still holds after 20 failures"
        );
        assert_eq!(
            throttle.check(ip(1), "sam", now + 10 * LONGEST_WAIT),
            Ok(())
        );
    }

    #[test]
    fn clients_that_failed_get_a_bounded_number_of_checks_per_second_and_others_none() {
        let throttle = Throttle::default();
        let now = 5 * SECOND;
        // Many addresses guessing at once (a botnet, an IPv6 range): each failed once.
        for n in 0..=CHECKS_PER_SECOND {
            throttle.failed(ip(n as u8), &format!("guess{n}"), now - SECOND);
        }
        for n in 0..CHECKS_PER_SECOND {
            assert_eq!(throttle.check(ip(n as u8), "sam", now), Ok(()));
        }
        assert_eq!(
            throttle.check(ip(CHECKS_PER_SECOND as u8), "sam", now + 999),
            Err(Wait::Everyone)
        );
        // A client that has not failed is not held by them.
        assert_eq!(throttle.check(ip(250), "sam", now + 999), Ok(()));
        assert_eq!(throttle.check(ip(0), "sam", now + SECOND), Ok(()));
    }

    #[test]
    fn failures_counted_after_an_hour_of_quiet_start_from_nothing() {
        let throttle = Throttle::default();
        let now = 1_000_000;
        for _ in 0..FREE_FAILURES_PER_NAME - 1 {
            throttle.failed(ip(1), "sam", now);
        }
        // One more now would make sam wait; after an hour of quiet it does not.
        let later = now + FORGET_AFTER;
        throttle.failed(ip(1), "sam", later);
        assert_eq!(throttle.check(ip(1), "sam", later), Ok(()));
        for _ in 0..FREE_FAILURES_PER_NAME {
            throttle.failed(ip(2), "sam", now + 1);
        }
        assert!(
            throttle.check(ip(2), "sam", now + 1).is_err(),
            "within the hour it counts"
        );
    }

    #[test]
    fn the_client_is_the_peer_unless_a_proxy_on_this_machine_forwarded_it() {
        use axum::http::HeaderMap;
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.4".parse().unwrap(),
        );
        let local = Some(IpAddr::from([127, 0, 0, 1]));
        let remote = Some(IpAddr::from([192, 0, 2, 8]));
        assert_eq!(
            client_address(local, &headers),
            Some(IpAddr::from([198, 51, 100, 4]))
        );
        // From elsewhere the header is the client's own word: not taken.
        assert_eq!(client_address(remote, &headers), remote);
        assert_eq!(client_address(local, &HeaderMap::new()), local);
        // An IPv4 client over IPv6 is one client.
        let mapped = Some("::ffff:192.0.2.8".parse::<IpAddr>().unwrap());
        assert_eq!(client_address(mapped, &HeaderMap::new()), remote);
    }
}
