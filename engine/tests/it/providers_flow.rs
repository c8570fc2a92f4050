//! The offline scripted dialogue model.

use futures::StreamExt;
use parla_engine::providers::flow::{FlowConfig, FlowLlm};
use parla_engine::providers::{ChatMessage, LanguageModel, LlmEvent, LlmRequest, ProviderError};

const SCRIPT: &str = r#"
[flow]
fallback = "Sorry, I didn't get that. You can say book an appointment, opening hours, or talk to a person."

[[flow.intents]]
name = "appointment"
keywords = ["appointment", "book", "booking", "schedule"]
regex = "(?i)\\bappointment\\b"
dtmf = "1"
slots = [
  { name = "day", regex = "(?i)\\b(monday|tuesday|wednesday|thursday|friday)\\b", ask = "What day works best?" },
  { name = "time", regex = "(?i)\\b(\\d{1,2}(?::\\d\\d)? ?(?:am|pm))\\b", ask = "What time on {day}?" },
]
reply = "Booked for {day} at {time}."

[[flow.intents]]
name = "hours"
keywords = ["opening hours"]
regex = "(?i)\\bwhen (are|do) you (open|close)"
dtmf = "2"
reply = "We're open nine to five."

[[flow.intents]]
name = "goodbye"
keywords = ["bye", "goodbye", "that's all"]
reply = "Thank you for calling. Goodbye!"
end_call = true
"#;

fn flow() -> FlowLlm {
    FlowLlm::new(FlowConfig::from_toml_str(SCRIPT).unwrap()).unwrap()
}

/// Builds a history from alternating user turns (assistant replies in between
/// are whatever the flow said; they don't influence it).
fn history(turns: &[ChatMessage]) -> LlmRequest {
    let mut messages = vec![ChatMessage::system("You are a receptionist.")];
    for t in turns {
        messages.push(t.clone());
        messages.push(ChatMessage::assistant("(reply)"));
    }
    messages.pop();
    LlmRequest {
        messages,
        tools: vec![],
    }
}

