//! Turn-taking details on the virtual clock: noise, pauses, barge-in,
//! provider failures.

use super::sim::*;
use super::*;
use crate::providers::{ChatMessage, Role};

#[test]
fn short_blip_is_ignored() {
    let mut sim = Sim::new(config());
    assert_eq!(sim.frames(1000, 1060, true), vec![]); // 80 ms < 100 ms
    assert_eq!(sim.conv.state(), State::UserSpeaking);
    assert_eq!(sim.frames(1080, 3000, false), vec![]);
    assert_eq!(sim.conv.state(), State::Listening);
    assert_eq!(sim.conv.poll_timeout(), None);
    // Two blips separated by silence do not add up.
    assert_eq!(sim.frames(3020, 3080, true), vec![]);
    assert_eq!(sim.frames(3100, 3100, false), vec![]);
    assert_eq!(sim.frames(3120, 3180, true), vec![]);
    assert_eq!(sim.frames(3200, 4000, false), vec![]);
    assert_eq!(sim.conv.history(), &[ChatMessage::system(SYSTEM)]);
}

#[test]
fn pause_shorter_than_endpointing_continues_the_turn() {
    let mut sim = Sim::new(config());
    assert_eq!(sim.frames(1000, 1480, true), vec![Output::SttForward(true)]);
    assert_eq!(sim.frames(1500, 1960, false), vec![]); // 480 ms pause
    assert_eq!(sim.conv.state(), State::Endpointing);
    assert_eq!(sim.frames(1980, 2200, true), vec![]);
    assert_eq!(sim.conv.state(), State::UserSpeaking);
    assert_eq!(
        sim.frames(2220, 2700, false),
        vec![Output::SttEndOfUtterance, Output::SttForward(false)]
    );
}

#[test]
fn blip_under_barge_in_threshold_does_not_interrupt() {
    let greeting = "Welcome to Parla.";
    let mut sim = Sim::new(ConversationConfig {
        greeting: greeting.into(),
        ..config()
    });
    sim.input(0, Input::Answered);
    sim.input(100, Input::PlaybackStarted { segment: 1 });
    assert_eq!(sim.frames(200, 420, true), vec![]); // 240 ms
    assert_eq!(sim.frames(440, 800, false), vec![]);
    assert_eq!(sim.conv.state(), State::AgentSpeaking);
    assert_eq!(
        sim.input(1500, Input::PlaybackFinished { segment: 1 }),
        vec![assistant(greeting, 100, false)]
    );
    assert_eq!(sim.conv.state(), State::Listening);
}

#[test]
fn barge_in_mid_reply_keeps_what_was_heard() {
    let mut sim = Sim::new(config());
    let request = sim.caller_asks("Tell me about pricing.");
    let out = sim.input(
        2800,
        Input::LlmToken {
            request,
            text: "Our basic plan is cheap. The pro plan adds six great features. Next".into(),
        },
    );
    assert_eq!(
        out,
        vec![
            speak(1, "Our basic plan is cheap."),
            speak(2, "The pro plan adds six great features.")
        ]
    );
    sim.input(2900, Input::PlaybackStarted { segment: 1 });
    sim.input(3900, Input::PlaybackFinished { segment: 1 });
    sim.input(3900, Input::PlaybackStarted { segment: 2 });
    sim.input(
        3950,
        Input::TtsDone {
            segment: 2,
            audio_ms: 2000,
        },
    );
    // Barge-in decided at 4900: half of segment 2 played → 4 of 7 words (rounded).
    sim.frames(4660, 4880, true);
    let out = sim.input(4900, Input::CallerFrame { speech: true });
    assert_eq!(
        out,
        vec![
            Output::StopSpeaking,
            Output::CancelLlm { request },
            assistant("Our basic plan is cheap. The pro plan adds", 2900, true),
            Output::SttForward(true),
        ]
    );
    assert_eq!(
        sim.conv.history().last(),
        Some(&ChatMessage::assistant(
            "Our basic plan is cheap. The pro plan adds"
        ))
    );
    // Estimate of 70 ms per character when TtsDone has not arrived.
    let mut sim = Sim::new(ConversationConfig {
        greeting: "abcd efgh".into(),
        ..config()
    }); // 9 chars ≈ 630 ms
    sim.input(0, Input::Answered);
    sim.input(0, Input::PlaybackStarted { segment: 1 });
    sim.frames(60, 300, true); // barge-in at 300 ms ≈ 48 % → 1 of 2 words
    assert_eq!(
        sim.conv.history().last(),
        Some(&ChatMessage::assistant("abcd"))
    );
}

