//! Operator commands (hang up; say a line, then hang up or continue) and
//! the tool dispatcher, on the virtual clock.

use std::sync::Arc;

use super::sim::*;
use super::*;
use crate::providers::{ChatMessage, Role, ToolSpec};

fn say(text: &str, then: AfterSay) -> Input {
    Input::Say {
        text: text.into(),
        then,
    }
}

fn operator_hangup() -> Output {
    Output::HangUp {
        reason: OPERATOR_HANGUP_REASON.into(),
    }
}

/// The caller asks, the model starts answering, and the caller hears the
/// first segment from 3000 ms (1000 ms of audio). Returns the request.
fn reply_playing(sim: &mut Sim) -> u64 {
    let request = sim.caller_asks("When are you open?");
    let out = sim.input(
        2900,
        Input::LlmToken {
            request,
            text: "We open at nine. And".into(),
        },
    );
    assert_eq!(out, vec![speak(1, "We open at nine.")]);
    sim.input(
        2950,
        Input::TtsDone {
            segment: 1,
            audio_ms: 1000,
        },
    );
    let out = sim.input(3000, Input::PlaybackStarted { segment: 1 });
    assert!(matches!(out[..], [Output::TurnLatency(_)]), "{out:?}");
    assert_eq!(sim.conv.state(), State::AgentSpeaking);
    request
}

#[test]
fn say_then_hang_up_hangs_up_only_after_the_line_played() {
    let mut sim = Sim::new(config());
    let line = "We are closing now, goodbye.";
    assert_eq!(
        sim.input(500, say(line, AfterSay::HangUp)),
        vec![speak(1, line)]
    );
    assert_eq!(sim.conv.state(), State::AgentSpeaking);
    assert_eq!(
        sim.input(600, Input::PlaybackStarted { segment: 1 }),
        vec![]
    );
    // Neither speech nor keys interrupt a closing line.
    assert_eq!(sim.frames(700, 1500, true), vec![]);
    assert_eq!(sim.input(1600, Input::Dtmf { digit: '1' }), vec![]);
    sim.input(
        1700,
        Input::TtsDone {
            segment: 1,
            audio_ms: 2000,
        },
    );
    assert_eq!(sim.conv.state(), State::AgentSpeaking, "still playing");
    assert_eq!(
        sim.input(2600, Input::PlaybackFinished { segment: 1 }),
        vec![assistant(line, 600, false), operator_hangup()]
    );
    assert_eq!(sim.conv.state(), State::Ended);
    assert_eq!(
        sim.conv.history().last(),
        Some(&ChatMessage::assistant(line))
    );
}

#[test]
fn hang_up_now_cuts_the_reply_and_keeps_what_was_heard() {
    let mut sim = Sim::new(config());
    let request = reply_playing(&mut sim);
    assert_eq!(
        sim.input(3500, Input::HangUpNow),
        vec![
            Output::StopSpeaking,
            Output::CancelLlm { request },
            assistant("We open", 3000, true),
            operator_hangup()
        ]
    );
    assert_eq!(sim.conv.state(), State::Ended);
    assert_eq!(
        sim.input(3600, Input::PlaybackFinished { segment: 1 }),
        vec![]
    );
}

#[test]
fn hang_up_now_while_the_caller_speaks() {
    let mut sim = Sim::new(config());
    assert_eq!(sim.frames(1000, 1480, true), vec![Output::SttForward(true)]);
    assert_eq!(
        sim.input(1500, Input::HangUpNow),
        vec![Output::SttForward(false), operator_hangup()]
    );
}

