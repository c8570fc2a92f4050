//! Provider simulators (`parla-loadtest providers`): local servers speaking
//! the OpenAI-compatible STT (`/v1/audio/transcriptions`), LLM
//! (`/v1/chat/completions`, SSE) and TTS (`/v1/audio/speech`, 24 kHz PCM)
//! APIs on one port, and Deepgram's streaming `/v1/listen` WebSocket on a
//! second, with latencies drawn from configurable distributions. They are
//! the testkit's protocol-faithful mocks (`parla_testkit::servers`) in their
//! load mode: a fixed transcript instead of recognition, audio rendered once
//! per distinct text, nothing recorded per request.
//!
//! `GET /stats` (on the OpenAI port) reports per API how many requests were
//! served and the injected latencies' percentiles, so the load report can
//! separate provider time from engine overhead; `POST /stats/reset` starts
//! over (`parla-loadtest run --providers-url` does so when it starts).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, HttpResponse};
use hdrhistogram::Histogram;
use parla_testkit::servers::{Delay, MockDeepgram, MockLlm, MockStt, MockTts, OpenAiSuite};
use serde::{Deserialize, Serialize};

use crate::dist::{Distribution, Sampler};
use crate::report::Percentiles;

/// Defaults after published figures for hosted providers.
pub const DEFAULT_STT_DELAY: &str = "uniform:150..350";
pub const DEFAULT_LLM_TTFT: &str = "uniform:150..300";
pub const DEFAULT_LLM_INTER_TOKEN: &str = "uniform:10..30";
pub const DEFAULT_TTS_TTFB: &str = "uniform:100..200";
pub const DEFAULT_TRANSCRIPT: &str = "I would like to book an appointment";
pub const DEFAULT_REPLY: &str =
    "Certainly, I can book that appointment for you. Which day would you like to come in?";

/// What to simulate.
#[derive(Clone, Debug)]
pub struct ProvidersConfig {
    /// OpenAI-compatible APIs and `/stats` (port 0: any free port).
    pub listen: SocketAddr,
    /// Deepgram WebSocket (port 0: any free port).
    pub deepgram_listen: SocketAddr,
    /// What every transcription says.
    pub transcript: String,
    /// What the LLM answers.
    pub reply: String,
    /// STT: speech end (Finalize / endpoint / upload) → final transcript.
    pub stt_delay: Distribution,
    /// LLM: request → first token.
    pub llm_ttft: Distribution,
    /// LLM: between streamed tokens.
    pub llm_inter_token: Distribution,
    /// TTS: request → first audio byte.
    pub tts_ttfb: Distribution,
    pub seed: u64,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        ProvidersConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            deepgram_listen: "127.0.0.1:0".parse().expect("addr"),
            transcript: DEFAULT_TRANSCRIPT.into(),
            reply: DEFAULT_REPLY.into(),
            stt_delay: DEFAULT_STT_DELAY.parse().expect("default"),
            llm_ttft: DEFAULT_LLM_TTFT.parse().expect("default"),
            llm_inter_token: DEFAULT_LLM_INTER_TOKEN.parse().expect("default"),
            tts_ttfb: DEFAULT_TTS_TTFB.parse().expect("default"),
            seed: 1,
        }
    }
}

/// Injected latencies, in microseconds, per API.
#[derive(Debug)]
struct Recorder {
    stt_openai: Histogram<u64>,
    stt_deepgram: Histogram<u64>,
    llm_ttft: Histogram<u64>,
    llm_first_sentence: Histogram<u64>,
    tts_ttfb: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant figures is valid")
}

type Shared = Arc<Mutex<Recorder>>;

/// `GET /stats`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ProviderStats {
    /// Finals of both STT APIs together.
    pub stt_ms: Percentiles,
    pub stt_openai_ms: Percentiles,
    pub stt_deepgram_ms: Percentiles,
    pub llm_ttft_ms: Percentiles,
    /// LLM: request → the streamed chunk that completes the first sentence
    /// (first token plus the inter-token gaps up to it): when the first
    /// speakable text is in the engine's hands at the earliest.
    #[serde(default)]
    pub llm_first_sentence_ms: Percentiles,
    pub tts_ttfb_ms: Percentiles,
    /// TTS inputs rendered with espeak-ng (distinct texts).
    pub tts_renders: usize,
    /// The distributions in force.
    pub config: ProviderStatsConfig,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ProviderStatsConfig {
    pub stt_delay: String,
    pub llm_ttft: String,
    pub llm_inter_token: String,
    pub tts_ttfb: String,
}

