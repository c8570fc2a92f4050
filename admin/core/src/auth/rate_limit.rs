//! In-memory brute-force guard for password and TOTP attempts.
//!
//! [`LoginThrottle`] counts failures per key in a fixed window and locks the
//! key out for a while once the count reaches the limit. The login and TOTP
//! handlers use **two keys per attempt**: the client IP ([`ThrottleKey::ip`])
//! against one source trying many accounts, and the account
//! ([`ThrottleKey::account`]) against many sources trying one account (which
//! also caps online guessing of the 10^6 TOTP codes):
//!
//! ```text
//! check_all([ip, account])  → Err(RetryAfter) ⇒ 429 + Retry-After, no hashing
//! verify password / TOTP    → failure ⇒ record_failure(ip), record_failure(account)
//!                           → success ⇒ record_success(account)
//! ```
//!
//! Do **not** reset the IP key on success: an attacker holding one valid
//! account could otherwise reset their IP's counter between guesses at
//! other accounts. Reset the account key only once the **whole** login
//! succeeded (second factor included), or a correct password would clear
//! the failures of TOTP guesses.
//!
//! Each kind of key has its own [`ThrottlePolicy`]. Locking the account key
//! lets anyone who knows an e-mail delay that user's login, so accounts use
//! a **growing** lockout: short at first ([`ACCOUNT_FIRST_LOCKOUT`]),
//! doubling with each lockout that follows without a successful login in
//! between, up to [`ACCOUNT_MAX_LOCKOUT`]. IPs get a higher limit
//! ([`IP_MAX_FAILURES`], for NAT and offices) and a fixed lockout.
//! [`LoginThrottle::default`] uses these constants (OWASP's Authentication
//! Cheat Sheet: lockouts of minutes, not permanent).
//!
//! Sans-IO: the caller passes `now` ([`Instant`]); there is no background
//! task. Memory is bounded: at most `capacity` keys (default 100 000, a few
//! MB); when full, entries with no remaining state are purged and then the
//! least recently updated unlocked entries are evicted, in batches of 10 %.
//! Locked entries are evicted only if every entry is locked, so flooding the
//! table with fresh keys does not lift existing lockouts cheaply.
//!
//! State is per process: with several API nodes each node throttles on its
//! own (limits are effectively multiplied by the node count).
//! HTTP-level request rate limiting is separate (`governor`, in
//! `parla-admin-web`'s `rate_limit`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Default maximum number of tracked keys.
pub const DEFAULT_CAPACITY: usize = 100_000;
/// Failed attempts per account within [`FAILURE_WINDOW`] before a lockout.
pub const ACCOUNT_MAX_FAILURES: u32 = 5;
/// Failed attempts per client IP within [`FAILURE_WINDOW`] before a lockout
/// (higher than per account: one office or NAT shares an IP).
pub const IP_MAX_FAILURES: u32 = 20;
/// The window failures are counted in, from the first failure.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// An account's first lockout; each further one doubles.
pub const ACCOUNT_FIRST_LOCKOUT: Duration = Duration::from_secs(60);
/// The longest account lockout.
pub const ACCOUNT_MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// An IP's lockout.
pub const IP_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// How long a key's past lockouts are remembered (for the growing delay)
/// without new failures.
pub const LOCKOUT_MEMORY: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest account key kept (bytes); longer inputs are truncated (real
/// addresses are at most 254 characters, RFC 5321 §4.5.3.1.3 path limit).
const MAX_ACCOUNT_KEY_BYTES: usize = 320;

/// What failures are counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    /// A client address (see [`ThrottleKey::ip`] for the normalisation).
    Ip(IpAddr),
    /// An account, by normalised login email.
    Account(String),
}

