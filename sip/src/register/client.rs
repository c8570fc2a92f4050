//! [`Registration`]: one binding kept alive at one registrar — its REGISTER
//! transactions, refresh and retry timers, and status.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rsipstack::sip::headers::untyped::{
    Allow, Authorization, CallId, Contact, ContentLength, Expires, From as FromHeader, MaxForwards,
    ProxyAuthorization, To as ToHeader, UserAgent, Via,
};
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::typed::CSeq;
use rsipstack::sip::{Header, Headers, Method, Request, Response, Uri, Version};

use crate::dialog::DEFAULT_MAX_FORWARDS;
use crate::message::uri_checked;
use crate::transaction::{
    ClientTransactionKey, NonInviteClientTimeout, NonInviteClientTransaction, BRANCH_MAGIC_COOKIE,
};
use crate::uac::build::{host_for_uri, via};
use crate::uac::{digest_authorization, parse_challenge, UacConfig, UacError, MAX_FIELD_BYTES};
use crate::uas::ALLOWED_METHODS;

use super::parse::{granted_expiry, min_expires, retry_after};
use super::{
    refresh_delay, retry_delay, Input, Output, RegistrationRequest, RegistrationStatus, Transmit,
    Transport, MAX_EXPIRES, MAX_REASON_BYTES,
};

/// The REGISTER in flight.
struct Attempt {
    branch: String,
    cseq: u32,
    tx: NonInviteClientTransaction,
    /// `Expires: 0`: removing the binding.
    unregister: bool,
}

/// One trunk registration (sans-IO). See the [module docs](super).
pub struct Registration {
    config: UacConfig,
    request: RegistrationRequest,
    rng: StdRng,
    call_id: String,
    from_tag: String,
    registrar_uri: Uri,
    aor: String,
    /// Our Contact URI (without `<>`).
    contact: String,
    /// Requested lifetime (raised by a 423's Min-Expires).
    expires: Duration,
    next_cseq: u32,
    current: Option<Attempt>,
    /// Challenges answered for the current chain of REGISTERs.
    challenges: u8,
    /// A 423 was already answered in the current chain.
    raised_once: bool,
    status: RegistrationStatus,
    /// When the next refresh or retry REGISTER goes out.
    next_register: Option<Instant>,
    /// Until when the registrar holds our binding (last 2xx).
    bound_until: Option<Instant>,
    /// Consecutive failures (backoff exponent).
    failures: u32,
    stopping: bool,
    outputs: VecDeque<Output>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("call_id", &self.call_id)
            .field("aor", &self.aor)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

fn clean(field: &'static str, s: &str) -> Result<(), UacError> {
    if s.len() > MAX_FIELD_BYTES || s.chars().any(|c| c.is_control()) {
        return Err(UacError::InvalidField(field));
    }
    Ok(())
}

/// The user part of a `sip:user@host` URI.
fn user_of(uri: &str) -> Option<&str> {
    let rest = uri.split_once(':')?.1;
    let (user, _) = rest.split_once('@')?;
    let user = user.split(';').next().unwrap_or(user);
    let user = user.split(':').next().unwrap_or(user);
    (!user.is_empty()).then_some(user)
}

impl Registration {
    /// Checks `request` and queues the first REGISTER (status
    /// [`RegistrationStatus::Pending`]). Errors: [`UacError::InvalidUri`] /
    /// [`UacError::InvalidField`] for unusable fields (nothing is sent).
    pub fn new(
        now: Instant,
        config: UacConfig,
        request: RegistrationRequest,
    ) -> Result<Self, UacError> {
        let uri = |field: &'static str, value: &str| {
            clean(field, value)?;
            uri_checked(value.trim(), true).ok_or_else(|| UacError::InvalidUri {
                field,
                value: value.to_string(),
            })
        };
        let registrar_uri = uri("registrar_uri", &request.registrar_uri)?;
        let aor = request.aor.trim().to_string();
        uri("aor", &aor)?;
        if let Some(c) = &request.credentials {
            clean("username", &c.username)?;
            clean("password", &c.password)?;
        }
        let user = match request.contact_user.as_deref().map(str::trim) {
            Some(u) if !u.is_empty() => Some(u.to_string()),
            Some(_) => None,
            None => user_of(&aor).map(str::to_string),
        };
        let host = host_for_uri(&config.contact_host);
        let mut contact = match &user {
            Some(u) => format!("sip:{u}@{host}:{}", config.contact_port),
            None => format!("sip:{host}:{}", config.contact_port),
        };
        if request.transport == Transport::Tcp {
            contact.push_str(";transport=tcp");
        }
        if uri_checked(&contact, true).is_none() {
            return Err(UacError::InvalidField("contact_user"));
        }
        let mut rng = match config.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let call_id = format!("{:016x}{:016x}", rng.random::<u64>(), rng.random::<u64>());
        let from_tag = format!("{:016x}", rng.random::<u64>());
        let next_cseq = rng.random_range(1..=0x3fff_ffffu32);
        let expires = request.expires.clamp(Duration::from_secs(1), MAX_EXPIRES);
        let mut reg = Self {
            config,
            request,
            rng,
            call_id,
            from_tag,
            registrar_uri,
            aor,
            contact,
            expires,
            next_cseq,
            current: None,
            challenges: 0,
            raised_once: false,
            status: RegistrationStatus::Pending,
            next_register: None,
            bound_until: None,
            failures: 0,
            stopping: false,
            outputs: VecDeque::new(),
        };
        reg.send_register(now, None, false);
        Ok(reg)
    }

