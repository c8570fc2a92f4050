//! In-memory login state: pending second-factor challenges and the last
//! accepted TOTP time step per user (replay protection).
//!
//! Both live in the process, not the database: a challenge only has to
//! survive the few seconds between the password and the code, and losing
//! them on restart just asks the user to sign in again. On a multi-node
//! deployment a login must reach the same node for both steps (sticky
//! sessions), and a TOTP code could be replayed once on another node
//! within its 90-second window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::auth::random;
use crate::domain::{TenantId, UserId};

/// How long a second-factor challenge stays valid.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(5 * 60);
/// Wrong codes accepted per challenge before it is dropped.
pub const CHALLENGE_MAX_ATTEMPTS: u32 = 5;
/// Pending challenges kept at most (oldest dropped first beyond this).
const MAX_CHALLENGES: usize = 10_000;

/// A password-verified login waiting for its second factor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    /// The user whose password was verified.
    pub user_id: UserId,
    /// The tenant the session will work in (`None` for a super admin).
    pub tenant_id: Option<TenantId>,
    /// Their e-mail (throttle key and audit label).
    pub email: String,
    expires: Instant,
    attempts: u32,
}

/// Challenges and TOTP replay state. Shared through
/// [`CoreState`](crate::state::CoreState).
#[derive(Debug, Default)]
pub(crate) struct LoginMemory {
    challenges: Mutex<HashMap<String, Pending>>,
    totp_steps: Mutex<HashMap<UserId, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps inconsistent
    // (each update is a single insert/remove), so poisoning is ignored.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LoginMemory {
    /// Stores a new challenge for `user` and returns its opaque token (43
    /// characters of base64url, 256 random bits).
    pub fn issue(
        &self,
        user_id: UserId,
        tenant_id: Option<TenantId>,
        email: &str,
        now: Instant,
    ) -> String {
        let token = URL_SAFE_NO_PAD.encode(random::bytes::<32>());
        let mut map = lock(&self.challenges);
        map.retain(|_, p| p.expires > now);
        if map.len() >= MAX_CHALLENGES {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, p)| p.expires)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            token.clone(),
            Pending {
                user_id,
                tenant_id,
                email: email.to_owned(),
                expires: now + CHALLENGE_TTL,
                attempts: 0,
            },
        );
        token
    }

    /// The live challenge `token`, without consuming it.
    pub fn peek(&self, token: &str, now: Instant) -> Option<Pending> {
        let mut map = lock(&self.challenges);
        match map.get(token) {
            Some(p) if p.expires > now => Some(p.clone()),
            Some(_) => {
                map.remove(token);
                None
            }
            None => None,
        }
    }

    /// Consumes the challenge (after a correct code). `false` if it was
    /// already consumed, by a concurrent request for instance.
    pub fn consume(&self, token: &str) -> bool {
        lock(&self.challenges).remove(token).is_some()
    }

    /// Counts a wrong code; drops the challenge after
    /// [`CHALLENGE_MAX_ATTEMPTS`].
    pub fn wrong_code(&self, token: &str) {
        let mut map = lock(&self.challenges);
        let exhausted = map.get_mut(token).is_some_and(|p| {
            p.attempts += 1;
            p.attempts >= CHALLENGE_MAX_ATTEMPTS
        });
        if exhausted {
            map.remove(token);
        }
    }

    /// The last TOTP step accepted for `user`.
    pub fn last_step(&self, user: UserId) -> Option<u64> {
        lock(&self.totp_steps).get(&user).copied()
    }

    /// Records `step` as used by `user`; `false` if an equal or later step
    /// was recorded meanwhile (a concurrent use of the same code).
    pub fn use_step(&self, user: UserId, step: u64) -> bool {
        let mut map = lock(&self.totp_steps);
        match map.get(&user) {
            Some(last) if *last >= step => false,
            _ => {
                map.insert(user, step);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_expire_are_single_use_and_limit_attempts() {
        let m = LoginMemory::default();
        let u = UserId::generate();
        let t0 = Instant::now();
        let c = m.issue(u, None, "a@example.com", t0);
        assert_eq!(c.len(), 43);
        assert_eq!(m.peek(&c, t0).unwrap().user_id, u);
        assert!(m.peek("nope", t0).is_none());
        assert!(m.peek(&c, t0 + CHALLENGE_TTL).is_none(), "expired");
        let c = m.issue(u, None, "a@example.com", t0);
        assert!(m.consume(&c));
        assert!(!m.consume(&c), "single use");
        let c = m.issue(u, None, "a@example.com", t0);
        for _ in 0..CHALLENGE_MAX_ATTEMPTS - 1 {
            m.wrong_code(&c);
        }
        assert!(m.peek(&c, t0).is_some());
        m.wrong_code(&c);
        assert!(m.peek(&c, t0).is_none(), "dropped after too many attempts");
    }

    #[test]
    fn totp_steps_only_move_forward() {
        let m = LoginMemory::default();
        let u = UserId::generate();
        assert_eq!(m.last_step(u), None);
        assert!(m.use_step(u, 10));
        assert!(!m.use_step(u, 10));
        assert!(!m.use_step(u, 9));
        assert!(m.use_step(u, 11));
        assert_eq!(m.last_step(u), Some(11));
    }
}
