//! The call task: one INVITE dialog and its RTP, driven by a single `pump`
//! that waits on both sockets, the 20 ms ticker, SIP retransmission timers
//! and the current action's deadline, and applies whatever woke it.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use parla_media::g711::G711;
use rsipstack::sip::{Method, Request, Response, SipMessage};
use tokio::net::UdpSocket;
use tokio::time::{self, Instant, Interval, MissedTickBehavior};

use super::media::{self, RtpRx, RtpTx, RxNote};
use super::sdp::{self, OfferCodec, RemoteMedia};
use super::sip::{self as s, Leg};
use super::{
    Action, CallOutcome, CallSpec, EndedBy, BYE_TIMEOUT, CANCEL_TIMEOUT, MAX_EVENTS, MAX_SIP_LOG,
};

const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const PTIME: Duration = Duration::from_millis(20);
/// SIP datagrams larger than this are truncated (and then fail to parse).
const SIP_BUF: usize = 8 * 1024;
const RTP_BUF: usize = 2 * 1024;

/// A request being retransmitted (Timer A / Timer E).
struct Rtx {
    bytes: Vec<u8>,
    dest: SocketAddr,
    next: Instant,
    interval: Duration,
    /// Interval cap: T2 for non-INVITE, none for INVITE.
    cap: Option<Duration>,
}

impl Rtx {
    fn new(bytes: Vec<u8>, dest: SocketAddr, cap: Option<Duration>) -> Self {
        Rtx {
            bytes,
            dest,
            next: Instant::now() + T1,
            interval: T1,
            cap,
        }
    }
    fn backoff(&mut self) {
        self.interval *= 2;
        if let Some(c) = self.cap {
            self.interval = self.interval.min(c);
        }
        self.next = Instant::now() + self.interval;
    }
}

enum Wake {
    Sip(usize, SocketAddr),
    Rtp(usize, SocketAddr),
    Tick,
    InviteRtx,
    NonInviteRtx,
    Until,
}

pub(super) struct Call {
    spec_codec: G711,
    send_rtp: bool,
    answer_timeout: Duration,
    max_duration: Duration,
    script: Vec<Action>,

    sip_sock: UdpSocket,
    rtp_sock: UdpSocket,
    sip_buf: Box<[u8]>,
    rtp_buf: Box<[u8]>,
    leg: Leg,
    /// Our SDP (offer; also the answer to in-dialog offers / OPTIONS).
    sdp: String,
    offered_dtmf_pt: u8,

    tx: RtpTx,
    rx: RtpRx,
    ticker: Option<Interval>,
    remote_rtp: Option<SocketAddr>,

    invite_sent: Instant,
    answered_at: Option<Instant>,
    ack_sent_at: Option<Instant>,

    invite_rtx: Option<Rtx>,
    non_invite_rtx: Option<(Method, Rtx)>,
    provisional: bool,
    invite_final: Option<u16>,
    retry_after: Option<u32>,
    setup_time: Option<Duration>,
    /// The ACK last sent for the INVITE's final response (re-sent on
    /// retransmissions of that response).
    invite_ack: Option<(Vec<u8>, SocketAddr)>,
    cancel_sent: Option<Instant>,
    bye_sent: bool,
    bye_final: Option<u16>,
    agent_bye: bool,
    /// Last response to an in-dialog request, for its retransmissions.
    last_uas: Option<(u32, Method, Vec<u8>)>,
    ended_by: Option<EndedBy>,

    events: Vec<(Duration, String)>,
    sip_log: Vec<String>,
}

