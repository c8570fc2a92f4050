//! One live-transcription WebSocket session: audio in, endpointing and
//! interim/final `Results`, control messages, idle timeout.

use super::*;

pub(super) struct Session {
    params: Params,
    config: Config,
    request_id: String,
    model_uuid: String,
    /// Samples of channel 0 received so far.
    total: u64,
    /// The current (not yet final) segment: its first sample and its audio.
    seg_start: u64,
    seg: Vec<i16>,
    seg_voiced: bool,
    /// Voice detection on 10 ms frames.
    frame: Vec<i16>,
    in_speech: bool,
    silence: Duration,
    last_voice_end: u64,
    words_since_utterance_end: bool,
    utterance_end_sent: bool,
    /// Interim results: generation of the segment, samples at the last one.
    generation: u64,
    interim_at: usize,
    interim_busy: bool,
}

pub(super) struct Interim {
    generation: u64,
    start: u64,
    len: usize,
    text: anyhow::Result<String>,
}

impl Session {
    fn secs(&self, samples: u64) -> f64 {
        samples as f64 / self.params.sample_rate as f64
    }

    fn metadata_block(&self) -> Value {
        json!({
            "request_id": self.request_id,
            "model_info": {"name": MODEL_NAME, "version": MODEL_VERSION, "arch": MODEL_ARCH},
            "model_uuid": self.model_uuid,
        })
    }

    fn results(
        &self,
        start: u64,
        len: usize,
        text: &str,
        is_final: bool,
        speech_final: bool,
        from_finalize: bool,
    ) -> Value {
        let start_s = self.secs(start);
        let dur = self.secs(len as u64);
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let step = if tokens.is_empty() {
            0.0
        } else {
            dur / tokens.len() as f64
        };
        let words: Vec<Value> = tokens
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let bare: String = w
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == '\'')
                    .collect::<String>()
                    .to_lowercase();
                json!({
                    "word": bare,
                    "start": round3(start_s + step * i as f64),
                    "end": round3(start_s + step * (i + 1) as f64),
                    "confidence": 0.9,
                    "punctuated_word": w,
                })
            })
            .collect();
        json!({
            "type": "Results",
            "channel_index": [0, self.params.channels],
            "duration": round3(dur),
            "start": round3(start_s),
            "is_final": is_final,
            "speech_final": speech_final,
            "channel": {"alternatives": [{
                "transcript": text,
                "confidence": if text.is_empty() { 0.0 } else { 0.9 },
                "words": words,
            }]},
            "metadata": self.metadata_block(),
            "from_finalize": from_finalize,
        })
    }
}

pub(super) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub(super) struct Conn {
    sink: futures::stream::SplitSink<
        tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
        Message,
    >,
    state: Shared<State>,
    index: usize,
    record_all: bool,
}

impl Conn {
    fn record<F: FnOnce(&mut DeepgramConnection)>(&self, f: F) {
        f(&mut lock(&self.state).connections[self.index]);
    }

    async fn send(&mut self, msg: Value) -> bool {
        let text = msg.to_string();
        if self.record_all {
            self.record(|c| c.sent.push(msg));
        }
        self.sink.send(Message::text(text)).await.is_ok()
    }

    async fn close(&mut self, code: u16, reason: &str) {
        self.record(|c| c.close = Some((code, reason.to_string())));
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_string().into(),
        };
        let _ = self.sink.send(Message::Close(Some(frame))).await;
        let _ = self.sink.close().await;
    }
}

