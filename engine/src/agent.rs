//! Voice agents and routing: which agent answers a dialed number.
//!
//! Agents are configured in `parla.toml` (`[[agents]]` tables, imported into
//! the admin database on first start); the `parla` binary implements the
//! [`AgentDirectory`] trait from that database (dialed number → tenant → agent).

use std::sync::Arc;

use serde::Deserialize;

use crate::call::lifecycle::CallLifecycle;
use crate::conversation::ConversationConfig;
use crate::providers::config::{LlmProviderConfig, Secret, SttProviderConfig, TtsProviderConfig};
use crate::providers::{LanguageModel, ProviderError, SpeechToText, TextToSpeech};

/// The whole `parla.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParlaConfig {
    #[serde(default)]
    pub agents: Vec<AgentConfig>,
}

/// Why a `parla.toml` cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    /// An operator-only setting (`api_key_env`, `script`) cannot be resolved.
    #[error("agent {agent:?}: {source}")]
    Resolve {
        agent: String,
        source: ProviderError,
    },
}

impl ParlaConfig {
    /// Parses a `parla.toml` document and resolves its operator-only
    /// settings right away, so that nothing reads the environment or a file
    /// later (when a call arrives, or from the database after the import):
    /// each `api_key_env` becomes the inline `api_key` it names (see
    /// [`crate::providers::config::resolve_api_key`]), each flow `script`
    /// becomes the inline `flow` read from that file (see
    /// [`crate::providers::config::FlowSettings::resolve_script`]: regular files of bounded size only).
    ///
    /// Errors: [`ConfigError::Toml`] for a malformed document,
    /// [`ConfigError::Resolve`] naming the agent for an unset variable, a
    /// variable holding one of Parla's own secrets, or an unreadable script.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let mut config: ParlaConfig = toml::from_str(text)?;
        for agent in &mut config.agents {
            agent
                .resolve_operator_settings()
                .map_err(|source| ConfigError::Resolve {
                    agent: agent.name.clone(),
                    source,
                })?;
        }
        Ok(config)
    }
}

impl AgentConfig {
    /// Replaces `api_key_env` by the key it names and `script` by the
    /// script it names (see [`ParlaConfig::from_toml`]).
    pub fn resolve_operator_settings(&mut self) -> Result<(), ProviderError> {
        use crate::providers::config::resolve_api_key;
        fn inline(
            api_key: &mut Option<Secret>,
            api_key_env: &mut Option<String>,
        ) -> Result<(), ProviderError> {
            if api_key_env.is_some() {
                *api_key = resolve_api_key(api_key, api_key_env)?.map(Secret::new);
                *api_key_env = None;
            }
            Ok(())
        }
        match &mut self.stt {
            SttProviderConfig::Openai(s) => inline(&mut s.api_key, &mut s.api_key_env)?,
            SttProviderConfig::Deepgram(s) => inline(&mut s.api_key, &mut s.api_key_env)?,
        }
        match &mut self.llm {
            LlmProviderConfig::Openai(s) => inline(&mut s.api_key, &mut s.api_key_env)?,
            LlmProviderConfig::Flow(f) => f.resolve_script()?,
        }
        match &mut self.tts {
            TtsProviderConfig::Openai(s) => inline(&mut s.api_key, &mut s.api_key_env)?,
            TtsProviderConfig::Espeak(_) => {}
        }
        Ok(())
    }
}

// The defaults an agent saved in the admin takes too (`parla_spec::agent`).
fn default_language() -> String {
    parla_spec::agent::DEFAULT_LANGUAGE.into()
}
fn default_barge_in() -> bool {
    parla_spec::agent::DEFAULT_BARGE_IN
}
fn default_barge_in_min_ms() -> u32 {
    parla_spec::agent::DEFAULT_BARGE_IN_MIN_MS
}
fn default_endpointing_ms() -> u32 {
    parla_spec::agent::DEFAULT_ENDPOINTING_MS
}
fn default_min_utterance_ms() -> u32 {
    100
}
fn default_response_timeout_ms() -> u32 {
    1200
}
fn default_fallback_line() -> String {
    "Sorry, I'm having trouble right now. Could you say that again?".into()
}

