//! OpenAI-compatible `/audio/transcriptions` against a local multipart-parsing server.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use parla_engine::providers::openai_stt::{OpenAiStt, OpenAiSttConfig, MAX_UTTERANCE_SAMPLES};
use parla_engine::providers::{ProviderError, SpeechToText, SttEvent, SttInput, SttSession};
use serde_json::json;
use support::*;

/// What the server understood from one upload.
#[derive(Debug, Clone)]
struct Upload {
    authorization: Option<String>,
    path: String,
    fields: Vec<(String, String)>,
    filename: String,
    file_content_type: String,
    samples: Vec<i16>,
}

/// One multipart part: name, filename, content type, data.
type Part = (String, Option<String>, Option<String>, Vec<u8>);

/// Parses a multipart/form-data body into parts.
fn parse_multipart(content_type: &str, body: &[u8]) -> Vec<Part> {
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("boundary")
        .trim_matches('"');
    let delim = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    let start = find(rest, delim.as_bytes()).expect("first boundary");
    rest = &rest[start + delim.len()..];
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        rest = rest.strip_prefix(b"\r\n").expect("CRLF after boundary");
        let head_end = find(rest, b"\r\n\r\n").expect("part head");
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        rest = &rest[head_end + 4..];
        let end = find(rest, format!("\r\n{delim}").as_bytes()).expect("next boundary");
        let data = rest[..end].to_vec();
        rest = &rest[end + 2 + delim.len()..];
        let mut name = String::new();
        let mut filename = None;
        let mut ctype = None;
        for line in head.split("\r\n") {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-disposition:") {
                for attr in line.split(';').map(str::trim) {
                    if let Some(v) = attr.strip_prefix("name=") {
                        name = v.trim_matches('"').to_owned();
                    } else if let Some(v) = attr.strip_prefix("filename=") {
                        filename = Some(v.trim_matches('"').to_owned());
                    }
                }
            } else if lower.starts_with("content-type:") {
                ctype = Some(line["content-type:".len()..].trim().to_owned());
            }
        }
        parts.push((name, filename, ctype, data));
    }
    parts
}

