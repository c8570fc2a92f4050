//! Tenant agent settings ([`parla_spec`], checked when saved) → the
//! engine's provider sections. Every field is mapped explicitly, so a
//! setting added to the spec without an engine counterpart does not compile.
//!
//! The result never names an environment variable or a file: the spec has
//! no `api_key_env` or `script`, so building these providers reads neither.

use parla_spec as spec;

use super::config::{
    DeepgramSettings, FlowSettings, LlmProviderConfig, OpenAiLlmSettings, OpenAiSttSettings,
    OpenAiTtsSettings, Secret, SttProviderConfig, TtsProviderConfig,
};
use super::espeak::EspeakConfig;
use super::flow::{FlowConfig, FlowIntent, FlowSlot};

fn secret(s: Option<spec::Secret>) -> Option<Secret> {
    s.map(|s| Secret::new(s.expose()))
}

impl From<spec::SttSettings> for SttProviderConfig {
    fn from(s: spec::SttSettings) -> Self {
        match s {
            spec::SttSettings::Openai(spec::OpenAiSttSettings {
                base_url,
                api_key,
                model,
                language,
            }) => SttProviderConfig::Openai(OpenAiSttSettings {
                base_url,
                api_key: secret(api_key),
                api_key_env: None,
                model,
                language,
            }),
            spec::SttSettings::Deepgram(spec::DeepgramSettings {
                base_url,
                api_key,
                model,
                language,
                endpointing_ms,
                interim_results,
            }) => SttProviderConfig::Deepgram(DeepgramSettings {
                base_url,
                api_key: secret(api_key),
                api_key_env: None,
                model,
                language,
                endpointing_ms,
                interim_results,
            }),
        }
    }
}

impl From<spec::LlmSettings> for LlmProviderConfig {
    fn from(s: spec::LlmSettings) -> Self {
        match s {
            spec::LlmSettings::Flow(spec::FlowSettings { flow }) => {
                LlmProviderConfig::Flow(FlowSettings {
                    script: None,
                    flow: flow.map(FlowConfig::from),
                })
            }
            spec::LlmSettings::Openai(spec::OpenAiLlmSettings {
                base_url,
                api_key,
                model,
                temperature,
                max_tokens,
            }) => LlmProviderConfig::Openai(OpenAiLlmSettings {
                base_url,
                api_key: secret(api_key),
                api_key_env: None,
                model,
                temperature,
                max_tokens,
            }),
        }
    }
}

impl From<spec::TtsSettings> for TtsProviderConfig {
    fn from(s: spec::TtsSettings) -> Self {
        match s {
            spec::TtsSettings::Espeak(spec::EspeakSettings {
                voice,
                rate_wpm,
                pitch,
            }) => {
                let d = EspeakConfig::default();
                TtsProviderConfig::Espeak(EspeakConfig {
                    voice: voice.unwrap_or(d.voice),
                    rate_wpm: rate_wpm.unwrap_or(d.rate_wpm),
                    pitch: pitch.unwrap_or(d.pitch),
                })
            }
            spec::TtsSettings::Openai(spec::OpenAiTtsSettings {
                base_url,
                api_key,
                model,
                voice,
            }) => TtsProviderConfig::Openai(OpenAiTtsSettings {
                base_url,
                api_key: secret(api_key),
                api_key_env: None,
                model,
                voice,
            }),
        }
    }
}

impl From<spec::FlowScript> for FlowConfig {
    fn from(s: spec::FlowScript) -> Self {
        let spec::FlowScript {
            greeting,
            fallback,
            intents,
        } = s;
        FlowConfig {
            greeting,
            fallback,
            intents: intents
                .into_iter()
                .map(
                    |spec::FlowIntent {
                         name,
                         keywords,
                         regex,
                         dtmf,
                         reply,
                         end_call,
                         slots,
                     }| FlowIntent {
                        name,
                        keywords,
                        regex,
                        dtmf,
                        reply,
                        end_call,
                        slots: slots
                            .into_iter()
                            .map(|spec::FlowSlot { name, regex, ask }| FlowSlot {
                                name,
                                regex,
                                ask,
                            })
                            .collect(),
                    },
                )
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_settings_become_provider_sections_without_env_or_files() {
        let creds = serde_json::json!({
            "stt": {"api_key": "dg", "endpointing_ms": 300},
            "llm": {"flow": {"fallback": "Pardon?", "intents": [{"name": "a", "reply": "b", "regex": "x+"}]}},
            "tts": {"rate_wpm": 200}
        });
        let p = spec::AgentProviders::from_input(&spec::ProviderInput {
            stt_provider: "deepgram",
            llm_provider: "flow",
            tts_provider: "",
            credentials: Some(&creds),
            flow: None,
        })
        .unwrap();
        let SttProviderConfig::Deepgram(stt) = SttProviderConfig::from(p.stt) else {
            panic!()
        };
        assert_eq!(stt.api_key.unwrap().expose(), "dg");
        assert_eq!((stt.endpointing_ms, stt.api_key_env), (Some(300), None));
        let LlmProviderConfig::Flow(flow) = LlmProviderConfig::from(p.llm) else {
            panic!()
        };
        assert!(flow.script.is_none());
        assert_eq!(flow.flow.unwrap().intents[0].regex.as_deref(), Some("x+"));
        let TtsProviderConfig::Espeak(tts) = TtsProviderConfig::from(p.tts) else {
            panic!()
        };
        assert_eq!(
            (tts.rate_wpm, tts.pitch, tts.voice.as_str()),
            (200, 50, "en-us")
        );
    }
}
