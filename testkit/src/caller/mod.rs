//! `testkit::caller` — an in-repo SIP test caller: a UAC over UDP that
//! places one call, talks RTP (G.711 + RFC 4733) like a phone, follows a
//! script and reports what it heard.
//!
//! One call = one tokio task state (no thread, no lock, no channel): two UDP
//! sockets (SIP and RTP, both on port 0), a 20 ms ticker and fixed-size
//! buffers. The agent's audio is kept on a wall-clock timeline capped at
//! `max_duration` (+2 s). It is meant to scale to a load harness running
//! thousands of [`place_call`] futures in one process (mind the file
//! descriptor limit: two sockets per call).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use parla_testkit::caller::{place_call, Action, CallSpec};
//! use std::time::Duration;
//! let mut spec = CallSpec::new("127.0.0.1:5060".parse()?, "sip:agent@127.0.0.1:5060");
//! spec.script = vec![
//!     Action::WaitForAgentSilence { min_silence: Duration::from_millis(700), timeout: Duration::from_secs(10) },
//!     Action::Dtmf { digits: "1".into(), duration_ms: 100 },
//!     Action::Hangup,
//! ];
//! let outcome = place_call(spec).await?;
//! assert_eq!(outcome.final_status, 200);
//! # Ok(()) }
//! ```
//!
//! Protocol behaviour (RFC 3261 / 3264 / 3550 / 4733):
//! - INVITE with an SDP offer (`m=audio PORT RTP/AVP 0 101` or `8 101`,
//!   rtpmap, `fmtp:101 0-16`, `ptime:20`, `sendrecv`), retransmitted per
//!   Timer A (500 ms doubling) until a response arrives.
//! - 1xx noted; 2xx → ACK (new branch, To tag, to the Contact, route set
//!   from Record-Route), every retransmitted 2xx re-ACKed; ≥300 → ACK in
//!   the INVITE transaction (same branch, §17.1.1.3), re-ACKed likewise.
//! - CANCEL (script [`Action::Cancel`], or the answer timeout) only after a
//!   provisional response (§9.1), same branch as the INVITE, `CSeq: 1
//!   CANCEL`; then the 487 is ACKed.
//! - In the dialog: a BYE from the agent is answered 200 and ends the call;
//!   OPTIONS / re-INVITE / UPDATE get 200 with the same SDP (a re-INVITE's
//!   new RTP address and codec are followed); INFO / NOTIFY get 200; other
//!   methods 501; requests of another Call-ID 481. Our BYE is `CSeq: 2`,
//!   retransmitted per Timer E (500 ms doubling, capped at 4 s) for up to
//!   [`BYE_TIMEOUT`].
//! - RTP: one packet per 20 ms from the 200 until hangup (none at all with
//!   [`CallSpec::send_rtp`] false) (µ-law 0xFF / A-law
//!   0xD5 silence when not speaking), marker on the first packet, RFC 4733
//!   events on the negotiated telephone-event PT (the offered 101 when the
//!   answer maps none), the audio muted during an event and ≥ 60 ms of
//!   silence after each digit. Received RTP from any address but the SDP's
//!   (or with a payload type that is neither G.711, the telephone-event PT
//!   nor CN) is counted in `rtp_foreign_dropped`.

mod call;
pub mod media;
pub mod sdp;
pub mod sip;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub use parla_media::g711::G711;

/// How long our BYE waits for its final response (retransmitting).
pub const BYE_TIMEOUT: Duration = Duration::from_secs(8);
/// How long a sent CANCEL waits for the INVITE's final response.
pub const CANCEL_TIMEOUT: Duration = Duration::from_secs(8);
/// Caps on the diagnostics kept per call.
pub const MAX_SIP_LOG: usize = 2_000;
pub const MAX_EVENTS: usize = 10_000;

