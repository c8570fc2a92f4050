//! Randomized input sequences: the core must never panic and must keep its
//! promises to the driver whatever order providers and callers do things in.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::*;
use crate::providers::{ProviderError, Role};

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.below(items.len() as u64) as usize])
    }
}

/// What the driver has been told so far, to check outputs against.
#[derive(Default)]
struct Observed {
    forwarding: bool,
    requests: Vec<u64>,
    cancelled: HashSet<u64>,
    segments: Vec<u64>,
    hung_up: bool,
    ended: bool,
}

const TEXTS: &[&str] = &[
    "Hello. ",
    "Dr. Who is 3.5 m tall",
    "? ",
    "ok, so, ",
    "",
    "**Yes!** ",
    "你好。",
    " \n",
    "e.g. this",
    "Sure. The",
];

fn random_input(rng: &mut Rng, seen: &Observed, speaking: &mut bool) -> Input {
    let request = if rng.chance(85) {
        seen.requests.last().copied().unwrap_or(1)
    } else {
        rng.below(6)
    };
    let segment = if rng.chance(85) {
        let recent = &seen.segments[seen.segments.len().saturating_sub(4)..];
        rng.pick(recent).unwrap_or(1)
    } else {
        rng.below(10)
    };
    let text = || TEXTS[(request as usize + segment as usize) % TEXTS.len()].to_string();
    let error = ProviderError::Protocol("fuzz".into());
    match rng.below(100) {
        0..=54 => {
            // Speech comes in runs, like a VAD's output.
            if rng.chance(6) {
                *speaking = !*speaking;
            }
            Input::CallerFrame { speech: *speaking }
        }
        55..=57 => Input::Answered,
        58..=59 => Input::SttInterim(text()),
        60..=64 => Input::SttFinal(if rng.chance(20) {
            String::new()
        } else {
            text()
        }),
        65 => Input::SttError(error),
        66..=71 => Input::LlmToken {
            request,
            text: text(),
        },
        72 => Input::LlmToolCall {
            request,
            name: if rng.chance(50) { "end_call" } else { "x" }.into(),
            arguments: "{}".into(),
        },
        73 => Input::LlmEndCall { request },
        74..=76 => Input::LlmDone { request },
        77 => Input::LlmError { request, error },
        78..=79 => Input::TtsFirstAudio { segment },
        80..=81 => Input::TtsDone {
            segment,
            audio_ms: rng.below(5000) as u32,
        },
        82 => Input::TtsError { segment, error },
        83..=88 => Input::PlaybackStarted { segment },
        89..=94 => Input::PlaybackFinished { segment },
        95..=97 => Input::Dtmf {
            digit: ['1', '#', '*', 'z', '9'][rng.below(5) as usize],
        },
        _ => {
            let roll = rng.below(1000);
            if roll < 5 {
                Input::RemoteHangup
            } else if roll < 8 {
                Input::HangUpNow
            } else if roll < 60 {
                Input::Say {
                    text: text(),
                    then: if rng.chance(20) {
                        AfterSay::HangUp
                    } else {
                        AfterSay::Continue
                    },
                }
            } else {
                Input::CallerFrame { speech: *speaking }
            }
        }
    }
}

fn check_outputs(
    outputs: &[Output],
    seen: &mut Observed,
    latest_ms: u64,
    was_ended: bool,
) -> Result<(), String> {
    if was_ended && !outputs.is_empty() {
        return Err(format!("outputs after the call ended: {outputs:?}"));
    }
    for (i, output) in outputs.iter().enumerate() {
        if seen.hung_up {
            return Err(format!("{output:?} after HangUp"));
        }
        match output {
            Output::SttForward(on) => {
                if *on == seen.forwarding {
                    return Err(format!("SttForward({on}) repeated"));
                }
                seen.forwarding = *on;
            }
            Output::SttEndOfUtterance => {
                if !seen.forwarding {
                    return Err("SttEndOfUtterance while not forwarding".into());
                }
            }
            Output::StartLlm {
                request,
                request_body,
            } => {
                if seen.requests.last().is_some_and(|&last| *request <= last) {
                    return Err(format!("request id {request} not increasing"));
                }
                seen.requests.push(*request);
                if request_body.messages.first().map(|m| m.role) != Some(Role::System) {
                    return Err("system prompt not first".into());
                }
                if request_body.messages.last().map(|m| m.role) != Some(Role::User) {
                    return Err("request does not end with the caller's turn".into());
                }
            }
            Output::CancelLlm { request } => {
                if !seen.requests.contains(request) || !seen.cancelled.insert(*request) {
                    return Err(format!("cancel of unknown or cancelled request {request}"));
                }
            }
            Output::Speak { segment, text } => {
                if text.trim().is_empty() {
                    return Err("empty Speak".into());
                }
                if seen.segments.last().is_some_and(|&last| *segment <= last) {
                    return Err(format!("segment id {segment} not increasing"));
                }
                seen.segments.push(*segment);
            }
            Output::PlayFallback { segment } => {
                if seen.segments.last().is_some_and(|&last| *segment <= last) {
                    return Err(format!("segment id {segment} not increasing"));
                }
                seen.segments.push(*segment);
            }
            Output::StopSpeaking => {}
            Output::Transcript { text, at_ms, .. } => {
                if text.trim().is_empty() || *at_ms > latest_ms {
                    return Err(format!("bad transcript {output:?} at {latest_ms}"));
                }
            }
            Output::TurnLatency(t) => {
                let all = [
                    Some(t.eou_ms),
                    Some(t.stt_ms),
                    t.llm_ttft_ms,
                    t.tts_ttfb_ms,
                    Some(t.v2v_ms),
                ];
                if all.iter().flatten().any(|v| !v.is_finite() || *v < 0.0) || t.v2v_ms < t.eou_ms {
                    return Err(format!("bad latency {t:?}"));
                }
            }
            Output::HangUp { .. } => {
                if i + 1 != outputs.len() {
                    return Err("HangUp is not the last output".into());
                }
                seen.hung_up = true;
            }
        }
    }
    Ok(())
}

