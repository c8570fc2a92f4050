//! The one guarded way out: every provider request (HTTP and WebSocket) that
//! Parla makes on a tenant's behalf goes through an [`EgressPolicy`].
//!
//! Provider URLs come from tenants, and tenants are hostile: a `base_url` of
//! `http://169.254.169.254/…` (cloud metadata), `http://127.0.0.1:5432` or a
//! name that resolves to an internal address would turn the engine into a
//! proxy into the operator's network (SSRF). The policy is:
//!
//! * **TLS only:** `https://` (HTTP) and `wss://` (WebSocket). Plain `http://`
//!   and `ws://` only for an operator-allowed host.
//! * **Public addresses only:** loopback, private (RFC 1918, IPv6 ULA),
//!   link-local, CGNAT (RFC 6598), unspecified, multicast, reserved and
//!   documentation ranges are refused ([`is_public`]). IPv4 embedded in IPv6
//!   (mapped, NAT64, 6to4) is judged by its IPv4 address.
//! * **Checked at connect time:** names are resolved by the guard itself
//!   ([`GuardedResolver`] for reqwest, [`EgressPolicy::connect_tcp`] for
//!   WebSockets), and only the addresses that pass are connected to, so a
//!   name that resolves to a public address when saved and to `127.0.0.1`
//!   when called (DNS rebinding) is still refused.
//! * **No redirects and no proxies:** a `302 Location: http://10.0.0.1/`
//!   is not followed, and `HTTP_PROXY` from the server's environment is not
//!   used.
//!
//! The operator's exceptions (`--provider-allow`, `PARLA_PROVIDER_ALLOW`) are
//! [`AllowEntry`]s: `host` (any port) or `host:port`, where host is a DNS
//! name or an IP address (`[v6]:port` for IPv6 with a port). An allowed host
//! may use plain `http://`/`ws://` and may resolve to any address; this is how
//! the offline demo and the tests reach their local servers.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use tokio::net::TcpStream;

use super::ProviderError;

/// At most this many operator allow-list entries (the list is scanned per
/// connection).
pub const MAX_ALLOW_ENTRIES: usize = 64;

/// Why an outbound connection was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// The URL does not parse, or has no host.
    #[error("bad provider URL: {0}")]
    BadUrl(String),
    /// A scheme other than `https`/`wss` for a host the operator did not allow.
    #[error("provider URL must use {expected}:// (got {scheme}://{host})")]
    Scheme {
        expected: &'static str,
        scheme: String,
        host: String,
    },
    /// User name or password inside the URL.
    #[error("provider URL must not contain credentials")]
    Credentials,
    /// The host is, or resolves only to, non-public addresses.
    #[error("refusing to connect to {host}: {reason}")]
    Forbidden { host: String, reason: String },
    /// An operator allow-list entry that does not parse.
    #[error("bad --provider-allow entry {0:?}: expected host or host:port")]
    BadAllowEntry(String),
    /// More than [`MAX_ALLOW_ENTRIES`] allow-list entries.
    #[error("too many --provider-allow entries (at most {MAX_ALLOW_ENTRIES})")]
    TooManyAllowEntries,
}

impl From<EgressError> for ProviderError {
    fn from(e: EgressError) -> Self {
        match e {
            EgressError::Forbidden { .. } => ProviderError::Connect(e.to_string()),
            _ => ProviderError::Config(e.to_string()),
        }
    }
}

/// One operator exception: a host (DNS name, lowercased, or IP address) and
/// optionally a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    host: String,
    port: Option<u16>,
}

impl AllowEntry {
    fn matches(&self, host: &str, port: u16) -> bool {
        self.port.is_none_or(|p| p == port) && self.host == host
    }
}

impl std::str::FromStr for AllowEntry {
    type Err = EgressError;

    /// `example.com`, `example.com:8443`, `127.0.0.1`, `127.0.0.1:9400`,
    /// `::1`, `[::1]:9400`.
    fn from_str(s: &str) -> Result<Self, EgressError> {
        let s = s.trim();
        let bad = || EgressError::BadAllowEntry(s.to_owned());
        if s.is_empty() || s.contains(['/', '@', '?', '#']) || s.contains(char::is_whitespace) {
            return Err(bad());
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(AllowEntry {
                host: canonical_ip(ip).to_string(),
                port: None,
            });
        }
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(AllowEntry {
                host: canonical_ip(sa.ip()).to_string(),
                port: Some(sa.port()),
            });
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let valid_name = !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !valid_name {
            return Err(bad());
        }
        Ok(AllowEntry {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.port, self.host.contains(':')) {
            (Some(p), true) => write!(f, "[{}]:{p}", self.host),
            (Some(p), false) => write!(f, "{}:{p}", self.host),
            (None, _) => f.write_str(&self.host),
        }
    }
}

/// Where provider requests may go. The default allows no exceptions: TLS to
/// public addresses only. Cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    allow: Arc<Vec<AllowEntry>>,
}