impl ThrottleKey {
    /// Key for a client IP. IPv4-mapped IPv6 addresses count as their IPv4
    /// address; other IPv6 addresses are reduced to their /64 network, since
    /// a single client typically controls a whole /64.
    pub fn ip(ip: IpAddr) -> ThrottleKey {
        match ip {
            IpAddr::V4(v4) => ThrottleKey::Ip(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ThrottleKey::Ip(IpAddr::V4(v4)),
                None => {
                    let masked = u128::from(v6) & !((1u128 << 64) - 1);
                    ThrottleKey::Ip(IpAddr::V6(masked.into()))
                }
            },
        }
    }

    /// Key for an account: the login email trimmed and lowercased (so case
    /// variants share one counter), truncated to 320 bytes.
    pub fn account(email: &str) -> ThrottleKey {
        let mut s = email.trim().to_lowercase();
        if s.len() > MAX_ACCOUNT_KEY_BYTES {
            let mut cut = MAX_ACCOUNT_KEY_BYTES;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
        }
        ThrottleKey::Account(s)
    }
}

/// The key is locked out; try again after this long. Use
/// [`RetryAfter::as_secs_ceil`] for the HTTP `Retry-After` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, rounded up (never 0), for `Retry-After`.
    pub fn as_secs_ceil(&self) -> u64 {
        let s = self
            .0
            .as_secs()
            .saturating_add(u64::from(self.0.subsec_nanos() > 0));
        s.max(1)
    }
}

impl std::fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "too many failed attempts; retry after {} s",
            self.as_secs_ceil()
        )
    }
}

impl std::error::Error for RetryAfter {}

#[derive(Debug, Clone)]
struct Entry {
    /// Failures in the current window.
    failures: u32,
    window_start: Instant,
    /// When the current lockout began, if any.
    locked_at: Option<Instant>,
    /// How long the current (or last) lockout lasts.
    lockout: Duration,
    /// Lockouts so far without a success in between (for the growing delay).
    lockouts: u32,
    last_update: Instant,
}

/// How the failures of one kind of key are counted and locked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures within `window` that start a lockout (0 counts as 1).
    pub max_failures: u32,
    /// The counting window, from the window's first failure.
    pub window: Duration,
    /// The first lockout.
    pub lockout: Duration,
    /// Each further lockout (without a success in between) is twice the
    /// previous one, up to this (at least `lockout`).
    pub max_lockout: Duration,
}

impl ThrottlePolicy {
    /// A fixed lockout: `max_lockout` = `lockout`.
    pub fn fixed(max_failures: u32, window: Duration, lockout: Duration) -> ThrottlePolicy {
        ThrottlePolicy {
            max_failures,
            window,
            lockout,
            max_lockout: lockout,
        }
    }

    /// The per-account policy of [`LoginThrottle::default`].
    pub fn account_default() -> ThrottlePolicy {
        ThrottlePolicy {
            max_failures: ACCOUNT_MAX_FAILURES,
            window: FAILURE_WINDOW,
            lockout: ACCOUNT_FIRST_LOCKOUT,
            max_lockout: ACCOUNT_MAX_LOCKOUT,
        }
    }

    /// The per-IP policy of [`LoginThrottle::default`].
    pub fn ip_default() -> ThrottlePolicy {
        ThrottlePolicy::fixed(IP_MAX_FAILURES, FAILURE_WINDOW, IP_LOCKOUT)
    }

    /// The length of the `n`-th lockout in a row (n ≥ 1).
    fn lockout_for(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.lockout
            .saturating_mul(factor)
            .min(self.max_lockout.max(self.lockout))
    }
}

/// Failure counter with lockout; see the module docs.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    ip: ThrottlePolicy,
    account: ThrottlePolicy,
    capacity: usize,
    entries: HashMap<ThrottleKey, Entry>,
}

impl Default for LoginThrottle {
    /// [`ThrottlePolicy::ip_default`] and [`ThrottlePolicy::account_default`].
    fn default() -> Self {
        LoginThrottle::with_policies(
            ThrottlePolicy::ip_default(),
            ThrottlePolicy::account_default(),
        )
    }
}