pub(super) async fn serve_connection(stream: tokio::net::TcpStream, state: Shared<State>) {
    let config = lock(&state).config.clone();
    let request_id = uuid_v4();
    let index = {
        let mut s = lock(&state);
        s.connections.push(DeepgramConnection {
            request_id: request_id.clone(),
            ..Default::default()
        });
        s.connections.len() - 1
    };
    let mut params: Option<Params> = None;
    let rid = request_id.clone();
    let st = state.clone();
    // The Err type is tungstenite's handshake callback contract.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let query = parse_query(req.uri().query());
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut s = lock(&st);
        let rec = &mut s.connections[index];
        rec.path = req.uri().path().to_string();
        rec.query = query.clone();
        rec.headers = headers;
        if req.uri().path().trim_end_matches('/') != "/v1/listen" {
            rec.status = 404;
            return Err(refuse(
                StatusCode::NOT_FOUND,
                &rid,
                "NOT_FOUND",
                "Not found.",
            ));
        }
        let key_ok = match presented_key(req) {
            Some((key, via_protocol)) => {
                let ok =
                    !key.is_empty() && config.api_key.as_deref().map(|k| k == key).unwrap_or(true);
                if ok && via_protocol {
                    resp.headers_mut()
                        .insert("sec-websocket-protocol", HeaderValue::from_static("token"));
                }
                ok
            }
            None => false,
        };
        if !key_ok {
            rec.status = 401;
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                &rid,
                "INVALID_AUTH",
                "Invalid credentials.",
            ));
        }
        match parse_params(&query) {
            Ok(p) => params = Some(p),
            Err(msg) => {
                rec.status = 400;
                return Err(refuse(StatusCode::BAD_REQUEST, &rid, "Bad Request", &msg));
            }
        }
        if let Ok(v) = HeaderValue::from_str(&rid) {
            resp.headers_mut().insert("dg-request-id", v);
        }
        rec.status = 101;
        Ok(resp)
    };
    let ws = match tokio_tungstenite::accept_hdr_async(stream, callback).await {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!("mock deepgram: handshake failed: {e}");
            return;
        }
    };
    let Some(params) = params else { return };
    let (sink, mut incoming) = ws.split();
    let mut conn = Conn {
        sink,
        state: state.clone(),
        index,
        record_all: config.record_audio,
    };
    let mut s = Session {
        params,
        config: config.clone(),
        request_id,
        model_uuid: uuid_v4(),
        total: 0,
        seg_start: 0,
        seg: Vec::new(),
        seg_voiced: false,
        frame: Vec::new(),
        in_speech: false,
        silence: Duration::ZERO,
        last_voice_end: 0,
        words_since_utterance_end: false,
        utterance_end_sent: true,
        generation: 0,
        interim_at: 0,
        interim_busy: false,
    };
    let (interim_tx, mut interim_rx) = tokio::sync::mpsc::unbounded_channel::<Interim>();
    let mut carry: Vec<u8> = Vec::new();
    let frame_len = (s.params.sample_rate / 100) as usize;

    loop {
        let msg = tokio::select! {
            m = tokio::time::timeout(config.idle_timeout, incoming.next()) => match m {
                Err(_) => {
                    conn.close(1011, NET_0001).await;
                    return;
                }
                Ok(None) | Ok(Some(Err(_))) => return,
                Ok(Some(Ok(m))) => m,
            },
            Some(done) = interim_rx.recv() => {
                s.interim_busy = false;
                if done.generation == s.generation {
                    match done.text {
                        Ok(text) if !text.is_empty() => {
                            let m = s.results(done.start, done.len, &text, false, false, false);
                            if !conn.send(m).await { return; }
                        }
                        Ok(_) => {}
                        Err(e) => conn.record(|c| c.errors.push(format!("{e:#}"))),
                    }
                }
                continue;
            }
        };
        match msg {
            Message::Binary(data) if data.is_empty() => {
                // Deepgram's older way to say CloseStream: an empty binary frame.
                conn.record(|c| {
                    c.text_messages
                        .push(json!({"type": "CloseStream", "via": "empty binary frame"}))
                });
                close_stream(&mut conn, &mut s).await;
                return;
            }
            Message::Binary(data) => {
                let samples = decode_audio(s.params.encoding, s.params.channels, &data, &mut carry);
                let keep = conn.record_all;
                conn.record(|c| {
                    c.audio_frames += 1;
                    c.audio_bytes += data.len();
                    if keep {
                        c.audio.extend_from_slice(&samples);
                    }
                });
                for sample in samples {
                    s.total += 1;
                    s.seg.push(sample);
                    s.frame.push(sample);
                    if s.frame.len() < frame_len {
                        continue;
                    }
                    let voiced = rms_dbfs(&s.frame) >= config.voice_threshold_dbfs;
                    s.frame.clear();
                    if !on_frame(&mut conn, &mut s, voiced).await {
                        return;
                    }
                }
                // Interim results while speech goes on.
                if s.params.interim_results
                    && !config.interim_every.is_zero()
                    && s.seg_voiced
                    && !s.interim_busy
                    && s.seg.len().saturating_sub(s.interim_at)
                        >= (config.interim_every.as_secs_f64() * s.params.sample_rate as f64)
                            as usize
                {
                    s.interim_busy = true;
                    s.interim_at = s.seg.len();
                    let (generation, start, pcm, rate) = (
                        s.generation,
                        s.seg_start,
                        s.seg.clone(),
                        s.params.sample_rate,
                    );
                    let recognizer = config.recognizer.clone();
                    let tx = interim_tx.clone();
                    tokio::task::spawn_local(async move {
                        let text = recognizer.transcribe(&pcm, rate, false).await;
                        let _ = tx.send(Interim {
                            generation,
                            start,
                            len: pcm.len(),
                            text,
                        });
                    });
                }
            }
            Message::Text(text) => {
                let parsed: Value = serde_json::from_str(text.as_str())
                    .unwrap_or_else(|_| Value::String(text.to_string()));
                let kind = parsed
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                conn.record(|c| c.text_messages.push(parsed));
                match kind.as_str() {
                    "KeepAlive" => {}
                    "Finalize" => {
                        if !finalize(&mut conn, &mut s, true, true).await {
                            return;
                        }
                    }
                    "CloseStream" => {
                        close_stream(&mut conn, &mut s).await;
                        return;
                    }
                    _ => tracing::debug!("mock deepgram: ignoring control message {kind:?}"),
                }
            }
            Message::Close(frame) => {
                conn.record(|c| {
                    c.close = Some(
                        frame
                            .map(|f| (u16::from(f.code), f.reason.to_string()))
                            .unwrap_or((1005, String::new())),
                    )
                });
                return;
            }
            _ => {}
        }
    }
}