/// A provider URL that passed [`EgressPolicy::check_url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host as written (lowercased name, or canonical IP text).
    pub host: String,
    /// The explicit or default port.
    pub port: u16,
    /// Whether the operator allowed this host (then any address is fine).
    pub allowed: bool,
}

impl EgressPolicy {
    /// No exceptions (the default).
    pub fn strict() -> Self {
        Self::default()
    }

    /// A policy with the operator's exceptions.
    ///
    /// Errors: an entry that does not parse ([`EgressError::BadAllowEntry`]),
    /// more than [`MAX_ALLOW_ENTRIES`].
    pub fn allowing<I, S>(entries: I) -> Result<Self, EgressError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut allow = Vec::new();
        for e in entries {
            let e = e.as_ref().trim();
            if e.is_empty() {
                continue;
            }
            if allow.len() == MAX_ALLOW_ENTRIES {
                return Err(EgressError::TooManyAllowEntries);
            }
            allow.push(e.parse::<AllowEntry>()?);
        }
        Ok(Self {
            allow: Arc::new(allow),
        })
    }

    /// The operator's exceptions.
    pub fn entries(&self) -> &[AllowEntry] {
        &self.allow
    }

    /// Whether the operator allowed `host` (name or canonical IP text) on `port`.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.allow.iter().any(|e| e.matches(host, port))
    }

    /// Whether a connection to `addr` (resolved from `host`) may be made.
    fn address_ok(&self, host: &str, addr: SocketAddr) -> bool {
        let ip = canonical_ip(addr.ip());
        is_public(ip) || self.allows(host, addr.port()) || self.allows(&ip.to_string(), addr.port())
    }

    /// Checks a provider URL before any connection: it parses, has a host,
    /// carries no credentials, uses TLS (`https`/`wss`) unless the operator
    /// allowed its host, and is not an IP literal outside the public
    /// internet (unless allowed). Names are checked again when they are
    /// resolved, at connect time.
    ///
    /// `websocket` selects `wss` (else `https`) as the required scheme.
    pub fn check_url(&self, url: &str, websocket: bool) -> Result<Endpoint, EgressError> {
        let parsed = Url::parse(url.trim()).map_err(|e| EgressError::BadUrl(e.to_string()))?;
        let (tls, plain) = if websocket {
            ("wss", "ws")
        } else {
            ("https", "http")
        };
        let scheme = parsed.scheme().to_owned();
        if scheme != tls && scheme != plain {
            return Err(EgressError::Scheme {
                expected: tls,
                scheme,
                host: parsed.host_str().unwrap_or_default().to_owned(),
            });
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(EgressError::Credentials);
        }
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| EgressError::BadUrl("no port".into()))?;
        let (host, ip) = match parsed.host() {
            Some(url::Host::Domain(d)) => (d.to_ascii_lowercase(), None),
            Some(url::Host::Ipv4(v4)) => (v4.to_string(), Some(IpAddr::V4(v4))),
            Some(url::Host::Ipv6(v6)) => {
                let ip = canonical_ip(IpAddr::V6(v6));
                (ip.to_string(), Some(ip))
            }
            None => return Err(EgressError::BadUrl("no host".into())),
        };
        let allowed = self.allows(&host, port);
        if scheme == plain && !allowed {
            return Err(EgressError::Scheme {
                expected: tls,
                scheme,
                host,
            });
        }
        if let Some(ip) = ip {
            if !allowed && !is_public(ip) {
                return Err(EgressError::Forbidden {
                    reason: format!("{} is not a public address", ip),
                    host,
                });
            }
        }
        Ok(Endpoint {
            host,
            port,
            allowed,
        })
    }

    /// An HTTP client for one provider whose every request starts with
    /// `base_url`: the URL is checked ([`Self::check_url`]), names are
    /// resolved through [`GuardedResolver`], redirects are not followed and
    /// no proxy is used.
    ///
    /// Errors: [`ProviderError::Config`] for a URL this policy refuses (or a
    /// client that cannot be built), [`ProviderError::Connect`] for a
    /// forbidden IP literal.
    pub fn http_client(
        &self,
        base_url: &str,
        user_agent: &str,
        connect_timeout: Duration,
    ) -> Result<reqwest::Client, ProviderError> {
        let endpoint = self.check_url(base_url, false)?;
        reqwest::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: self.clone(),
                port: endpoint.port,
            }))
            .build()
            .map_err(|e| ProviderError::Config(format!("cannot build HTTP client: {e}")))
    }

    /// Opens a TCP connection for a WebSocket URL (`wss://`, or `ws://` for
    /// an allowed host): checks the URL, resolves the name, and connects to
    /// the first address that passes, within `timeout`.
    ///
    /// Errors: [`ProviderError::Config`] for a refused URL,
    /// [`ProviderError::Connect`] for forbidden addresses, DNS failures,
    /// refused connections and the timeout.
    pub async fn connect_tcp(
        &self,
        url: &str,
        timeout: Duration,
    ) -> Result<TcpStream, ProviderError> {
        let endpoint = self.check_url(url, true)?;
        let work = async {
            let addrs = resolve_checked(self, &endpoint.host, endpoint.port)
                .await
                .map_err(ProviderError::from)?;
            let mut last = None;
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        return Ok(s);
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(ProviderError::Connect(format!(
                "cannot connect to {}:{}: {}",
                endpoint.host,
                endpoint.port,
                last.map(|e| e.to_string()).unwrap_or_default()
            )))
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(ProviderError::Connect(format!(
                "connecting to {}:{} timed out after {} ms",
                endpoint.host,
                endpoint.port,
                timeout.as_millis()
            ))),
        }
    }
}