impl Call {
    pub(super) async fn start(spec: CallSpec) -> anyhow::Result<Self> {
        let sip_sock = UdpSocket::bind(SocketAddr::new(spec.local_ip, 0))
            .await
            .context("bind SIP socket")?;
        let rtp_sock = UdpSocket::bind(SocketAddr::new(spec.local_ip, 0))
            .await
            .context("bind RTP socket")?;
        let local = sip_sock.local_addr()?;
        let rtp_port = rtp_sock.local_addr()?.port();
        let leg = Leg::new(local, spec.target, &spec.request_uri, &spec.from_user)?;
        let codecs: Vec<OfferCodec> = match &spec.offer_codecs {
            Some(list) => list
                .iter()
                .map(|(pt, name)| OfferCodec::new(*pt, name))
                .collect(),
            None => sdp::default_offer_codecs(spec.codec),
        };
        let offered_dtmf_pt = codecs
            .iter()
            .find(|c| {
                c.rtpmap
                    .to_ascii_lowercase()
                    .starts_with("telephone-event/")
            })
            .map(|c| c.pt)
            .unwrap_or(sdp::DEFAULT_TELEPHONE_EVENT_PT);
        let sdp = sdp::build_offer(
            spec.local_ip,
            rtp_port,
            &codecs,
            rand::random::<u32>() as u64,
        );
        let now = Instant::now();
        Ok(Call {
            spec_codec: spec.codec,
            send_rtp: spec.send_rtp,
            answer_timeout: spec.answer_timeout,
            max_duration: spec.max_duration,
            script: spec.script,
            sip_sock,
            rtp_sock,
            sip_buf: vec![0u8; SIP_BUF].into_boxed_slice(),
            rtp_buf: vec![0u8; RTP_BUF].into_boxed_slice(),
            leg,
            sdp,
            offered_dtmf_pt,
            tx: RtpTx::new(spec.codec, spec.codec.payload_type(), offered_dtmf_pt),
            rx: {
                let mut rx = RtpRx::new(now, spec.max_duration);
                rx.set_record_audio(spec.record_audio);
                rx
            },
            ticker: None,
            remote_rtp: None,
            invite_sent: now,
            answered_at: None,
            ack_sent_at: None,
            invite_rtx: None,
            non_invite_rtx: None,
            provisional: false,
            invite_final: None,
            retry_after: None,
            setup_time: None,
            invite_ack: None,
            cancel_sent: None,
            bye_sent: false,
            bye_final: None,
            agent_bye: false,
            last_uas: None,
            ended_by: None,
            events: Vec::new(),
            sip_log: Vec::new(),
        })
    }

    pub(super) async fn run(mut self) -> anyhow::Result<CallOutcome> {
        let script = std::mem::take(&mut self.script);
        let (pre, post): (&[Action], &[Action]) =
            match script.iter().position(|a| matches!(a, Action::Cancel)) {
                Some(i) => (&script[..=i], &[]),
                None => (&[], &script[..]),
            };
        for a in pre {
            if !matches!(a, Action::Wait(_) | Action::Cancel) {
                anyhow::bail!("only Wait may precede Cancel in a script, found {a:?}");
            }
        }
        let cancel_after: Option<Duration> = (!pre.is_empty()).then(|| {
            pre.iter()
                .map(|a| {
                    if let Action::Wait(d) = a {
                        *d
                    } else {
                        Duration::ZERO
                    }
                })
                .sum()
        });

        self.invite().await?;
        self.await_final(cancel_after).await?;

        match self.invite_final {
            Some(code) if (200..300).contains(&code) => {
                if self.cancel_sent.is_some() {
                    // CANCEL lost the race with the 200: end the call.
                    let by = self.ended_by.unwrap_or(EndedBy::Caller);
                    self.hangup(by).await?;
                } else {
                    self.run_script(post).await?;
                }
            }
            Some(_) if self.ended_by.is_none() => {
                self.ended_by = Some(if self.cancel_sent.is_some() {
                    EndedBy::Caller
                } else {
                    EndedBy::Rejected
                });
            }
            _ => {}
        }
        Ok(self.outcome())
    }

    // ---- phases -------------------------------------------------------

    async fn invite(&mut self) -> anyhow::Result<()> {
        let bytes = self.leg.invite(&self.sdp).to_bytes();
        self.invite_sent = Instant::now();
        self.rx.set_origin(self.invite_sent);
        let dest = self.leg.target;
        self.send_sip(&bytes, dest).await?;
        self.invite_rtx = Some(Rtx::new(bytes, dest, None));
        Ok(())
    }