impl ProviderStats {
    /// Mean provider time in one conversational turn: STT final + LLM first
    /// sentence + TTS first byte (None until each has been used).
    pub fn mean_turn_ms(&self) -> Option<f64> {
        Some(self.stt_ms.mean? + self.llm_first_sentence_ms.mean? + self.tts_ttfb_ms.mean?)
    }

    /// Whether every injected latency was a constant (`fixed:` distributions):
    /// then every turn had the same provider time and v2v percentiles minus
    /// it are exact engine-overhead percentiles, not just the mean.
    pub fn all_fixed(&self) -> bool {
        let fixed = |s: &str| {
            s.parse::<Distribution>()
                .is_ok_and(|d| matches!(d, Distribution::Fixed(_)))
        };
        let c = &self.config;
        fixed(&c.stt_delay) && fixed(&c.llm_ttft) && fixed(&c.llm_inter_token) && fixed(&c.tts_ttfb)
    }

    /// `POST {base}/stats/reset`: forget what was injected so far.
    pub async fn reset(base_url: &str) -> anyhow::Result<()> {
        use anyhow::Context as _;
        let url = format!(
            "{}/stats/reset",
            base_url.trim_end_matches('/').trim_end_matches("/v1")
        );
        let resp = reqwest::Client::new()
            .post(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        anyhow::ensure!(
            resp.status().is_success(),
            "POST {url}: HTTP {}",
            resp.status()
        );
        Ok(())
    }

    /// Fetches `GET {base}/stats`.
    pub async fn fetch(base_url: &str) -> anyhow::Result<ProviderStats> {
        use anyhow::Context as _;
        let url = format!(
            "{}/stats",
            base_url.trim_end_matches('/').trim_end_matches("/v1")
        );
        let resp = reqwest::Client::new()
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        anyhow::ensure!(
            resp.status().is_success(),
            "GET {url}: HTTP {}",
            resp.status()
        );
        resp.json()
            .await
            .with_context(|| format!("GET {url}: bad JSON"))
    }
}

/// The running simulators. Stop on drop.
pub struct Providers {
    suite: OpenAiSuite,
    deepgram: MockDeepgram,
    recorder: Shared,
    config: ProvidersConfig,
}

fn recording(
    sampler: Sampler,
    rec: Shared,
    pick: fn(&mut Recorder) -> &mut Histogram<u64>,
) -> Delay {
    Delay::new(move || {
        let d = sampler.sample();
        let mut r = rec.lock().unwrap_or_else(|e| e.into_inner());
        let _ = pick(&mut r).record(d.as_micros().max(1) as u64);
        d
    })
}

impl Providers {
    pub fn start(config: ProvidersConfig) -> anyhow::Result<Providers> {
        let recorder: Shared = Arc::new(Mutex::new(Recorder {
            stt_openai: histogram(),
            stt_deepgram: histogram(),
            llm_ttft: histogram(),
            llm_first_sentence: histogram(),
            tts_ttfb: histogram(),
        }));
        let seed = config.seed;
        let stt_openai = recording(
            Sampler::new(config.stt_delay, seed),
            recorder.clone(),
            |r| &mut r.stt_openai,
        );
        let stt_deepgram = recording(
            Sampler::new(config.stt_delay, seed.wrapping_add(1)),
            recorder.clone(),
            |r| &mut r.stt_deepgram,
        );
        let llm_ttft = recording(
            Sampler::new(config.llm_ttft, seed.wrapping_add(2)),
            recorder.clone(),
            |r| &mut r.llm_ttft,
        );
        let tts_ttfb = recording(
            Sampler::new(config.tts_ttfb, seed.wrapping_add(3)),
            recorder.clone(),
            |r| &mut r.tts_ttfb,
        );
        let inter = Sampler::new(config.llm_inter_token, seed.wrapping_add(4));
        let inter = Delay::new(move || inter.sample());

        let llm = MockLlm::builder()
            .default_reply(config.reply.as_str())
            .first_token_delay(llm_ttft)
            .inter_token_delay(inter)
            .on_first_sentence({
                let rec = recorder.clone();
                move |d| {
                    let mut r = rec.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = r.llm_first_sentence.record(d.as_micros().max(1) as u64);
                }
            })
            .record_limit(0);
        let tts = MockTts::builder()
            .first_byte_delay(tts_ttfb)
            .cache_audio(true)
            .record_limit(0);
        let stt = MockStt::builder()
            .transcript(config.transcript.clone())
            .delay(stt_openai);

        // /stats needs the TTS render count, known once the suite runs:
        // share it through a cell filled right after start.
        let tts_renders: Arc<Mutex<Option<MockTtsRenders>>> = Arc::new(Mutex::new(None));
        let (rec, cfg, renders) = (recorder.clone(), config.clone(), tts_renders.clone());
        let stats_routes = move |c: &mut web::ServiceConfig| {
            let (rec, cfg, renders) = (rec.clone(), cfg.clone(), renders.clone());
            let rec2 = rec.clone();
            c.route(
                "/stats",
                web::get().to(move || {
                    let stats = snapshot(&rec, &cfg, &renders);
                    async move { HttpResponse::Ok().json(stats) }
                }),
            );
            c.route(
                "/stats/reset",
                web::post().to(move || {
                    reset(&rec2);
                    async { HttpResponse::NoContent().finish() }
                }),
            );
        };
        let suite = OpenAiSuite::start(Some(config.listen), llm, tts, stt, stats_routes)?;
        *tts_renders.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(MockTtsRenders(suite.tts.renders_handle()));
        let deepgram = MockDeepgram::builder_fixed(config.transcript.clone(), stt_deepgram)
            .interim_every_ms(0)
            .record_audio(false)
            .listen(config.deepgram_listen)
            .start()?;
        Ok(Providers {
            suite,
            deepgram,
            recorder,
            config,
        })
    }