/// Parses a RIFF WAV file, checking it is 16 kHz mono s16le; returns the samples.
fn parse_wav(wav: &[u8]) -> Vec<i16> {
    assert_eq!(&wav[0..4], b"RIFF");
    assert_eq!(
        u32::from_le_bytes(wav[4..8].try_into().unwrap()) as usize,
        wav.len() - 8
    );
    assert_eq!(&wav[8..12], b"WAVE");
    assert_eq!(&wav[12..16], b"fmt ");
    assert_eq!(u32::from_le_bytes(wav[16..20].try_into().unwrap()), 16);
    assert_eq!(
        u16::from_le_bytes(wav[20..22].try_into().unwrap()),
        1,
        "PCM"
    );
    assert_eq!(
        u16::from_le_bytes(wav[22..24].try_into().unwrap()),
        1,
        "mono"
    );
    assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 16_000);
    assert_eq!(u32::from_le_bytes(wav[28..32].try_into().unwrap()), 32_000);
    assert_eq!(u16::from_le_bytes(wav[32..34].try_into().unwrap()), 2);
    assert_eq!(u16::from_le_bytes(wav[34..36].try_into().unwrap()), 16);
    assert_eq!(&wav[36..40], b"data");
    let len = u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize;
    assert_eq!(len, wav.len() - 44);
    wav[44..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// A whisper-like server: parses the upload, answers "heard N samples".
async fn whisper_server(uploads: Arc<Mutex<Vec<Upload>>>) -> std::net::SocketAddr {
    serve(move |req, mut stream| {
        let uploads = uploads.clone();
        async move {
            let parts = parse_multipart(req.header("content-type").unwrap(), &req.body);
            let mut upload = Upload {
                authorization: req.header("authorization").map(str::to_owned),
                path: req.path.clone(),
                fields: Vec::new(),
                filename: String::new(),
                file_content_type: String::new(),
                samples: Vec::new(),
            };
            for (name, filename, ctype, data) in parts {
                if name == "file" {
                    upload.filename = filename.unwrap_or_default();
                    upload.file_content_type = ctype.unwrap_or_default();
                    upload.samples = parse_wav(&data);
                } else {
                    upload.fields.push((name, String::from_utf8(data).unwrap()));
                }
            }
            let text = format!(" heard {} samples ", upload.samples.len());
            uploads.lock().unwrap().push(upload);
            respond(
                &mut stream,
                200,
                "application/json",
                json!({ "text": text }).to_string().as_bytes(),
            )
            .await;
        }
    })
    .await
}

fn stt(addr: std::net::SocketAddr, key: Option<&str>) -> OpenAiStt {
    OpenAiStt::new(OpenAiSttConfig {
        base_url: format!("http://{addr}/v1/"),
        egress: parla_engine::providers::egress::EgressPolicy::allowing([addr.to_string()])
            .unwrap(),
        api_key: key.map(str::to_owned),
        model: "whisper-large-v3".into(),
        ..Default::default()
    })
    .unwrap()
}

async fn send_audio(session: &SttSession, samples: usize, value: i16) {
    let frame: Vec<i16> = (0..320).map(|i| value.wrapping_add(i as i16)).collect();
    let mut left = samples;
    while left > 0 {
        let n = left.min(320);
        session
            .input
            .send(SttInput::Audio(frame[..n].to_vec()))
            .await
            .unwrap();
        left -= n;
    }
}

async fn next(session: &mut SttSession) -> SttEvent {
    tokio::time::timeout(Duration::from_secs(10), session.events.recv())
        .await
        .expect("event in time")
        .expect("session alive")
}

#[tokio::test]
async fn uploads_wellformed_wav_and_returns_text() {
    let uploads = Arc::new(Mutex::new(Vec::new()));
    let addr = whisper_server(uploads.clone()).await;
    let mut session = stt(addr, Some("gsk-secret")).open("es-ES").await.unwrap();

    send_audio(&session, 16_000, 100).await; // 1 s
    session.input.send(SttInput::EndOfUtterance).await.unwrap();
    assert_eq!(
        next(&mut session).await,
        SttEvent::Final {
            text: "heard 16000 samples".into()
        }
    );

    // Empty utterance: answered locally, no request.
    session.input.send(SttInput::EndOfUtterance).await.unwrap();
    assert_eq!(
        next(&mut session).await,
        SttEvent::Final {
            text: String::new()
        }
    );

    // Next utterance holds only its own audio; a 10-sample partial frame included.
    send_audio(&session, 4_810, -5).await;
    session.input.send(SttInput::EndOfUtterance).await.unwrap();
    assert_eq!(
        next(&mut session).await,
        SttEvent::Final {
            text: "heard 4810 samples".into()
        }
    );

    let uploads = uploads.lock().unwrap();
    assert_eq!(uploads.len(), 2, "empty utterance made no request");
    let u = &uploads[0];
    assert_eq!(u.path, "/v1/audio/transcriptions");
    assert_eq!(u.authorization.as_deref(), Some("Bearer gsk-secret"));
    assert_eq!(u.filename, "utterance.wav");
    assert_eq!(u.file_content_type, "audio/wav");
    let field = |n: &str| {
        u.fields
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("model"), Some("whisper-large-v3"));
    assert_eq!(field("language"), Some("es"));
    assert_eq!(field("response_format"), Some("json"));
    assert_eq!(&u.samples[..3], &[100, 101, 102]);
    assert_eq!(uploads[1].samples[0], -5);
}

#[tokio::test]
async fn utterances_queue_in_order_and_are_bounded() {
    let uploads = Arc::new(Mutex::new(Vec::new()));
    let addr = whisper_server(uploads.clone()).await;
    let mut session = stt(addr, None).open("").await.unwrap();

    // 31 s of audio: the upload is capped at 30 s.
    send_audio(&session, 31 * 16_000, 7).await;
    session.input.send(SttInput::EndOfUtterance).await.unwrap();
    // Queued behind it, without waiting: an empty one and a short one.
    session.input.send(SttInput::EndOfUtterance).await.unwrap();
    send_audio(&session, 320, 1).await;
    session.input.send(SttInput::EndOfUtterance).await.unwrap();

    assert_eq!(
        next(&mut session).await,
        SttEvent::Final {
            text: format!("heard {MAX_UTTERANCE_SAMPLES} samples")
        }
    );
    assert_eq!(
        next(&mut session).await,
        SttEvent::Final {
            text: String::new()
        }
    );
    assert_eq!(
        next(&mut session).await,
        SttEvent::Final {
            text: "heard 320 samples".into()
        }
    );
    let uploads = uploads.lock().unwrap();
    assert_eq!(
        uploads[0].authorization, None,
        "no key, no Authorization header"
    );
    assert!(
        uploads[0].fields.iter().all(|(k, _)| k != "language"),
        "no language when unset"
    );
}

#[tokio::test]
async fn http_error_ends_session_with_status() {
    let addr = serve(|_req, mut stream| async move {
        respond(
            &mut stream,
            401,
            "application/json",
            br#"{"error":{"message":"Invalid API key"}}"#,
        )
        .await;
    })
    .await;
    let mut session = stt(addr, Some("bad")).open("en").await.unwrap();
    send_audio(&session, 320, 0).await;
    session.input.send(SttInput::EndOfUtterance).await.unwrap();
    assert_eq!(
        next(&mut session).await,
        SttEvent::Error(ProviderError::Status {
            status: 401,
            body: "Invalid API key".into()
        })
    );
    assert!(
        session.events.recv().await.is_none(),
        "no events after an error"
    );
}

#[tokio::test]
async fn dropping_the_session_aborts_the_upload() {
    let (closed_tx, mut closed_rx) = tokio::sync::mpsc::channel::<()>(1);
    let addr = serve(move |_req, mut stream| {
        let closed_tx = closed_tx.clone();
        async move {
            // Never answer; report when the client gives up.
            let _ =
                tokio::time::timeout(Duration::from_secs(10), wait_for_close(&mut stream)).await;
            let _ = closed_tx.send(()).await;
        }
    })
    .await;
    let session = stt(addr, None).open("en").await.unwrap();
    send_audio(&session, 3_200, 0).await;
    session.input.send(SttInput::EndOfUtterance).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // request is in flight
    drop(session);
    tokio::time::timeout(Duration::from_secs(3), closed_rx.recv())
        .await
        .expect("upload aborted on drop");
}
