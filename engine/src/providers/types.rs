//! Data shared by the provider traits and the conversation core.

use serde::{Deserialize, Serialize};

/// Who said a chat message (OpenAI chat roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// One message of the conversation history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
    /// DTMF digits the caller pressed for this user turn (RFC 4733), if the turn
    /// was keyed rather than spoken. Providers that only take text render it as
    /// "The caller pressed <digits>." in `content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtmf: Option<String>,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
            dtmf: None,
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
            dtmf: None,
        }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
            dtmf: None,
        }
    }
    /// A user turn made of keyed digits.
    pub fn user_dtmf(digits: impl Into<String>) -> Self {
        let digits = digits.into();
        Self {
            role: Role::User,
            content: format!("The caller pressed {digits}."),
            dtmf: Some(digits),
        }
    }
}

/// A function the model may call (OpenAI `tools[].function`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
}

/// One completion request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LlmRequest {
    /// Full history, system prompt first.
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<ToolSpec>,
}

/// What a language model streams back.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmEvent {
    /// A piece of the reply text, in order.
    Token(String),
    /// A complete tool call (arguments fully assembled from the stream).
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
    /// Well-known tool intents the engine acts on: hang up after speaking.
    EndCall,
    /// The reply is complete.
    Done,
}

/// A piece of synthesized speech: mono s16 PCM.
#[derive(Debug, Clone, PartialEq)]
pub struct TtsChunk {
    pub samples: Vec<i16>,
    /// Sample rate of `samples`, in Hz.
    pub sample_rate_hz: u32,
}