    /// `http://ADDR/v1`: base URL of the OpenAI-compatible STT, LLM and TTS.
    pub fn openai_url(&self) -> String {
        self.suite.v1_url()
    }

    /// `http://ADDR`: where `/stats` is (`--providers-url`).
    pub fn base_url(&self) -> String {
        self.suite.base_url().to_string()
    }

    /// `ws://ADDR`: the Deepgram API host (in place of `wss://api.deepgram.com`).
    pub fn deepgram_url(&self) -> String {
        self.deepgram.ws_url()
    }

    pub fn stats(&self) -> ProviderStats {
        let renders = Arc::new(Mutex::new(Some(MockTtsRenders(
            self.suite.tts.renders_handle(),
        ))));
        snapshot(&self.recorder, &self.config, &renders)
    }

    /// The one-line announcement `parla-loadtest providers` prints.
    pub fn ready_line(&self) -> String {
        format!(
            "parla-loadtest providers ready: openai={} deepgram={} stats={}/stats",
            self.openai_url(),
            self.deepgram_url(),
            self.base_url()
        )
    }
}

fn reset(rec: &Shared) {
    let mut r = rec.lock().unwrap_or_else(|e| e.into_inner());
    r.stt_openai.reset();
    r.stt_deepgram.reset();
    r.llm_ttft.reset();
    r.llm_first_sentence.reset();
    r.tts_ttfb.reset();
}

/// A way to read the TTS render count without holding the mock.
struct MockTtsRenders(Arc<dyn Fn() -> usize + Send + Sync>);

fn snapshot(
    rec: &Shared,
    cfg: &ProvidersConfig,
    renders: &Arc<Mutex<Option<MockTtsRenders>>>,
) -> ProviderStats {
    let r = rec.lock().unwrap_or_else(|e| e.into_inner());
    let mut stt = histogram();
    let _ = stt.add(&r.stt_openai);
    let _ = stt.add(&r.stt_deepgram);
    let tts_renders = renders
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map_or(0, |f| (f.0)());
    ProviderStats {
        stt_ms: Percentiles::from_micros(&stt),
        stt_openai_ms: Percentiles::from_micros(&r.stt_openai),
        stt_deepgram_ms: Percentiles::from_micros(&r.stt_deepgram),
        llm_ttft_ms: Percentiles::from_micros(&r.llm_ttft),
        llm_first_sentence_ms: Percentiles::from_micros(&r.llm_first_sentence),
        tts_ttfb_ms: Percentiles::from_micros(&r.tts_ttfb),
        tts_renders,
        config: ProviderStatsConfig {
            stt_delay: cfg.stt_delay.to_string(),
            llm_ttft: cfg.llm_ttft.to_string(),
            llm_inter_token: cfg.llm_inter_token.to_string(),
            tts_ttfb: cfg.tts_ttfb.to_string(),
        },
    }
}
