//! Sans-IO UAS signalling core (RFC 3261 §8.2, §12–§17), str0m style.
//!
//! [`UasCore`] owns every transaction, dialog and timer and performs no IO:
//! the driver feeds it datagrams / framed stream messages with
//! [`UasCore::handle_datagram`], wakes it at [`UasCore::poll_timeout`] with
//! [`UasCore::handle_timeout`], passes application decisions in
//! ([`UasCore::ringing`], [`UasCore::answer`], ...) and drains
//! [`UasCore::poll_output`] after every call. The clock is always passed
//! in, so the tests run on a virtual clock.

mod addr;
mod app;
mod calls;
mod events;
mod in_dialog;
mod incoming;
mod rate;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rsipstack::sip::headers::untyped::Server;
use rsipstack::sip::{Header, Request};

use crate::message::{build_response, classify_datagram, Inbound, LocalPolicy};
use crate::transaction::{
    ClientTransactionKey, InviteServerTransaction, NonInviteClientTransaction,
    NonInviteServerTransaction, Reliability, TimerConfig, TransactionKey,
};
use calls::Call;

pub use crate::sdp::SessionDescription;
pub(crate) use addr::annotate_top_via;
pub use events::{CallEvent, IncomingCallInfo};
pub use rate::{InviteRateLimit, MAX_TRACKED_SOURCES};

/// Default bound on concurrent calls (dialogs).
pub const DEFAULT_MAX_DIALOGS: usize = 20_000;
/// Default bound on live server + client transactions. Beyond it new
/// requests get a stateless 503.
pub const DEFAULT_MAX_TRANSACTIONS: usize = 200_000;
/// Default time the application has to send a final response to an INVITE
/// before the core rejects it with 480: 120 s.
pub const DEFAULT_RING_TIMEOUT: Duration = Duration::from_secs(120);
/// Default time the application has to answer a re-INVITE before the core
/// rejects it with 500: 10 s.
pub const DEFAULT_REINVITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Retry-After (s) on the 503 sent to new INVITEs while draining.
pub const DEFAULT_DRAIN_RETRY_AFTER_SECS: u32 = 30;
/// Retry-After (s) on the 503 sent when MAX_DIALOGS / MAX_TRANSACTIONS is
/// reached.
pub const OVERLOAD_RETRY_AFTER_SECS: u32 = 5;
/// Methods we process (advertised in Allow).
pub const ALLOWED_METHODS: [&str; 6] = ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO"];
/// Body types we accept in INVITE (advertised in Accept).
pub const ACCEPTED_BODIES: [&str; 1] = ["application/sdp"];

/// Signalling transport of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP (unreliable: transactions retransmit).
    Udp,
    /// TCP (reliable: responses go back on the same connection).
    Tcp,
}

impl Transport {
    /// Whether the transport retransmits for us (UDP: no).
    pub fn reliability(self) -> Reliability {
        match self {
            Transport::Udp => Reliability::Unreliable,
            Transport::Tcp => Reliability::Reliable,
        }
    }

    /// The transport token of a Via (`UDP`, `TCP`).
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// Identifies one TCP connection of the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Identifies one call (INVITE dialog) inside the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(u64);

impl CallKey {
    /// The raw number (unique for the core's lifetime).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Transport to use.
    pub transport: Transport,
    /// Destination (for TCP: the peer of `conn`, or where to connect).
    pub dest: SocketAddr,
    /// The TCP connection to write on (`None` for UDP).
    pub conn: Option<ConnId>,
    /// One complete SIP message.
    pub bytes: Vec<u8>,
}

/// Something the driver must act on.
#[derive(Debug, Clone, PartialEq)]
pub enum UasOutput {
    /// Send bytes.
    Transmit(Transmit),
    /// A new call for the application (100 Trying already sent).
    Incoming(IncomingCallInfo),
    /// An event on an existing call.
    Event {
        /// The call.
        call: CallKey,
        /// What happened.
        event: CallEvent,
    },
}

/// Misuse of the application API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UasError {
    /// No such call (never existed or already ended).
    #[error("unknown call {0:?}")]
    UnknownCall(CallKey),
    /// The call is not in a state allowing this operation.
    #[error("call {call:?} is {state}: cannot {op}")]
    InvalidState {
        /// The call.
        call: CallKey,
        /// Its state.
        state: &'static str,
        /// The refused operation.
        op: &'static str,
    },
    /// `reject` needs a final non-2xx status (300..=699).
    #[error("status {0} is not a final non-2xx status (300..=699)")]
    InvalidStatus(u16),
}

