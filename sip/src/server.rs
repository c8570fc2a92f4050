//! Public API of the SIP user agent: bind a [`SipServer`], receive
//! [`IncomingCall`]s, drive each call with its [`CallHandle`] and follow it
//! through [`CallEvent`]s; place outbound calls with
//! [`SipServer::place_call`] and follow them through [`UacEvent`]s;
//! keep trunk registrations with [`SipServer::register`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), parla_sip::server::SipError> {
//! use parla_sip::server::{SipServer, SipServerConfig};
//! let (server, mut calls) = SipServer::bind(SipServerConfig::default()).await?;
//! while let Some(mut call) = calls.recv().await {
//!     call.handle.ringing()?;
//!     call.handle.answer("v=0\r\n...".into())?;
//!     while let Some(event) = call.events.recv().await { /* ... */ }
//! }
//! server.shutdown().await;
//! # Ok(()) }
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::register::{RegKey, Registration, RegistrationStatus, Registrations};
pub use crate::register::{RegistrationHandle, RegistrationRequest};
use crate::transaction::TimerConfig;
use crate::transport::{Command, Driver, DriverConfig, CALL_EVENT_CAPACITY};
use crate::uac::{OutboundCall, UacConfig, UacError, UacKey, UacTable};
pub use crate::uac::{OutboundCallHandle, OutboundControl, OutboundRequest, UacEvent};
pub use crate::uas::InviteRateLimit;
use crate::uas::{CallKey, IncomingCallInfo, UasConfig, UasCore};

pub use crate::sdp::SessionDescription;
pub use crate::uas::CallEvent;

/// Default bound on concurrent TCP connections.
pub const DEFAULT_MAX_TCP_CONNECTIONS: usize = 4_096;
/// Default time (s) without traffic after which a TCP connection no call
/// uses is closed: 300 s.
pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default length of the [`IncomingCall`] queue; INVITEs arriving while it
/// is full get 503.
pub const DEFAULT_INCOMING_QUEUE: usize = 1_024;
/// Attempts at finding a port free for both UDP and TCP when binding port 0.
const BIND_ATTEMPTS: usize = 16;

/// Server settings.
#[derive(Debug, Clone)]
pub struct SipServerConfig {
    /// UDP and TCP listen address (e.g. `0.0.0.0:5060`; port 0 picks a free
    /// port, see [`SipServer::local_udp_addr`]).
    pub bind: SocketAddr,
    /// Address written in Contact/Via (and reported by
    /// [`SipServer::public_ip`]); defaults to the bind IP, or the primary
    /// local IP when binding a wildcard address.
    pub public_ip: Option<IpAddr>,
    /// Server / User-Agent header value.
    pub user_agent: String,
    /// Concurrent calls; INVITEs beyond get 503 + Retry-After.
    pub max_dialogs: usize,
    /// Concurrent TCP connections; more are refused.
    pub max_tcp_connections: usize,
    /// Idle time before an unused TCP connection is closed.
    pub tcp_idle_timeout: Duration,
    /// Time the application has to send a final response (else 480).
    pub ring_timeout: Duration,
    /// Time the application has to answer a re-INVITE (else 500).
    pub reinvite_timeout: Duration,
    /// Retry-After (s) of the 503 sent while draining.
    pub drain_retry_after_secs: u32,
    /// Length of the incoming-call queue.
    pub incoming_queue: usize,
    /// RFC 3261 T1/T2/T4 (500 ms / 4 s / 5 s).
    pub timers: TimerConfig,
    /// Send our BYE to the INVITE's source address instead of the
    /// Contact / Record-Route next hop (callers behind NAT).
    pub requests_to_source: bool,
    /// Token bucket per source IP for new INVITEs (503 + Retry-After over
    /// it, before the application sees the call). `None`: no limit.
    pub invite_rate: Option<InviteRateLimit>,
}

impl Default for SipServerConfig {
    fn default() -> Self {
        let core = UasConfig::default();
        Self {
            bind: SocketAddr::from(([0, 0, 0, 0], 5060)),
            public_ip: None,
            user_agent: core.user_agent,
            max_dialogs: core.max_dialogs,
            max_tcp_connections: DEFAULT_MAX_TCP_CONNECTIONS,
            tcp_idle_timeout: DEFAULT_TCP_IDLE_TIMEOUT,
            ring_timeout: core.ring_timeout,
            reinvite_timeout: core.reinvite_timeout,
            drain_retry_after_secs: core.drain_retry_after_secs,
            incoming_queue: DEFAULT_INCOMING_QUEUE,
            timers: core.timers,
            requests_to_source: false,
            invite_rate: core.invite_rate,
        }
    }
}

