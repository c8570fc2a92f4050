//! Concurrent-call limits per source IP and per tenant.
//!
//! A call takes a [`CallSlot`] for its source IP when its INVITE reaches the
//! engine (before routing, so an over-limit source costs no database lookup
//! or RTP port) and one for its tenant once routing has named it. A slot is
//! an RAII guard: it is given back when dropped, so every way a call can end
//! — rejection, CANCEL while routing or ringing, BYE, media timeout, an actor
//! that stops or panics — frees it. Over a limit the INVITE gets 503 with
//! `Retry-After:` [`LIMIT_RETRY_AFTER_SECS`].
//!
//! Memory: one map entry per source or tenant with at least one call in
//! progress (an entry is removed when its count drops to zero).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// Default bound on calls in progress per tenant: 100.
pub const DEFAULT_MAX_CALLS_PER_TENANT: usize = 100;
/// Default bound on calls in progress per source IP (an IPv6 source counts
/// by its /64): 50. A SIP trunk carries all its calls from a few addresses:
/// raise this for trunks.
pub const DEFAULT_MAX_CALLS_PER_SOURCE: usize = 50;
/// `Retry-After` (s) of the 503 sent to a call over a concurrency limit: 5 s.
pub const LIMIT_RETRY_AFTER_SECS: u32 = 5;

/// What a slot is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitKey {
    /// The INVITE's transport source: an IPv4 address, or an IPv6 /64.
    Source(IpAddr),
    /// A tenant, by the id routing gave.
    Tenant(String),
}

impl LimitKey {
    /// The key of a source address (IPv6 by /64, IPv4-mapped IPv6 as IPv4).
    pub fn source(ip: IpAddr) -> LimitKey {
        LimitKey::Source(match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            },
        })
    }
}

/// A limit was reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key:?} has {limit} calls in progress (the limit)")]
pub struct LimitReached {
    /// What is over its limit.
    pub key: LimitKey,
    /// The limit.
    pub limit: usize,
}

struct Counts {
    per_tenant: usize,
    per_source: usize,
    in_use: Mutex<HashMap<LimitKey, usize>>,
}

impl Counts {
    fn lock(&self) -> MutexGuard<'_, HashMap<LimitKey, usize>> {
        // Every critical section is a single map update: a panic cannot leave
        // it half done.
        self.in_use.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The concurrent-call limits of the process. Cheap to clone (shared).
#[derive(Clone)]
pub struct CallLimits {
    counts: Arc<Counts>,
}

impl std::fmt::Debug for CallLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallLimits")
            .field("per_tenant", &self.counts.per_tenant)
            .field("per_source", &self.counts.per_source)
            .finish_non_exhaustive()
    }
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits::new(DEFAULT_MAX_CALLS_PER_TENANT, DEFAULT_MAX_CALLS_PER_SOURCE)
    }
}

impl CallLimits {
    /// Limits of calls in progress per tenant and per source; 0 means no
    /// limit.
    pub fn new(per_tenant: usize, per_source: usize) -> Self {
        let unlimited = |n: usize| if n == 0 { usize::MAX } else { n };
        CallLimits {
            counts: Arc::new(Counts {
                per_tenant: unlimited(per_tenant),
                per_source: unlimited(per_source),
                in_use: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A slot for a call from `ip`, unless that source is at its limit.
    pub fn source(&self, ip: IpAddr) -> Result<CallSlot, LimitReached> {
        self.acquire(LimitKey::source(ip), self.counts.per_source)
    }

    /// A slot for a call to `tenant`, unless that tenant is at its limit.
    pub fn tenant(&self, tenant: &str) -> Result<CallSlot, LimitReached> {
        self.acquire(LimitKey::Tenant(tenant.to_owned()), self.counts.per_tenant)
    }

    /// Calls in progress counted against `key`.
    pub fn in_use(&self, key: &LimitKey) -> usize {
        self.counts.lock().get(key).copied().unwrap_or(0)
    }

    /// Sources and tenants with a call in progress (the map's size).
    pub fn tracked(&self) -> usize {
        self.counts.lock().len()
    }

    fn acquire(&self, key: LimitKey, limit: usize) -> Result<CallSlot, LimitReached> {
        let mut map = self.counts.lock();
        let n = map.entry(key.clone()).or_insert(0);
        if *n >= limit {
            if *n == 0 {
                map.remove(&key);
            }
            return Err(LimitReached { key, limit });
        }
        *n += 1;
        Ok(CallSlot {
            counts: self.counts.clone(),
            key: Some(key),
        })
    }
}

/// One call's place under a limit; given back on drop.
pub struct CallSlot {
    counts: Arc<Counts>,
    key: Option<LimitKey>,
}

impl std::fmt::Debug for CallSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CallSlot").field(&self.key).finish()
    }
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut map = self.counts.lock();
        if let Some(n) = map.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    #[test]
    fn source_limit_refuses_then_frees_on_drop() {
        let limits = CallLimits::new(10, 2);
        let a = limits.source(ip(2)).unwrap();
        let b = limits.source(ip(2)).unwrap();
        let err = limits.source(ip(2)).unwrap_err();
        assert_eq!(err.limit, 2);
        assert_eq!(err.key, LimitKey::Source(ip(2)));
        // Another source is not affected.
        let c = limits.source(ip(3)).unwrap();
        drop(a);
        let d = limits.source(ip(2)).expect("a dropped slot is given back");
        assert_eq!(limits.in_use(&LimitKey::source(ip(2))), 2);
        drop((b, c, d));
        assert_eq!(limits.tracked(), 0, "no entry left once every call ended");
    }

    #[test]
    fn tenant_limit_is_separate_per_tenant() {
        let limits = CallLimits::new(1, 0);
        let t = limits.tenant("a").unwrap();
        assert!(limits.tenant("a").is_err());
        let _u = limits.tenant("b").unwrap();
        drop(t);
        assert!(limits.tenant("a").is_ok());
    }

    #[test]
    fn zero_means_no_limit() {
        let limits = CallLimits::new(0, 0);
        let slots: Vec<_> = (0..1000).map(|_| limits.source(ip(9)).unwrap()).collect();
        assert_eq!(limits.in_use(&LimitKey::source(ip(9))), 1000);
        drop(slots);
        assert_eq!(limits.tracked(), 0);
    }

    #[test]
    fn a_refused_acquire_leaves_no_entry() {
        let limits = CallLimits::new(1, 1);
        let _a = limits.source(ip(4)).unwrap();
        assert!(limits.source(ip(4)).is_err());
        assert_eq!(limits.tracked(), 1);
        assert_eq!(limits.in_use(&LimitKey::source(ip(4))), 1);
    }

    #[test]
    fn a_slot_is_given_back_when_its_holder_panics() {
        let limits = CallLimits::new(0, 1);
        let held = limits.clone();
        let r = std::thread::spawn(move || {
            let _slot = held.source(ip(5)).unwrap();
            panic!("the call's task failed");
        })
        .join();
        assert!(r.is_err());
        assert!(limits.source(ip(5)).is_ok());
    }

    #[test]
    fn ipv6_counts_by_64() {
        let limits = CallLimits::new(0, 1);
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        let _s = limits.source(a).unwrap();
        assert!(limits.source(b).is_err());
    }
}
