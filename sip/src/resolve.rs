//! Locating a trunk's SIP server (RFC 3263 §4): from the host, port and
//! transport of a trunk URI to an ordered list of addresses to try.
//!
//! The DNS work is `hickory-resolver`'s; this module only applies RFC 3263's
//! rules on top:
//!
//! - an IP literal is used as is (port 5060, or 5061 for TLS);
//! - an explicit port skips NAPTR and SRV: A/AAAA only (§4.2);
//! - an explicit transport skips NAPTR: SRV for that transport (`_sip._udp`,
//!   `_sip._tcp`, `_sips._tcp`), else A/AAAA with the default port (§4.2);
//! - otherwise NAPTR (§4.1): records with flag `S` and a service we speak
//!   (`SIP+D2U`, `SIP+D2T`, `SIPS+D2T`; only `SIPS+D2T` for a `sips:` URI),
//!   in `order`, then `preference`, each followed by its SRV name; with no
//!   usable NAPTR, SRV queries for UDP, TCP and TLS in that order (TLS only
//!   for `sips:`); with no SRV either, A/AAAA with the default port and
//!   UDP (TLS for `sips:`).
//!
//! SRV targets are ordered by priority, and within a priority by RFC 2782's
//! weighted random selection. Every list is bounded ([`MAX_TARGETS`]) and
//! every lookup has a deadline ([`DEFAULT_TIMEOUT`]), so a hostile or broken
//! zone can neither hold a call nor make us hold much.
//!
//! The operator chooses the nameserver (`[sip] nameserver` in `parla.toml`,
//! else the system's `/etc/resolv.conf`); trunk hosts come from tenants and
//! are only ever looked up, never trusted beyond that.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::TokioResolver;

/// Default SIP port for UDP and TCP (RFC 3261 §19.1.2).
pub const SIP_PORT: u16 = 5060;
/// Default SIP port for TLS (RFC 3261 §19.1.2).
pub const SIPS_PORT: u16 = 5061;
/// Most addresses one resolution returns (the rest are dropped).
pub const MAX_TARGETS: usize = 16;
/// Most NAPTR or SRV records of one answer that are followed.
pub const MAX_RECORDS: usize = 8;
/// Deadline for one whole resolution (every query included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest host name accepted, in bytes (RFC 1035 §2.3.4).
pub const MAX_HOST_BYTES: usize = 253;

/// A transport a SIP server can be reached over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SipTransport {
    /// SIP over UDP.
    Udp,
    /// SIP over TCP.
    Tcp,
    /// SIP over TLS over TCP.
    Tls,
}

impl SipTransport {
    /// The NAPTR service field for this transport (RFC 3263 §4.1).
    fn naptr_service(self) -> &'static str {
        match self {
            Self::Udp => "SIP+D2U",
            Self::Tcp => "SIP+D2T",
            Self::Tls => "SIPS+D2T",
        }
    }

    /// The SRV name prefix for this transport (RFC 3263 §4.1).
    fn srv_prefix(self) -> &'static str {
        match self {
            Self::Udp => "_sip._udp",
            Self::Tcp => "_sip._tcp",
            Self::Tls => "_sips._tcp",
        }
    }

    /// The port used when neither the URI nor DNS names one.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Tls => SIPS_PORT,
            Self::Udp | Self::Tcp => SIP_PORT,
        }
    }
}

/// Where a trunk says its server is: the host part of its URI and what
/// the URI fixes of port and transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLocation {
    /// A DNS name or an IP literal (IPv6 with or without brackets).
    pub host: String,
    /// An explicit port, if the URI has one.
    pub port: Option<u16>,
    /// An explicit transport (`;transport=` or the trunk's setting).
    pub transport: Option<SipTransport>,
    /// A `sips:` URI: TLS only.
    pub secure: bool,
}

/// One address to try, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerTarget {
    /// IP and port.
    pub addr: SocketAddr,
    /// The transport to use.
    pub transport: SipTransport,
}

/// Why a trunk host could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The host is empty, too long, or not a DNS name.
    #[error("invalid host {host:?}")]
    BadHost { host: String },
    /// DNS answered, but with no usable address.
    #[error("no address found for {host}")]
    NotFound { host: String },
    /// The nameserver failed or did not answer in time.
    #[error("DNS lookup of {host} failed: {reason}")]
    Dns { host: String, reason: String },
    /// The whole resolution took longer than its deadline.
    #[error("DNS lookup of {host} timed out")]
    Timeout { host: String },
}