/// Drives one random call for up to `steps` inputs, checking every output;
/// returns the steps run and how often each output kind and state was seen.
fn run_seed(seed: u64, steps: usize) -> (usize, std::collections::BTreeMap<String, usize>) {
    let mut kinds = std::collections::BTreeMap::new();
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let config = ConversationConfig {
        system_prompt: "fuzz".into(),
        greeting: if rng.chance(70) {
            "Hi. How can I help?".into()
        } else {
            String::new()
        },
        barge_in_enabled: rng.chance(80),
        max_call_ms: rng.chance(10).then(|| 60_000 + rng.below(600_000) as u32),
        endpointing_ms: [0, 20, 300, 500][rng.below(4) as usize],
        min_utterance_ms: [0, 100, 240][rng.below(3) as usize],
        barge_in_min_ms: [0, 250][rng.below(2) as usize],
        ..ConversationConfig::default()
    };
    let t0 = Instant::now();
    let mut conv = Conversation::new(config, t0);
    let mut seen = Observed::default();
    let mut speaking = false;
    let mut now_ms: u64 = 0;
    let mut latest_ms: u64 = 0;
    for step in 0..steps {
        now_ms += match rng.below(20) {
            0 => rng.below(3000), // providers are sometimes very slow
            1 => 0,               // and sometimes simultaneous
            _ => 20,
        };
        if rng.chance(3) {
            now_ms = now_ms.saturating_sub(rng.below(50)); // a driver bug: time going backwards
        }
        latest_ms = latest_ms.max(now_ms);
        let now = t0 + Duration::from_millis(now_ms);
        let was_ended = seen.ended;
        if rng.chance(10) {
            conv.handle_timeout(now);
            if let Some(t) = conv.poll_timeout() {
                assert!(
                    t > now,
                    "seed {seed} step {step}: timer {t:?} already due after handle_timeout"
                );
            }
        } else {
            let input = random_input(&mut rng, &seen, &mut speaking);
            if input == Input::RemoteHangup {
                seen.ended = true;
            }
            conv.handle_input(input, now);
        }
        let outputs: Vec<Output> = std::iter::from_fn(|| conv.poll_output()).collect();
        for o in &outputs {
            let k = format!("{o:?}");
            let k = k
                .split(|c: char| !c.is_alphanumeric())
                .next()
                .unwrap_or("")
                .to_string();
            *kinds.entry(k).or_insert(0) += 1;
        }
        *kinds.entry(format!("state {}", conv.state())).or_insert(0) += 1;
        if let Err(e) = check_outputs(&outputs, &mut seen, latest_ms, was_ended) {
            panic!("seed {seed} step {step}: {e}");
        }
        seen.ended |= seen.hung_up;
        if let Err(e) = conv.check_invariants() {
            panic!("seed {seed} step {step}: invariant: {e}");
        }
        let state = conv.state();
        assert_eq!(
            state == State::Ended,
            seen.ended,
            "seed {seed} step {step}: state {state}"
        );
        if state == State::Thinking {
            assert!(
                conv.poll_timeout().is_some(),
                "seed {seed} step {step}: thinking with no rescue timer"
            );
        }
        if seen.ended {
            return (step, kinds);
        }
    }
    (steps, kinds)
}

#[test]
fn random_input_sequences_never_break_the_core() {
    let mut seen = std::collections::BTreeMap::new();
    let mut steps = 0;
    for seed in 0..200 {
        let (n, kinds) = run_seed(seed, 5_000);
        steps += n;
        for (kind, count) in kinds {
            *seen.entry(kind).or_insert(0) += count;
        }
    }
    // The fuzzer must actually reach every state and produce every output kind.
    assert!(steps > 200_000, "only {steps} steps ran");
    for kind in [
        "SttForward",
        "SttEndOfUtterance",
        "StartLlm",
        "CancelLlm",
        "Speak",
        "PlayFallback",
        "StopSpeaking",
        "Transcript",
        "TurnLatency",
        "HangUp",
    ] {
        assert!(
            seen.contains_key(kind),
            "fuzzing never produced {kind}: {seen:?}"
        );
    }
    for state in [
        "listening",
        "user_speaking",
        "endpointing",
        "thinking",
        "agent_speaking",
        "ended",
    ] {
        assert!(
            seen.contains_key(&format!("state {state}")),
            "fuzzing never reached {state}: {seen:?}"
        );
    }
}