/// One `[[agents]]` table of `parla.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Unique name, used in logs and metrics.
    pub name: String,
    /// Destinations routed to this agent: an E.164 number (`+15551234567`), a
    /// Request-URI user part (`support`), a full SIP URI (`sip:support@example.com`),
    /// or `*` for any destination.
    #[serde(default)]
    pub numbers: Vec<String>,
    /// Spoken right after the call is answered (empty: the agent waits for the caller).
    #[serde(default)]
    pub greeting: String,
    /// System prompt for LLM providers (the `flow` provider ignores it).
    #[serde(default)]
    pub system_prompt: String,
    /// BCP 47 language tag passed to STT, e.g. `en`.
    #[serde(default = "default_language")]
    pub language: String,
    /// TTS voice name (provider-specific; empty = the provider's default).
    #[serde(default)]
    pub voice: String,
    /// Whether caller speech interrupts the agent.
    #[serde(default = "default_barge_in")]
    pub barge_in: bool,
    /// Continuous caller speech needed to interrupt the agent, in ms.
    #[serde(default = "default_barge_in_min_ms")]
    pub barge_in_min_ms: u32,
    /// Silence after caller speech that ends the caller's turn, in ms.
    #[serde(default = "default_endpointing_ms")]
    pub endpointing_ms: u32,
    /// Speech bursts shorter than this are treated as noise, in ms.
    #[serde(default = "default_min_utterance_ms")]
    pub min_utterance_ms: u32,
    /// No agent audio this long after the caller's turn ends → the fallback line, in ms.
    #[serde(default = "default_response_timeout_ms")]
    pub response_timeout_ms: u32,
    /// Said when a provider fails or stalls (pre-rendered with espeak-ng).
    #[serde(default = "default_fallback_line")]
    pub fallback_line: String,
    /// How long the call rings (180 Ringing) before the agent answers, in ms.
    #[serde(default)]
    pub answer_delay_ms: u32,
    /// Hard limit on call duration, in seconds.
    #[serde(default)]
    pub max_call_secs: Option<u32>,
    /// Record each call as a stereo WAV (caller left, agent right) in the
    /// data directory's `recordings/`.
    #[serde(default)]
    pub record: bool,
    pub stt: SttProviderConfig,
    pub llm: LlmProviderConfig,
    pub tts: TtsProviderConfig,
}

impl AgentConfig {
    /// An agent named `name` with these providers, no numbers, and every
    /// other setting at its documented default (as if omitted in `parla.toml`).
    pub fn with_providers(
        name: String,
        stt: SttProviderConfig,
        llm: LlmProviderConfig,
        tts: TtsProviderConfig,
    ) -> AgentConfig {
        AgentConfig {
            name,
            numbers: Vec::new(),
            greeting: String::new(),
            system_prompt: String::new(),
            language: default_language(),
            voice: String::new(),
            barge_in: default_barge_in(),
            barge_in_min_ms: default_barge_in_min_ms(),
            endpointing_ms: default_endpointing_ms(),
            min_utterance_ms: default_min_utterance_ms(),
            response_timeout_ms: default_response_timeout_ms(),
            fallback_line: default_fallback_line(),
            answer_delay_ms: 0,
            max_call_secs: None,
            record: false,
            stt,
            llm,
            tts,
        }
    }

    /// The conversation core's settings for this agent.
    pub fn conversation(&self) -> ConversationConfig {
        ConversationConfig {
            greeting: self.greeting.clone(),
            system_prompt: self.system_prompt.clone(),
            barge_in_min_ms: self.barge_in_min_ms,
            barge_in_enabled: self.barge_in,
            endpointing_ms: self.endpointing_ms,
            min_utterance_ms: self.min_utterance_ms,
            response_timeout_ms: self.response_timeout_ms,
            fallback_line: self.fallback_line.clone(),
            max_call_ms: self.max_call_secs.map(|s| s.saturating_mul(1000)),
        }
    }
}

/// A ready-to-answer agent: its configuration and live provider clients.
pub struct Agent {
    pub config: AgentConfig,
    pub stt: Arc<dyn SpeechToText>,
    pub llm: Arc<dyn LanguageModel>,
    pub tts: Arc<dyn TextToSpeech>,
    /// The fallback line as 8 kHz PCM, rendered once with espeak-ng so it can be
    /// played even when the agent's own TTS provider is down.
    pub fallback_audio_8k: Arc<Vec<i16>>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

/// Errors building agents from configuration.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("agent {agent:?}: {source}")]
    Provider {
        agent: String,
        source: ProviderError,
    },
    #[error("agent {agent:?}: could not render the fallback line: {reason}")]
    Fallback { agent: String, reason: String },
}