/// Configuration of the UAS core.
#[derive(Debug, Clone)]
pub struct UasConfig {
    /// Written in Server / User-Agent headers.
    pub user_agent: String,
    /// Host (normally an IP) for our Contact and Via headers.
    pub contact_host: String,
    /// Port for our Contact and Via headers.
    pub contact_port: u16,
    /// T1/T2/T4 (RFC 3261 Table 4; 500 ms / 4 s / 5 s).
    pub timers: TimerConfig,
    /// Concurrent calls; new INVITEs beyond get 503 + Retry-After.
    pub max_dialogs: usize,
    /// Live transactions; new requests beyond get a stateless 503.
    pub max_transactions: usize,
    /// Time the application has for a final response to an INVITE before
    /// the core sends 480 (ms precision).
    pub ring_timeout: Duration,
    /// Time the application has to answer a re-INVITE before the core
    /// sends 500 + Retry-After.
    pub reinvite_timeout: Duration,
    /// Retry-After (s) of the 503 sent while draining.
    pub drain_retry_after_secs: u32,
    /// Send in-dialog requests (our BYE) to the address the INVITE came
    /// from instead of the Contact / Record-Route next hop (NAT traversal).
    /// Host-name next hops always use the source address (no DNS here).
    pub requests_to_source: bool,
    /// Seed for tags, branches and CSeq numbers (tests); `None` = OS entropy.
    pub rng_seed: Option<u64>,
    /// Token bucket per source IP for new INVITEs; over it they get 503 +
    /// Retry-After before the application hears of them. `None`: no limit.
    pub invite_rate: Option<InviteRateLimit>,
}

impl Default for UasConfig {
    fn default() -> Self {
        Self {
            user_agent: crate::message::DEFAULT_SERVER.to_string(),
            contact_host: "127.0.0.1".into(),
            contact_port: 5060,
            timers: TimerConfig::default(),
            max_dialogs: DEFAULT_MAX_DIALOGS,
            max_transactions: DEFAULT_MAX_TRANSACTIONS,
            ring_timeout: DEFAULT_RING_TIMEOUT,
            reinvite_timeout: DEFAULT_REINVITE_TIMEOUT,
            drain_retry_after_secs: DEFAULT_DRAIN_RETRY_AFTER_SECS,
            requests_to_source: false,
            rng_seed: None,
            invite_rate: None,
        }
    }
}

/// Where a message came from / where to send: transport, address, and the
/// TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
    pub conn: Option<ConnId>,
}

pub(crate) type TxId = u64;

pub(crate) enum ServerMachine {
    Invite(InviteServerTransaction),
    NonInvite(NonInviteServerTransaction),
}

impl ServerMachine {
    fn next_deadline(&self) -> Option<Instant> {
        match self {
            ServerMachine::Invite(m) => m.next_deadline(),
            ServerMachine::NonInvite(m) => m.next_deadline(),
        }
    }
}

/// A server transaction and what the core needs to answer it.
pub(crate) struct ServerTx {
    pub key: TransactionKey,
    /// The request with `received`/`rport` added to its top Via.
    pub request: Request,
    /// Where responses go (RFC 3261 §18.2.2).
    pub reply_to: Peer,
    pub machine: ServerMachine,
    /// The call this INVITE / re-INVITE belongs to.
    pub call: Option<CallKey>,
    pub armed: Option<Instant>,
}

/// A client transaction (our BYE).
pub(crate) struct ClientTx {
    pub key: ClientTransactionKey,
    pub machine: NonInviteClientTransaction,
    pub dest: Peer,
    pub call: Option<CallKey>,
    pub armed: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerRef {
    Server(TxId),
    Client(TxId),
    Call(CallKey),
}

/// A response the core is about to send.
pub(crate) struct Reply {
    pub status: u16,
    pub reason: Option<&'static str>,
    pub to_tag: Option<String>,
    pub headers: Vec<Header>,
    pub body: Option<(&'static str, Vec<u8>)>,
}

impl Reply {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            reason: None,
            to_tag: None,
            headers: Vec::new(),
            body: None,
        }
    }
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.to_tag = Some(tag.into());
        self
    }
    pub fn header(mut self, h: Header) -> Self {
        self.headers.push(h);
        self
    }
    pub fn headers(mut self, hs: Vec<Header>) -> Self {
        self.headers.extend(hs);
        self
    }
    pub fn reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }
    pub fn body(mut self, content_type: &'static str, body: Vec<u8>) -> Self {
        self.body = Some((content_type, body));
        self
    }
}