impl ResolveError {
    /// A stable snake_case cause for call records (`dns_bad_host`,
    /// `dns_not_found`, `dns_failed`, `dns_timeout`).
    pub fn cause(&self) -> &'static str {
        match self {
            Self::BadHost { .. } => "dns_bad_host",
            Self::NotFound { .. } => "dns_not_found",
            Self::Dns { .. } => "dns_failed",
            Self::Timeout { .. } => "dns_timeout",
        }
    }
}

/// An RFC 3263 resolver for trunk hosts, cheap to clone (the DNS cache is
/// shared).
#[derive(Clone)]
pub struct TrunkResolver {
    dns: TokioResolver,
    timeout: Duration,
}

impl std::fmt::Debug for TrunkResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkResolver")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn options() -> ResolverOpts {
    let mut opts = ResolverOpts::default();
    opts.timeout = Duration::from_secs(2);
    opts.attempts = 2;
    opts.cache_size = 1024;
    opts
}

impl TrunkResolver {
    /// Uses the system's nameservers (`/etc/resolv.conf`).
    ///
    /// Errors: [`ResolveError::Dns`] when the system configuration cannot
    /// be read.
    pub fn system() -> Result<Self, ResolveError> {
        let mut builder = TokioResolver::builder_tokio().map_err(|e| ResolveError::Dns {
            host: "/etc/resolv.conf".into(),
            reason: e.to_string(),
        })?;
        let opts = builder.options_mut();
        opts.timeout = Duration::from_secs(2);
        opts.attempts = 2;
        let dns = builder.build().map_err(|e| ResolveError::Dns {
            host: "/etc/resolv.conf".into(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            dns,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Uses one nameserver at `addr` (UDP, then TCP for truncated
    /// answers), e.g. the operator's `[sip] nameserver`.
    pub fn with_nameserver(addr: SocketAddr) -> Self {
        let mut udp = ConnectionConfig::udp();
        udp.port = addr.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = addr.port();
        let server = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
        let config = ResolverConfig::from_parts(None, vec![], vec![server]);
        let dns = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options())
            .build()
            .expect("a resolver with one nameserver and no TLS always builds");
        Self {
            dns,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets the deadline of one whole resolution (default
    /// [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The addresses to try for `location`, best first (at most
    /// [`MAX_TARGETS`]).
    ///
    /// Errors: [`ResolveError::BadHost`], [`ResolveError::NotFound`] (also
    /// when every record names a transport we don't speak),
    /// [`ResolveError::Dns`], [`ResolveError::Timeout`].
    pub async fn resolve(
        &self,
        location: &ServerLocation,
    ) -> Result<Vec<ServerTarget>, ResolveError> {
        let host = location.host.trim();
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            let transport = location.transport.unwrap_or(if location.secure {
                SipTransport::Tls
            } else {
                SipTransport::Udp
            });
            let port = location.port.unwrap_or(transport.default_port());
            return Ok(vec![ServerTarget {
                addr: SocketAddr::new(ip, port),
                transport,
            }]);
        }
        let name = dns_name(host)?;
        match tokio::time::timeout(self.timeout, self.resolve_name(&name, location)).await {
            Ok(result) => result,
            Err(_) => Err(ResolveError::Timeout {
                host: host.to_owned(),
            }),
        }
    }

    async fn resolve_name(
        &self,
        name: &Name,
        location: &ServerLocation,
    ) -> Result<Vec<ServerTarget>, ResolveError> {
        let fallback_transport = location.transport.unwrap_or(if location.secure {
            SipTransport::Tls
        } else {
            SipTransport::Udp
        });
        // §4.2: an explicit port means A/AAAA only.
        if let Some(port) = location.port {
            return self.addresses(name, port, fallback_transport).await;
        }
        let mut targets = Vec::new();
        match location.transport {
            // §4.2: a known transport means SRV for it.
            Some(transport) => {
                let srv = srv_name(transport, name)?;
                self.srv_targets(&srv, transport, &mut targets).await?;
            }
            // §4.1: NAPTR first, then SRV per supported transport.
            None => {
                let rules = self.naptr(name, location.secure).await?;
                for (transport, replacement) in rules {
                    self.srv_targets(&replacement, transport, &mut targets)
                        .await?;
                }
                if targets.is_empty() {
                    let transports: &[SipTransport] = if location.secure {
                        &[SipTransport::Tls]
                    } else {
                        &[SipTransport::Udp, SipTransport::Tcp, SipTransport::Tls]
                    };
                    for &transport in transports {
                        let srv = srv_name(transport, name)?;
                        self.srv_targets(&srv, transport, &mut targets).await?;
                    }
                }
            }
        }
        if targets.is_empty() {
            return self
                .addresses(name, fallback_transport.default_port(), fallback_transport)
                .await;
        }
        targets.truncate(MAX_TARGETS);
        Ok(targets)
    }

    /// NAPTR rules we can follow: (transport, SRV name), ordered.
    async fn naptr(
        &self,
        name: &Name,
        secure: bool,
    ) -> Result<Vec<(SipTransport, Name)>, ResolveError> {
        let Some(lookup) = self.lookup(name, RecordType::NAPTR).await? else {
            return Ok(Vec::new());
        };
        let mut rules: Vec<(u16, u16, SipTransport, Name)> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::NAPTR(n) => {
                    if !n.flags.eq_ignore_ascii_case(b"s") {
                        return None;
                    }
                    let transport = [SipTransport::Udp, SipTransport::Tcp, SipTransport::Tls]
                        .into_iter()
                        .find(|t| {
                            n.services
                                .eq_ignore_ascii_case(t.naptr_service().as_bytes())
                        })?;
                    if secure && transport != SipTransport::Tls {
                        return None;
                    }
                    Some((n.order, n.preference, transport, n.replacement.clone()))
                }
                _ => None,
            })
            .take(MAX_RECORDS)
            .collect();
        rules.sort_by_key(|(order, preference, _, _)| (*order, *preference));
        Ok(rules.into_iter().map(|(_, _, t, n)| (t, n)).collect())
    }

    /// SRV records of `srv`, ordered (RFC 2782), each resolved to its
    /// addresses and appended to `out`.
    async fn srv_targets(
        &self,
        srv: &Name,
        transport: SipTransport,
        out: &mut Vec<ServerTarget>,
    ) -> Result<(), ResolveError> {
        let Some(lookup) = self.lookup(srv, RecordType::SRV).await? else {
            return Ok(());
        };
        let records: Vec<(u16, u16, u16, Name)> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::SRV(s) => Some((s.priority, s.weight, s.port, s.target.clone())),
                _ => None,
            })
            .take(MAX_RECORDS)
            .collect();
        // A lone "." target: the service is decidedly not available here.
        if records.len() == 1 && records[0].3.is_root() {
            return Ok(());
        }
        // Ordered before any await: the thread-local RNG is not `Send`.
        let ordered = order_srv(records, &mut rand::rng());
        for (_, _, port, target) in ordered {
            if out.len() >= MAX_TARGETS {
                break;
            }
            match self.addresses(&target, port, transport).await {
                Ok(found) => out.extend(found),
                // One dead SRV target does not sink the others.
                Err(ResolveError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A/AAAA of `name` at `port`.
    async fn addresses(
        &self,
        name: &Name,
        port: u16,
        transport: SipTransport,
    ) -> Result<Vec<ServerTarget>, ResolveError> {
        let host = name.to_string();
        let ips = self.dns.lookup_ip(name.clone()).await.map_err(|e| {
            if e.is_no_records_found() {
                ResolveError::NotFound { host: host.clone() }
            } else {
                ResolveError::Dns {
                    host: host.clone(),
                    reason: e.to_string(),
                }
            }
        })?;
        let targets: Vec<ServerTarget> = ips
            .iter()
            .take(MAX_TARGETS)
            .map(|ip| ServerTarget {
                addr: SocketAddr::new(ip, port),
                transport,
            })
            .collect();
        if targets.is_empty() {
            return Err(ResolveError::NotFound { host });
        }
        Ok(targets)
    }

    /// One lookup; `None` when the name has no such records.
    async fn lookup(
        &self,
        name: &Name,
        kind: RecordType,
    ) -> Result<Option<hickory_resolver::lookup::Lookup>, ResolveError> {
        match self.dns.lookup(name.clone(), kind).await {
            Ok(lookup) => Ok(Some(lookup)),
            Err(e) if e.is_no_records_found() => Ok(None),
            Err(e) => Err(dns_error(name, &e)),
        }
    }
}

fn dns_error(name: &Name, e: &NetError) -> ResolveError {
    ResolveError::Dns {
        host: name.to_string(),
        reason: e.to_string(),
    }
}

/// `host` as a fully qualified DNS name (no search domains are appended).
fn dns_name(host: &str) -> Result<Name, ResolveError> {
    let bad = || ResolveError::BadHost {
        host: host.chars().take(MAX_HOST_BYTES).collect(),
    };
    if host.is_empty()
        || host.len() > MAX_HOST_BYTES
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err(bad());
    }
    let mut name = Name::from_ascii(host).map_err(|_| bad())?;
    name.set_fqdn(true);
    Ok(name)
}

fn srv_name(transport: SipTransport, host: &Name) -> Result<Name, ResolveError> {
    let prefix = Name::from_ascii(transport.srv_prefix()).map_err(|_| ResolveError::BadHost {
        host: host.to_string(),
    })?;
    prefix.append_name(host).map_err(|_| ResolveError::BadHost {
        host: host.to_string(),
    })
}

/// RFC 2782 ordering: ascending priority; within one priority, a weighted
/// random permutation (weight-0 records first in the running sum, so they
/// are picked rarely but can be).
fn order_srv<R: rand::Rng + ?Sized>(
    mut records: Vec<(u16, u16, u16, Name)>,
    rng: &mut R,
) -> Vec<(u16, u16, u16, Name)> {
    records.sort_by_key(|r| (r.0, r.1));
    let mut out = Vec::with_capacity(records.len());
    while !records.is_empty() {
        let priority = records[0].0;
        let mut group: Vec<_> = Vec::new();
        while records.first().is_some_and(|r| r.0 == priority) {
            group.push(records.remove(0));
        }
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| u32::from(r.1)).sum();
            let pick = rng.random_range(0..=total);
            let mut running = 0u32;
            let index = group
                .iter()
                .position(|r| {
                    running += u32::from(r.1);
                    running >= pick
                })
                .unwrap_or(0);
            out.push(group.remove(index));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rec(priority: u16, weight: u16, port: u16) -> (u16, u16, u16, Name) {
        (
            priority,
            weight,
            port,
            Name::from_ascii("a.example.").unwrap(),
        )
    }

    #[test]
    fn srv_order_is_by_priority_first() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..50 {
            let order = order_srv(
                vec![rec(20, 100, 3), rec(10, 0, 1), rec(10, 5, 2)],
                &mut rng,
            );
            assert_eq!(order[2].2, 3, "priority 20 comes last");
            assert_eq!(order[0].0, 10);
        }
    }

    #[test]
    fn srv_weights_bias_the_first_pick() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut heavy_first = 0;
        for _ in 0..1000 {
            let order = order_srv(vec![rec(10, 90, 1), rec(10, 10, 2)], &mut rng);
            if order[0].2 == 1 {
                heavy_first += 1;
            }
        }
        // Expected 90 % (RFC 2782); far from 50 % either way.
        assert!((850..=950).contains(&heavy_first), "{heavy_first}");
    }

    /// Resolution runs inside spawned tasks (the dialer's), so its future
    /// must be `Send`.
    #[test]
    fn resolve_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let resolver = TrunkResolver::with_nameserver("127.0.0.1:9".parse().unwrap());
            let location = ServerLocation {
                host: "192.0.2.1".into(),
                port: None,
                transport: None,
                secure: false,
            };
            let future = resolver.resolve(&location);
            assert_send(&future);
            assert_eq!(future.await.unwrap().len(), 1);
        });
    }

    #[test]
    fn hosts_are_checked_before_any_query() {
        for bad in ["", "a b", "evil\r\nhost", "x/y", &"a".repeat(300)] {
            assert!(
                matches!(dns_name(bad), Err(ResolveError::BadHost { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(
            dns_name("sip.example.com").unwrap().to_string(),
            "sip.example.com."
        );
        assert_eq!(
            srv_name(SipTransport::Tls, &dns_name("example.com").unwrap())
                .unwrap()
                .to_string(),
            "_sips._tcp.example.com."
        );
    }
}