impl LoginThrottle {
    /// Locks any key out for `lockout` once it has `max_failures` failures
    /// within `window` (measured from the first failure of the window):
    /// the same fixed policy for IPs and accounts. `max_failures` of 0 is
    /// treated as 1. Capacity is [`DEFAULT_CAPACITY`].
    pub fn new(max_failures: u32, window: Duration, lockout: Duration) -> LoginThrottle {
        let policy = ThrottlePolicy::fixed(max_failures, window, lockout);
        LoginThrottle::with_policies(policy, policy)
    }

    /// One policy for IP keys, another for account keys.
    pub fn with_policies(ip: ThrottlePolicy, account: ThrottlePolicy) -> LoginThrottle {
        let norm = |p: ThrottlePolicy| ThrottlePolicy {
            max_failures: p.max_failures.max(1),
            ..p
        };
        LoginThrottle {
            ip: norm(ip),
            account: norm(account),
            capacity: DEFAULT_CAPACITY,
            entries: HashMap::new(),
        }
    }

    /// The policy of `key`'s kind.
    fn policy(&self, key: &ThrottleKey) -> &ThrottlePolicy {
        match key {
            ThrottleKey::Ip(_) => &self.ip,
            ThrottleKey::Account(_) => &self.account,
        }
    }

    /// Sets the maximum number of tracked keys (at least 1).
    pub fn with_capacity(mut self, capacity: usize) -> LoginThrottle {
        self.capacity = capacity.max(1);
        self
    }

    /// Remaining lockout of an entry at `now`, if still locked.
    fn remaining_lockout(e: &Entry, now: Instant) -> Option<Duration> {
        let locked_at = e.locked_at?;
        let elapsed = now.saturating_duration_since(locked_at);
        (elapsed < e.lockout).then(|| e.lockout - elapsed)
    }

    /// Whether an entry carries no state any more (not locked, window over,
    /// past lockouts forgotten).
    fn is_stale(e: &Entry, policy: &ThrottlePolicy, now: Instant) -> bool {
        Self::remaining_lockout(e, now).is_none()
            && now.saturating_duration_since(e.window_start) >= policy.window
            && (e.lockouts == 0 || now.saturating_duration_since(e.last_update) >= LOCKOUT_MEMORY)
    }

    /// `Err(RetryAfter)` while `key` is locked out. Does not change state.
    pub fn check(&self, key: &ThrottleKey, now: Instant) -> Result<(), RetryAfter> {
        match self
            .entries
            .get(key)
            .and_then(|e| Self::remaining_lockout(e, now))
        {
            Some(d) => Err(RetryAfter(d)),
            None => Ok(()),
        }
    }