/// What to call and what to do in the call.
#[derive(Clone, Debug)]
pub struct CallSpec {
    /// The SIP server (UDP).
    pub target: SocketAddr,
    /// Request-URI and To, e.g. `sip:agent@127.0.0.1:5060`.
    pub request_uri: String,
    /// User part of From and Contact.
    pub from_user: String,
    /// Offer PCMU or PCMA (+ telephone-event 101).
    pub codec: G711,
    /// Replaces the whole offer: `(payload type, "NAME" or "NAME/clock")`,
    /// e.g. `vec![(9, "G722")]` to provoke a 488. A `telephone-event` entry
    /// gets `a=fmtp:PT 0-16`.
    pub offer_codecs: Option<Vec<(u8, &'static str)>>,
    /// Local address for both sockets (and Via / Contact / SDP).
    pub local_ip: IpAddr,
    /// Run after the 200 (ACK sent). A script containing [`Action::Cancel`]
    /// is a pre-answer script instead: only `Wait`s may precede the Cancel
    /// (timed from the INVITE); anything after it is ignored.
    pub script: Vec<Action>,
    /// INVITE sent → final response; on expiry the call is CANCELled (after a
    /// provisional) or given up (408) and ends `Timeout`.
    pub answer_timeout: Duration,
    /// 200 → end; on expiry the caller sends BYE and the call ends `Timeout`.
    /// A script that finishes without `Hangup` waits (up to this) for the
    /// agent's BYE.
    pub max_duration: Duration,
    /// Keep the agent's audio as PCM ([`CallOutcome::agent_audio`]; 16 KB
    /// per second of call). False for load: the outcome then has an empty
    /// `agent_audio` but still [`CallOutcome::agent_speech`] (speech spans
    /// from per-packet energy) and the RTP statistics. Default true.
    pub record_audio: bool,
    /// Send RTP once answered. False: a silent caller that sends no packet
    /// at all (what a media timeout must catch). Default true.
    pub send_rtp: bool,
}

impl CallSpec {
    /// PCMU from 127.0.0.1, user `parla-call`, empty script, 10 s answer
    /// timeout, 60 s max duration.
    pub fn new(target: SocketAddr, request_uri: impl Into<String>) -> Self {
        CallSpec {
            target,
            request_uri: request_uri.into(),
            from_user: "parla-call".into(),
            codec: G711::Pcmu,
            offer_codecs: None,
            local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            script: Vec::new(),
            answer_timeout: Duration::from_secs(10),
            max_duration: Duration::from_secs(60),
            record_audio: true,
            send_rtp: true,
        }
    }
}

/// One step of the caller's script. Timeouts of the `WaitFor*` actions are
/// not errors: they are logged in `caller_events` and the script goes on.
#[derive(Clone, Debug)]
pub enum Action {
    /// Wait until the agent has spoken (at or after `min_silence` before this
    /// action started) and then been quiet — no frame at or above
    /// [`media::SPEECH_RMS`], or no RTP at all — for `min_silence`. End of a
    /// greeting / reply. Logs `heard agent silence`.
    WaitForAgentSilence {
        min_silence: Duration,
        timeout: Duration,
    },
    /// Wait until agent speech is heard (a speech frame at or after this
    /// action started; returns at once if the agent is talking). Logs
    /// `heard agent speech`.
    WaitForAgentSpeech { timeout: Duration },
    /// Caller speaks: 8 kHz mono PCM, paced at 20 ms real time. Logs `play
    /// start` / `play end` (the last frame sent).
    Play(Arc<Vec<i16>>),
    /// Caller sends silence frames for this long (what it does anyway
    /// between actions). Logs `silence`.
    Silence(Duration),
    /// RFC 4733 events, one digit after another, each followed by ≥ 60 ms
    /// of silence. Logs `dtmf D` per digit.
    Dtmf { digits: String, duration_ms: u32 },
    /// Just wait (RTP silence keeps flowing).
    Wait(Duration),
    /// Send BYE and wait for its final response. Logs `hangup`.
    Hangup,
    /// CANCEL the pending INVITE (see [`CallSpec::script`]). Logs `cancel`.
    Cancel,
}

/// Who ended the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndedBy {
    /// We sent BYE (or CANCEL).
    Caller,
    /// The agent sent BYE and we answered 200.
    Agent,
    /// The INVITE got a final response ≥ 300 we did not ask for.
    Rejected,
    /// `answer_timeout` or `max_duration` ran out.
    Timeout,
}

