//! Behaviour of [`OutboundMedia`]: what the caller hears, what the
//! conversation is told, and what the recording gets.

use parla_media::g711::G711;
use parla_media::resample::{ResampleError, Resampler};
use parla_media::rtp::parse;
use parla_media::SAMPLES_PER_FRAME_8K;

use super::{OutboundEvent, OutboundMedia};
use OutboundEvent::{FirstAudio, SegmentPlayed, SegmentStarted, SynthesisDone};

fn media(codec: G711) -> OutboundMedia {
    OutboundMedia::new(codec, codec.payload_type(), 0x1234_5678, 1000, 50_000)
}

fn events(m: &mut OutboundMedia) -> Vec<OutboundEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

/// Ticks `n` frames, returning the events each produced.
fn ticks(m: &mut OutboundMedia, n: usize) -> Vec<Vec<OutboundEvent>> {
    (0..n)
        .map(|_| {
            m.tick();
            events(m)
        })
        .collect()
}

/// A 440 Hz tone at `rate_hz`, amplitude 8000, `n` samples.
fn tone(rate_hz: u32, n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate_hz);
            (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
        })
        .collect()
}

/// Packet payload decoded with `codec`.
fn decoded(codec: G711, packet: &[u8]) -> Vec<i16> {
    let (_, payload) = parse(packet).unwrap();
    let mut pcm = vec![0; payload.len()];
    codec.decode(payload, &mut pcm);
    pcm
}

/// G.711 quantization error bound for a sample of magnitude `x`: half a step
/// of its segment (steps double per segment; ≤ 1/16 of the value above the
/// first segment).
fn close(x: i16, y: i16) -> bool {
    (i32::from(x) - i32::from(y)).abs() <= i32::from(x).abs() / 16 + 16
}

#[test]
fn segment_start_and_played_out_are_reported_once() {
    let mut m = media(G711::Pcmu);
    m.begin_segment(1);
    m.push_tts_audio(1, &tone(8000, 400), 8000); // 2.5 frames
    m.tts_finished(1);
    assert_eq!(
        events(&mut m),
        [
            FirstAudio(1),
            SynthesisDone {
                segment: 1,
                audio_ms: 50
            }
        ]
    );
    assert_eq!(
        ticks(&mut m, 5),
        [
            vec![SegmentStarted(1)],
            vec![],
            vec![SegmentPlayed(1)], // the half frame with the last samples
            vec![],
            vec![],
        ]
    );
}

#[test]
fn consecutive_segments_start_and_finish_in_order() {
    let mut m = media(G711::Pcmu);
    for s in [1, 2] {
        m.begin_segment(s);
        m.push_tts_audio(s, &tone(8000, 160), 8000);
        m.tts_finished(s);
    }
    events(&mut m);
    assert_eq!(
        ticks(&mut m, 3),
        [
            vec![SegmentStarted(1), SegmentPlayed(1)],
            vec![SegmentStarted(2), SegmentPlayed(2)],
            vec![],
        ]
    );
}

#[test]
fn segment_whose_tts_finishes_after_its_audio_ran_out() {
    let mut m = media(G711::Pcma);
    m.begin_segment(4);
    m.push_tts_audio(4, &tone(8000, 160), 8000);
    assert_eq!(events(&mut m), [FirstAudio(4)]);
    // The TTS is slower than real time: the audio runs out, the segment waits.
    assert_eq!(ticks(&mut m, 3), [vec![SegmentStarted(4)], vec![], vec![]]);
    m.push_tts_audio(4, &tone(8000, 160), 8000);
    assert_eq!(ticks(&mut m, 1), [vec![]], "continues, not restarted");
    // Finished with nothing left queued: played out at once.
    m.tts_finished(4);
    assert_eq!(
        events(&mut m),
        [
            SynthesisDone {
                segment: 4,
                audio_ms: 40
            },
            SegmentPlayed(4)
        ]
    );
    assert_eq!(ticks(&mut m, 2), [vec![], vec![]]);
}

#[test]
fn segment_finished_while_audio_still_queued_plays_out_with_its_last_frame() {
    let mut m = media(G711::Pcmu);
    m.begin_segment(1);
    m.push_tts_audio(1, &tone(8000, 320), 8000);
    assert_eq!(ticks(&mut m, 1), [vec![FirstAudio(1), SegmentStarted(1)]]);
    m.tts_finished(1);
    assert_eq!(
        events(&mut m),
        [SynthesisDone {
            segment: 1,
            audio_ms: 40
        }]
    );
    assert_eq!(ticks(&mut m, 2), [vec![SegmentPlayed(1)], vec![]]);
}

