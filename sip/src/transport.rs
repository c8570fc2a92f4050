//! Tokio driver: one task owns the [`UasCore`], the outbound calls'
//! [`UacTable`], a UDP socket and a TCP listener bound on the same
//! address, and one task per TCP connection (framed with
//! [`StreamFramer`], RFC 3261 §18.3). Each message is classified once and
//! offered to the trunk registrations, then the outbound calls (both by
//! Call-ID), before the UAS core. Nothing here interprets SIP beyond
//! framing: the cores decide everything.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::message::{classify_datagram, StreamFramer, MAX_SIP_MESSAGE_BYTES};
use crate::register::{RegKey, Registration, RegistrationStatus, Registrations};
use crate::server::{CallHandle, IncomingCall};
use crate::uac::{
    cause, EndedBy, OutboundCall, Outcome, Source, UacEvent, UacKey, UacTable, UacTableOutput,
};
use crate::uas::{CallEvent, CallKey, ConnId, Transmit, Transport, UasCore, UasError, UasOutput};

/// Messages queued for writing on one TCP connection before the
/// connection is considered stuck and closed.
pub const TCP_WRITE_QUEUE: usize = 256;
/// Framed messages from all TCP connections queued for the driver task
/// (readers wait when it is full: backpressure).
pub const CONN_EVENT_QUEUE: usize = 1024;
/// Events queued per call for the application; beyond it events are
/// dropped with a warning.
pub const CALL_EVENT_CAPACITY: usize = 64;
/// Bytes read from a TCP socket at once.
const TCP_READ_CHUNK: usize = 16 * 1024;
/// Time allowed for opening an outbound TCP connection, 5 s.
pub const TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `shutdown` waits for the BYEs of hung-up calls to complete.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Requests from the public API (`SipServer`, `CallHandle`) to the driver.
#[derive(Debug)]
pub(crate) enum Command {
    Ringing(CallKey),
    Answer(CallKey, String),
    /// Final non-2xx, with an optional Retry-After (s).
    Reject(CallKey, u16, Option<u32>),
    Hangup(CallKey),
    AnswerReInvite(CallKey, String),
    /// The last `CallHandle` of a call was dropped.
    HandleDropped(CallKey),
    SetDraining(bool),
    Shutdown,
    /// A new outbound call (its INVITE goes out on the next flush).
    Place(UacKey, Box<OutboundCall>, mpsc::Sender<UacEvent>),
    UacCancel(UacKey),
    UacHangup(UacKey),
    /// The last `OutboundControl` of a call was dropped: hang up.
    UacDropped(UacKey),
    /// A new trunk registration (its REGISTER goes out on the next flush).
    Register(RegKey, Box<Registration>, watch::Sender<RegistrationStatus>),
    /// `RegistrationHandle::unregister`, or its last clone was dropped.
    Unregister(RegKey),
}

enum ConnEvent {
    Message(ConnId, SocketAddr, Vec<u8>),
    Idle(ConnId),
    Closed(ConnId),
    /// An outbound connection opened to send `bytes` (RFC 3261 §18.2.2,
    /// §18.1.1: the original connection was gone).
    Connected(TcpStream, SocketAddr, Vec<u8>),
    /// Opening a connection to this address failed (§17.1.4).
    ConnectFailed(SocketAddr),
}

struct Conn {
    tx: mpsc::Sender<Vec<u8>>,
    peer: SocketAddr,
}

/// Driver settings (from `SipServerConfig`).
pub(crate) struct DriverConfig {
    pub max_tcp_connections: usize,
    pub tcp_idle_timeout: Duration,
}

pub(crate) struct Driver {
    pub core: UasCore,
    pub udp: UdpSocket,
    pub tcp: TcpListener,
    pub config: DriverConfig,
    pub commands: mpsc::UnboundedReceiver<Command>,
    /// Cloned into every `CallHandle`.
    pub command_tx: mpsc::UnboundedSender<Command>,
    pub incoming: mpsc::Sender<IncomingCall>,
    pub active_calls: Arc<AtomicUsize>,
    pub uac: UacTable,
    pub active_outbound: Arc<AtomicUsize>,
    /// Trunk registrations (responses routed by Call-ID, before the UAC).
    pub reg: Registrations,
}

struct State {
    conns: HashMap<ConnId, Conn>,
    /// Peer address → its most recent connection.
    by_peer: HashMap<SocketAddr, ConnId>,
    next_conn: u64,
    call_events: HashMap<CallKey, mpsc::Sender<CallEvent>>,
    uac_events: HashMap<UacKey, mpsc::Sender<UacEvent>>,
    conn_tx: mpsc::Sender<ConnEvent>,
    shutdown_at: Option<Instant>,
}

