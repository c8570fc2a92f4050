//! Symmetric RTP latching ("comedia", RFC 4961 symmetric RTP).
//!
//! Callers behind NAT send RTP from an address other than the one in their
//! SDP. The first packets received latch their source address as the peer;
//! our RTP is then sent there. Until [`LATCH_LOCK_PACKETS`] packets have come
//! from the latched source, a packet from another source re-latches (the
//! peer's media may legitimately move early, e.g. an SBC or early media
//! relay); after that the source is locked and packets from any other
//! address are dropped, so a third party cannot hijack the stream.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) compare equal to their IPv4
//! form, so a dual-stack socket and an IPv4 SDP address agree.

use std::net::SocketAddr;

/// Packets from the latched source after which it can no longer change.
pub const LATCH_LOCK_PACKETS: u32 = 5;

/// Source-address latch for one RTP session; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct RtpLatch {
    sdp_addr: Option<SocketAddr>,
    latched: Option<SocketAddr>,
    /// Packets seen from `latched` (saturating).
    count: u32,
    rejected: u64,
}

impl RtpLatch {
    /// A latch; `sdp_addr` (from the remote SDP) is where RTP goes until the
    /// first packet latches a source.
    pub fn new(sdp_addr: Option<SocketAddr>) -> Self {
        RtpLatch {
            sdp_addr,
            latched: None,
            count: 0,
            rejected: 0,
        }
    }

    /// Whether a packet from `from` belongs to this session. Latches or
    /// re-latches to `from` as described in the [module docs](self).
    pub fn accept(&mut self, from: SocketAddr) -> bool {
        match self.latched {
            Some(cur) if same(cur, from) => {
                self.count = self.count.saturating_add(1);
                true
            }
            Some(_) if self.count >= LATCH_LOCK_PACKETS => {
                self.rejected += 1;
                false
            }
            _ => {
                self.latched = Some(from);
                self.count = 1;
                true
            }
        }
    }

    /// Where to send RTP: the latched source, else the SDP address.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.latched.or(self.sdp_addr)
    }

    /// The latched source, if any packet was accepted yet.
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }

    /// Whether the latched source can no longer change.
    pub fn is_locked(&self) -> bool {
        self.count >= LATCH_LOCK_PACKETS
    }

    /// Packets rejected as foreign since construction.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }
}

fn canonical(a: SocketAddr) -> (std::net::IpAddr, u16) {
    (a.ip().to_canonical(), a.port())
}

fn same(a: SocketAddr, b: SocketAddr) -> bool {
    canonical(a) == canonical(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn first_source_latches_and_foreign_is_rejected_after_lock() {
        let sdp = addr("10.0.0.5:4000");
        let nat = addr("203.0.113.9:31000");
        let evil = addr("198.51.100.1:31000");
        let mut l = RtpLatch::new(Some(sdp));
        assert_eq!(l.remote(), Some(sdp));
        assert!(l.accept(nat));
        assert_eq!(l.remote(), Some(nat));
        for _ in 1..LATCH_LOCK_PACKETS {
            assert!(l.accept(nat));
        }
        assert!(l.is_locked());
        assert!(!l.accept(evil));
        assert!(!l.accept(sdp));
        assert_eq!(l.remote(), Some(nat));
        assert_eq!(l.rejected(), 2);
    }

    #[test]
    fn relatches_only_before_lock() {
        let a = addr("192.0.2.1:5000");
        let b = addr("192.0.2.2:5000");
        let mut l = RtpLatch::new(None);
        assert_eq!(l.remote(), None);
        assert!(l.accept(a));
        assert!(l.accept(a));
        // Early move: re-latch to b.
        assert!(l.accept(b));
        assert_eq!(l.remote(), Some(b));
        assert!(!l.is_locked());
        for _ in 1..LATCH_LOCK_PACKETS {
            assert!(l.accept(b));
        }
        assert!(!l.accept(a));
        assert_eq!(l.latched(), Some(b));
    }

    #[test]
    fn port_matters_and_v4_mapped_v6_matches_v4() {
        let mut l = RtpLatch::new(None);
        assert!(l.accept(addr("192.0.2.1:5000")));
        for _ in 0..LATCH_LOCK_PACKETS {
            assert!(l.accept(addr("[::ffff:192.0.2.1]:5000")));
        }
        assert!(!l.accept(addr("192.0.2.1:5002")));
    }
}
