//! Request rate limits of the admin plane (used by `/api/v1` and the
//! panel's login forms): a GCRA token bucket (the `governor`
//! crate) per client IP, per credential (the `Authorization` header, so an
//! API key or session is limited wherever it is used from), and a stricter
//! one per client IP for the login endpoints. Over a limit the API answers
//! 429 in its error shape with `Retry-After` (whole seconds, at least 1).
//!
//! This complements the failed-login throttle
//! (`parla_admin_core::auth::rate_limit`), which
//! locks accounts and IPs after repeated wrong passwords.
//!
//! The panel's login forms (`POST /panel/login`, `/panel/login/2fa`) count
//! against the same per-IP login bucket ([`AdminState::check_login_rate`]).
//!
//! Limits are set on the state: [`AdminState::new`] uses
//! [`RateLimits::default`]; [`AdminState::with_rate_limits`] replaces them
//! (tests raise or lower them).

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest, Sha256};

use crate::state::AdminState;

/// Sustained API requests per minute from one client IP.
pub const API_PER_IP_PER_MINUTE: u32 = 600;
/// Requests one client IP may send at once before the sustained rate applies.
pub const API_PER_IP_BURST: u32 = 120;
/// Sustained API requests per minute with one credential (API key or session).
pub const API_PER_CREDENTIAL_PER_MINUTE: u32 = 300;
/// Burst of one credential.
pub const API_PER_CREDENTIAL_BURST: u32 = 60;
/// Sustained login attempts (`/auth/login…`) per minute from one client IP.
pub const LOGIN_PER_IP_PER_MINUTE: u32 = 10;
/// Burst of login attempts from one client IP.
pub const LOGIN_PER_IP_BURST: u32 = 10;

/// Keys tracked per limiter before idle ones are dropped (bounds memory
/// under floods of distinct credentials).
const MAX_TRACKED_KEYS: usize = 100_000;

/// One limit: `burst` requests at once, refilled at `per_minute`. Zero
/// values count as 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests allowed at once.
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Quota {
        let nz = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Quota::per_minute(nz(self.per_minute)).allow_burst(nz(self.burst))
    }
}

/// The limits of `/api/v1`; `None` disables one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Every request, per client IP.
    pub per_ip: Option<Rate>,
    /// Requests carrying an `Authorization` header, per header value.
    pub per_credential: Option<Rate>,
    /// `/auth/login…` requests, per client IP (on top of `per_ip`).
    pub login_per_ip: Option<Rate>,
}

impl Default for RateLimits {
    /// The `API_*` and `LOGIN_*` constants of this module.
    fn default() -> Self {
        RateLimits {
            per_ip: Some(Rate {
                per_minute: API_PER_IP_PER_MINUTE,
                burst: API_PER_IP_BURST,
            }),
            per_credential: Some(Rate {
                per_minute: API_PER_CREDENTIAL_PER_MINUTE,
                burst: API_PER_CREDENTIAL_BURST,
            }),
            login_per_ip: Some(Rate {
                per_minute: LOGIN_PER_IP_PER_MINUTE,
                burst: LOGIN_PER_IP_BURST,
            }),
        }
    }
}

impl RateLimits {
    /// No request rate limits (the failed-login throttle still applies).
    pub fn unlimited() -> Self {
        RateLimits {
            per_ip: None,
            per_credential: None,
            login_per_ip: None,
        }
    }
}

/// The limiters' state (shared by all workers through [`AdminState`]).
pub(crate) struct ApiRateLimiter {
    limits: RateLimits,
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_credential: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    login_per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl ApiRateLimiter {
    /// Fresh limiters for `limits`.
    pub(crate) fn new(limits: RateLimits) -> Self {
        ApiRateLimiter {
            limits,
            per_ip: limits
                .per_ip
                .map(|r| DefaultKeyedRateLimiter::keyed(r.quota())),
            per_credential: limits
                .per_credential
                .map(|r| DefaultKeyedRateLimiter::keyed(r.quota())),
            login_per_ip: limits
                .login_per_ip
                .map(|r| DefaultKeyedRateLimiter::keyed(r.quota())),
        }
    }

    /// The configured limits.
    pub(crate) fn limits(&self) -> RateLimits {
        self.limits
    }

    /// Counts one request; `Err(seconds to wait)` if a limit is exceeded.
    pub(crate) fn check(
        &self,
        ip: Option<IpAddr>,
        credential: Option<&[u8]>,
        login: bool,
    ) -> Result<(), u64> {
        if let Some(ip) = ip {
            check(self.per_ip.as_ref(), &ip)?;
            if login {
                check(self.login_per_ip.as_ref(), &ip)?;
            }
        }
        if let Some(c) = credential {
            check(self.per_credential.as_ref(), &Sha256::digest(c).into())?;
        }
        Ok(())
    }
}

fn check<K: Hash + Eq + Clone>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> Result<(), u64> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    if limiter.len() > MAX_TRACKED_KEYS {
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
    })
}

impl AdminState {
    /// Replaces the request rate limits (and resets their counters).
    pub fn with_rate_limits(mut self, limits: RateLimits) -> AdminState {
        self.rate_limiter = ApiRateLimiter::new(limits);
        self
    }

    /// The request rate limits in force.
    pub fn rate_limits(&self) -> RateLimits {
        self.rate_limiter.limits()
    }

    /// Counts one login request from `ip` against the limits of the login
    /// routes (per IP, and login per IP). The panel's login forms call it
    /// so they share the API login's buckets: `Err(seconds to wait)` (for
    /// `Retry-After`) over a limit.
    pub(crate) fn check_login_rate(&self, ip: Option<IpAddr>) -> Result<(), u64> {
        self.rate_limiter.check(ip, None, true)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_ip: u32, per_credential: u32) -> ApiRateLimiter {
        ApiRateLimiter::new(RateLimits {
            per_ip: Some(Rate {
                per_minute: 1,
                burst: per_ip,
            }),
            per_credential: Some(Rate {
                per_minute: 1,
                burst: per_credential,
            }),
            login_per_ip: Some(Rate {
                per_minute: 1,
                burst: 1,
            }),
        })
    }

    #[test]
    fn each_ip_has_its_own_bucket() {
        let l = limiter(2, 100);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(l.check(Some(a), None, false).is_ok());
        assert!(l.check(Some(a), None, false).is_ok());
        let wait = l.check(Some(a), None, false).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(l.check(Some(b), None, false).is_ok());
    }

    #[test]
    fn a_credential_is_limited_across_ips_and_login_separately() {
        let l = limiter(100, 1);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(l.check(Some(a), Some(b"Bearer pk_x"), false).is_ok());
        assert!(l.check(Some(b), Some(b"Bearer pk_x"), false).is_err());
        assert!(l.check(Some(b), Some(b"Bearer pk_y"), false).is_ok());
        assert!(l.check(Some(a), None, true).is_ok());
        assert!(l.check(Some(a), None, true).is_err());
        assert!(l.check(Some(a), None, false).is_ok());
    }

    #[test]
    fn unlimited_never_refuses() {
        let l = ApiRateLimiter::new(RateLimits::unlimited());
        for _ in 0..1000 {
            assert!(l.check(None, Some(b"x"), true).is_ok());
        }
    }
}
