//! Call-record payloads: SIP status codes, transcripts, per-turn latency.

use std::fmt;
use std::str::FromStr;

use super::enums::Speaker;
use super::sql::sql_i64;

/// A SIP response status code, 100 to 699 (e.g. 200, 486 Busy Here).
/// Stored as an integer; serialized as a JSON integer (validated).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct SipStatus(u16);

/// A number outside 100..=699.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SIP status {input:?}: expected an integer from 100 to 699")]
pub struct SipStatusError {
    /// The rejected input.
    pub input: String,
}

impl SipStatus {
    /// The code.
    pub fn code(self) -> u16 {
        self.0
    }
}

impl TryFrom<i64> for SipStatus {
    type Error = SipStatusError;

    fn try_from(code: i64) -> Result<Self, Self::Error> {
        if (100..=699).contains(&code) {
            u16::try_from(code).map(Self).map_err(|_| SipStatusError {
                input: code.to_string(),
            })
        } else {
            Err(SipStatusError {
                input: code.to_string(),
            })
        }
    }
}

impl TryFrom<u16> for SipStatus {
    type Error = SipStatusError;

    fn try_from(code: u16) -> Result<Self, Self::Error> {
        Self::try_from(i64::from(code))
    }
}

impl From<SipStatus> for i64 {
    fn from(s: SipStatus) -> Self {
        i64::from(s.0)
    }
}

impl FromStr for SipStatus {
    type Err = SipStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let code: i64 = s.trim().parse().map_err(|_| SipStatusError {
            input: s.to_owned(),
        })?;
        Self::try_from(code).map_err(|_| SipStatusError {
            input: s.to_owned(),
        })
    }
}

impl TryFrom<&str> for SipStatus {
    type Error = SipStatusError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for SipStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SipStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = i64::deserialize(d)?;
        Self::try_from(code).map_err(serde::de::Error::custom)
    }
}

sql_i64!(SipStatus);

/// One utterance of a call transcript. JSON shape:
/// `{"speaker":"caller"|"agent","text":"…","start_ms":0,"end_ms":1200,"interrupted":false}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TranscriptTurn {
    /// Who spoke.
    pub speaker: Speaker,
    /// What was said (final STT text for the caller, spoken text for the agent).
    pub text: String,
    /// Start, in milliseconds from the moment the call was answered.
    pub start_ms: u64,
    /// End, in milliseconds from the moment the call was answered.
    pub end_ms: u64,
    /// `true` if the agent's turn was cut short by barge-in.
    #[serde(default)]
    pub interrupted: bool,
}

/// Latency breakdown of one agent turn, all in milliseconds. A stage that
/// did not happen (e.g. TTS for a turn interrupted before speaking) is
/// `null`. JSON shape:
/// `{"eou_ms":…,"stt_ms":…,"llm_ttft_ms":…,"tts_ttfb_ms":…,"v2v_ms":…}`.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct TurnLatency {
    /// End-of-utterance detection delay (caller stops speaking → turn ends).
    #[serde(default)]
    pub eou_ms: Option<u32>,
    /// Speech-to-text finalisation after end of utterance.
    #[serde(default)]
    pub stt_ms: Option<u32>,
    /// LLM time to first token.
    #[serde(default)]
    pub llm_ttft_ms: Option<u32>,
    /// TTS time to first audio byte.
    #[serde(default)]
    pub tts_ttfb_ms: Option<u32>,
    /// Voice-to-voice: caller stops speaking → first agent audio sent.
    #[serde(default)]
    pub v2v_ms: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_status_bounds() {
        assert_eq!("486".parse::<SipStatus>().unwrap().code(), 486);
        assert_eq!(SipStatus::try_from(100_i64).unwrap().code(), 100);
        assert_eq!(SipStatus::try_from(699_u16).unwrap().code(), 699);
        assert!(SipStatus::try_from(99_i64).is_err());
        assert!(SipStatus::try_from(700_i64).is_err());
        assert!(SipStatus::try_from(-200_i64).is_err());
        let err = "ok".parse::<SipStatus>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid SIP status \"ok\": expected an integer from 100 to 699"
        );
        assert_eq!(
            serde_json::from_str::<SipStatus>("200").unwrap().code(),
            200
        );
        assert!(serde_json::from_str::<SipStatus>("42").is_err());
        assert!(serde_json::from_str::<SipStatus>("\"200\"").is_err());
    }

    #[test]
    fn transcript_and_latency_json_shapes() {
        let turn: TranscriptTurn = serde_json::from_str(
            r#"{"speaker":"agent","text":"Hello","start_ms":0,"end_ms":900,"interrupted":true}"#,
        )
        .unwrap();
        assert_eq!(turn.speaker, Speaker::Agent);
        assert!(turn.interrupted);
        assert!(serde_json::from_str::<TranscriptTurn>(
            r#"{"speaker":"robot","text":"x","start_ms":0,"end_ms":1}"#
        )
        .is_err());
        let lat: TurnLatency = serde_json::from_str(r#"{"eou_ms":120,"v2v_ms":640}"#).unwrap();
        assert_eq!(lat.eou_ms, Some(120));
        assert_eq!(lat.tts_ttfb_ms, None);
        let json = serde_json::to_value(&lat).unwrap();
        assert_eq!(json["stt_ms"], serde_json::Value::Null);
        assert!(serde_json::from_str::<TurnLatency>(r#"{"eou_ms":-1}"#).is_err());
    }
}
