//! Scripted scenarios on a virtual clock (an `Instant` base plus ms offsets).

use super::sim::*;
use super::*;
use crate::providers::{ChatMessage, Role};

// ---- scenarios (each returns every output, for the coverage test) ----------

fn scenario_greeting() -> Vec<Output> {
    let mut sim = Sim::new(ConversationConfig {
        greeting: "Hello, thanks for calling Parla Dental. How can I help you today?".into(),
        ..config()
    });
    assert_eq!(sim.conv.state(), State::Listening);
    let out = sim.input(0, Input::Answered);
    assert_eq!(
        out,
        vec![
            speak(1, "Hello, thanks for calling Parla Dental."),
            speak(2, "How can I help you today?")
        ]
    );
    assert_eq!(sim.conv.state(), State::AgentSpeaking);
    assert_eq!(
        sim.input(5, Input::Answered),
        vec![],
        "a second Answered is ignored"
    );
    sim.input(100, Input::PlaybackStarted { segment: 1 });
    sim.input(2000, Input::PlaybackFinished { segment: 1 });
    sim.input(2000, Input::PlaybackStarted { segment: 2 });
    let out = sim.input(3500, Input::PlaybackFinished { segment: 2 });
    assert_eq!(
        out,
        vec![assistant(
            "Hello, thanks for calling Parla Dental. How can I help you today?",
            100,
            false
        )]
    );
    assert_eq!(sim.conv.state(), State::Listening);
    assert_eq!(
        sim.conv.history(),
        &[
            ChatMessage::system(SYSTEM),
            ChatMessage::assistant(
                "Hello, thanks for calling Parla Dental. How can I help you today?"
            )
        ]
    );
    sim.all
}

fn scenario_full_turn() -> Vec<Output> {
    let mut sim = Sim::new(config());
    let request = sim.caller_asks("When are you open?");
    let Some(Output::StartLlm { request_body, .. }) = sim
        .all
        .iter()
        .find(|o| matches!(o, Output::StartLlm { .. }))
    else {
        unreachable!()
    };
    assert_eq!(
        request_body.messages,
        vec![
            ChatMessage::system(SYSTEM),
            ChatMessage::user("When are you open?")
        ]
    );
    assert_eq!(request_body.tools, vec![end_call_tool()]);
    assert_eq!(sim.conv.state(), State::Thinking);

    assert_eq!(
        sim.input(
            2900,
            Input::LlmToken {
                request,
                text: "We're open nine to five. ".into()
            }
        ),
        vec![]
    );
    assert_eq!(
        sim.input(
            2920,
            Input::LlmToken {
                request,
                text: "Anything **else**?".into()
            }
        ),
        vec![speak(1, "We're open nine to five.")]
    );
    assert_eq!(sim.conv.state(), State::AgentSpeaking);
    assert_eq!(
        sim.input(2950, Input::LlmDone { request }),
        vec![speak(2, "Anything else?")]
    );
    sim.input(3000, Input::TtsFirstAudio { segment: 1 });
    let out = sim.input(3050, Input::PlaybackStarted { segment: 1 });
    assert!(matches!(out[..], [Output::TurnLatency(_)]), "{out:?}");
    sim.input(
        3100,
        Input::TtsDone {
            segment: 1,
            audio_ms: 1500,
        },
    );
    sim.input(4550, Input::PlaybackFinished { segment: 1 });
    sim.input(4550, Input::PlaybackStarted { segment: 2 });
    let out = sim.input(5500, Input::PlaybackFinished { segment: 2 });
    assert_eq!(
        out,
        vec![assistant(
            "We're open nine to five. Anything else?",
            3050,
            false
        )]
    );
    assert_eq!(sim.conv.state(), State::Listening);
    assert_eq!(
        sim.conv.history(),
        &[
            ChatMessage::system(SYSTEM),
            ChatMessage::user("When are you open?"),
            ChatMessage::assistant("We're open nine to five. Anything else?"),
        ]
    );
    assert_eq!(sim.conv.poll_timeout(), None);
    sim.all
}