/// CloseStream: finish pending speech, send Metadata, close normally.
pub(super) async fn close_stream(conn: &mut Conn, s: &mut Session) {
    if s.seg_voiced && !finalize(conn, s, false, true).await {
        return;
    }
    let meta = json!({
        "type": "Metadata",
        "transaction_key": "deprecated",
        "request_id": s.request_id,
        "sha256": random_hex(64),
        "created": iso_now(),
        "duration": round3(s.secs(s.total)),
        "channels": s.params.channels,
        "models": [s.model_uuid],
        "model_info": {
            s.model_uuid.clone(): {"name": MODEL_NAME, "version": MODEL_VERSION, "arch": MODEL_ARCH}
        },
    });
    let _ = conn.send(meta).await;
    conn.close(1000, "").await;
}

/// Voice-activity bookkeeping for one 10 ms frame: SpeechStarted,
/// endpointing and UtteranceEnd. False when the client is gone.
pub(super) async fn on_frame(conn: &mut Conn, s: &mut Session, voiced: bool) -> bool {
    let frame = Duration::from_millis(10);
    if voiced {
        s.silence = Duration::ZERO;
        s.last_voice_end = s.total;
        s.seg_voiced = true;
        s.words_since_utterance_end = true;
        s.utterance_end_sent = false;
        if !s.in_speech {
            s.in_speech = true;
            if s.params.vad_events {
                let at = s.secs(s.total.saturating_sub(s.params.sample_rate as u64 / 100));
                let m = json!({"type": "SpeechStarted", "channel": [0], "timestamp": round3(at)});
                if !conn.send(m).await {
                    return false;
                }
            }
        }
        return true;
    }
    s.silence += frame;
    if s.in_speech {
        if let Some(ep) = s.params.endpointing {
            if s.silence >= ep.max(s.config.min_endpointing) {
                s.in_speech = false;
                if !finalize(conn, s, false, true).await {
                    return false;
                }
            }
        }
    }
    if let Some(ue) = s.params.utterance_end {
        if !s.utterance_end_sent && s.words_since_utterance_end && s.silence >= ue {
            // Deepgram sends UtteranceEnd only once the words were finalized.
            if s.seg_voiced && !finalize(conn, s, false, true).await {
                return false;
            }
            s.in_speech = false;
            s.utterance_end_sent = true;
            s.words_since_utterance_end = false;
            let m = json!({"type": "UtteranceEnd", "channel": [0, s.params.channels], "last_word_end": round3(s.secs(s.last_voice_end))});
            if !conn.send(m).await {
                return false;
            }
        }
    }
    if !s.seg_voiced {
        // Keep at most 1 s of leading silence in a segment.
        let keep = s.params.sample_rate as usize;
        if s.seg.len() > 2 * keep {
            let drop = s.seg.len() - keep;
            s.seg.drain(..drop);
            s.seg_start += drop as u64;
        }
    }
    true
}

/// Transcribes the current segment and sends it as a final result; starts a
/// new segment. False when the client is gone.
pub(super) async fn finalize(
    conn: &mut Conn,
    s: &mut Session,
    from_finalize: bool,
    speech_final: bool,
) -> bool {
    let pcm = std::mem::take(&mut s.seg);
    let start = s.seg_start;
    s.seg_start = s.total;
    s.generation += 1;
    s.interim_at = 0;
    let voiced = std::mem::replace(&mut s.seg_voiced, false);
    let text = if voiced {
        match s
            .config
            .recognizer
            .transcribe(&pcm, s.params.sample_rate, true)
            .await
        {
            Ok(t) => t,
            Err(e) => {
                conn.record(|c| c.errors.push(format!("{e:#}")));
                String::new()
            }
        }
    } else {
        String::new()
    };
    let m = s.results(start, pcm.len(), &text, true, speech_final, from_finalize);
    conn.send(m).await
}