/// What happened in the call.
#[derive(Clone, Debug)]
pub struct CallOutcome {
    /// Final response to the INVITE: 200, 404, 487, 488 ...; 408 when no
    /// final response came at all.
    pub final_status: u16,
    /// The `Retry-After` seconds of the INVITE's final response, if any.
    pub retry_after: Option<u32>,
    /// INVITE sent → 2xx received.
    pub setup_time: Option<Duration>,
    /// 8 kHz PCM the agent sent, on a wall-clock timeline starting when the
    /// 200 arrived (placed by RTP timestamp, gaps are silence).
    pub agent_audio: Vec<i16>,
    /// `(time since the 200 arrived, what)`: `play start`, `play end`,
    /// `dtmf 1`, `silence`, `heard agent speech`, `heard agent silence`,
    /// `agent dtmf 5`, `agent bye`, `hangup`, `cancel`, `timeout ...`.
    /// Pre-answer events are at zero.
    pub caller_events: Vec<(Duration, String)>,
    /// ACK sent → first agent packet with speech-level energy.
    pub first_agent_audio: Option<Duration>,
    /// The agent's speech, as `(start, end)` spans since the 200 arrived, by
    /// packet arrival: a span is a run of speech-level packets (see
    /// [`media::SPEECH_RMS`]) less than [`media::SPAN_BRIDGE`] apart. Kept
    /// whether or not [`CallSpec::record_audio`] is set.
    pub agent_speech: Vec<(Duration, Duration)>,
    pub rtp_packets_received: u64,
    pub rtp_packets_sent: u64,
    pub rtp_lost: u64,
    /// Agent packets that arrived after one with a higher sequence number.
    pub rtp_reordered: u64,
    /// RFC 3550 inter-arrival jitter of the agent's stream at the end of the
    /// call, ms.
    pub rtp_jitter_ms: f64,
    /// The highest jitter estimate during the call, ms.
    pub rtp_jitter_max_ms: f64,
    pub rtp_foreign_dropped: u64,
    pub ended_by: EndedBy,
    /// First line of every SIP message, `> ` sent / `< ` received.
    pub sip_log: Vec<String>,
}

impl CallOutcome {
    /// Time of the first event whose text equals `what`.
    pub fn event_time(&self, what: &str) -> Option<Duration> {
        self.caller_events
            .iter()
            .find(|(_, e)| e == what)
            .map(|(t, _)| *t)
    }

    /// The first agent speech span starting at or after `t` (since the 200).
    pub fn agent_speech_after(&self, t: Duration) -> Option<(Duration, Duration)> {
        self.agent_speech.iter().copied().find(|(s, _)| *s >= t)
    }

    /// When the agent fell silent after talking at `t`: the end of the
    /// speech that was going on at `t`, joining spans less than `bridge`
    /// apart. `None` when the agent was not speaking at `t` (within
    /// `bridge`).
    pub fn agent_silent_after(&self, t: Duration, bridge: Duration) -> Option<Duration> {
        let mut i = self
            .agent_speech
            .iter()
            .position(|(s, e)| *s <= t + bridge && *e + bridge >= t)?;
        while i + 1 < self.agent_speech.len()
            && self.agent_speech[i + 1].0 <= self.agent_speech[i].1 + bridge
        {
            i += 1;
        }
        Some(self.agent_speech[i].1)
    }

    /// The agent audio between two times since the 200 (clipped).
    pub fn agent_audio_between(&self, from: Duration, to: Duration) -> &[i16] {
        let idx = |d: Duration| ((d.as_micros() * 8 / 1000) as usize).min(self.agent_audio.len());
        let (a, b) = (idx(from), idx(to));
        &self.agent_audio[a.min(b)..b]
    }
}

/// Places one call and runs its script. Errors only for local failures
/// (bad URI, socket errors); a rejected or timed-out call is an `Ok`
/// outcome.
pub async fn place_call(spec: CallSpec) -> anyhow::Result<CallOutcome> {
    call::Call::start(spec).await?.run().await
}