/// Errors of the SIP server API.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    /// A socket could not be bound.
    #[error("cannot bind SIP {transport} socket on {addr}: {source}")]
    Bind {
        /// "UDP" or "TCP".
        transport: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The server task is gone (shut down).
    #[error("the SIP server has shut down")]
    Closed,
    /// An outbound call request with unusable fields (nothing was sent).
    #[error("cannot place the call: {0}")]
    InvalidCall(#[from] UacError),
    /// A registration request with unusable fields (nothing was sent).
    #[error("cannot register: {0}")]
    InvalidRegistration(UacError),
}

/// A running SIP UAS (UDP + TCP on one address). Dropping it shuts it down
/// like [`SipServer::shutdown`] without waiting.
pub struct SipServer {
    udp_addr: SocketAddr,
    tcp_addr: SocketAddr,
    public_ip: IpAddr,
    commands: mpsc::UnboundedSender<Command>,
    active_calls: Arc<AtomicUsize>,
    active_outbound: Arc<AtomicUsize>,
    uac_config: UacConfig,
    next_outbound: AtomicU64,
    task: Option<JoinHandle<()>>,
}

/// A new call. Answer, ring or reject it through `handle`; follow it on
/// `events`. Dropping every clone of `handle` without a final answer
/// rejects the call with 480 (and hangs up an answered one).
pub struct IncomingCall {
    /// Call-ID header.
    pub call_id: String,
    /// Caller URI (From).
    pub from: String,
    /// To URI.
    pub to: String,
    /// Request-URI.
    pub request_uri: String,
    /// Request-URI user part (e.g. "+15551234" or "agent").
    pub dialed_user: Option<String>,
    /// SDP offer; `None` if the INVITE had no SDP.
    pub offer: Option<SessionDescription>,
    /// Where the INVITE came from.
    pub remote_signalling_addr: SocketAddr,
    /// Commands for this call.
    pub handle: CallHandle,
    /// Events of this call (capacity `transport::CALL_EVENT_CAPACITY`);
    /// ends with `Cancelled` or `Terminated`.
    pub events: mpsc::Receiver<CallEvent>,
}

impl std::fmt::Debug for IncomingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingCall")
            .field("call_id", &self.call_id)
            .field("from", &self.from)
            .field("request_uri", &self.request_uri)
            .field("remote_signalling_addr", &self.remote_signalling_addr)
            .finish_non_exhaustive()
    }
}

impl IncomingCall {
    pub(crate) fn new(
        info: IncomingCallInfo,
        handle: CallHandle,
        events: mpsc::Receiver<CallEvent>,
    ) -> Self {
        Self {
            call_id: info.call_id,
            from: info.from,
            to: info.to,
            request_uri: info.request_uri,
            dialed_user: info.dialed_user,
            offer: info.offer,
            remote_signalling_addr: info.remote_signalling_addr,
            handle,
            events,
        }
    }
}

struct HandleInner {
    call: CallKey,
    call_id: String,
    commands: mpsc::UnboundedSender<Command>,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::HandleDropped(self.call));
    }
}

/// Cheap-to-clone control of one call. Every method only queues a command
/// for the server task and never blocks; the command queue is unbounded
/// (commands are a few bytes and issued by the application at call rate).
/// A command the call's state does not allow (e.g. `answer` after
/// `Cancelled`) is ignored and logged at debug level; the outcome is seen
/// on the call's events.
#[derive(Clone)]
pub struct CallHandle {
    inner: Arc<HandleInner>,
}

impl std::fmt::Debug for CallHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallHandle")
            .field("call_id", &self.inner.call_id)
            .finish()
    }
}

impl CallHandle {
    pub(crate) fn new(
        call: CallKey,
        call_id: String,
        commands: mpsc::UnboundedSender<Command>,
    ) -> Self {
        Self {
            inner: Arc::new(HandleInner {
                call,
                call_id,
                commands,
            }),
        }
    }

    fn send(&self, cmd: Command) -> Result<(), SipError> {
        self.inner.commands.send(cmd).map_err(|_| SipError::Closed)
    }

    /// The call's Call-ID.
    pub fn call_id(&self) -> &str {
        &self.inner.call_id
    }

    /// Sends 180 Ringing.
    pub fn ringing(&self) -> Result<(), SipError> {
        self.send(Command::Ringing(self.inner.call))
    }

    /// Sends 200 OK with this SDP answer; `CallEvent::Confirmed` follows
    /// on the ACK.
    pub fn answer(&self, sdp: String) -> Result<(), SipError> {
        self.send(Command::Answer(self.inner.call, sdp))
    }