#[test]
fn say_during_a_reply_cuts_it_and_the_conversation_goes_on() {
    let mut sim = Sim::new(config());
    let request = reply_playing(&mut sim);
    let line = "Please hold, a colleague is joining.";
    assert_eq!(
        sim.input(3500, say(line, AfterSay::Continue)),
        vec![
            Output::StopSpeaking,
            Output::CancelLlm { request },
            assistant("We open", 3000, true),
            speak(2, line)
        ]
    );
    sim.input(3600, Input::PlaybackStarted { segment: 2 });
    assert_eq!(
        sim.input(5600, Input::PlaybackFinished { segment: 2 }),
        vec![assistant(line, 3600, false)]
    );
    assert_eq!(sim.conv.state(), State::Listening);
    // The caller's next turn goes to the model, which knows what was said.
    assert_eq!(sim.frames(7000, 7980, true), vec![Output::SttForward(true)]);
    assert_eq!(
        sim.frames(8000, 8480, false),
        vec![Output::SttEndOfUtterance, Output::SttForward(false)]
    );
    let out = sim.input(8700, Input::SttFinal("Thanks".into()));
    let Some(Output::StartLlm { request_body, .. }) = out.get(1) else {
        panic!("expected StartLlm, got {out:?}")
    };
    assert_eq!(
        request_body.messages[1..],
        [
            ChatMessage::user("When are you open?"),
            ChatMessage::assistant("We open"),
            ChatMessage::assistant(line),
            ChatMessage::user("Thanks"),
        ]
    );
}

#[test]
fn say_while_the_model_thinks_replaces_its_answer() {
    let mut sim = Sim::new(config());
    let request = sim.caller_asks("Can I speak to a human?");
    let line = "Transferring you now.";
    assert_eq!(
        sim.input(2800, say(line, AfterSay::Continue)),
        vec![Output::CancelLlm { request }, speak(1, line)]
    );
    // The cancelled request's late tokens are ignored.
    let late = Input::LlmToken {
        request,
        text: "Sure. ".into(),
    };
    assert_eq!(sim.input(2850, late), vec![]);
}

#[test]
fn say_during_the_callers_speech_waits_for_their_turn_to_end() {
    let mut sim = Sim::new(config());
    assert_eq!(sim.frames(1000, 1480, true), vec![Output::SttForward(true)]);
    let line = "We are closing now, goodbye.";
    assert_eq!(sim.input(1490, say(line, AfterSay::HangUp)), vec![]);
    assert_eq!(sim.conv.state(), State::UserSpeaking);
    assert_eq!(sim.frames(1500, 1980, true), vec![]);
    assert_eq!(
        sim.frames(2000, 2480, false),
        vec![Output::SttEndOfUtterance, Output::SttForward(false)]
    );
    // The caller's words are transcribed; the line answers them, not the model.
    assert_eq!(
        sim.input(2700, Input::SttFinal("I want to book".into())),
        vec![
            Output::Transcript {
                speaker: Role::User,
                text: "I want to book".into(),
                at_ms: 1000,
                interrupted: false
            },
            speak(1, line)
        ]
    );
    sim.input(2800, Input::PlaybackStarted { segment: 1 });
    assert_eq!(
        sim.input(4000, Input::PlaybackFinished { segment: 1 }),
        vec![assistant(line, 2800, false), operator_hangup()]
    );
    assert_eq!(
        sim.conv.history()[1..],
        [
            ChatMessage::user("I want to book"),
            ChatMessage::assistant(line)
        ]
    );
}

#[test]
fn a_waiting_line_is_said_even_if_the_transcript_never_comes() {
    let mut sim = Sim::new(config());
    sim.caller_turn(); // turn ends at 2480
    assert_eq!(
        sim.input(2500, say("One moment.", AfterSay::Continue)),
        vec![]
    );
    assert_eq!(
        sim.input(2510, say("Still there?", AfterSay::Continue)),
        vec![]
    );
    // Response timeout (1500 ms) without a transcript: the lines, not the fallback.
    assert_eq!(
        sim.advance(3980),
        vec![speak(1, "One moment."), speak(2, "Still there?")]
    );
}

