//! `parla-call`: call a running Parla (or any SIP UAS) by hand with the
//! testkit caller and print what happened.
//!
//! ```text
//! parla-call --target 127.0.0.1:5060 --to sip:agent@127.0.0.1 \
//!     --wait-greeting --play question.wav --dtmf 1 --record out.wav
//! ```
//!
//! Script: [wait for the greeting to end] → [play the WAV, then wait for the
//! reply to end] → [send the DTMF digits, then wait for the reply to end] →
//! listen `--listen` seconds → BYE (unless the agent hung up first).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser;
use parla_testkit::caller::{place_call, Action, CallOutcome, CallSpec, G711};

#[derive(Parser, Debug)]
#[command(
    name = "parla-call",
    about = "Place one SIP call with the Parla test caller"
)]
struct Args {
    /// SIP server address (UDP), e.g. 127.0.0.1:5060.
    #[arg(long)]
    target: SocketAddr,
    /// Request-URI; defaults to sip:agent@<target>.
    #[arg(long)]
    to: Option<String>,
    /// From user.
    #[arg(long, default_value = "parla-call")]
    from: String,
    /// pcmu or pcma.
    #[arg(long, default_value = "pcmu")]
    codec: String,
    /// Local IP for SIP/RTP sockets.
    #[arg(long, default_value = "127.0.0.1")]
    local_ip: IpAddr,
    /// Wait for the agent's greeting to end before doing anything.
    #[arg(long)]
    wait_greeting: bool,
    /// WAV to speak (mono or stereo, any rate; resampled to 8 kHz).
    #[arg(long)]
    play: Option<PathBuf>,
    /// DTMF digits to send (RFC 4733).
    #[arg(long)]
    dtmf: Option<String>,
    /// Duration of each DTMF digit, ms.
    #[arg(long, default_value_t = 100)]
    dtmf_ms: u32,
    /// Silence that ends an agent turn, ms.
    #[arg(long, default_value_t = 800)]
    min_silence_ms: u64,
    /// Longest wait for an agent turn to start and end, s.
    #[arg(long, default_value_t = 20.0)]
    turn_timeout: f64,
    /// Listen this long at the end before hanging up, s.
    #[arg(long, default_value_t = 1.0)]
    listen: f64,
    /// Do not hang up: wait for the agent's BYE (up to --max-duration).
    #[arg(long)]
    no_hangup: bool,
    /// Answer timeout, s.
    #[arg(long, default_value_t = 10.0)]
    answer_timeout: f64,
    /// Maximum call duration, s.
    #[arg(long, default_value_t = 120.0)]
    max_duration: f64,
    /// Write the agent's audio (8 kHz mono 16-bit WAV, wall-clock timeline).
    #[arg(long)]
    record: Option<PathBuf>,
    /// Print the SIP log.
    #[arg(long)]
    sip_log: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let codec = match a.codec.to_ascii_lowercase().as_str() {
        "pcmu" | "ulaw" | "0" => G711::Pcmu,
        "pcma" | "alaw" | "8" => G711::Pcma,
        other => bail!("unknown codec {other:?} (pcmu or pcma)"),
    };
    let to =
        a.to.clone()
            .unwrap_or_else(|| format!("sip:agent@{}", a.target));
    let mut spec = CallSpec::new(a.target, to);
    spec.from_user = a.from.clone();
    spec.codec = codec;
    spec.local_ip = a.local_ip;
    spec.answer_timeout = Duration::from_secs_f64(a.answer_timeout);
    spec.max_duration = Duration::from_secs_f64(a.max_duration);

    let turn = Action::WaitForAgentSilence {
        min_silence: Duration::from_millis(a.min_silence_ms),
        timeout: Duration::from_secs_f64(a.turn_timeout),
    };
    if a.wait_greeting {
        spec.script.push(turn.clone());
    }
    if let Some(p) = &a.play {
        spec.script.push(Action::Play(Arc::new(read_wav_8k(p)?)));
        spec.script.push(turn.clone());
    }
    if let Some(d) = &a.dtmf {
        spec.script.push(Action::Dtmf {
            digits: d.clone(),
            duration_ms: a.dtmf_ms,
        });
        spec.script.push(turn.clone());
    }
    spec.script
        .push(Action::Wait(Duration::from_secs_f64(a.listen)));
    if !a.no_hangup {
        spec.script.push(Action::Hangup);
    }

    let out = place_call(spec).await?;
    print_outcome(&out, a.sip_log);
    if let Some(p) = &a.record {
        write_wav_8k(p, &out.agent_audio)?;
        println!(
            "recorded      {} ({:.2} s)",
            p.display(),
            out.agent_audio.len() as f64 / 8000.0
        );
    }
    if out.final_status >= 300 {
        std::process::exit(1);
    }
    Ok(())
}

fn print_outcome(o: &CallOutcome, sip_log: bool) {
    let ms = |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{} ms", d.as_millis()));
    println!("final status  {}", o.final_status);
    println!("ended by      {:?}", o.ended_by);
    println!("setup time    {}", ms(o.setup_time));
    println!("first audio   {}", ms(o.first_agent_audio));
    println!(
        "rtp           sent {} received {} lost {} foreign {}",
        o.rtp_packets_sent, o.rtp_packets_received, o.rtp_lost, o.rtp_foreign_dropped
    );
    println!("agent audio   {:.2} s", o.agent_audio.len() as f64 / 8000.0);
    println!("events:");
    for (t, e) in &o.caller_events {
        println!("  {:>8.3} s  {e}", t.as_secs_f64());
    }
    if sip_log {
        println!("sip:");
        for l in &o.sip_log {
            println!("  {l}");
        }
    }
}

/// Reads a WAV file as 8 kHz mono PCM (see [`parla_media::wav::read_mono_8k`]).
fn read_wav_8k(path: &Path) -> anyhow::Result<Vec<i16>> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    parla_media::wav::read_mono_8k(std::io::BufReader::new(file))
        .with_context(|| format!("read {}", path.display()))
}

fn write_wav_8k(path: &Path, pcm: &[i16]) -> anyhow::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("create {}", path.display()))?;
    for &s in pcm {
        w.write_sample(s)?;
    }
    w.finalize()?;
    Ok(())
}