/// Resolves `host` (a name or IP text) and keeps the addresses this policy
/// lets a provider connection reach.
///
/// Errors: [`EgressError::Forbidden`] when resolution fails or no address
/// passes.
async fn resolve_checked(
    policy: &EgressPolicy,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, EgressError> {
    let forbidden = |reason: String| EgressError::Forbidden {
        host: host.to_owned(),
        reason,
    };
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| forbidden(format!("cannot resolve: {e}")))?
        .collect();
    let total = resolved.len();
    let ok: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|a| policy.address_ok(host, *a))
        .collect();
    if ok.is_empty() {
        return Err(forbidden(if total == 0 {
            "no addresses".into()
        } else {
            "it resolves only to non-public addresses".into()
        }));
    }
    Ok(ok)
}

/// reqwest's DNS resolver for one provider client: the addresses of a name
/// are filtered by the policy ([`is_public`] or allowed), at every connect.
/// `port` is the provider URL's port (allow-list entries may name one).
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: EgressPolicy,
    port: u16,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let port = self.port;
        let host = name.as_str().to_ascii_lowercase();
        let fut: Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(async move {
            let addrs = resolve_checked(&policy, &host, port)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        });
        fut
    }
}

/// An IPv4 address carried inside IPv6 (mapped `::ffff:a.b.c.d`) becomes
/// that IPv4 address; everything else is unchanged.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Whether `ip` is on the public internet: not unspecified, loopback,
/// private (RFC 1918, IPv6 ULA `fc00::/7`), link-local (`169.254/16`,
/// `fe80::/10`), CGNAT (`100.64/10`, RFC 6598), multicast, broadcast,
/// reserved (`0/8`, `240/4`, `192.0.0/24`, `198.18/15`), documentation,
/// IPv6 site-local or discard-only. IPv4 inside IPv6 (mapped, compatible,
/// NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged by the IPv4 address;
/// Teredo (`2001::/32`) is refused.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    let in_net = |net: [u8; 4], bits: u32| {
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        (u32::from(ip) & mask) == (u32::from_be_bytes(net) & mask)
    };
    !(o[0] == 0                                   // "this network", unspecified
        || ip.is_loopback()                        // 127/8
        || ip.is_private()                         // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local()                      // 169.254/16 (cloud metadata)
        || in_net([100, 64, 0, 0], 10)             // CGNAT, RFC 6598
        || in_net([192, 0, 0, 0], 24)              // IETF protocol assignments
        || in_net([192, 0, 2, 0], 24)              // TEST-NET-1
        || in_net([198, 51, 100, 0], 24)           // TEST-NET-2
        || in_net([203, 0, 113, 0], 24)            // TEST-NET-3
        || in_net([198, 18, 0, 0], 15)             // benchmarking
        || ip.is_multicast()                       // 224/4
        || o[0] >= 240) // reserved 240/4 and broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded_v4 =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // IPv4-compatible (deprecated) ::a.b.c.d, but not :: and ::1.
    if s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1) {
        return is_public_v4(embedded_v4(s[6], s[7]));
    }
    // NAT64 well-known prefix 64:ff9b::/96.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return is_public_v4(embedded_v4(s[6], s[7]));
    }
    // 6to4 2002:aabb:ccdd::/48 carries aa.bb.cc.dd.
    if s[0] == 0x2002 {
        return is_public_v4(embedded_v4(s[1], s[2]));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00      // ULA fc00::/7
        || (s[0] & 0xffc0) == 0xfe80      // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0      // site-local fec0::/10 (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        || (s[0] == 0x2001 && s[1] == 0)  // Teredo 2001::/32
        || (s[0] == 0x0100 && s[1..4] == [0; 3])) // discard-only 100::/64
}

#[cfg(test)]
mod tests;