/// Builds one live agent: its provider clients, and the fallback line
/// rendered once with the in-process espeak-ng at 8 kHz.
///
/// Errors: [`AgentError::Provider`] when a provider section is invalid (bad
/// settings, missing API key), [`AgentError::Fallback`] when espeak-ng fails.
///
/// `egress` confines the providers' network requests (see
/// [`crate::providers::egress`]).
pub async fn build_agent(
    config: &AgentConfig,
    egress: &crate::providers::egress::EgressPolicy,
) -> Result<Arc<Agent>, AgentError> {
    use crate::providers::espeak::{EspeakConfig, EspeakTts};
    use futures::StreamExt;

    let err = |source| AgentError::Provider {
        agent: config.name.clone(),
        source,
    };
    let stt = config.stt.build(egress).map_err(err)?;
    let llm = config.llm.build(egress).map_err(err)?;
    let tts = config.tts.build(egress).map_err(err)?;

    let fallback_err = |reason: String| AgentError::Fallback {
        agent: config.name.clone(),
        reason,
    };
    let espeak =
        EspeakTts::new(EspeakConfig::default()).map_err(|e| fallback_err(e.to_string()))?;
    let mut stream = espeak
        .synthesize(&config.fallback_line, "")
        .await
        .map_err(|e| fallback_err(e.to_string()))?;
    let mut pcm = Vec::new();
    let mut resampler: Option<(u32, parla_media::resample::Resampler)> = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| fallback_err(e.to_string()))?;
        if resampler.as_ref().map(|(r, _)| *r) != Some(chunk.sample_rate_hz) {
            let r = parla_media::resample::Resampler::new(
                chunk.sample_rate_hz,
                parla_media::NARROWBAND_HZ,
            )
            .map_err(|e| fallback_err(e.to_string()))?;
            resampler = Some((chunk.sample_rate_hz, r));
        }
        if let Some((_, r)) = resampler.as_mut() {
            r.process(&chunk.samples, &mut pcm);
        }
    }
    if let Some((_, r)) = resampler.as_mut() {
        r.flush(&mut pcm);
    }
    if pcm.is_empty() {
        return Err(fallback_err("espeak-ng produced no audio".into()));
    }
    Ok(Arc::new(Agent {
        config: config.clone(),
        stt,
        llm,
        tts,
        fallback_audio_8k: Arc::new(pcm),
    }))
}

/// The destination of an incoming INVITE, as routing sees it.
#[derive(Debug, Clone)]
pub struct CallTarget {
    /// SIP Call-ID.
    pub call_id: String,
    /// From URI (the caller).
    pub from: String,
    /// To URI.
    pub to: String,
    /// Request-URI.
    pub request_uri: String,
    /// The Request-URI user part (`+15551234567`, `support`), if any.
    pub dialed_user: Option<String>,
    /// When the INVITE was received.
    pub received_at: std::time::SystemTime,
}

/// What routing decided for one INVITE.
pub enum RouteDecision {
    /// Answer with `agent`; report the call's lifecycle to `lifecycle`.
    Agent {
        agent: Arc<Agent>,
        /// The tenant the call belongs to (its concurrent calls are limited,
        /// see [`crate::call::limits`]); `None`: not counted per tenant.
        tenant: Option<String>,
        lifecycle: Option<Box<dyn CallLifecycle>>,
    },
    /// Reject with SIP `status` (404 unknown destination, 480/503 agent
    /// unavailable); `lifecycle` (if any) receives the rejection.
    Reject {
        status: u16,
        lifecycle: Option<Box<dyn CallLifecycle>>,
    },
}

impl std::fmt::Debug for RouteDecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteDecision::Agent {
                agent,
                tenant,
                lifecycle,
            } => f
                .debug_struct("Agent")
                .field("agent", &agent.config.name)
                .field("tenant", tenant)
                .field("lifecycle", &lifecycle.is_some())
                .finish(),
            RouteDecision::Reject { status, lifecycle } => f
                .debug_struct("Reject")
                .field("status", status)
                .field("lifecycle", &lifecycle.is_some())
                .finish(),
        }
    }
}

/// Finds the agent for an incoming call. Routing may do IO (a database
/// lookup, building provider clients); the engine runs it off the SIP loop.
#[async_trait::async_trait]
pub trait AgentDirectory: Send + Sync + 'static {
    /// The decision for `target`; unknown destinations are `Reject { status: 404 }`.
    async fn route(&self, target: &CallTarget) -> RouteDecision;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent_config(numbers: &[&str]) -> AgentConfig {
        let toml = format!(
            r#"
            name = "a"
            numbers = {numbers:?}
            [stt]
            provider = "openai"
            base_url = "http://127.0.0.1:9/v1"
            [llm]
            provider = "flow"
            [tts]
            provider = "espeak"
            "#
        );
        toml::from_str(&toml).expect("agent config parses")
    }

    #[test]
    fn defaults_follow_the_documented_values() {
        let a = agent_config(&["*"]);
        let c = a.conversation();
        assert_eq!(c.barge_in_min_ms, 250);
        assert!(c.barge_in_enabled);
        assert_eq!(c.endpointing_ms, 500);
        assert_eq!(a.language, "en");
        // The constructor for agents from other sources has the same defaults.
        let mut built =
            AgentConfig::with_providers("a".into(), a.stt.clone(), a.llm.clone(), a.tts.clone());
        built.numbers = a.numbers.clone();
        assert_eq!(format!("{built:?}"), format!("{a:?}"));
    }
}
