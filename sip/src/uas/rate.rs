//! Per-source rate limit on new INVITEs: one token bucket per source IP
//! (an IPv6 source counts by its /64), checked before a call exists, so a
//! flood costs a 503 and nothing else (no routing, no database, no RTP port).
//!
//! Memory is bounded: at most [`MAX_TRACKED_SOURCES`] buckets. When the map
//! is full, buckets that have refilled completely (their source has been
//! idle for at least `burst / per_second` seconds, so forgetting them changes
//! nothing) are dropped; if every tracked source is still active, a new
//! source is let through untracked (fail open: a spoofed-source flood cannot
//! lock out sources it never used).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Source IPs tracked at once, at most (a bucket is ~40 bytes: ~0.5 MB).
pub const MAX_TRACKED_SOURCES: usize = 10_000;
/// How often a full map is swept for idle buckets, at most: 1 s.
const PRUNE_INTERVAL: Duration = Duration::from_secs(1);

/// Token bucket settings for new INVITEs from one source IP.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InviteRateLimit {
    /// Sustained rate: tokens added per second (> 0).
    pub per_second: f64,
    /// Bucket size: INVITEs accepted back to back from an idle source (≥ 1).
    pub burst: u32,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every recently seen source.
#[derive(Debug)]
pub(crate) struct SourceRateLimiter {
    limit: InviteRateLimit,
    buckets: HashMap<IpAddr, Bucket>,
    last_prune: Option<Instant>,
}

/// The key of a source: the IPv4 address, or the /64 of an IPv6 address
/// (one host usually owns a whole /64).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

impl SourceRateLimiter {
    pub fn new(limit: InviteRateLimit) -> Self {
        let limit = InviteRateLimit {
            per_second: if limit.per_second.is_finite() && limit.per_second > 0.0 {
                limit.per_second
            } else {
                f64::MIN_POSITIVE
            },
            burst: limit.burst.max(1),
        };
        Self {
            limit,
            buckets: HashMap::new(),
            last_prune: None,
        }
    }

    /// Sources tracked now.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    fn refilled(&self, b: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + elapsed * self.limit.per_second).min(self.limit.burst as f64)
    }

    /// Takes one token for a new INVITE from `ip` at `now`. `Err(secs)`:
    /// over the limit; a token is available again in `secs` seconds (≥ 1,
    /// for the 503's Retry-After).
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> Result<(), u32> {
        let key = source_key(ip);
        let burst = self.limit.burst as f64;
        let bucket = match self.buckets.get(&key) {
            Some(b) => Bucket {
                tokens: self.refilled(*b, now),
                at: now,
            },
            None => {
                if self.buckets.len() >= MAX_TRACKED_SOURCES && !self.make_room(now) {
                    tracing::debug!(%ip, "INVITE rate limiter full: source not tracked");
                    return Ok(());
                }
                Bucket {
                    tokens: burst,
                    at: now,
                }
            }
        };
        if bucket.tokens >= 1.0 {
            self.buckets.insert(
                key,
                Bucket {
                    tokens: bucket.tokens - 1.0,
                    at: now,
                },
            );
            Ok(())
        } else {
            self.buckets.insert(key, bucket);
            let wait = (1.0 - bucket.tokens) / self.limit.per_second;
            Err(wait.ceil().clamp(1.0, u32::MAX as f64) as u32)
        }
    }

    /// Drops every bucket that is full again; whether there is room now.
    fn make_room(&mut self, now: Instant) -> bool {
        if self
            .last_prune
            .is_some_and(|t| now.saturating_duration_since(t) < PRUNE_INTERVAL)
        {
            return false;
        }
        self.last_prune = Some(now);
        let burst = self.limit.burst as f64;
        let per_second = self.limit.per_second;
        self.buckets.retain(|_, b| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens + elapsed * per_second < burst
        });
        self.buckets.len() < MAX_TRACKED_SOURCES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn burst_then_refused_with_retry_after_then_refilled() {
        let t0 = Instant::now();
        let mut l = SourceRateLimiter::new(InviteRateLimit {
            per_second: 2.0,
            burst: 3,
        });
        for _ in 0..3 {
            assert_eq!(l.check(v4(1), t0), Ok(()));
        }
        assert_eq!(l.check(v4(1), t0), Err(1));
        // Another source has its own bucket.
        assert_eq!(l.check(v4(2), t0), Ok(()));
        // 0.5 s refills one token at 2/s.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(l.check(v4(1), t1), Ok(()));
        assert_eq!(l.check(v4(1), t1), Err(1));
        // Never more than the burst, however long the source was idle.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(l.check(v4(1), t2), Ok(()));
        }
        assert!(l.check(v4(1), t2).is_err());
    }

    #[test]
    fn retry_after_covers_a_slow_rate() {
        let t0 = Instant::now();
        let mut l = SourceRateLimiter::new(InviteRateLimit {
            per_second: 0.1,
            burst: 1,
        });
        assert_eq!(l.check(v4(1), t0), Ok(()));
        assert_eq!(l.check(v4(1), t0), Err(10));
    }

    #[test]
    fn ipv6_sources_count_per_64() {
        let t0 = Instant::now();
        let mut l = SourceRateLimiter::new(InviteRateLimit {
            per_second: 1.0,
            burst: 1,
        });
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(l.check(IpAddr::V6(a), t0), Ok(()));
        assert!(l.check(IpAddr::V6(b), t0).is_err(), "same /64");
        assert_eq!(l.check(IpAddr::V6(c), t0), Ok(()));
    }

    #[test]
    fn memory_is_bounded_and_idle_sources_are_forgotten() {
        let t0 = Instant::now();
        let mut l = SourceRateLimiter::new(InviteRateLimit {
            per_second: 10.0,
            burst: 2,
        });
        let ip = |i: usize| IpAddr::V4(Ipv4Addr::from(0x0a00_0000u32 + i as u32));
        for i in 0..MAX_TRACKED_SOURCES {
            assert_eq!(l.check(ip(i), t0), Ok(()));
        }
        assert_eq!(l.tracked(), MAX_TRACKED_SOURCES);
        // Full of active sources: a new one passes untracked.
        let extra = ip(MAX_TRACKED_SOURCES + 1);
        assert_eq!(l.check(extra, t0), Ok(()));
        assert_eq!(l.tracked(), MAX_TRACKED_SOURCES);
        // Once they have refilled (idle 0.1 s at 10/s), they are swept.
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(l.check(extra, t1), Ok(()));
        assert_eq!(l.tracked(), 1);
    }
}