impl Driver {
    /// Runs until `Command::Shutdown` (then hangs up every call and waits
    /// at most [`SHUTDOWN_GRACE`] for the BYEs).
    pub(crate) async fn run(mut self) {
        let (conn_tx, mut conn_rx) = mpsc::channel(CONN_EVENT_QUEUE);
        let mut st = State {
            conns: HashMap::new(),
            by_peer: HashMap::new(),
            next_conn: 1,
            call_events: HashMap::new(),
            uac_events: HashMap::new(),
            conn_tx,
            shutdown_at: None,
        };
        let mut buf = vec![0u8; MAX_SIP_MESSAGE_BYTES];
        loop {
            let wake = earliest(
                earliest(
                    self.core.poll_timeout().map(Instant::from_std),
                    self.uac.poll_timeout().map(Instant::from_std),
                ),
                earliest(
                    st.shutdown_at,
                    self.reg.poll_timeout().map(Instant::from_std),
                ),
            );
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = self.udp.recv_from(&mut buf) => match r {
                    Ok((n, from)) => self.inbound(Transport::Udp, from, None, &buf[..n]),
                    // e.g. ICMP port unreachable reported on the next recv.
                    Err(e) => tracing::debug!(error = %e, "UDP receive error"),
                },
                r = self.tcp.accept(), if st.shutdown_at.is_none() => match r {
                    Ok((stream, peer)) => {
                        let _ = self.accept(&mut st, stream, peer);
                    }
                    Err(e) => tracing::debug!(error = %e, "TCP accept error"),
                },
                Some(ev) = conn_rx.recv() => match ev {
                    ConnEvent::Message(id, peer, bytes) => {
                        self.inbound(Transport::Tcp, peer, Some(id), &bytes);
                    }
                    ConnEvent::Idle(id) => {
                        let peer = st.conns.get(&id).map(|c| c.peer);
                        if !self.core.connection_in_use(id) && !peer.is_some_and(|p| self.uac.uses_peer(p) || self.reg.uses_peer(p)) {
                            tracing::debug!(conn = id.0, "closing idle TCP connection");
                            st.close(id);
                        }
                    }
                    ConnEvent::Closed(id) => st.close(id),
                    ConnEvent::Connected(stream, peer, bytes) => {
                        if let Some(id) = self.accept(&mut st, stream, peer) {
                            st.write(id, bytes);
                        }
                    }
                    ConnEvent::ConnectFailed(dest) => {
                        self.uac.transport_error(Instant::now().into_std(), dest);
                        self.reg.transport_error(Instant::now().into_std(), dest);
                    }
                },
                Some(cmd) = self.commands.recv() => self.command(&mut st, cmd),
                _ = sleep => {
                    let now = Instant::now().into_std();
                    self.core.handle_timeout(now);
                    self.uac.handle_timeout(now);
                    self.reg.handle_timeout(now);
                }
            }
            self.flush(&mut st).await;
            self.active_calls
                .store(self.core.active_calls(), Ordering::Relaxed);
            self.active_outbound
                .store(self.uac.active(), Ordering::Relaxed);
            if let Some(at) = st.shutdown_at {
                let idle = self.core.active_calls() == 0
                    && self.uac.active() == 0
                    && self.reg.active() == 0;
                if idle || Instant::now() >= at {
                    break;
                }
            }
        }
        self.reg.close_all();
        for (_, tx) in st.uac_events.drain() {
            let _ = tx.try_send(UacEvent::Ended {
                outcome: Outcome::Failed,
                status: None,
                cause: cause::SHUTDOWN.into(),
                by: EndedBy::Local,
                detail: "SIP server shut down".into(),
            });
        }
        // Calls still open when the grace period ends get their final event.
        for (_, tx) in st.call_events.drain() {
            let _ = tx.try_send(CallEvent::Terminated {
                by_remote: false,
                reason: "SIP server shut down".into(),
            });
        }
        tracing::debug!("SIP driver stopped");
    }

    /// Registers a connection (accepted or opened) and starts its task.
    fn accept(&mut self, st: &mut State, stream: TcpStream, peer: SocketAddr) -> Option<ConnId> {
        if st.conns.len() >= self.config.max_tcp_connections {
            tracing::debug!(%peer, limit = self.config.max_tcp_connections, "MAX_TCP_CONNECTIONS reached: refusing connection");
            return None; // dropping the stream closes it
        }
        let _ = stream.set_nodelay(true);
        let id = ConnId(st.next_conn);
        st.next_conn += 1;
        let (tx, rx) = mpsc::channel(TCP_WRITE_QUEUE);
        st.conns.insert(id, Conn { tx, peer });
        st.by_peer.insert(peer, id);
        tokio::spawn(run_conn(
            id,
            stream,
            peer,
            rx,
            st.conn_tx.clone(),
            self.config.tcp_idle_timeout,
        ));
        Some(id)
    }

    /// Sends on connection `conn`, else on the latest connection to `dest`,
    /// else opens one to `dest` in the background.
    fn send_tcp(&mut self, st: &mut State, conn: Option<ConnId>, dest: SocketAddr, bytes: Vec<u8>) {
        let live = conn.filter(|id| st.conns.contains_key(id)).or_else(|| {
            st.by_peer
                .get(&dest)
                .copied()
                .filter(|id| st.conns.contains_key(id))
        });
        if let Some(id) = live {
            st.write(id, bytes);
            return;
        }
        if st.conns.len() >= self.config.max_tcp_connections || st.shutdown_at.is_some() {
            tracing::debug!(%dest, "no TCP connection for message: dropped");
            return;
        }
        let events = st.conn_tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(TCP_CONNECT_TIMEOUT, TcpStream::connect(dest)).await {
                Ok(Ok(stream)) => {
                    let _ = events.send(ConnEvent::Connected(stream, dest, bytes)).await;
                }
                Ok(Err(e)) => {
                    tracing::debug!(%dest, error = %e, "TCP connect failed: message dropped");
                    let _ = events.send(ConnEvent::ConnectFailed(dest)).await;
                }
                Err(_) => {
                    tracing::debug!(%dest, "TCP connect timed out: message dropped");
                    let _ = events.send(ConnEvent::ConnectFailed(dest)).await;
                }
            }
        });
    }

    fn command(&mut self, st: &mut State, cmd: Command) {
        let now = Instant::now().into_std();
        let result = match cmd {
            Command::Ringing(c) => self.core.ringing(now, c),
            Command::Answer(c, sdp) => self.core.answer(now, c, sdp),
            Command::Reject(c, status, retry) => {
                self.core.reject_retry_after(now, c, status, retry)
            }
            Command::Hangup(c) | Command::HandleDropped(c) => match self.core.hangup(now, c) {
                Err(UasError::UnknownCall(_)) => Ok(()), // already over
                r => r,
            },
            Command::AnswerReInvite(c, sdp) => self.core.answer_reinvite(now, c, sdp),
            Command::SetDraining(d) => {
                self.core.set_draining(d);
                Ok(())
            }
            Command::Place(key, call, events) => {
                st.uac_events.insert(key, events);
                self.uac.insert(key, *call);
                Ok(())
            }
            Command::UacCancel(key) => {
                if let Err(e) = self.uac.cancel(now, key) {
                    tracing::debug!(error = %e, "outbound cancel refused");
                }
                Ok(())
            }
            Command::UacHangup(key) | Command::UacDropped(key) => {
                if let Err(e) = self.uac.hangup(now, key) {
                    tracing::debug!(error = %e, "outbound hangup refused");
                }
                Ok(())
            }
            Command::Register(key, reg, status) => {
                self.reg.insert(key, *reg, status);
                Ok(())
            }
            Command::Unregister(key) => {
                self.reg.unregister(now, key);
                Ok(())
            }
            Command::Shutdown => {
                if st.shutdown_at.is_none() {
                    self.reg.unregister_all(now);
                    self.core.set_draining(true);
                    for call in self.core.call_keys() {
                        let _ = self.core.hangup(now, call);
                    }
                    for key in self.uac.keys() {
                        let _ = self.uac.hangup(now, key);
                    }
                    st.shutdown_at = Some(Instant::now() + SHUTDOWN_GRACE);
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "call command refused");
        }
    }

    /// Classifies one message once, offers it to the outbound calls (by
    /// Call-ID), else to the UAS core.
    fn inbound(
        &mut self,
        transport: Transport,
        from: SocketAddr,
        conn: Option<ConnId>,
        bytes: &[u8],
    ) {
        let now = Instant::now().into_std();
        let inbound = classify_datagram(bytes, self.core.policy());
        let source = Source {
            transport,
            addr: from,
            conn,
        };
        let Some(inbound) = self.reg.handle_inbound(now, inbound) else {
            return;
        };
        if let Some(rest) = self.uac.handle_inbound(now, source, inbound) {
            self.core.handle_inbound(now, transport, from, conn, rest);
        }
    }

    async fn transmit(&mut self, st: &mut State, t: Transmit) {
        match (t.transport, t.conn) {
            (Transport::Udp, _) => {
                if let Err(e) = self.udp.send_to(&t.bytes, t.dest).await {
                    tracing::debug!(dest = %t.dest, error = %e, "UDP send failed");
                }
            }
            (Transport::Tcp, conn) => self.send_tcp(st, conn, t.dest, t.bytes),
        }
    }

    async fn flush(&mut self, st: &mut State) {
        while let Some(t) = self.reg.poll_transmit() {
            self.transmit(st, t).await;
        }
        while let Some(out) = self.uac.poll_output() {
            match out {
                UacTableOutput::Transmit(t) => self.transmit(st, t).await,
                UacTableOutput::Event { key, event } => {
                    let last = matches!(event, UacEvent::Ended { .. });
                    let sender = if last {
                        st.uac_events.remove(&key)
                    } else {
                        st.uac_events.get(&key).cloned()
                    };
                    if let Some(tx) = sender {
                        if let Err(mpsc::error::TrySendError::Full(ev)) = tx.try_send(event) {
                            tracing::warn!(?ev, "outbound call event queue full: event dropped");
                        }
                    }
                }
            }
        }
        while let Some(out) = self.core.poll_output() {
            match out {
                UasOutput::Transmit(t) => self.transmit(st, t).await,
                UasOutput::Incoming(info) => {
                    let (events_tx, events_rx) = mpsc::channel(CALL_EVENT_CAPACITY);
                    let call = info.call;
                    let handle =
                        CallHandle::new(call, info.call_id.clone(), self.command_tx.clone());
                    let incoming = IncomingCall::new(info, handle, events_rx);
                    match self.incoming.try_send(incoming) {
                        Ok(()) => {
                            st.call_events.insert(call, events_tx);
                        }
                        Err(e) => {
                            tracing::debug!("incoming call queue full or closed: 503");
                            // The handle inside is dropped with the
                            // IncomingCall; its HandleDropped finds no call.
                            drop(e);
                            let _ = self.core.reject(Instant::now().into_std(), call, 503);
                        }
                    }
                }
                UasOutput::Event { call, event } => {
                    let last = matches!(event, CallEvent::Cancelled | CallEvent::Terminated { .. });
                    let sender = if last {
                        st.call_events.remove(&call)
                    } else {
                        st.call_events.get(&call).cloned()
                    };
                    if let Some(tx) = sender {
                        if let Err(mpsc::error::TrySendError::Full(ev)) = tx.try_send(event) {
                            tracing::warn!(?ev, "call event queue full: event dropped");
                        }
                    }
                }
            }
        }
    }
}

