//! A pool of local UDP ports for RTP (`--rtp-ports 20000-29999`).
//!
//! Each call leases one even port (RFC 3550 §11: RTP on an even port, RTCP on
//! the next odd one, which we leave free). The lease returns the port to the
//! pool when dropped, so a call that ends — however it ends — frees its port.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

/// Errors from [`RtpPortPool`].
#[derive(Debug, thiserror::Error)]
pub enum PortPoolError {
    /// The range string was not `LOW-HIGH` with `LOW <= HIGH`, both in 1..=65535.
    #[error("invalid RTP port range {0:?}: expected LOW-HIGH, e.g. 20000-29999")]
    InvalidRange(String),
    /// Every port in the range is leased (or could not be bound).
    #[error("no free RTP port in {low}-{high}")]
    Exhausted { low: u16, high: u16 },
}

/// Inclusive port range, parsed from `LOW-HIGH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl std::str::FromStr for PortRange {
    type Err = PortPoolError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PortPoolError::InvalidRange(s.to_string());
        let (lo, hi) = s.trim().split_once('-').ok_or_else(bad)?;
        let low: u16 = lo.trim().parse().map_err(|_| bad())?;
        let high: u16 = hi.trim().parse().map_err(|_| bad())?;
        if low == 0 || low > high || (high - low) < 1 {
            return Err(bad());
        }
        Ok(PortRange { low, high })
    }
}

/// A shared pool of even RTP ports. Cloning shares the pool.
#[derive(Clone, Debug)]
pub struct RtpPortPool {
    range: PortRange,
    free: Arc<Mutex<VecDeque<u16>>>,
}

impl RtpPortPool {
    /// A pool of the even ports in `range`, handed out least-recently-used first
    /// (so a port just freed is not immediately reused while stray packets of the
    /// old call may still arrive).
    pub fn new(range: PortRange) -> Self {
        let first_even = range.low + (range.low % 2);
        let free: VecDeque<u16> = (first_even..=range.high).step_by(2).collect();
        RtpPortPool {
            range,
            free: Arc::new(Mutex::new(free)),
        }
    }

    /// Ports currently free.
    pub fn available(&self) -> usize {
        self.free.lock().map(|f| f.len()).unwrap_or(0)
    }

    /// Total ports in the pool.
    pub fn capacity(&self) -> usize {
        let first_even = self.range.low + (self.range.low % 2);
        if first_even > self.range.high {
            0
        } else {
            (self.range.high - first_even) as usize / 2 + 1
        }
    }

    /// Leases a port and binds a non-blocking UDP socket to `ip:port`. Ports that
    /// fail to bind (taken by another process) are skipped and returned to the back.
    pub fn bind(&self, ip: IpAddr) -> Result<(std::net::UdpSocket, PortLease), PortPoolError> {
        let attempts = self.available();
        for _ in 0..attempts {
            let port = {
                let mut free = self.free.lock().map_err(|_| self.exhausted())?;
                match free.pop_front() {
                    Some(p) => p,
                    None => break,
                }
            };
            let lease = PortLease {
                port,
                pool: self.free.clone(),
            };
            match std::net::UdpSocket::bind(SocketAddr::new(ip, port)) {
                Ok(sock) => {
                    if sock.set_nonblocking(true).is_ok() {
                        return Ok((sock, lease));
                    }
                }
                Err(_) => continue, // lease drops: port goes to the back of the queue
            }
        }
        Err(self.exhausted())
    }

    fn exhausted(&self) -> PortPoolError {
        PortPoolError::Exhausted {
            low: self.range.low,
            high: self.range.high,
        }
    }
}

/// A leased RTP port; returned to its pool on drop.
#[derive(Debug)]
pub struct PortLease {
    port: u16,
    pool: Arc<Mutex<VecDeque<u16>>>,
}

impl PortLease {
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        if let Ok(mut free) = self.pool.lock() {
            free.push_back(self.port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn parses_ranges() {
        assert_eq!(
            "20000-29999".parse::<PortRange>().unwrap(),
            PortRange {
                low: 20000,
                high: 29999
            }
        );
        for bad in ["", "20000", "3-2", "0-10", "a-b", "1-70000"] {
            assert!(
                bad.parse::<PortRange>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn leases_even_ports_and_returns_them_on_drop() {
        let pool = RtpPortPool::new("41000-41005".parse().unwrap());
        assert_eq!(pool.capacity(), 3);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (_a, la) = pool.bind(ip).unwrap();
        let (_b, lb) = pool.bind(ip).unwrap();
        let (_c, lc) = pool.bind(ip).unwrap();
        let mut ports = vec![la.port(), lb.port(), lc.port()];
        ports.sort();
        assert_eq!(ports, vec![41000, 41002, 41004]);
        assert!(matches!(
            pool.bind(ip),
            Err(PortPoolError::Exhausted { .. })
        ));
        drop((_a, la));
        assert_eq!(pool.available(), 1);
        let (_d, ld) = pool.bind(ip).unwrap();
        assert_eq!(ld.port(), 41000);
    }

    #[test]
    fn skips_ports_taken_by_someone_else() {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let _squatter = std::net::UdpSocket::bind((ip, 41100)).unwrap();
        let pool = RtpPortPool::new("41100-41103".parse().unwrap());
        let (_s, lease) = pool.bind(ip).unwrap();
        assert_eq!(lease.port(), 41102);
        assert_eq!(
            pool.available(),
            1,
            "the taken port stays in the pool for later"
        );
    }
}