#[test]
fn segment_without_audio_plays_out_when_its_tts_finishes() {
    let mut m = media(G711::Pcmu);
    m.begin_segment(2);
    m.tts_finished(2);
    assert_eq!(
        events(&mut m),
        [
            SynthesisDone {
                segment: 2,
                audio_ms: 0
            },
            SegmentStarted(2),
            SegmentPlayed(2)
        ]
    );
    m.play_clip(3, &[]);
    assert_eq!(
        events(&mut m),
        [
            FirstAudio(3),
            SynthesisDone {
                segment: 3,
                audio_ms: 0
            },
            SegmentStarted(3),
            SegmentPlayed(3)
        ]
    );
}

#[test]
fn barge_in_clear_drops_queued_audio_and_reports_nothing_more_for_cleared_segments() {
    let mut m = media(G711::Pcmu);
    for s in [1, 2] {
        m.begin_segment(s);
        m.push_tts_audio(s, &tone(8000, 1600), 8000);
    }
    m.tts_finished(1);
    assert_eq!(ticks(&mut m, 1)[0].last(), Some(&SegmentStarted(1)));
    assert_eq!(m.clear(), 3200 - 160);
    assert_eq!(m.pacer.queued_samples(), 0);
    // Late TTS audio and completions of the cleared segments are ignored.
    m.push_tts_audio(2, &tone(8000, 800), 8000);
    m.tts_finished(2);
    assert!(!m.tts_failed(2), "a cleared segment is not live");
    assert_eq!(m.pacer.queued_samples(), 0);
    for _ in 0..3 {
        let packet = m.tick().unwrap().to_vec();
        let (header, payload) = parse(&packet).unwrap();
        assert!(payload.iter().all(|&b| b == G711::Pcmu.silence_byte()));
        assert!(!header.marker);
        assert!(m.recording_frame().is_empty());
        assert_eq!(events(&mut m), []);
    }
    // The next reply plays normally.
    m.play_clip(3, &tone(8000, 160));
    events(&mut m);
    assert_eq!(
        ticks(&mut m, 1),
        [vec![SegmentStarted(3), SegmentPlayed(3)]]
    );
}

#[test]
fn codec_switch_encodes_the_next_packet_with_the_new_codec() {
    let mut m = media(G711::Pcmu);
    let audio = tone(8000, 480);
    m.play_clip(1, &audio);
    let first = m.tick().unwrap().to_vec();
    m.set_codec(G711::Pcma, 112); // a re-INVITE to PCMA on a dynamic type
    let second = m.tick().unwrap().to_vec();
    let (h1, _) = parse(&first).unwrap();
    let (h2, _) = parse(&second).unwrap();
    assert_eq!((h1.payload_type, h2.payload_type), (0, 112));
    assert_eq!(h2.sequence, h1.sequence.wrapping_add(1));
    assert_eq!(h2.timestamp, h1.timestamp.wrapping_add(160));
    assert_eq!(h2.ssrc, h1.ssrc);
    for (frame, codec, packet) in [(0, G711::Pcmu, &first), (1, G711::Pcma, &second)] {
        let pcm = decoded(codec, packet);
        let sent = &audio[frame * 160..(frame + 1) * 160];
        assert!(
            pcm.iter().zip(sent).all(|(&a, &b)| close(a, b)),
            "frame {frame} decodes with {codec:?}"
        );
    }
    // Silence in the new codec, too.
    m.tick();
    let idle = m.tick().unwrap();
    assert!(parse(idle).unwrap().1.iter().all(|&b| b == 0xD5));
}