fn scenario_barge_in_greeting() -> Vec<Output> {
    let greeting = "one two three four five six seven eight nine ten";
    let mut sim = Sim::new(ConversationConfig {
        greeting: greeting.into(),
        ..config()
    });
    assert_eq!(sim.input(0, Input::Answered), vec![speak(1, greeting)]);
    sim.input(60, Input::TtsFirstAudio { segment: 1 });
    sim.input(
        90,
        Input::TtsDone {
            segment: 1,
            audio_ms: 2000,
        },
    );
    sim.input(100, Input::PlaybackStarted { segment: 1 });
    assert_eq!(sim.frames(20, 640, false), vec![]);
    // 240 ms of speech: not yet a barge-in.
    assert_eq!(sim.frames(660, 880, true), vec![]);
    assert_eq!(sim.conv.state(), State::AgentSpeaking);
    // The 13th frame makes 260 ms ≥ 250: 800 of 2000 ms played = 40 % = 4 words.
    let out = sim.input(900, Input::CallerFrame { speech: true });
    assert_eq!(
        out,
        vec![
            Output::StopSpeaking,
            assistant("one two three four", 100, true),
            Output::SttForward(true)
        ]
    );
    assert_eq!(sim.conv.state(), State::UserSpeaking);
    assert_eq!(
        sim.conv.history(),
        &[
            ChatMessage::system(SYSTEM),
            ChatMessage::assistant("one two three four")
        ]
    );
    // Late events for the flushed segment are ignored.
    assert_eq!(
        sim.input(910, Input::PlaybackFinished { segment: 1 }),
        vec![]
    );
    // The barge-in speech is the caller's turn.
    sim.frames(920, 1400, false);
    let out = sim.input(1500, Input::SttFinal("Sorry, who is this?".into()));
    assert!(
        matches!(out.last(), Some(Output::StartLlm { request: 1, .. })),
        "{out:?}"
    );
    assert_eq!(
        out[0],
        Output::Transcript {
            speaker: Role::User,
            text: "Sorry, who is this?".into(),
            at_ms: 660,
            interrupted: false
        }
    );
    sim.all
}

fn scenario_llm_error() -> Vec<Output> {
    let mut sim = Sim::new(config());
    let request = sim.caller_asks("Hello?");
    assert_eq!(
        sim.input(
            2800,
            Input::LlmError {
                request,
                error: err()
            }
        ),
        vec![Output::PlayFallback { segment: 1 }]
    );
    assert_eq!(sim.conv.state(), State::AgentSpeaking);
    // Events of the failed request are stale now.
    assert_eq!(
        sim.input(
            2810,
            Input::LlmToken {
                request,
                text: "Late. ".into()
            }
        ),
        vec![]
    );
    let out = sim.input(2900, Input::PlaybackStarted { segment: 1 });
    let [Output::TurnLatency(latency)] = out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(latency.llm_ttft_ms, None);
    assert_eq!(latency.tts_ttfb_ms, None);
    assert_eq!(latency.v2v_ms, 920.0);
    assert_eq!(
        sim.input(5000, Input::PlaybackFinished { segment: 1 }),
        vec![assistant(FALLBACK, 2900, false)]
    );
    assert_eq!(
        sim.conv.history().last(),
        Some(&ChatMessage::assistant(FALLBACK))
    );
    assert_eq!(sim.conv.state(), State::Listening);
    sim.all
}

fn scenario_llm_stall() -> Vec<Output> {
    let mut sim = Sim::new(config());
    let request = sim.caller_asks("Hello?");
    // The first sentence is queued but TTS never produces audio.
    assert_eq!(
        sim.input(
            3000,
            Input::LlmToken {
                request,
                text: "Hi there! How".into()
            }
        ),
        vec![speak(1, "Hi there!")]
    );
    // End of turn was at 2480: the fallback is due at 2480 + 1500.
    assert_eq!(sim.conv.poll_timeout(), Some(sim.at(3980)));
    assert_eq!(sim.advance(3979), vec![]);
    assert_eq!(
        sim.advance(3980),
        vec![
            Output::StopSpeaking,
            Output::CancelLlm { request },
            Output::PlayFallback { segment: 2 }
        ]
    );
    assert_eq!(
        sim.input(
            3990,
            Input::LlmToken {
                request,
                text: " are you?".into()
            }
        ),
        vec![]
    );
    sim.input(4000, Input::PlaybackStarted { segment: 2 });
    let out = sim.input(6000, Input::PlaybackFinished { segment: 2 });
    assert_eq!(out, vec![assistant(FALLBACK, 4000, false)]);
    sim.all
}