    /// [`LoginThrottle::check`] for several keys (IP and account); the
    /// longest remaining lockout wins.
    pub fn check_all(&self, keys: &[ThrottleKey], now: Instant) -> Result<(), RetryAfter> {
        match keys.iter().filter_map(|k| self.check(k, now).err()).max() {
            Some(r) => Err(r),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt for `key` at `now`; the `max_failures`-th
    /// failure within the window starts a lockout, as long as the policy's
    /// lockout for this many lockouts in a row. Failures while locked are
    /// ignored (they neither extend nor reset the lockout).
    pub fn record_failure(&mut self, key: &ThrottleKey, now: Instant) {
        if !self.entries.contains_key(key) && self.entries.len() >= self.capacity {
            self.make_room(now);
        }
        let locked = self
            .entries
            .get(key)
            .is_some_and(|e| Self::remaining_lockout(e, now).is_some());
        if locked {
            return;
        }
        let policy = *self.policy(key);
        let e = self.entries.entry(key.clone()).or_insert(Entry {
            failures: 0,
            window_start: now,
            locked_at: None,
            lockout: Duration::ZERO,
            lockouts: 0,
            last_update: now,
        });
        if now.saturating_duration_since(e.last_update) >= LOCKOUT_MEMORY {
            e.lockouts = 0;
        }
        if e.locked_at.is_some() || now.saturating_duration_since(e.window_start) >= policy.window {
            // Lockout over or window elapsed: start a fresh window.
            e.locked_at = None;
            e.failures = 0;
            e.window_start = now;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_update = now;
        if e.failures >= policy.max_failures {
            e.lockouts = e.lockouts.saturating_add(1);
            e.lockout = policy.lockout_for(e.lockouts);
            e.locked_at = Some(now);
            e.failures = 0;
        }
    }

    /// Forgets `key` (call for the account key after a successful login).
    pub fn record_success(&mut self, key: &ThrottleKey) {
        self.entries.remove(key);
    }

    /// Drops every entry that no longer carries state at `now`.
    pub fn purge_expired(&mut self, now: Instant) {
        let entries = std::mem::take(&mut self.entries);
        self.entries = entries
            .into_iter()
            .filter(|(k, e)| !Self::is_stale(e, self.policy(k), now))
            .collect();
    }

    /// Frees at least one slot: purge, then evict ~10 % of the entries,
    /// unlocked ones first, least recently updated first.
    fn make_room(&mut self, now: Instant) {
        self.purge_expired(now);
        if self.entries.len() < self.capacity {
            return;
        }
        let mut order: Vec<(bool, Instant, ThrottleKey)> = self
            .entries
            .iter()
            .map(|(k, e)| {
                (
                    Self::remaining_lockout(e, now).is_some(),
                    e.last_update,
                    k.clone(),
                )
            })
            .collect();
        if order.is_empty() {
            return;
        }
        let evict = (self.capacity / 10).clamp(1, order.len());
        order.select_nth_unstable_by(evict - 1, |a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (_, _, k) in order.into_iter().take(evict) {
            self.entries.remove(&k);
        }
    }

    /// Number of tracked keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const MIN: Duration = Duration::from_secs(60);

    fn acct(s: &str) -> ThrottleKey {
        ThrottleKey::account(s)
    }

    #[test]
    fn locks_after_max_failures_and_unlocks_after_lockout() {
        let t0 = Instant::now();
        let mut th = LoginThrottle::new(3, 10 * MIN, 15 * MIN);
        let k = acct("alice@example.com");
        for i in 0..2 {
            th.record_failure(&k, t0 + Duration::from_secs(i));
            assert_eq!(th.check(&k, t0 + Duration::from_secs(i)), Ok(()));
        }
        th.record_failure(&k, t0 + Duration::from_secs(2));
        let locked_at = t0 + Duration::from_secs(2);
        assert_eq!(th.check(&k, locked_at), Err(RetryAfter(15 * MIN)));
        assert_eq!(th.check(&k, locked_at + 5 * MIN), Err(RetryAfter(10 * MIN)));
        // Failures while locked do not extend the lockout.
        th.record_failure(&k, locked_at + 5 * MIN);
        assert_eq!(th.check(&k, locked_at + 5 * MIN), Err(RetryAfter(10 * MIN)));
        assert_eq!(th.check(&k, locked_at + 15 * MIN), Ok(()));
        // After the lockout a fresh window starts: one failure doesn't lock.
        th.record_failure(&k, locked_at + 16 * MIN);
        assert_eq!(th.check(&k, locked_at + 16 * MIN), Ok(()));
        th.record_failure(&k, locked_at + 16 * MIN);
        th.record_failure(&k, locked_at + 16 * MIN);
        assert!(th.check(&k, locked_at + 16 * MIN).is_err());
    }

    #[test]
    fn account_lockouts_grow_and_a_success_resets_them() {
        let t0 = Instant::now();
        let mut th = LoginThrottle::default();
        let k = acct("root@example.com");
        let lock = |th: &mut LoginThrottle, at: Instant| {
            for _ in 0..ACCOUNT_MAX_FAILURES {
                assert_eq!(th.check(&k, at), Ok(()));
                th.record_failure(&k, at);
            }
        };
        // 1 min, 2, 4, 8, then capped at 15.
        let mut at = t0;
        for expected in [1, 2, 4, 8, 15, 15].map(|m| m * MIN) {
            lock(&mut th, at);
            assert_eq!(th.check(&k, at), Err(RetryAfter(expected)));
            at += expected;
            assert_eq!(th.check(&k, at), Ok(()), "over after {expected:?}");
        }
        // A successful login forgets the history: back to 1 min.
        th.record_success(&k);
        lock(&mut th, at);
        assert_eq!(th.check(&k, at), Err(RetryAfter(MIN)));
        // So does a day without failures.
        at += MIN;
        lock(&mut th, at);
        assert_eq!(th.check(&k, at), Err(RetryAfter(2 * MIN)));
        at += LOCKOUT_MEMORY;
        lock(&mut th, at);
        assert_eq!(th.check(&k, at), Err(RetryAfter(MIN)));
    }

    #[test]
    fn ips_allow_more_failures_than_accounts() {
        const { assert!(IP_MAX_FAILURES > ACCOUNT_MAX_FAILURES) };
        let t0 = Instant::now();
        let mut th = LoginThrottle::default();
        let ip = ThrottleKey::ip(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)));
        for i in 0..IP_MAX_FAILURES {
            assert_eq!(th.check(&ip, t0), Ok(()), "failure {i}");
            th.record_failure(&ip, t0);
        }
        assert_eq!(th.check(&ip, t0), Err(RetryAfter(IP_LOCKOUT)));
        // The IP lockout does not grow.
        for _ in 0..IP_MAX_FAILURES {
            th.record_failure(&ip, t0 + IP_LOCKOUT);
        }
        assert_eq!(th.check(&ip, t0 + IP_LOCKOUT), Err(RetryAfter(IP_LOCKOUT)));
    }

    #[test]
    fn window_expiry_resets_the_count() {
        let t0 = Instant::now();
        let mut th = LoginThrottle::new(3, 10 * MIN, 15 * MIN);
        let k = acct("bob@example.com");
        th.record_failure(&k, t0);
        th.record_failure(&k, t0 + MIN);
        // Third failure after the window: counts as the first of a new one.
        th.record_failure(&k, t0 + 10 * MIN);
        assert_eq!(th.check(&k, t0 + 10 * MIN), Ok(()));
        th.record_failure(&k, t0 + 11 * MIN);
        assert_eq!(th.check(&k, t0 + 11 * MIN), Ok(()));
        th.record_failure(&k, t0 + 12 * MIN);
        assert!(th.check(&k, t0 + 12 * MIN).is_err());
    }

    #[test]
    fn success_resets_and_keys_are_independent() {
        let t0 = Instant::now();
        let mut th = LoginThrottle::new(2, MIN, MIN);
        let a = acct("a@x.io");
        let b = acct("b@x.io");
        th.record_failure(&a, t0);
        th.record_success(&a);
        th.record_failure(&a, t0);
        assert_eq!(th.check(&a, t0), Ok(()));
        th.record_failure(&a, t0);
        assert!(th.check(&a, t0).is_err());
        assert_eq!(th.check(&b, t0), Ok(()));
        th.record_success(&a);
        assert_eq!(th.check(&a, t0), Ok(()));
        assert!(th.is_empty());
    }

    #[test]
    fn check_all_reports_longest_lockout() {
        let t0 = Instant::now();
        let mut th = LoginThrottle::new(1, MIN, 10 * MIN);
        let ip = ThrottleKey::ip(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)));
        let ac = acct("c@x.io");
        assert_eq!(th.check_all(&[ip.clone(), ac.clone()], t0), Ok(()));
        th.record_failure(&ip, t0);
        th.record_failure(&ac, t0 + 2 * MIN);
        assert_eq!(
            th.check_all(&[ip.clone(), ac.clone()], t0 + 3 * MIN),
            Err(RetryAfter(9 * MIN))
        );
        assert_eq!(th.check_all(&[ip, ac], t0 + 11 * MIN), Err(RetryAfter(MIN)));
        assert_eq!(th.check_all(&[], t0), Ok(()));
    }

