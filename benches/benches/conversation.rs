//! The sans-IO turn-taking core's per-frame step, as the call actor drives it
//! every 20 ms: `handle_input(CallerFrame)`, `handle_timeout`, then draining
//! `poll_output` (virtual clock: `now` advances 20 ms per frame).
//!
//! - `listening`: a caller who says nothing (silent frames, no timers).
//! - `scripted_turns`: repeated 10 s turns (500 frames): the caller speaks 2 s,
//!   the turn ends after 500 ms of silence, the STT final arrives 220 ms later,
//!   the LLM streams one token per frame from 0.6 s after the final, each
//!   spoken chunk is "synthesized" at once and "played" for 60 ms per
//!   character, then the caller waits for the next cycle. A call lasts six
//!   turns (60 s, history up to 13 messages), then a fresh one starts
//!   (construction is not timed). The reported time is the mean over all
//!   frames of the cycle, so the per-turn work (StartLlm with the history,
//!   chunking, transcripts, latency report) is amortized over 500 frames.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use parla_engine::conversation::{Conversation, ConversationConfig, Input, Output, State};

const FRAME: Duration = Duration::from_millis(20);
/// Frames per scripted turn (10 s).
const CYCLE: u64 = 500;
/// Turns per call.
const TURNS_PER_CALL: u64 = 6;
/// Caller speech at the start of each cycle, in frames (2 s).
const SPEECH_FRAMES: u64 = 100;
/// Cycle position of the STT final (220 ms after the end of turn at 124).
const FINAL_AT: u64 = 135;
/// Cycle position of the first LLM token.
const FIRST_TOKEN_AT: u64 = 165;
/// Played audio per character of a spoken chunk, in ms (≈ 16 chars/s).
const MS_PER_CHAR: u32 = 60;

const USER_TEXT: &str = "Hi, I'd like to book a table for two people tonight at seven.";
/// The model's reply, streamed one word (with its trailing space) per frame.
const REPLY: &str =
    "Of course! I can book a table for two at seven tonight. Could I have a name for the reservation, please?";

fn config() -> ConversationConfig {
    ConversationConfig {
        system_prompt: "You are Parla, a friendly restaurant receptionist. Keep answers short."
            .into(),
        ..ConversationConfig::default()
    }
}

/// One call driven on a virtual clock, with the driver's bookkeeping
/// (LLM request id, TTS / playback of spoken segments) reduced to the minimum.
struct Call {
    conv: Conversation,
    t0: Instant,
    frame: u64,
    request: Option<u64>,
    tokens: Vec<&'static str>,
    queued: VecDeque<(u64, u64)>,
    playing: Option<(u64, u64)>,
    /// Outputs seen, by kind (for the sanity check).
    counts: [u64; 10],
}

impl Call {
    fn new(t0: Instant) -> Self {
        let mut conv = Conversation::new(config(), t0);
        conv.handle_input(Input::Answered, t0);
        Call {
            conv,
            t0,
            frame: 0,
            request: None,
            tokens: REPLY.split_inclusive(' ').collect(),
            queued: VecDeque::new(),
            playing: None,
            counts: [0; 10],
        }
    }

    fn done(&self) -> bool {
        self.frame >= CYCLE * TURNS_PER_CALL
    }