fn scenario_dtmf() -> Vec<Output> {
    let mut sim = Sim::new(config());
    assert_eq!(sim.input(1000, Input::Dtmf { digit: '1' }), vec![]);
    assert_eq!(sim.conv.state(), State::Endpointing);
    sim.input(1400, Input::Dtmf { digit: '2' });
    sim.input(2000, Input::Dtmf { digit: 'x' }); // not a DTMF key: ignored
    sim.input(2000, Input::Dtmf { digit: '3' });
    assert_eq!(sim.conv.poll_timeout(), Some(sim.at(3500)));
    let out = sim.advance(3500);
    assert_eq!(
        out[0],
        Output::Transcript {
            speaker: Role::User,
            text: "The caller pressed 123.".into(),
            at_ms: 1000,
            interrupted: false
        }
    );
    let Output::StartLlm {
        request,
        request_body,
    } = &out[1]
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        request_body.messages.last(),
        Some(&ChatMessage::user_dtmf("123"))
    );
    let request = *request;
    assert_eq!(
        sim.input(
            3600,
            Input::LlmToken {
                request,
                text: "Thanks, account one two three. ".into()
            }
        ),
        vec![]
    );
    assert_eq!(
        sim.input(3610, Input::LlmDone { request }),
        vec![speak(1, "Thanks, account one two three.")]
    );
    // No voice-to-voice latency for a keyed turn.
    assert_eq!(
        sim.input(3700, Input::PlaybackStarted { segment: 1 }),
        vec![]
    );
    // A key while the agent speaks interrupts it; `#` ends the burst at once.
    let out = sim.input(4700, Input::Dtmf { digit: '4' });
    assert_eq!(out[0], Output::StopSpeaking);
    assert!(
        matches!(
            &out[1],
            Output::Transcript {
                speaker: Role::Assistant,
                interrupted: true,
                ..
            }
        ),
        "{out:?}"
    );
    let out = sim.input(4800, Input::Dtmf { digit: '#' });
    assert_eq!(
        out[0],
        Output::Transcript {
            speaker: Role::User,
            text: "The caller pressed 4.".into(),
            at_ms: 4700,
            interrupted: false
        }
    );
    assert!(
        matches!(&out[1], Output::StartLlm { request: 2, .. }),
        "{out:?}"
    );
    sim.all
}

fn scenario_end_call() -> Vec<Output> {
    let mut sim = Sim::new(config());
    let request = sim.caller_asks("That's all, bye.");
    assert_eq!(
        sim.input(
            2800,
            Input::LlmToken {
                request,
                text: "Goodbye! ".into()
            }
        ),
        vec![speak(1, "Goodbye!")]
    );
    sim.input(
        2810,
        Input::LlmToolCall {
            request,
            name: "end_call".into(),
            arguments: "{}".into(),
        },
    );
    sim.input(
        2815,
        Input::LlmToolCall {
            request,
            name: "lookup".into(),
            arguments: "{}".into(),
        },
    );
    assert_eq!(sim.input(2820, Input::LlmDone { request }), vec![]);
    sim.input(2900, Input::PlaybackStarted { segment: 1 });
    assert_eq!(
        sim.conv.state(),
        State::AgentSpeaking,
        "no hangup before the goodbye has played"
    );
    let out = sim.input(3600, Input::PlaybackFinished { segment: 1 });
    assert_eq!(
        out,
        vec![
            assistant("Goodbye!", 2900, false),
            Output::HangUp {
                reason: "agent ended the call".into()
            }
        ]
    );
    assert_eq!(sim.conv.state(), State::Ended);
    assert_eq!(sim.input(3700, Input::CallerFrame { speech: true }), vec![]);
    sim.all
}