    #[test]
    fn key_normalisation() {
        assert_eq!(acct("  Alice@Example.COM "), acct("alice@example.com"));
        let long = "é".repeat(1000);
        match acct(&long) {
            ThrottleKey::Account(s) => assert!(s.len() <= 320 && s.len() >= 318),
            other => panic!("{other:?}"),
        }
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ThrottleKey::ip(a), ThrottleKey::ip(b));
        assert_ne!(ThrottleKey::ip(a), ThrottleKey::ip(c));
        assert_eq!(
            ThrottleKey::ip(a),
            ThrottleKey::Ip(IpAddr::V6("2001:db8:1:2::".parse::<Ipv6Addr>().unwrap()))
        );
        let mapped: IpAddr = "::ffff:198.51.100.9".parse().unwrap();
        assert_eq!(
            ThrottleKey::ip(mapped),
            ThrottleKey::ip(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)))
        );
    }

    #[test]
    fn memory_is_bounded_and_locks_survive_floods() {
        let t0 = Instant::now();
        let victim = acct("victim@example.com");
        // Limit 2: the flood's keys get one failure each and stay unlocked.
        let mut th = LoginThrottle::new(2, MIN, 60 * MIN).with_capacity(1_000);
        th.record_failure(&victim, t0);
        th.record_failure(&victim, t0);
        for i in 0..20_000u32 {
            let k = ThrottleKey::ip(IpAddr::V4(Ipv4Addr::from(i)));
            th.record_failure(&k, t0 + Duration::from_millis(u64::from(i)));
            assert!(th.len() <= 1_000);
        }
        // The locked victim was never evicted: unlocked keys went first.
        assert!(th.check(&victim, t0 + 30 * MIN).is_err());
        // Stale entries are purged; a lockout is remembered (for the
        // growing delay) for LOCKOUT_MEMORY.
        th.purge_expired(t0 + 2 * 60 * MIN);
        assert_eq!(th.len(), 1);
        th.purge_expired(t0 + LOCKOUT_MEMORY);
        assert!(th.is_empty());
    }

    #[test]
    fn all_locked_table_still_bounded() {
        let t0 = Instant::now();
        let mut th = LoginThrottle::new(1, MIN, 60 * MIN).with_capacity(100);
        for i in 0..1_000u32 {
            th.record_failure(&ThrottleKey::account(&format!("u{i}@x")), t0);
            assert!(th.len() <= 100);
        }
        // The newest lockouts are kept.
        assert!(th.check(&acct("u999@x"), t0).is_err());
    }

    #[test]
    fn odd_times_and_parameters_do_not_panic() {
        let t0 = Instant::now();
        let k = acct("x@y.z");
        // now earlier than stored instants, zero and huge durations.
        for (max, window, lockout) in [
            (0, Duration::ZERO, Duration::ZERO),
            (1, Duration::MAX, Duration::MAX),
            (u32::MAX, Duration::MAX, Duration::ZERO),
        ] {
            let mut th = LoginThrottle::new(max, window, lockout).with_capacity(0);
            th.record_failure(&k, t0 + MIN);
            th.record_failure(&k, t0);
            let _ = th.check(&k, t0);
            let _ = th.check(&k, t0 + 2 * MIN);
            th.purge_expired(t0);
            th.record_failure(&acct("other"), t0);
            assert!(th.len() <= 1);
        }
        // Zero lockout never locks.
        let mut th = LoginThrottle::new(1, MIN, Duration::ZERO);
        th.record_failure(&k, t0);
        assert_eq!(th.check(&k, t0), Ok(()));
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(RetryAfter(Duration::from_millis(1)).as_secs_ceil(), 1);
        assert_eq!(RetryAfter(Duration::from_secs(90)).as_secs_ceil(), 90);
        assert_eq!(RetryAfter(Duration::from_millis(90_001)).as_secs_ceil(), 91);
        assert_eq!(RetryAfter(Duration::ZERO).as_secs_ceil(), 1);
        assert_eq!(RetryAfter(Duration::MAX).as_secs_ceil(), u64::MAX);
        assert_eq!(
            RetryAfter(Duration::from_secs(60)).to_string(),
            "too many failed attempts; retry after 60 s"
        );
    }
}