    /// Rejects the call (or a pending re-INVITE) with a 300..=699 status,
    /// e.g. 404, 486, 488, 503.
    pub fn reject(&self, status: u16) -> Result<(), SipError> {
        self.send(Command::Reject(self.inner.call, status, None))
    }

    /// Rejects the call like [`reject`](Self::reject), with `Retry-After:
    /// secs` (e.g. 503 for a call over a concurrency limit).
    pub fn reject_retry_after(&self, status: u16, secs: u32) -> Result<(), SipError> {
        self.send(Command::Reject(self.inner.call, status, Some(secs)))
    }

    /// Hangs up: BYE once answered (480 before); `CallEvent::Terminated {
    /// by_remote: false }` follows.
    pub fn hangup(&self) -> Result<(), SipError> {
        self.send(Command::Hangup(self.inner.call))
    }

    /// Answers the pending re-INVITE (`CallEvent::ReInvite`) with 200 OK
    /// and this SDP.
    pub fn answer_reinvite(&self, sdp: String) -> Result<(), SipError> {
        self.send(Command::AnswerReInvite(self.inner.call, sdp))
    }
}

/// The IP our host uses to reach the outside, found by a routing lookup
/// (a connected UDP socket sends nothing); loopback if there is no route.
fn primary_local_ip(v6: bool) -> IpAddr {
    let (bind, probe): (SocketAddr, SocketAddr) = if v6 {
        (
            (Ipv6Addr::UNSPECIFIED, 0).into(),
            "[2001:4860:4860::8888]:53".parse().expect("literal"),
        )
    } else {
        (
            (Ipv4Addr::UNSPECIFIED, 0).into(),
            "8.8.8.8:53".parse().expect("literal"),
        )
    };
    StdUdpSocket::bind(bind)
        .and_then(|s| s.connect(probe).and_then(|_| s.local_addr()))
        .map(|a| a.ip())
        .unwrap_or(if v6 {
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        })
}

async fn bind_pair(bind: SocketAddr) -> Result<(UdpSocket, TcpListener), SipError> {
    let mut last_err = None;
    for _ in 0..BIND_ATTEMPTS {
        let udp = UdpSocket::bind(bind)
            .await
            .map_err(|source| SipError::Bind {
                transport: "UDP",
                addr: bind,
                source,
            })?;
        let udp_addr = udp.local_addr().map_err(|source| SipError::Bind {
            transport: "UDP",
            addr: bind,
            source,
        })?;
        let tcp_bind = SocketAddr::new(bind.ip(), udp_addr.port());
        match TcpListener::bind(tcp_bind).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(source) if bind.port() == 0 => {
                last_err = Some(SipError::Bind {
                    transport: "TCP",
                    addr: tcp_bind,
                    source,
                })
            }
            Err(source) => {
                return Err(SipError::Bind {
                    transport: "TCP",
                    addr: tcp_bind,
                    source,
                })
            }
        }
    }
    Err(last_err.unwrap_or(SipError::Closed))
}

impl SipServer {
    /// Binds UDP and TCP on `config.bind` (the same port for both) and
    /// starts the server task. Must be called inside a tokio runtime.
    pub async fn bind(
        config: SipServerConfig,
    ) -> Result<(SipServer, mpsc::Receiver<IncomingCall>), SipError> {
        let (udp, tcp) = bind_pair(config.bind).await?;
        let udp_addr = udp.local_addr().map_err(|source| SipError::Bind {
            transport: "UDP",
            addr: config.bind,
            source,
        })?;
        let tcp_addr = tcp.local_addr().map_err(|source| SipError::Bind {
            transport: "TCP",
            addr: config.bind,
            source,
        })?;
        let public_ip = config.public_ip.unwrap_or_else(|| {
            if udp_addr.ip().is_unspecified() {
                primary_local_ip(udp_addr.is_ipv6())
            } else {
                udp_addr.ip()
            }
        });
        let core = UasCore::new(UasConfig {
            user_agent: config.user_agent.clone(),
            contact_host: public_ip.to_string(),
            contact_port: udp_addr.port(),
            timers: config.timers,
            max_dialogs: config.max_dialogs,
            ring_timeout: config.ring_timeout,
            reinvite_timeout: config.reinvite_timeout,
            drain_retry_after_secs: config.drain_retry_after_secs,
            requests_to_source: config.requests_to_source,
            invite_rate: config.invite_rate,
            ..UasConfig::default()
        });
        let (command_tx, commands) = mpsc::unbounded_channel();
        let (incoming_tx, incoming_rx) = mpsc::channel(config.incoming_queue.max(1));
        let active_calls = Arc::new(AtomicUsize::new(0));
        let active_outbound = Arc::new(AtomicUsize::new(0));
        let uac_config = UacConfig {
            user_agent: config.user_agent.clone(),
            contact_host: public_ip.to_string(),
            contact_port: udp_addr.port(),
            timers: config.timers,
            rng_seed: None,
        };
        let driver = Driver {
            core,
            udp,
            tcp,
            config: DriverConfig {
                max_tcp_connections: config.max_tcp_connections,
                tcp_idle_timeout: config.tcp_idle_timeout,
            },
            commands,
            command_tx: command_tx.clone(),
            incoming: incoming_tx,
            active_calls: active_calls.clone(),
            uac: UacTable::new(),
            active_outbound: active_outbound.clone(),
            reg: Registrations::default(),
        };
        let task = tokio::spawn(driver.run());
        tracing::info!(%udp_addr, %tcp_addr, %public_ip, "SIP server listening");
        let server = SipServer {
            udp_addr,
            tcp_addr,
            public_ip,
            commands: command_tx,
            active_calls,
            active_outbound,
            uac_config,
            next_outbound: AtomicU64::new(1),
            task: Some(task),
        };
        Ok((server, incoming_rx))
    }