/// The sans-IO UAS core. See the module documentation.
pub struct UasCore {
    config: UasConfig,
    policy: LocalPolicy,
    rng: StdRng,
    draining: bool,
    next_id: u64,
    server_txs: HashMap<TxId, ServerTx>,
    server_index: HashMap<TransactionKey, TxId>,
    client_txs: HashMap<TxId, ClientTx>,
    client_index: HashMap<ClientTransactionKey, TxId>,
    calls: HashMap<CallKey, Call>,
    /// (Call-ID, remote tag) → call: dialog lookup (§12.2.2) and merged
    /// request detection (§8.2.2.2).
    call_index: HashMap<(String, String), CallKey>,
    timers: BinaryHeap<Reverse<(Instant, TimerRef)>>,
    outputs: VecDeque<UasOutput>,
    invite_limiter: Option<rate::SourceRateLimiter>,
}

impl UasCore {
    /// Creates an empty core.
    pub fn new(config: UasConfig) -> Self {
        let policy = LocalPolicy {
            user_agent: config.user_agent.clone(),
            allow: ALLOWED_METHODS.to_vec(),
            accept: ACCEPTED_BODIES.to_vec(),
            supported: Vec::new(),
        };
        let invite_limiter = config.invite_rate.map(rate::SourceRateLimiter::new);
        let rng = match config.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Self {
            config,
            policy,
            rng,
            draining: false,
            next_id: 1,
            server_txs: HashMap::new(),
            server_index: HashMap::new(),
            client_txs: HashMap::new(),
            client_index: HashMap::new(),
            calls: HashMap::new(),
            call_index: HashMap::new(),
            timers: BinaryHeap::new(),
            outputs: VecDeque::new(),
            invite_limiter,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &UasConfig {
        &self.config
    }

    /// While draining, new INVITEs get 503 with Retry-After; existing calls
    /// continue.
    pub fn set_draining(&mut self, draining: bool) {
        self.draining = draining;
    }

    /// Whether the core is draining.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// Calls not yet ended (offered, answered, confirmed or hanging up).
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Keys of every call not yet ended.
    pub fn call_keys(&self) -> Vec<CallKey> {
        self.calls.keys().copied().collect()
    }

    /// Live server + client transactions.
    pub fn active_transactions(&self) -> usize {
        self.server_txs.len() + self.client_txs.len()
    }

    /// Whether any call signals over this TCP connection (the driver keeps
    /// such connections open past their idle timeout).
    pub fn connection_in_use(&self, conn: ConnId) -> bool {
        self.calls.values().any(|c| c.peer.conn == Some(conn))
    }

    /// One datagram (UDP) or one framed message (TCP) from `from`.
    /// `connection` identifies the TCP connection (`None` for UDP).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        transport: Transport,
        from: SocketAddr,
        connection: Option<ConnId>,
        bytes: &[u8],
    ) {
        let inbound = classify_datagram(bytes, &self.policy);
        self.handle_inbound(now, transport, from, connection, inbound);
    }

    /// The inbound policy (Allow / Accept / Supported) this core enforces;
    /// classify with it before [`handle_inbound`](Self::handle_inbound).
    pub fn policy(&self) -> &LocalPolicy {
        &self.policy
    }

    /// One message already classified with [`classify_datagram`] (the
    /// driver classifies once, offers it to the outbound calls, and hands
    /// the rest here).
    pub fn handle_inbound(
        &mut self,
        now: Instant,
        transport: Transport,
        from: SocketAddr,
        connection: Option<ConnId>,
        inbound: Inbound,
    ) {
        let peer = Peer {
            transport,
            addr: from,
            conn: connection,
        };
        match inbound {
            Inbound::Request(req) => self.on_request(now, peer, req),
            Inbound::Response(resp) => self.on_response(now, resp),
            Inbound::Reject {
                status,
                response,
                reason,
            } => {
                tracing::debug!(%from, status, %reason, "rejecting malformed request");
                self.transmit(peer, response);
            }
            Inbound::Drop { reason } => tracing::trace!(%from, %reason, "dropped message"),
        }
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout)
    /// must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            self.disarm(timer, at);
            match timer {
                TimerRef::Server(id) => self.on_server_timer(now, id),
                TimerRef::Client(id) => self.on_client_timer(now, id),
                TimerRef::Call(key) => self.on_call_timer(now, key),
            }
            self.reschedule(timer);
        }
    }

    /// The next output, `None` when there is nothing left to do.
    pub fn poll_output(&mut self) -> Option<UasOutput> {
        self.outputs.pop_front()
    }

    // ----- helpers shared by the submodules -----

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn random_token(&mut self) -> String {
        format!("{:016x}", self.rng.random::<u64>())
    }

    fn transmit(&mut self, to: Peer, bytes: Vec<u8>) {
        self.outputs.push_back(UasOutput::Transmit(Transmit {
            transport: to.transport,
            dest: to.addr,
            conn: to.conn,
            bytes,
        }));
    }

    fn emit(&mut self, call: CallKey, event: CallEvent) {
        self.outputs.push_back(UasOutput::Event { call, event });
    }

    fn server_header(&self) -> Header {
        Header::Server(Server::new(self.config.user_agent.clone()))
    }

    /// Sends a response through server transaction `id` and returns its
    /// bytes; `None` if the transaction is gone or refused it (already
    /// final).
    fn respond(&mut self, now: Instant, id: TxId, reply: Reply) -> Option<Vec<u8>> {
        let server = self.server_header();
        let tx = self.server_txs.get_mut(&id)?;
        let mut headers = reply.headers;
        headers.push(server);
        let resp = build_response(
            &tx.request,
            reply.status,
            reply.reason,
            reply.to_tag.as_deref(),
            headers,
            reply.body,
        );
        let bytes = resp.to_bytes();
        let result = match &mut tx.machine {
            ServerMachine::Invite(m) => m.send_response(now, reply.status, bytes.clone()),
            ServerMachine::NonInvite(m) => m.send_response(now, reply.status, bytes.clone()),
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "response not sent");
            return None;
        }
        let to = tx.reply_to;
        self.transmit(to, bytes.clone());
        self.reschedule(TimerRef::Server(id));
        Some(bytes)
    }

    /// Answers without a transaction (overload).
    fn respond_stateless(&mut self, to: Peer, req: &Request, reply: Reply) {
        let mut headers = reply.headers;
        headers.push(self.server_header());
        let tag = reply.to_tag.or_else(|| Some(self.random_token()));
        let resp = build_response(
            req,
            reply.status,
            reply.reason,
            tag.as_deref(),
            headers,
            reply.body,
        );
        self.transmit(to, resp.to_bytes());
    }

    fn new_server_tx(
        &mut self,
        key: TransactionKey,
        request: Request,
        reply_to: Peer,
        invite: bool,
    ) -> TxId {
        let id = self.next_id();
        let reliability = reply_to.transport.reliability();
        let machine = if invite {
            ServerMachine::Invite(InviteServerTransaction::new(
                reliability,
                self.config.timers,
            ))
        } else {
            ServerMachine::NonInvite(NonInviteServerTransaction::new(
                reliability,
                self.config.timers,
            ))
        };
        self.server_index.insert(key.clone(), id);
        self.server_txs.insert(
            id,
            ServerTx {
                key,
                request,
                reply_to,
                machine,
                call: None,
                armed: None,
            },
        );
        id
    }

    fn remove_server_tx(&mut self, id: TxId) {
        if let Some(tx) = self.server_txs.remove(&id) {
            if self.server_index.get(&tx.key) == Some(&id) {
                self.server_index.remove(&tx.key);
            }
        }
    }

    fn remove_client_tx(&mut self, id: TxId) {
        if let Some(tx) = self.client_txs.remove(&id) {
            if self.client_index.get(&tx.key) == Some(&id) {
                self.client_index.remove(&tx.key);
            }
        }
    }

    fn disarm(&mut self, timer: TimerRef, at: Instant) {
        let armed = match timer {
            TimerRef::Server(id) => self.server_txs.get_mut(&id).map(|t| &mut t.armed),
            TimerRef::Client(id) => self.client_txs.get_mut(&id).map(|t| &mut t.armed),
            TimerRef::Call(key) => self.calls.get_mut(&key).map(|c| &mut c.armed),
        };
        if let Some(armed) = armed {
            if *armed == Some(at) {
                *armed = None;
            }
        }
    }

    /// Pushes the entity's next deadline on the timer heap unless it is
    /// already there.
    fn reschedule(&mut self, timer: TimerRef) {
        let (deadline, armed) = match timer {
            TimerRef::Server(id) => match self.server_txs.get_mut(&id) {
                Some(t) => (t.machine.next_deadline(), &mut t.armed),
                None => return,
            },
            TimerRef::Client(id) => match self.client_txs.get_mut(&id) {
                Some(t) => (t.machine.next_deadline(), &mut t.armed),
                None => return,
            },
            TimerRef::Call(key) => match self.calls.get_mut(&key) {
                Some(c) => (c.next_deadline(), &mut c.armed),
                None => return,
            },
        };
        match deadline {
            Some(d) if *armed != Some(d) => {
                *armed = Some(d);
                self.timers.push(Reverse((d, timer)));
            }
            Some(_) => {}
            None => *armed = None,
        }
    }
}

/// A quoted-string-aware split of a header value on `;`.
pub(crate) fn split_params(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ';' if !in_quotes => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}