    /// One 20 ms frame of the scripted turn.
    fn step(&mut self) {
        let pos = self.frame % CYCLE;
        let now = self.t0 + FRAME * self.frame as u32;
        self.frame += 1;
        if pos == FINAL_AT {
            self.conv
                .handle_input(Input::SttFinal(USER_TEXT.to_string()), now);
        }
        if let (Some(request), Some(k)) = (self.request, pos.checked_sub(FIRST_TOKEN_AT)) {
            match self.tokens.get(k as usize) {
                Some(text) => self.conv.handle_input(
                    Input::LlmToken {
                        request,
                        text: (*text).to_string(),
                    },
                    now,
                ),
                None => {
                    self.conv.handle_input(Input::LlmDone { request }, now);
                    self.request = None;
                }
            }
        }
        self.conv.handle_input(
            Input::CallerFrame {
                speech: pos < SPEECH_FRAMES,
            },
            now,
        );
        // The paced sender: one frame of the playing segment.
        if let Some((segment, left)) = self.playing.as_mut() {
            *left -= 1;
            if *left == 0 {
                let segment = *segment;
                self.playing = None;
                self.conv
                    .handle_input(Input::PlaybackFinished { segment }, now);
            }
        }
        if self.playing.is_none() {
            if let Some((segment, frames)) = self.queued.pop_front() {
                self.playing = Some((segment, frames));
                self.conv
                    .handle_input(Input::PlaybackStarted { segment }, now);
            }
        }
        self.conv.handle_timeout(now);
        while let Some(out) = self.conv.poll_output() {
            self.counts[kind(&out)] += 1;
            match out {
                Output::StartLlm { request, .. } => self.request = Some(request),
                Output::Speak { segment, text } => {
                    let audio_ms = text.chars().count() as u32 * MS_PER_CHAR;
                    self.conv
                        .handle_input(Input::TtsFirstAudio { segment }, now);
                    self.conv
                        .handle_input(Input::TtsDone { segment, audio_ms }, now);
                    self.queued
                        .push_back((segment, u64::from(audio_ms / 20).max(1)));
                }
                Output::StopSpeaking => {
                    self.queued.clear();
                    self.playing = None;
                }
                other => {
                    black_box(other);
                }
            }
        }
    }
}

fn kind(out: &Output) -> usize {
    match out {
        Output::SttForward(_) => 0,
        Output::SttEndOfUtterance => 1,
        Output::StartLlm { .. } => 2,
        Output::CancelLlm { .. } => 3,
        Output::Speak { .. } => 4,
        Output::PlayFallback { .. } => 5,
        Output::StopSpeaking => 6,
        Output::Transcript { .. } => 7,
        Output::TurnLatency(_) => 8,
        Output::HangUp { .. } => 9,
    }
}

/// The script does what it says: every turn is answered, nothing fails.
fn check_script() {
    let mut call = Call::new(Instant::now());
    while !call.done() {
        call.step();
        if call.frame.is_multiple_of(CYCLE) {
            assert_eq!(call.conv.state(), State::Listening, "frame {}", call.frame);
            assert!(call.playing.is_none() && call.queued.is_empty());
        }
    }
    let t = TURNS_PER_CALL;
    let c = call.counts;
    assert_eq!(
        [c[0], c[1], c[2], c[3], c[5], c[6], c[7], c[8], c[9]],
        [2 * t, t, t, 0, 0, 0, 2 * t, t, 0],
        "outputs by kind: {c:?}"
    );
    assert!(c[4] >= t, "{c:?}");
    assert_eq!(call.conv.history().len() as u64, 1 + 2 * t);
}

fn conversation(c: &mut Criterion) {
    check_script();

    let mut group = c.benchmark_group("conversation");
    group.throughput(Throughput::Elements(1));

    let t0 = Instant::now();
    let mut conv = Conversation::new(config(), t0);
    conv.handle_input(Input::Answered, t0);
    let mut now = t0;
    group.bench_function("listening", |b| {
        b.iter(|| {
            now += FRAME;
            conv.handle_input(Input::CallerFrame { speech: false }, now);
            conv.handle_timeout(now);
            while let Some(out) = conv.poll_output() {
                black_box(out);
            }
        })
    });
    assert_eq!(conv.state(), State::Listening);

    // The call carries over between criterion's samples, so every sample
    // continues the script where the previous one stopped.
    let mut call = Call::new(Instant::now());
    group.bench_function("scripted_turns", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut start = Instant::now();
            for _ in 0..iters {
                if call.done() {
                    total += start.elapsed();
                    call = Call::new(Instant::now());
                    start = Instant::now();
                }
                call.step();
            }
            total + start.elapsed()
        })
    });
    group.finish();
}

criterion_group!(benches, conversation);
criterion_main!(benches);