    /// Until the INVITE has a final response (or we give up), CANCELling on
    /// the pre-answer script or the answer timeout.
    async fn await_final(&mut self, cancel_after: Option<Duration>) -> anyhow::Result<()> {
        let answer_deadline = self.invite_sent + self.answer_timeout;
        let cancel_at = cancel_after.map(|d| self.invite_sent + d);
        let mut timed_out = false;
        while self.invite_final.is_none() {
            let now = Instant::now();
            if !timed_out && now >= answer_deadline {
                timed_out = true;
                self.ended_by = Some(EndedBy::Timeout);
                self.event("timeout waiting for answer");
            }
            let want_cancel = timed_out || cancel_at.is_some_and(|t| now >= t);
            if want_cancel && self.cancel_sent.is_none() {
                if self.provisional {
                    if !timed_out {
                        self.event("cancel");
                    }
                    self.send_cancel().await?;
                } else if timed_out {
                    // No provisional yet: CANCEL is not allowed (RFC 3261
                    // §9.1), so give up on the INVITE.
                    self.invite_final = Some(408);
                    self.invite_rtx = None;
                    self.log("! no response to INVITE: giving up (408)".into());
                    break;
                }
                // else: CANCEL as soon as a provisional arrives.
            }
            if let Some(t) = self.cancel_sent {
                if now >= t + CANCEL_TIMEOUT {
                    self.invite_final = Some(408);
                    self.log("! no final response after CANCEL: giving up (408)".into());
                    self.ended_by.get_or_insert(EndedBy::Timeout);
                    break;
                }
            }
            let until = match self.cancel_sent {
                Some(t) => t + CANCEL_TIMEOUT,
                None => match cancel_at {
                    Some(t) if t > now => answer_deadline.min(t),
                    _ => answer_deadline,
                },
            };
            self.pump(until).await?;
        }
        Ok(())
    }

    async fn run_script(&mut self, script: &[Action]) -> anyhow::Result<()> {
        let answered = self.answered_at.expect("answered");
        let call_deadline = answered + self.max_duration;
        for action in script {
            if self.is_over() || Instant::now() >= call_deadline {
                break;
            }
            self.run_action(action, call_deadline).await?;
        }
        // Script done without hanging up: wait for the agent's BYE.
        while !self.is_over() && Instant::now() < call_deadline {
            self.pump(call_deadline).await?;
        }
        if !self.is_over() {
            self.event("timeout: max duration");
            self.hangup(EndedBy::Timeout).await?;
        }
        Ok(())
    }

    async fn run_action(&mut self, action: &Action, call_deadline: Instant) -> anyhow::Result<()> {
        match action {
            Action::Wait(d) => self.pump_for(*d, call_deadline).await?,
            Action::Silence(d) => {
                self.event("silence");
                self.tx.silence();
                self.pump_for(*d, call_deadline).await?;
            }
            Action::Play(pcm) => {
                self.event("play start");
                self.tx.play(pcm.clone());
                while !self.tx.is_idle() && !self.is_over() && Instant::now() < call_deadline {
                    self.pump(call_deadline).await?;
                }
                if self.tx.is_idle() {
                    self.event("play end");
                } else {
                    self.tx.silence();
                }
            }
            Action::Dtmf {
                digits,
                duration_ms,
            } => {
                for d in digits.chars() {
                    let packets = match media::dtmf_packets(d, *duration_ms) {
                        Ok(p) => p,
                        Err(e) => {
                            self.event(&format!("dtmf skipped: {e}"));
                            continue;
                        }
                    };
                    self.event(&format!("dtmf {d}"));
                    self.tx.dtmf(packets);
                    while !self.tx.is_idle() && !self.is_over() && Instant::now() < call_deadline {
                        self.pump(call_deadline).await?;
                    }
                    if self.is_over() {
                        break;
                    }
                }
            }
            Action::WaitForAgentSpeech { timeout } => {
                let start = Instant::now();
                let deadline = (start + *timeout).min(call_deadline);
                loop {
                    if self.rx.voice_since(start - PTIME * 2) {
                        self.event("heard agent speech");
                        break;
                    }
                    if self.is_over() || Instant::now() >= deadline {
                        self.event("timeout waiting for agent speech");
                        break;
                    }
                    self.pump(deadline).await?;
                }
            }
            Action::WaitForAgentSilence {
                min_silence,
                timeout,
            } => {
                let start = Instant::now();
                let deadline = (start + *timeout).min(call_deadline);
                loop {
                    let now = Instant::now();
                    // The agent's latest speech, if it counts for this wait.
                    let spoke = self.rx.last_voice.filter(|&t| t + *min_silence >= start);
                    if let Some(t) = spoke {
                        if now >= t + *min_silence {
                            self.event("heard agent silence");
                            break;
                        }
                    }
                    if self.is_over() || now >= deadline {
                        self.event("timeout waiting for agent silence");
                        break;
                    }
                    let until = spoke.map_or(deadline, |t| deadline.min(t + *min_silence));
                    self.pump(until).await?;
                }
            }
            Action::Hangup => self.hangup(EndedBy::Caller).await?,
            Action::Cancel => {
                // Only reachable after answer: hang up instead.
                self.event("cancel after answer: hanging up");
                self.hangup(EndedBy::Caller).await?;
            }
        }
        Ok(())
    }