#[test]
fn barge_in_disabled_lets_the_agent_finish() {
    let mut sim = Sim::new(ConversationConfig {
        greeting: "Please listen carefully.".into(),
        barge_in_enabled: false,
        ..config()
    });
    sim.input(0, Input::Answered);
    sim.input(100, Input::PlaybackStarted { segment: 1 });
    assert_eq!(sim.frames(200, 1180, true), vec![]);
    // Still talking when the agent finishes: the caller gets the floor.
    let out = sim.input(1200, Input::PlaybackFinished { segment: 1 });
    assert_eq!(
        out,
        vec![
            assistant("Please listen carefully.", 100, false),
            Output::SttForward(true)
        ]
    );
    assert_eq!(sim.conv.state(), State::UserSpeaking);
}

#[test]
fn speech_while_thinking_continues_the_turn() {
    let mut sim = Sim::new(config());
    let request = sim.caller_asks("I want to book");
    assert_eq!(
        sim.frames(2800, 2860, true),
        vec![],
        "blips do not cancel the request"
    );
    sim.frames(2880, 2880, false);
    assert_eq!(
        sim.frames(2900, 2980, true),
        vec![Output::CancelLlm { request }, Output::SttForward(true)]
    );
    assert_eq!(sim.conv.history(), &[ChatMessage::system(SYSTEM)]);
    assert_eq!(
        sim.frames(3000, 3480, false),
        vec![Output::SttEndOfUtterance, Output::SttForward(false)]
    );
    let out = sim.input(3600, Input::SttFinal("a table for two".into()));
    let Output::StartLlm {
        request: 2,
        request_body,
    } = &out[1]
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        request_body.messages.last(),
        Some(&ChatMessage::user("I want to book a table for two"))
    );
    // Caller resumes before the first transcript even arrived: both finals merge.
    let mut sim = Sim::new(config());
    sim.caller_turn();
    sim.frames(2500, 2600, true);
    assert_eq!(sim.conv.state(), State::UserSpeaking);
    sim.input(2610, Input::SttFinal("first part".into()));
    let out = sim.frames(2620, 3100, false);
    assert_eq!(
        out,
        vec![Output::SttEndOfUtterance, Output::SttForward(false)]
    );
    let out = sim.input(3200, Input::SttFinal("second part".into()));
    let Output::StartLlm { request_body, .. } = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(
        request_body.messages.last(),
        Some(&ChatMessage::user("first part second part"))
    );
}

#[test]
fn stt_stall_plays_fallback_and_drops_the_late_transcript() {
    let mut sim = Sim::new(config());
    sim.caller_turn();
    assert_eq!(sim.advance(3980), vec![Output::PlayFallback { segment: 1 }]);
    let out = sim.input(4100, Input::SttFinal("late words".into()));
    assert_eq!(
        out,
        vec![Output::Transcript {
            speaker: Role::User,
            text: "late words".into(),
            at_ms: 4100,
            interrupted: false
        }]
    );
    assert_eq!(sim.conv.history(), &[ChatMessage::system(SYSTEM)]);
}

#[test]
fn empty_reply_plays_fallback() {
    let mut sim = Sim::new(config());
    let request = sim.caller_asks("Hello?");
    sim.input(
        2800,
        Input::LlmToken {
            request,
            text: " ** ".into(),
        },
    );
    assert_eq!(
        sim.input(2810, Input::LlmDone { request }),
        vec![Output::PlayFallback { segment: 1 }]
    );
}

#[test]
fn tts_error_plays_fallback() {
    let mut sim = Sim::new(config());
    let request = sim.caller_asks("Hello?");
    sim.input(
        2800,
        Input::LlmToken {
            request,
            text: "Hi! How".into(),
        },
    );
    let out = sim.input(
        2900,
        Input::TtsError {
            segment: 1,
            error: err(),
        },
    );
    assert_eq!(
        out,
        vec![
            Output::StopSpeaking,
            Output::CancelLlm { request },
            Output::PlayFallback { segment: 2 }
        ]
    );
    // The fallback itself cannot fail into another fallback.
    assert_eq!(
        sim.input(
            2910,
            Input::TtsError {
                segment: 2,
                error: err()
            }
        ),
        vec![]
    );
    assert_eq!(sim.conv.state(), State::Listening);
}

#[test]
fn stt_error_mid_turn_plays_fallback() {
    let mut sim = Sim::new(config());
    sim.frames(1000, 1200, true);
    let out = sim.input(1210, Input::SttError(err()));
    assert_eq!(
        out,
        vec![
            Output::SttForward(false),
            Output::PlayFallback { segment: 1 }
        ]
    );
    // Outside a turn an STT error is only logged.
    let mut sim = Sim::new(config());
    assert_eq!(sim.input(10, Input::SttError(err())), vec![]);
}

#[test]
fn empty_transcript_gets_no_reply() {
    let mut sim = Sim::new(config());
    sim.caller_turn();
    assert_eq!(sim.input(2700, Input::SttFinal("  ".into())), vec![]);
    assert_eq!(sim.conv.state(), State::Listening);
    assert_eq!(sim.conv.poll_timeout(), None);
    assert_eq!(sim.conv.history(), &[ChatMessage::system(SYSTEM)]);
}