    /// The bound UDP address.
    pub fn local_udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The bound TCP address (same port as UDP).
    pub fn local_tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    /// The IP written in our Contact / Via (use it in SDP answers too).
    pub fn public_ip(&self) -> IpAddr {
        self.public_ip
    }

    /// Calls in progress (updated by the server task after every event).
    pub fn active_calls(&self) -> usize {
        self.active_calls.load(Ordering::Relaxed)
    }

    /// Outbound calls not yet ended (updated by the server task).
    pub fn active_outbound_calls(&self) -> usize {
        self.active_outbound.load(Ordering::Relaxed)
    }

    /// Places an outbound call (RFC 3261 UAC, see [`crate::uac`]): sends
    /// the INVITE with our SDP offer from this server's address and port
    /// (Via / Contact = [`public_ip`](Self::public_ip) and the bound port)
    /// to `request.trunk`, and returns the call's events and controls.
    /// Responses and in-dialog requests are routed to it by Call-ID.
    ///
    /// Errors: [`SipError::InvalidCall`] for an unusable request (bad URI,
    /// control characters), [`SipError::Closed`] after shutdown.
    pub fn place_call(&self, request: OutboundRequest) -> Result<OutboundCallHandle, SipError> {
        let call = OutboundCall::new(std::time::Instant::now(), self.uac_config.clone(), request)?;
        let key = UacKey(self.next_outbound.fetch_add(1, Ordering::Relaxed));
        let (events_tx, events_rx) = mpsc::channel(CALL_EVENT_CAPACITY);
        let call_id = call.call_id().to_string();
        self.commands
            .send(Command::Place(key, Box::new(call), events_tx))
            .map_err(|_| SipError::Closed)?;
        Ok(OutboundCallHandle::new(
            key,
            call_id,
            events_rx,
            self.commands.clone(),
        ))
    }

    /// Registers with a trunk's registrar and keeps the binding alive (RFC
    /// 3261 §10.2, see [`crate::register`]): REGISTER from this server's
    /// address and port (Contact = [`public_ip`](Self::public_ip) and the
    /// bound port), one digest challenge answered, refreshed before expiry,
    /// retried with backoff on failure, unregistered on
    /// [`RegistrationHandle::unregister`], when the last handle is dropped,
    /// or at [`shutdown`](Self::shutdown) (within its grace period).
    ///
    /// Errors: [`SipError::InvalidRegistration`] for an unusable request
    /// (bad URI, control characters), [`SipError::Closed`] after shutdown.
    pub fn register(&self, request: RegistrationRequest) -> Result<RegistrationHandle, SipError> {
        let reg = Registration::new(std::time::Instant::now(), self.uac_config.clone(), request)
            .map_err(SipError::InvalidRegistration)?;
        let key = RegKey(self.next_outbound.fetch_add(1, Ordering::Relaxed));
        let (status_tx, status_rx) = watch::channel(RegistrationStatus::Pending);
        let call_id = reg.call_id().to_string();
        self.commands
            .send(Command::Register(key, Box::new(reg), status_tx))
            .map_err(|_| SipError::Closed)?;
        Ok(RegistrationHandle::new(
            key,
            call_id,
            status_rx,
            self.commands.clone(),
        ))
    }

    /// While draining, new INVITEs get 503 + Retry-After; calls in progress
    /// continue.
    pub fn set_draining(&self, draining: bool) {
        let _ = self.commands.send(Command::SetDraining(draining));
    }

    /// Stops accepting calls, hangs up every call, waits at most
    /// `transport::SHUTDOWN_GRACE` (2 s) for the BYEs, and stops.
    pub async fn shutdown(mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SipServer {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
    }
}