    async fn pump_for(&mut self, d: Duration, call_deadline: Instant) -> anyhow::Result<()> {
        let until = (Instant::now() + d).min(call_deadline);
        while Instant::now() < until && !self.is_over() {
            self.pump(until).await?;
        }
        Ok(())
    }

    /// Sends BYE and waits for its final response.
    async fn hangup(&mut self, by: EndedBy) -> anyhow::Result<()> {
        if self.is_over() {
            return Ok(());
        }
        self.ended_by = Some(by);
        self.ticker = None;
        self.event("hangup");
        let bytes = self.leg.in_dialog(Method::Bye, 2).to_bytes();
        let dest = self.leg.in_dialog_destination();
        self.send_sip(&bytes, dest).await?;
        self.bye_sent = true;
        self.non_invite_rtx = Some((Method::Bye, Rtx::new(bytes, dest, Some(T2))));
        let deadline = Instant::now() + BYE_TIMEOUT;
        while self.bye_final.is_none() && Instant::now() < deadline {
            self.pump(deadline).await?;
        }
        self.non_invite_rtx = None;
        if self.bye_final.is_none() {
            self.log("! no final response to BYE".into());
        }
        Ok(())
    }

    async fn send_cancel(&mut self) -> anyhow::Result<()> {
        let bytes = self.leg.cancel().to_bytes();
        let dest = self.leg.target;
        self.send_sip(&bytes, dest).await?;
        self.cancel_sent = Some(Instant::now());
        self.non_invite_rtx = Some((Method::Cancel, Rtx::new(bytes, dest, Some(T2))));
        Ok(())
    }

    fn is_over(&self) -> bool {
        self.agent_bye || self.bye_sent
    }

    // ---- the pump -----------------------------------------------------