async fn reply(llm: &FlowLlm, turns: &[ChatMessage]) -> (String, Vec<LlmEvent>) {
    let events: Vec<LlmEvent> = llm
        .stream(history(turns))
        .await
        .unwrap()
        .map(|e| e.unwrap())
        .collect()
        .await;
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            LlmEvent::Token(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    (text, events)
}

fn u(text: &str) -> ChatMessage {
    ChatMessage::user(text)
}

#[tokio::test]
async fn keyword_match_streams_word_tokens() {
    let (text, events) = reply(&flow(), &[u("Hi, I'd like to BOOK something")]).await;
    assert_eq!(text, "What day works best?");
    assert_eq!(
        events,
        vec![
            LlmEvent::Token("What".into()),
            LlmEvent::Token(" day".into()),
            LlmEvent::Token(" works".into()),
            LlmEvent::Token(" best?".into()),
            LlmEvent::Done,
        ]
    );
}

#[tokio::test]
async fn keywords_match_whole_words_only() {
    // "rebooked" contains "book" but is not the word; "that's all" is a phrase.
    let (text, _) = reply(&flow(), &[u("I rebooked it")]).await;
    assert!(text.starts_with("Sorry"), "{text}");
    let (text, _) = reply(&flow(), &[u("Okay, that’s all.")]).await;
    assert_eq!(text, "Thank you for calling. Goodbye!");
}

#[tokio::test]
async fn regex_match() {
    let (text, _) = reply(&flow(), &[u("When do you close today?")]).await;
    assert_eq!(text, "We're open nine to five.");
}

#[tokio::test]
async fn dtmf_selects_intent() {
    let (text, _) = reply(&flow(), &[ChatMessage::user_dtmf("2")]).await;
    assert_eq!(text, "We're open nine to five.");
    let (text, _) = reply(&flow(), &[ChatMessage::user_dtmf("1")]).await;
    assert_eq!(text, "What day works best?");
    // A digit no intent owns falls back (the text "The caller pressed 7." matches nothing).
    let (text, _) = reply(&flow(), &[ChatMessage::user_dtmf("7")]).await;
    assert!(text.starts_with("Sorry"), "{text}");
}

#[tokio::test]
async fn slots_fill_across_turns() {
    let llm = flow();
    let t1 = u("I need an appointment");
    let t2 = u("Tuesday please");
    let t3 = u("um, let me think");
    let t4 = u("3 pm");
    assert_eq!(
        reply(&llm, std::slice::from_ref(&t1)).await.0,
        "What day works best?"
    );
    assert_eq!(
        reply(&llm, &[t1.clone(), t2.clone()]).await.0,
        "What time on Tuesday?"
    );
    // Nothing useful: ask again, the intent stays active.
    assert_eq!(
        reply(&llm, &[t1.clone(), t2.clone(), t3.clone()]).await.0,
        "What time on Tuesday?"
    );
    assert_eq!(
        reply(&llm, &[t1.clone(), t2.clone(), t3.clone(), t4.clone()])
            .await
            .0,
        "Booked for Tuesday at 3 pm."
    );
    // Both slots in one turn.
    assert_eq!(
        reply(&llm, &[u("book friday at 10:30 am")]).await.0,
        "Booked for friday at 10:30 am."
    );
    // After completion, an unrelated turn falls back; slot values persist for a new booking.
    let done = [t1.clone(), t2.clone(), t4.clone()];
    let mut more = done.to_vec();
    more.push(u("blue elephants"));
    assert!(reply(&llm, &more).await.0.starts_with("Sorry"));
    more.push(u("another appointment please"));
    assert_eq!(reply(&llm, &more).await.0, "Booked for Tuesday at 3 pm.");
    // Switching intent mid slot-filling.
    assert_eq!(
        reply(&llm, &[t1, u("what are your opening hours")]).await.0,
        "We're open nine to five."
    );
}

#[tokio::test]
async fn fallback_and_empty_turns() {
    let (text, events) = reply(&flow(), &[u("the weather is nice")]).await;
    assert_eq!(
        text,
        "Sorry, I didn't get that. You can say book an appointment, opening hours, or talk to a person."
    );
    assert_eq!(events.last(), Some(&LlmEvent::Done));
    assert!(!events.contains(&LlmEvent::EndCall));
    let (text, _) = reply(&flow(), &[u("")]).await;
    assert!(text.starts_with("Sorry"));
}

#[tokio::test]
async fn end_call_intent() {
    let (text, events) = reply(&flow(), &[u("book"), u("ok bye")]).await;
    assert_eq!(text, "Thank you for calling. Goodbye!");
    let n = events.len();
    assert_eq!(&events[n - 2..], &[LlmEvent::EndCall, LlmEvent::Done]);
}

#[tokio::test]
async fn greeting_without_user_turn() {
    let llm = FlowLlm::new(FlowConfig::default()).unwrap();
    let (text, _) = reply(&llm, &[]).await;
    assert!(text.starts_with("Hello"), "{text}");
    // The built-in script works too.
    let (text, _) = reply(&llm, &[u("book an appointment for monday")]).await;
    assert_eq!(
        text,
        "Great, you're booked for monday. Is there anything else I can help with?"
    );
}

#[test]
fn bad_scripts_are_config_errors() {
    let mut c = FlowConfig::from_toml_str(SCRIPT).unwrap();
    c.intents[0].regex = Some("(unclosed".into());
    assert!(matches!(FlowLlm::new(c), Err(ProviderError::Config(_))));
    let mut c = FlowConfig::from_toml_str(SCRIPT).unwrap();
    c.intents[1].reply = "Open on {dya}".into();
    assert!(matches!(FlowLlm::new(c), Err(ProviderError::Config(_))));
    assert!(FlowConfig::from_toml_str("[flow]\nfallback = 'x'\nbogus = 1\n").is_err());
}
