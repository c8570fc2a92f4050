//! Provider work a call runs off the media tick: LLM completions and TTS
//! synthesis, as tokio tasks that report back to the call actor by message.
//!
//! Cancellation is by drop: every task is held in an [`AbortOnDrop`], and
//! aborting drops the provider stream, which closes its HTTP request.

use std::sync::Arc;

use actix::prelude::*;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::providers::{
    LanguageModel, LlmEvent, LlmRequest, ProviderError, TextToSpeech, TtsChunk,
};

/// Segments waiting for synthesis in one call, at most.
pub const TTS_QUEUE_SEGMENTS: usize = 64;

/// A tokio task that is aborted when this guard is dropped.
#[derive(Debug)]
pub struct AbortOnDrop(pub JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An LLM stream event for request `request`.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct LlmMsg {
    pub request: u64,
    pub event: Result<LlmEvent, ProviderError>,
}

/// Streams one completion into the actor: every event, then the stream ends.
/// A stream that ends without `Done` reports a protocol error.
pub fn spawn_llm(
    llm: Arc<dyn LanguageModel>,
    request: u64,
    body: LlmRequest,
    to: Recipient<LlmMsg>,
) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        let mut stream = match llm.stream(body).await {
            Ok(s) => s,
            Err(e) => {
                to.do_send(LlmMsg {
                    request,
                    event: Err(e),
                });
                return;
            }
        };
        let mut done = false;
        while let Some(ev) = stream.next().await {
            let stop = matches!(ev, Ok(LlmEvent::Done) | Err(_));
            done |= stop;
            to.do_send(LlmMsg { request, event: ev });
            if stop {
                break;
            }
        }
        if !done {
            to.do_send(LlmMsg {
                request,
                event: Err(ProviderError::Protocol("stream ended before done".into())),
            });
        }
    }))
}

/// What the TTS worker reports.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum TtsMsg {
    Audio { segment: u64, chunk: TtsChunk },
    Done { segment: u64 },
    Error { segment: u64, error: ProviderError },
}

/// The call's synthesis queue: segments are synthesized one after another, in
/// order, each streamed to the actor as its audio arrives.
pub struct TtsWorker {
    queue: mpsc::Sender<(u64, String)>,
    _task: AbortOnDrop,
}

impl TtsWorker {
    pub fn spawn(tts: Arc<dyn TextToSpeech>, voice: String, to: Recipient<TtsMsg>) -> Self {
        let (queue, mut rx) = mpsc::channel::<(u64, String)>(TTS_QUEUE_SEGMENTS);
        let task = tokio::spawn(async move {
            while let Some((segment, text)) = rx.recv().await {
                match tts.synthesize(&text, &voice).await {
                    Err(error) => to.do_send(TtsMsg::Error { segment, error }),
                    Ok(mut stream) => {
                        let mut failed = false;
                        while let Some(item) = stream.next().await {
                            match item {
                                Ok(chunk) => to.do_send(TtsMsg::Audio { segment, chunk }),
                                Err(error) => {
                                    to.do_send(TtsMsg::Error { segment, error });
                                    failed = true;
                                    break;
                                }
                            }
                        }
                        if !failed {
                            to.do_send(TtsMsg::Done { segment });
                        }
                    }
                }
            }
        });
        TtsWorker {
            queue,
            _task: AbortOnDrop(task),
        }
    }

    /// Queues a segment; false when the queue is full (the segment is dropped).
    pub fn speak(&self, segment: u64, text: String) -> bool {
        self.queue.try_send((segment, text)).is_ok()
    }
}