    /// The Call-ID of every REGISTER of this registration (routing key).
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The current status.
    pub fn status(&self) -> &RegistrationStatus {
        &self.status
    }

    /// The registrar's signalling address.
    pub fn registrar(&self) -> std::net::SocketAddr {
        self.request.registrar
    }

    /// Our Contact URI, e.g. `sip:alice@203.0.113.5:5060`.
    pub fn contact(&self) -> &str {
        &self.contact
    }

    /// The lifetime currently requested (after any 423).
    pub fn requested_expires(&self) -> Duration {
        self.expires
    }

    /// Whether it is [`Unregistered`](RegistrationStatus::Unregistered)
    /// and has nothing left to send: it can be dropped.
    pub fn is_finished(&self) -> bool {
        matches!(self.status, RegistrationStatus::Unregistered { .. })
            && self.current.is_none()
            && self.outputs.is_empty()
    }

    /// Feeds one input at `now`.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Response(r) => self.on_response(now, r),
            Input::Timeout => self.on_timeout(now),
            Input::TransportError => self.on_transport_error(now),
        }
    }

    /// The next output.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call `handle_input(now, Input::Timeout)` next: Timer E/F of
    /// the REGISTER in flight, the refresh or retry time, or the expiry of
    /// a binding whose refresh is still unanswered.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let expiry = match &self.status {
            RegistrationStatus::Registered { expires_at, .. } => Some(*expires_at),
            _ => None,
        };
        let next = (!self.stopping).then_some(self.next_register).flatten();
        crate::transaction::earliest([
            self.current.as_ref().and_then(|a| a.tx.next_deadline()),
            next,
            expiry,
        ])
    }

    /// Removes the binding: REGISTER with `Expires: 0` if the registrar may
    /// hold it (a 2xx not yet expired, or a REGISTER in flight), else ends
    /// at once. Ends [`Unregistered`](RegistrationStatus::Unregistered) on
    /// its final response or Timer F. Idempotent.
    pub fn unregister(&mut self, now: Instant) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.next_register = None;
        let bound = self.bound_until.is_some_and(|t| t > now);
        if bound || self.current.is_some() {
            self.challenges = 0;
            self.send_register(now, None, true);
        } else {
            self.finish(now);
        }
    }

    // ----- internals -----

    fn token(&mut self) -> String {
        format!("{:016x}", self.rng.random::<u64>())
    }

    fn set_status(&mut self, status: RegistrationStatus) {
        if self.status != status {
            tracing::debug!(call_id = %self.call_id, aor = %self.aor, status = ?status, "registration status");
            self.status = status.clone();
            self.outputs.push_back(Output::Status(status));
        }
    }

    fn finish(&mut self, now: Instant) {
        self.current = None;
        self.next_register = None;
        self.set_status(RegistrationStatus::Unregistered { at: now });
    }

    fn build(&self, cseq: u32, branch: &str, credentials: Option<Header>, unreg: bool) -> Request {
        let mut headers = Headers::default();
        headers.push(Header::Via(Via::new(via(
            &self.config,
            self.request.transport,
            branch,
        ))));
        headers.push(Header::MaxForwards(MaxForwards::new(
            DEFAULT_MAX_FORWARDS.to_string(),
        )));
        headers.push(Header::From(FromHeader::new(format!(
            "<{}>;tag={}",
            self.aor, self.from_tag
        ))));
        headers.push(Header::To(ToHeader::new(format!("<{}>", self.aor))));
        headers.push(Header::CallId(CallId::new(self.call_id.clone())));
        headers.push(
            CSeq {
                seq: cseq,
                method: Method::Register,
            }
            .into(),
        );
        headers.push(Header::Contact(Contact::new(format!("<{}>", self.contact))));
        let secs = if unreg { 0 } else { self.expires.as_secs() };
        headers.push(Header::Expires(Expires::new(secs.to_string())));
        if let Some(h) = credentials {
            headers.push(h);
        }
        headers.push(Header::Allow(Allow::new(ALLOWED_METHODS.join(", "))));
        if !self.config.user_agent.is_empty() {
            headers.push(Header::UserAgent(UserAgent::new(
                self.config.user_agent.clone(),
            )));
        }
        headers.push(Header::ContentLength(ContentLength::new("0")));
        Request {
            method: Method::Register,
            uri: self.registrar_uri.clone(),
            version: Version::V2,
            headers,
            body: Vec::new(),
        }
    }

    /// Sends a new REGISTER (a new transaction; the one in flight, if any,
    /// is abandoned: its late responses no longer match).
    fn send_register(&mut self, now: Instant, credentials: Option<Header>, unregister: bool) {
        let cseq = self.next_cseq;
        self.next_cseq = self.next_cseq.wrapping_add(1).max(1);
        let branch = format!("{BRANCH_MAGIC_COOKIE}{}", self.token());
        let bytes = self
            .build(cseq, &branch, credentials, unregister)
            .to_bytes();
        let tx = NonInviteClientTransaction::new(
            now,
            self.request.transport.reliability(),
            self.config.timers,
            bytes.clone(),
        );
        self.current = Some(Attempt {
            branch,
            cseq,
            tx,
            unregister,
        });
        self.send(bytes);
    }

    fn send(&mut self, bytes: Vec<u8>) {
        self.outputs.push_back(Output::Send(Transmit {
            transport: self.request.transport,
            dest: self.request.registrar,
            conn: None,
            bytes,
        }));
    }

    /// A failed attempt: [`Failing`](RegistrationStatus::Failing) and the
    /// next REGISTER after the backoff (or `Retry-After`, if longer); or
    /// the end when we were unregistering.
    fn fail(&mut self, now: Instant, reason: String, status: Option<u16>, wait: Option<Duration>) {
        self.current = None;
        self.challenges = 0;
        self.raised_once = false;
        if self.stopping {
            self.finish(now);
            return;
        }
        self.failures = self.failures.saturating_add(1);
        let max = self.request.retry_max;
        let backoff = retry_delay(self.failures, self.request.retry_initial, max);
        let delay = wait.map_or(backoff, |w| w.min(max).max(backoff));
        let retry_at = now + delay.max(Duration::from_millis(1));
        self.next_register = Some(retry_at);
        let mut reason = reason;
        if reason.len() > MAX_REASON_BYTES {
            let mut end = MAX_REASON_BYTES;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        tracing::info!(aor = %self.aor, %reason, retry_in = ?delay, "registration failed");
        self.set_status(RegistrationStatus::Failing {
            reason,
            status,
            at: now,
            retry_at,
        });
    }

    fn on_response(&mut self, now: Instant, resp: Response) {
        let call_id = resp.call_id_header().map(|c| c.value().trim().to_string());
        if call_id.as_deref() != Ok(self.call_id.as_str()) {
            return;
        }
        let Ok(key) = ClientTransactionKey::for_response(&resp) else {
            return;
        };
        let seq = resp.cseq_header().ok().and_then(|c| c.seq().ok());
        let Some(attempt) = self.current.as_mut() else {
            return;
        };
        if key.method != Method::Register
            || key.branch != attempt.branch
            || seq != Some(attempt.cseq)
        {
            tracing::debug!("REGISTER response ignored: not the REGISTER in flight");
            return;
        }
        let status = resp.status_code.code();
        attempt.tx.on_response(now, status);
        if status < 200 {
            return;
        }
        let unregister = attempt.unregister;
        self.current = None;
        let phrase = resp
            .wire_reason
            .clone()
            .unwrap_or_else(|| resp.status_code.text().to_string());
        let detail: String = format!("{status} {phrase}")
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        match status {
            200..=299 if unregister => self.finish(now),
            200..=299 => self.on_success(now, &resp),
            401 | 407 => match self.challenge_answer(&resp) {
                Ok(h) => {
                    self.challenges += 1;
                    self.send_register(now, Some(h), unregister);
                }
                Err(why) => self.fail(now, why, Some(status), None),
            },
            423 if !unregister => match min_expires(&resp) {
                Some(min) if !self.raised_once && min > self.expires && min <= MAX_EXPIRES => {
                    self.raised_once = true;
                    self.expires = min;
                    self.send_register(now, None, false);
                }
                _ => self.fail(now, detail, Some(status), None),
            },
            403 if self.challenges > 0 => self.fail(
                now,
                format!("{detail} after our credentials"),
                Some(status),
                None,
            ),
            _ => self.fail(now, detail, Some(status), retry_after(&resp)),
        }
    }

    fn on_success(&mut self, now: Instant, resp: &Response) {
        self.challenges = 0;
        self.raised_once = false;
        let contact = format!("<{}>", self.contact);
        let granted = granted_expiry(resp, &contact, self.expires);
        if granted.is_zero() {
            self.bound_until = None;
            self.fail(
                now,
                "the registrar granted 0 s (binding removed)".into(),
                Some(resp.status_code.code()),
                None,
            );
            return;
        }
        self.failures = 0;
        let expires_at = now + granted;
        self.bound_until = Some(expires_at);
        self.next_register = Some(now + refresh_delay(granted));
        self.set_status(RegistrationStatus::Registered {
            expires_at,
            at: now,
        });
    }

    /// The credentials answering a 401/407 (RFC 3261 §22.2: once; again
    /// only for `stale=true`), or why not.
    fn challenge_answer(&mut self, resp: &Response) -> Result<Header, String> {
        let status = resp.status_code.code();
        let Some(creds) = self.request.credentials.clone() else {
            return Err(format!("{status} challenge and no credentials configured"));
        };
        let challenge = resp
            .headers
            .iter()
            .filter_map(|h| match (status, h) {
                (401, Header::WwwAuthenticate(v)) => parse_challenge(v.value()),
                (407, Header::ProxyAuthenticate(v)) => parse_challenge(v.value()),
                _ => None,
            })
            .find(|c| c.is_supported())
            .ok_or_else(|| format!("{status} without a digest challenge we support"))?;
        if !(self.challenges == 0 || (challenge.stale && self.challenges == 1)) {
            return Err(format!("{status} again after our credentials"));
        }
        let cnonce = self.token();
        let uri = self.registrar_uri.to_string();
        let value = digest_authorization(&challenge, &creds, Method::Register, &uri, &cnonce)
            .ok_or_else(|| format!("{status} with an unsupported challenge"))?;
        Ok(if status == 407 {
            Header::ProxyAuthorization(ProxyAuthorization::new(value))
        } else {
            Header::Authorization(Authorization::new(value))
        })
    }

    fn on_timeout(&mut self, now: Instant) {
        if let Some(attempt) = self.current.as_mut() {
            match attempt.tx.on_timer(now) {
                Some(NonInviteClientTimeout::Retransmit(b)) => self.send(b),
                Some(NonInviteClientTimeout::TimedOut) => {
                    let reason = "no response within 64*T1 (Timer F)".to_string();
                    self.fail(now, reason, None, None);
                }
                Some(NonInviteClientTimeout::Terminated) | None => {}
            }
        }
        if let RegistrationStatus::Registered { expires_at, .. } = self.status {
            if now >= expires_at {
                // The refresh is still unanswered: the binding is gone.
                self.bound_until = None;
                self.set_status(RegistrationStatus::Failing {
                    reason: "expired before the refresh was answered".into(),
                    status: None,
                    at: now,
                    retry_at: now,
                });
            }
        }
        if self.current.is_none() && !self.stopping && self.next_register.is_some_and(|t| now >= t)
        {
            self.next_register = None;
            self.challenges = 0;
            self.send_register(now, None, false);
        }
    }

    fn on_transport_error(&mut self, now: Instant) {
        if let Some(a) = self.current.as_mut() {
            a.tx.on_transport_error();
            self.fail(
                now,
                "transport error reaching the registrar".into(),
                None,
                None,
            );
        }
    }
}