fn scenario_remote_hangup_and_max_call() -> Vec<Output> {
    let mut sim = Sim::new(config());
    let request = sim.caller_asks("Hi");
    sim.input(
        2800,
        Input::LlmToken {
            request,
            text: "Hello there, friend of mine. How".into(),
        },
    );
    sim.input(
        2900,
        Input::TtsDone {
            segment: 1,
            audio_ms: 1250,
        },
    ); // 500 ms played = 40 %
    sim.input(3000, Input::PlaybackStarted { segment: 1 });
    let out = sim.input(3500, Input::RemoteHangup);
    assert_eq!(
        out,
        vec![
            Output::StopSpeaking,
            Output::CancelLlm { request },
            assistant("Hello there,", 3000, true)
        ]
    );
    assert_eq!(sim.conv.state(), State::Ended);
    assert_eq!(sim.conv.poll_timeout(), None);

    let mut sim2 = Sim::new(ConversationConfig {
        max_call_ms: Some(60_000),
        ..config()
    });
    assert_eq!(sim2.conv.poll_timeout(), Some(sim2.at(60_000)));
    sim2.frames(59_000, 59_980, true);
    let out = sim2.advance(60_000);
    assert_eq!(
        out,
        vec![
            Output::SttForward(false),
            Output::HangUp {
                reason: "maximum call duration reached".into()
            }
        ]
    );
    assert_eq!(sim2.conv.state(), State::Ended);
    sim.all.extend(sim2.all);
    sim.all
}

// ---- tests -----------------------------------------------------------------

#[test]
fn greeting_spoken_on_answered() {
    scenario_greeting();
}

#[test]
fn full_turn() {
    scenario_full_turn();
}

#[test]
fn barge_in_truncates_the_greeting_in_history() {
    scenario_barge_in_greeting();
}

#[test]
fn llm_error_plays_fallback() {
    scenario_llm_error();
}

#[test]
fn llm_stall_plays_fallback_within_response_timeout() {
    scenario_llm_stall();
}

#[test]
fn dtmf_turn() {
    scenario_dtmf();
}

#[test]
fn end_call_hangs_up_after_playback() {
    scenario_end_call();
    // LlmEndCall with nothing to say hangs up at once.
    let mut sim = Sim::new(config());
    let request = sim.caller_asks("Bye");
    sim.input(2800, Input::LlmEndCall { request });
    assert_eq!(
        sim.input(2810, Input::LlmDone { request }),
        vec![Output::HangUp {
            reason: "agent ended the call".into()
        }]
    );
}

#[test]
fn remote_hangup_and_max_call() {
    scenario_remote_hangup_and_max_call();
}

#[test]
fn latency_numbers_are_exact() {
    let mut sim = Sim::new(config());
    sim.frames(1000, 2000, true); // last speech frame at 2000
    assert_eq!(
        sim.frames(2020, 2500, false),
        vec![Output::SttEndOfUtterance, Output::SttForward(false)]
    );
    let out = sim.input(2700, Input::SttFinal("Book me in".into()));
    let Output::StartLlm { request, .. } = out[1] else {
        panic!()
    };
    let out = sim.input(
        2950,
        Input::LlmToken {
            request,
            text: "Sure, I can help with that. What".into(),
        },
    );
    assert_eq!(out, vec![speak(1, "Sure, I can help with that.")]);
    sim.input(3100, Input::TtsFirstAudio { segment: 1 });
    let out = sim.input(3150, Input::PlaybackStarted { segment: 1 });
    assert_eq!(
        out,
        vec![Output::TurnLatency(TurnLatency {
            eou_ms: 500.0,
            stt_ms: 200.0,
            llm_ttft_ms: Some(250.0),
            tts_ttfb_ms: Some(150.0),
            v2v_ms: 1150.0,
        })]
    );
    // Only once per turn.
    sim.input(3200, Input::LlmDone { request });
    sim.input(4000, Input::PlaybackFinished { segment: 1 });
    assert_eq!(
        sim.input(4000, Input::PlaybackStarted { segment: 2 }),
        vec![]
    );
}