    /// Waits for the next thing to happen (or `until`) and applies it.
    async fn pump(&mut self, until: Instant) -> anyhow::Result<()> {
        let invite_rtx_at = self.invite_rtx.as_ref().map(|r| r.next);
        let non_invite_rtx_at = self.non_invite_rtx.as_ref().map(|(_, r)| r.next);
        let wake = {
            let Call {
                sip_sock,
                rtp_sock,
                sip_buf,
                rtp_buf,
                ticker,
                ..
            } = self;
            tokio::select! {
                biased;
                r = sip_sock.recv_from(sip_buf) => match r {
                    Ok((n, from)) => Wake::Sip(n, from),
                    Err(e) if transient(&e) => return Ok(()),
                    Err(e) => return Err(e).context("SIP socket"),
                },
                r = rtp_sock.recv_from(rtp_buf) => match r {
                    Ok((n, from)) => Wake::Rtp(n, from),
                    Err(e) if transient(&e) => return Ok(()),
                    Err(e) => return Err(e).context("RTP socket"),
                },
                _ = async {
                    match ticker.as_mut() {
                        Some(t) => { t.tick().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => Wake::Tick,
                _ = sleep_opt(invite_rtx_at) => Wake::InviteRtx,
                _ = sleep_opt(non_invite_rtx_at) => Wake::NonInviteRtx,
                _ = time::sleep_until(until) => Wake::Until,
            }
        };
        match wake {
            Wake::Sip(n, from) => {
                let bytes = self.sip_buf[..n].to_vec();
                self.on_sip(&bytes, from).await?;
            }
            Wake::Rtp(n, from) => {
                let now = Instant::now();
                if let RxNote::AgentDtmf(c) = self.rx.on_datagram(&self.rtp_buf[..n], from, now) {
                    self.event(&format!("agent dtmf {c}"));
                }
            }
            Wake::Tick => {
                let pkt = self.tx.next_packet();
                if let Some(dest) = self.remote_rtp {
                    if let Err(e) = self.rtp_sock.send_to(pkt, dest).await {
                        if !transient(&e) {
                            return Err(e).context("RTP send");
                        }
                    }
                }
            }
            Wake::InviteRtx => {
                if let Some(r) = self.invite_rtx.as_mut() {
                    r.backoff();
                    let (bytes, dest) = (r.bytes.clone(), r.dest);
                    self.send_sip(&bytes, dest).await?;
                }
            }
            Wake::NonInviteRtx => {
                if let Some((_, r)) = self.non_invite_rtx.as_mut() {
                    r.backoff();
                    let (bytes, dest) = (r.bytes.clone(), r.dest);
                    self.send_sip(&bytes, dest).await?;
                }
            }
            Wake::Until => {}
        }
        Ok(())
    }

    async fn on_sip(&mut self, bytes: &[u8], from: SocketAddr) -> anyhow::Result<()> {
        let Some(msg) = s::parse(bytes) else {
            if !bytes.iter().all(|b| b.is_ascii_whitespace()) {
                self.log(format!("< ! unparsable: {}", s::first_line(bytes)));
            }
            return Ok(());
        };
        self.log(format!("< {}", s::first_line(bytes)));
        match msg {
            SipMessage::Response(r) => self.on_response(r).await,
            SipMessage::Request(r) => self.on_request(r, from).await,
        }
    }

    async fn on_response(&mut self, resp: Response) -> anyhow::Result<()> {
        if s::call_id_of(&resp).as_deref() != Some(self.leg.call_id.as_str()) {
            return Ok(());
        }
        let Some((cseq, method)) = s::cseq_of(&resp) else {
            return Ok(());
        };
        let code = resp.status_code.code();
        match method {
            Method::Invite if cseq == 1 => {
                if s::top_branch(&resp).as_deref() != Some(self.leg.invite_branch.as_str()) {
                    return Ok(());
                }
                if code < 200 {
                    self.provisional = true;
                    self.invite_rtx = None;
                    return Ok(());
                }
                self.invite_rtx = None;
                if self.invite_final.is_some() {
                    // A retransmitted final response: ACK it again.
                    if let Some((ack, dest)) = self.invite_ack.clone() {
                        self.send_sip(&ack, dest).await?;
                    }
                    return Ok(());
                }
                self.invite_final = Some(code);
                self.retry_after = resp
                    .headers
                    .iter()
                    .find(|h| h.name().eq_ignore_ascii_case("Retry-After"))
                    .and_then(|h| h.value().split(['(', ';']).next()?.trim().parse().ok());
                if code < 300 {
                    self.on_answered(&resp).await?;
                } else {
                    let to = resp.headers.iter().find_map(|h| match h {
                        rsipstack::sip::Header::To(t) => Some(t.value().to_string()),
                        _ => None,
                    });
                    let ack = self
                        .leg
                        .ack_non2xx(&to.unwrap_or_else(|| self.leg.to.clone()))
                        .to_bytes();
                    let dest = self.leg.target;
                    self.send_sip(&ack, dest).await?;
                    self.invite_ack = Some((ack, dest));
                }
            }
            Method::Cancel if code >= 200 => {
                if matches!(self.non_invite_rtx, Some((Method::Cancel, _))) {
                    self.non_invite_rtx = None;
                }
            }
            Method::Bye if cseq == 2 && code >= 200 => {
                self.bye_final = Some(code);
                if matches!(self.non_invite_rtx, Some((Method::Bye, _))) {
                    self.non_invite_rtx = None;
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn on_answered(&mut self, resp: &Response) -> anyhow::Result<()> {
        let now = Instant::now();
        self.setup_time = Some(now - self.invite_sent);
        self.answered_at = Some(now);
        self.rx.set_origin(now);
        self.leg.learn_from_2xx(resp);
        let remote = std::str::from_utf8(&resp.body)
            .ok()
            .and_then(sdp::parse_remote);
        match &remote {
            Some(m) => self.apply_remote_media(m),
            None => self.log("! 2xx without a usable SDP answer: no RTP".into()),
        }
        let ack = self.leg.in_dialog(Method::Ack, 1).to_bytes();
        let dest = self.leg.in_dialog_destination();
        self.send_sip(&ack, dest).await?;
        self.invite_ack = Some((ack, dest));
        self.ack_sent_at = Some(Instant::now());
        if self.cancel_sent.is_none() && self.send_rtp {
            let mut t = time::interval_at(Instant::now(), PTIME);
            t.set_missed_tick_behavior(MissedTickBehavior::Burst);
            self.ticker = Some(t);
        }
        Ok(())
    }

    fn apply_remote_media(&mut self, m: &RemoteMedia) {
        let (audio_pt, codec) = m
            .audio
            .unwrap_or((self.spec_codec.payload_type(), self.spec_codec));
        let dtmf_pt = m.telephone_event_pt.unwrap_or(self.offered_dtmf_pt);
        self.remote_rtp = m.rtp_addr;
        self.tx.set_format(codec, audio_pt, dtmf_pt);
        self.rx.set_remote(m.rtp_addr, codec, audio_pt, dtmf_pt);
        if m.audio.is_none() {
            self.log(format!(
                "! SDP answer has no G.711 payload type ({:?})",
                m.payload_types
            ));
        }
    }

    async fn on_request(&mut self, req: Request, from: SocketAddr) -> anyhow::Result<()> {
        let method = req.method;
        if method == Method::Ack {
            return Ok(());
        }
        let Some((cseq, _)) = s::cseq_of(&req) else {
            return Ok(());
        };
        if s::call_id_of(&req).as_deref() != Some(self.leg.call_id.as_str()) {
            let resp = s::response_to(&req, 481, vec![], None).to_bytes();
            return self.send_sip(&resp, from).await;
        }
        if let Some((c, m, bytes)) = &self.last_uas {
            if *c == cseq && *m == method {
                let bytes = bytes.clone();
                return self.send_sip(&bytes, from).await;
            }
        }
        let resp = match method {
            Method::Bye => {
                if !self.agent_bye {
                    self.agent_bye = true;
                    self.ended_by.get_or_insert(EndedBy::Agent);
                    self.ticker = None;
                    self.event("agent bye");
                }
                s::response_to(&req, 200, vec![], None)
            }
            Method::Options => s::response_to(
                &req,
                200,
                s::capability_headers(&self.leg.contact),
                Some(&self.sdp),
            ),
            Method::Invite | Method::Update => {
                if let Some(m) = std::str::from_utf8(&req.body)
                    .ok()
                    .and_then(sdp::parse_remote)
                {
                    self.apply_remote_media(&m);
                }
                if method == Method::Invite {
                    self.leg.learn_target(&req);
                }
                s::response_to(
                    &req,
                    200,
                    s::capability_headers(&self.leg.contact),
                    Some(&self.sdp),
                )
            }
            Method::Info | Method::Notify => s::response_to(&req, 200, vec![], None),
            _ => s::response_to(&req, 501, vec![], None),
        };
        let bytes = resp.to_bytes();
        self.send_sip(&bytes, from).await?;
        self.last_uas = Some((cseq, method, bytes));
        Ok(())
    }

    // ---- bookkeeping --------------------------------------------------

    async fn send_sip(&mut self, bytes: &[u8], dest: SocketAddr) -> anyhow::Result<()> {
        self.log(format!("> {}", s::first_line(bytes)));
        match self.sip_sock.send_to(bytes, dest).await {
            Ok(_) => Ok(()),
            Err(e) if transient(&e) => Ok(()),
            Err(e) => Err(e).context("SIP send"),
        }
    }

    fn log(&mut self, line: String) {
        if self.sip_log.len() < MAX_SIP_LOG {
            self.sip_log.push(line);
        }
    }

    fn event(&mut self, what: &str) {
        if self.events.len() < MAX_EVENTS {
            let t = self.answered_at.map_or(Duration::ZERO, |a| a.elapsed());
            self.events.push((t, what.to_string()));
        }
    }

    fn outcome(self) -> CallOutcome {
        let first_agent_audio = match (self.rx.first_voice, self.ack_sent_at) {
            (Some(v), Some(a)) => Some(v.saturating_duration_since(a)),
            _ => None,
        };
        CallOutcome {
            final_status: self.invite_final.unwrap_or(408),
            retry_after: self.retry_after,
            setup_time: self.setup_time,
            first_agent_audio,
            rtp_packets_received: self.rx.received,
            rtp_packets_sent: if self.remote_rtp.is_some() {
                self.tx.packets_sent
            } else {
                0
            },
            rtp_lost: self.rx.lost(),
            rtp_reordered: self.rx.reordered(),
            rtp_jitter_ms: self.rx.jitter_ms(),
            rtp_jitter_max_ms: self.rx.jitter_max_ms(),
            agent_speech: self.rx.speech_spans,
            rtp_foreign_dropped: self.rx.foreign,
            ended_by: self.ended_by.unwrap_or(EndedBy::Caller),
            caller_events: self.events,
            sip_log: self.sip_log,
            agent_audio: self.rx.timeline,
        }
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(t) => time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// ICMP-induced and similar errors that must not kill the call.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::Interrupted
    )
}