#[test]
fn barge_in_on_a_say_and_continue_line_is_like_any_reply() {
    let mut sim = Sim::new(config());
    let line = "Hello, this is a message from the clinic about your appointment.";
    assert_eq!(
        sim.input(500, say(line, AfterSay::Continue)),
        vec![speak(1, line)]
    );
    sim.input(600, Input::PlaybackStarted { segment: 1 });
    sim.input(
        700,
        Input::TtsDone {
            segment: 1,
            audio_ms: 4000,
        },
    );
    assert_eq!(sim.frames(1000, 1220, true), vec![], "under the threshold");
    assert_eq!(
        sim.frames(1240, 1240, true),
        vec![
            Output::StopSpeaking,
            assistant("Hello, this", 600, true),
            Output::SttForward(true)
        ]
    );
    assert_eq!(sim.conv.state(), State::UserSpeaking);
}

#[test]
fn an_empty_line_hangs_up_at_once_or_does_nothing() {
    let mut sim = Sim::new(config());
    assert_eq!(sim.input(100, say("  ", AfterSay::Continue)), vec![]);
    assert_eq!(sim.conv.state(), State::Listening);
    assert_eq!(
        sim.input(200, say("", AfterSay::HangUp)),
        vec![operator_hangup()]
    );
}

#[derive(Debug)]
struct Booking;

impl Tool for Booking {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "book".into(),
            description: "Book a slot".into(),
            parameters: serde_json::json!({"type": "object"}),
        }
    }
    fn call(&self, _arguments: &serde_json::Value) -> Result<ToolOutcome, ToolError> {
        Ok(ToolOutcome::Continue)
    }
}

#[test]
fn tool_calls_go_through_the_dispatcher() {
    let mut tools = ToolDispatcher::default();
    tools.register(Arc::new(Booking)).unwrap();
    let mut sim = Sim::new(config());
    sim.conv = Conversation::with_tools(config(), tools, sim.t0);
    let request = sim.caller_asks("Book me for Monday");
    let Some(Output::StartLlm { request_body, .. }) = sim
        .all
        .iter()
        .find(|o| matches!(o, Output::StartLlm { .. }))
    else {
        unreachable!()
    };
    let names: Vec<&str> = request_body.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["end_call", "book"]);
    for (name, arguments) in [("book", "{}"), ("unknown", "{}"), ("end_call", "[oops")] {
        let call = Input::LlmToolCall {
            request,
            name: name.into(),
            arguments: arguments.into(),
        };
        assert_eq!(sim.input(2750, call), vec![]);
    }
    // Only a valid end_call ends the call: these did not.
    sim.input(
        2800,
        Input::LlmToken {
            request,
            text: "Done, see you Monday.".into(),
        },
    );
    sim.input(2810, Input::LlmDone { request });
    sim.input(2900, Input::PlaybackStarted { segment: 1 });
    let out = sim.input(3900, Input::PlaybackFinished { segment: 1 });
    assert_eq!(out, vec![assistant("Done, see you Monday.", 2900, false)]);
    assert_eq!(sim.conv.state(), State::Listening);
}

#[test]
fn without_tools_the_model_is_offered_none_and_end_call_is_ignored() {
    let mut sim = Sim::new(config());
    sim.conv = Conversation::with_tools(config(), ToolDispatcher::empty(), sim.t0);
    let request = sim.caller_asks("Bye");
    let Some(Output::StartLlm { request_body, .. }) = sim.all.last() else {
        unreachable!()
    };
    assert!(request_body.tools.is_empty());
    sim.input(2800, Input::LlmEndCall { request });
    sim.input(2810, Input::LlmDone { request });
    // Nothing said and no hang-up: the caller gets the fallback line.
    assert!(sim
        .all
        .iter()
        .any(|o| matches!(o, Output::PlayFallback { .. })));
    assert!(!sim.all.iter().any(|o| matches!(o, Output::HangUp { .. })));
}