#[test]
fn frames_stopping_still_end_the_turn() {
    let mut sim = Sim::new(config());
    sim.frames(1000, 1500, true);
    assert_eq!(sim.conv.poll_timeout(), Some(sim.at(2000)));
    assert_eq!(
        sim.advance(2000),
        vec![Output::SttEndOfUtterance, Output::SttForward(false)]
    );
}

#[test]
fn model_going_quiet_mid_reply_finishes_it() {
    let mut sim = Sim::new(config());
    let request = sim.caller_asks("Hi");
    sim.input(
        2800,
        Input::LlmToken {
            request,
            text: "Hello there! And".into(),
        },
    );
    sim.input(2900, Input::PlaybackStarted { segment: 1 });
    sim.input(3500, Input::PlaybackFinished { segment: 1 });
    assert_eq!(sim.conv.state(), State::AgentSpeaking);
    assert_eq!(sim.conv.poll_timeout(), Some(sim.at(5000)));
    assert_eq!(
        sim.advance(5000),
        vec![Output::CancelLlm { request }, speak(2, "And")]
    );
}

#[test]
fn stale_ids_are_ignored() {
    let mut sim = Sim::new(config());
    let request = sim.caller_asks("Hi");
    for input in [
        Input::LlmToken {
            request: request + 7,
            text: "x. Y".into(),
        },
        Input::LlmDone { request: 99 },
        Input::LlmError {
            request: 0,
            error: err(),
        },
        Input::LlmEndCall { request: 5 },
        Input::TtsError {
            segment: 42,
            error: err(),
        },
        Input::PlaybackStarted { segment: 42 },
        Input::PlaybackFinished { segment: 42 },
        Input::TtsDone {
            segment: 42,
            audio_ms: 1,
        },
        Input::TtsFirstAudio { segment: 42 },
        Input::SttInterim("hm".into()),
    ] {
        assert_eq!(sim.input(2750, input), vec![]);
    }
    assert_eq!(sim.conv.state(), State::Thinking);
}

#[test]
fn config_validation() {
    assert_eq!(ConversationConfig::default().validate(), Ok(()));
    let bad = ConversationConfig {
        response_timeout_ms: 2500,
        ..ConversationConfig::default()
    };
    assert_eq!(bad.validate(), Err(ConfigError::ResponseTimeout(2500)));
    let bad = ConversationConfig {
        endpointing_ms: 0,
        ..ConversationConfig::default()
    };
    assert!(bad.validate().is_err());
    let bad = ConversationConfig {
        max_call_ms: Some(0),
        ..ConversationConfig::default()
    };
    assert_eq!(bad.validate(), Err(ConfigError::ZeroMaxCall));
}

#[test]
fn every_output_variant_is_exercised() {
    let mut all = Vec::new();
    for scenario in [
        scenario_greeting,
        scenario_full_turn,
        scenario_barge_in_greeting,
        scenario_llm_error,
        scenario_llm_stall,
        scenario_dtmf,
        scenario_end_call,
        scenario_remote_hangup_and_max_call,
    ] {
        all.extend(scenario());
    }
    let seen = |f: fn(&Output) -> bool| all.iter().any(f);
    assert!(seen(|o| matches!(o, Output::SttForward(true))));
    assert!(seen(|o| matches!(o, Output::SttForward(false))));
    assert!(seen(|o| matches!(o, Output::SttEndOfUtterance)));
    assert!(seen(|o| matches!(o, Output::StartLlm { .. })));
    assert!(seen(|o| matches!(o, Output::CancelLlm { .. })));
    assert!(seen(|o| matches!(o, Output::Speak { .. })));
    assert!(seen(|o| matches!(o, Output::PlayFallback { .. })));
    assert!(seen(|o| matches!(o, Output::StopSpeaking)));
    assert!(seen(|o| matches!(
        o,
        Output::Transcript {
            interrupted: true,
            ..
        }
    )));
    assert!(seen(|o| matches!(
        o,
        Output::Transcript {
            interrupted: false,
            ..
        }
    )));
    assert!(seen(|o| matches!(o, Output::TurnLatency(_))));
    assert!(seen(|o| matches!(o, Output::HangUp { .. })));
}