impl State {
    fn write(&mut self, id: ConnId, bytes: Vec<u8>) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        if conn.tx.try_send(bytes).is_err() {
            tracing::debug!(conn = id.0, "TCP write queue full or closed: closing");
            self.close(id);
        }
    }

    /// Forgets a connection; its task ends when its queue sender drops.
    fn close(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.remove(&id) {
            if self.by_peer.get(&conn.peer) == Some(&id) {
                self.by_peer.remove(&conn.peer);
            }
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One TCP connection: reads and frames messages for the driver, writes
/// what the driver queues, answers RFC 5626 §3.5.1 CRLFCRLF pings with
/// CRLF, and reports idleness after `idle` without traffic (the driver
/// closes it unless a call uses it).
async fn run_conn(
    id: ConnId,
    stream: TcpStream,
    peer: SocketAddr,
    mut out: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<ConnEvent>,
    idle: Duration,
) {
    let (mut rd, mut wr) = stream.into_split();
    let mut framer = StreamFramer::new();
    let mut buf = vec![0u8; TCP_READ_CHUNK];
    let mut last = Instant::now();
    'conn: loop {
        tokio::select! {
            r = rd.read(&mut buf) => {
                let n = match r {
                    Ok(0) | Err(_) => break 'conn,
                    Ok(n) => n,
                };
                last = Instant::now();
                if &buf[..n] == b"\r\n\r\n" && wr.write_all(b"\r\n").await.is_err() {
                    break 'conn;
                }
                framer.push(&buf[..n]);
                loop {
                    match framer.next_message() {
                        Ok(Some(msg)) => {
                            if events.send(ConnEvent::Message(id, peer, msg)).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "TCP framing error: closing");
                            break 'conn;
                        }
                    }
                }
            }
            m = out.recv() => match m {
                Some(bytes) => {
                    if wr.write_all(&bytes).await.is_err() {
                        break 'conn;
                    }
                    last = Instant::now();
                }
                None => break 'conn, // the driver closed us
            },
            _ = tokio::time::sleep_until(last + idle) => {
                last = Instant::now();
                if events.send(ConnEvent::Idle(id)).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = wr.shutdown().await;
    let _ = events.send(ConnEvent::Closed(id)).await;
}