#[test]
fn recording_tap_equals_the_pcm_sent() {
    for codec in [G711::Pcmu, G711::Pcma] {
        let mut m = media(codec);
        let tts = tone(24_000, 24_000 / 5); // 200 ms at 24 kHz
        m.begin_segment(1);
        for chunk in tts.chunks(1000) {
            m.push_tts_audio(1, chunk, 24_000);
        }
        m.tts_finished(1);
        // What the caller should hear: the same audio resampled to 8 kHz.
        let mut expected = Vec::new();
        let mut r = Resampler::new(24_000, 8000).unwrap();
        for chunk in tts.chunks(1000) {
            r.process(chunk, &mut expected);
        }
        r.flush(&mut expected);
        assert_eq!(expected.len(), 1600);

        let mut tapped = Vec::new();
        for _ in 0..12 {
            let packet = m.tick().unwrap().to_vec();
            let frame = m.recording_frame();
            if frame.is_empty() {
                // Silence on the wire, silence in the recording.
                assert!(decoded(codec, &packet).iter().all(|s| s.abs() <= 8));
                continue;
            }
            assert_eq!(frame.len(), SAMPLES_PER_FRAME_8K);
            let heard = decoded(codec, &packet);
            assert!(
                frame.iter().zip(&heard).all(|(&a, &b)| close(a, b)),
                "{codec:?}: the tap is what the packet carries, within quantization"
            );
            tapped.extend_from_slice(frame);
        }
        assert_eq!(
            tapped, expected,
            "{codec:?}: the tap is the PCM sent, exactly"
        );
    }
}

#[test]
fn idle_ticks_send_a_continuous_stream_of_silence() {
    let mut m = media(G711::Pcmu);
    let mut last: Option<(u16, u32)> = None;
    for _ in 0..5 {
        let packet = m.tick().expect("a packet every tick").to_vec();
        assert_eq!(packet.len(), 12 + 160);
        let (h, payload) = parse(&packet).unwrap();
        assert!(payload.iter().all(|&b| b == 0xFF));
        assert!(!h.marker);
        if let Some((seq, ts)) = last {
            assert_eq!(h.sequence, seq.wrapping_add(1));
            assert_eq!(h.timestamp, ts.wrapping_add(160));
        }
        last = Some((h.sequence, h.timestamp));
        assert!(m.recording_frame().is_empty());
        assert_eq!(events(&mut m), []);
    }
}

#[test]
fn on_hold_nothing_is_sent_but_playback_goes_on() {
    let mut m = media(G711::Pcmu);
    m.set_sending(false);
    m.play_clip(1, &tone(8000, 160));
    events(&mut m);
    assert!(m.tick().is_none());
    assert_eq!(events(&mut m), [SegmentStarted(1), SegmentPlayed(1)]);
    assert_eq!(m.recording_frame().len(), 160, "the recording still has it");
    m.set_sending(true);
    assert!(m.tick().is_some());
}

#[test]
fn tts_audio_is_resampled_and_its_duration_reported() {
    let mut m = media(G711::Pcmu);
    m.begin_segment(1);
    m.push_tts_audio(1, &tone(16_000, 16_000), 16_000); // 1 s
    m.tts_finished(1);
    assert_eq!(
        events(&mut m),
        [
            FirstAudio(1),
            SynthesisDone {
                segment: 1,
                audio_ms: 1000
            }
        ]
    );
    assert_eq!(m.pacer.queued_samples(), 8000);
    let played = ticks(&mut m, 50);
    assert_eq!(played[0], [SegmentStarted(1)]);
    assert_eq!(played[49], [SegmentPlayed(1)]);
}

#[test]
fn unsupported_tts_rate_fails_the_segment_once() {
    let mut m = media(G711::Pcmu);
    m.begin_segment(1);
    m.push_tts_audio(1, &[100; 441], 11_025);
    assert_eq!(
        events(&mut m),
        [OutboundEvent::SegmentFailed {
            segment: 1,
            error: ResampleError::UnsupportedRate(11_025)
        }]
    );
    m.push_tts_audio(1, &[100; 441], 11_025);
    m.tts_finished(1);
    assert_eq!(events(&mut m), []);
    assert!(!m.tts_failed(1));
    assert_eq!(m.pacer.queued_samples(), 0);
}

#[test]
fn tts_failure_stops_tracking_a_live_segment() {
    let mut m = media(G711::Pcmu);
    m.begin_segment(1);
    m.push_tts_audio(1, &tone(8000, 160), 8000);
    assert!(m.tts_failed(1));
    events(&mut m);
    // Its queued audio still goes out (the conversation decides to clear),
    // but nothing more is reported for it.
    assert_eq!(ticks(&mut m, 2), [vec![], vec![]]);
}
