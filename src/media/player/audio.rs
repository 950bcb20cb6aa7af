//! The audio side: the output device with the worker that decodes the clip's sound (resampled
//! for the playback speed) into the device's ring.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{AUDIO_AHEAD_SECS, ClockSource};
use crate::media::audio::AudioStream;
use crate::media::output::{AudioDevice, AudioOutput, OutputShared, Tap};
use crate::media::time::Timestamp;

pub(super) enum AudioCommand {
    /// Decode from `at` on; `flush` is the seek's number from [`OutputShared::request_flush`].
    Seek {
        at: Timestamp,
        speed: f64,
        flush: u64,
    },
    Stop,
}

/// An audio output with its decoding worker.
pub(super) struct AudioParts {
    pub(super) output: AudioOutput,
    pub(super) tx: SyncSender<AudioCommand>,
    pub(super) thread: JoinHandle<()>,
}

impl AudioParts {
    pub(super) fn clock_source(&self) -> ClockSource {
        ClockSource::Audio { device: self.output.device_name.clone(), rate: self.output.rate, channels: self.output.channels }
    }
}

/// Opens `device` (paused) and starts the worker that decodes `path`'s audio into its ring;
/// the worker waits for its first seek. Errs with why there is no sound.
pub(super) fn start_audio(path: &Path, device: &AudioDevice, tap: Option<Tap>) -> Result<AudioParts, String> {
    let (tx, rx) = sync_channel(4);
    let mut worker_parts = None;
    let output = AudioOutput::open(
        device,
        |rate, channels| {
            let capacity = (f64::from(rate) * AUDIO_AHEAD_SECS) as usize * usize::from(channels);
            let (producer, consumer) = rtrb::RingBuffer::new(capacity.max(1024));
            worker_parts = Some((producer, rate, channels));
            consumer
        },
        tap,
    )
    .map_err(|reason| format!("no audio output: {reason}"))?;
    output.shared.paused.store(true, Ordering::Release);
    let (producer, rate, channels) = worker_parts.ok_or("the audio output did not start")?;
    let shared = Arc::clone(&output.shared);
    let path = path.to_owned();
    let thread = std::thread::Builder::new()
        .name("mbtscope-audio".into())
        .spawn(move || audio_worker(&path, rate, channels, producer, &shared, rx))
        .map_err(|e| format!("cannot start the audio thread: {e}"))?;
    Ok(AudioParts { output, tx, thread })
}

pub(super) fn audio_worker(
    path: &Path,
    rate: u32,
    channels: u16,
    mut producer: rtrb::Producer<f32>,
    shared: &OutputShared,
    commands: Receiver<AudioCommand>,
) {
    let mut stream: Option<AudioStream> = None;
    let mut pending: VecDeque<f32> = VecDeque::new();
    // The seek whose old samples the callback has yet to drop: nothing new is queued until then.
    let mut awaiting_flush: Option<u64> = None;
    loop {
        let busy = stream.is_some() || !pending.is_empty() || awaiting_flush.is_some();
        let command = if busy {
            match commands.try_recv() {
                Ok(c) => Some(c),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => return,
            }
        } else {
            match commands.recv() {
                Ok(c) => Some(c),
                Err(_) => return,
            }
        };
        match command {
            Some(AudioCommand::Stop) => return,
            Some(AudioCommand::Seek { at, speed, flush }) => {
                pending.clear();
                // Nothing of the old position is queued from here on: the callback may drop
                // what is.
                shared.ready_to_flush(flush);
                awaiting_flush = Some(flush);
                // Decoding at rate / speed and playing at rate plays `speed` times faster.
                let decode_rate = (f64::from(rate) / speed).round() as u32;
                stream = match AudioStream::open(path, decode_rate, channels, at) {
                    Ok(s) => s,
                    Err(e) => {
                        log::warn!("{e}");
                        None
                    }
                };
                continue;
            }
            None => {}
        }
        if let Some(flush) = awaiting_flush {
            // However long the device takes to call back (its first callback can come late),
            // samples queued before it does would be dropped with the old ones.
            if !shared.flushed(flush) {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            awaiting_flush = None;
        }
        if pending.is_empty() {
            match stream.as_mut().map(AudioStream::next_chunk) {
                Some(Ok(Some(chunk))) => pending.extend(chunk),
                Some(Ok(None)) | None => {
                    stream = None;
                    shared.ended.store(true, Ordering::Release);
                    continue;
                }
                Some(Err(e)) => {
                    log::warn!("{e}");
                    stream = None;
                    shared.ended.store(true, Ordering::Release);
                    continue;
                }
            }
        }
        // Push what fits; wait a little when the ring is full.
        let mut pushed = false;
        while let Some(&s) = pending.front() {
            if producer.push(s).is_err() {
                break;
            }
            pending.pop_front();
            pushed = true;
        }
        if !pushed {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;
    const CLICK_SECS: f64 = 1.0;

    /// A 2 s stereo WAV, silent but for a 5 ms click at `CLICK_SECS`.
    fn click_wav(path: &Path) {
        let frames = 2 * RATE as usize;
        let mut pcm = Vec::with_capacity(frames * 4);
        for i in 0..frames {
            let t = i as f64 / f64::from(RATE);
            let click = (CLICK_SECS..CLICK_SECS + 0.005).contains(&t);
            let v = if click { (0.8 * (2.0 * std::f64::consts::PI * 2000.0 * t).sin() * 32767.0) as i16 } else { 0 };
            pcm.extend_from_slice(&v.to_le_bytes());
            pcm.extend_from_slice(&v.to_le_bytes());
        }
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&(36 + pcm.len() as u32).to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
        wav.extend_from_slice(&2u16.to_le_bytes()); // channels
        wav.extend_from_slice(&RATE.to_le_bytes());
        wav.extend_from_slice(&(RATE * 4).to_le_bytes()); // bytes per second
        wav.extend_from_slice(&4u16.to_le_bytes()); // bytes per frame
        wav.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&(pcm.len() as u32).to_le_bytes());
        wav.extend_from_slice(&pcm);
        std::fs::write(path, wav).unwrap();
    }

    /// The device's first callback came more than half a second after play was pressed (a
    /// PulseAudio stream starting on a loaded machine): the decoder must not fill the ring
    /// before the callback has dropped the old samples, or the drop takes the first half second
    /// of the new ones with it and the sound runs ahead of the picture (CI saw the click of 1.0 s
    /// play at 0.5 s).
    #[test]
    fn a_late_first_callback_drops_no_new_samples() {
        let dir = std::env::temp_dir().join(format!("mbtscope-late-callback-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("click.wav");
        click_wav(&path);

        let capacity = (f64::from(RATE) * AUDIO_AHEAD_SECS) as usize * 2;
        let (producer, mut consumer) = rtrb::RingBuffer::new(capacity);
        let shared = Arc::new(OutputShared::default());
        shared.volume.store(1.0f32.to_bits(), Ordering::Relaxed);
        let (tx, rx) = sync_channel(4);
        let worker = {
            let (path, shared) = (path.clone(), Arc::clone(&shared));
            std::thread::spawn(move || audio_worker(&path, RATE, 2, producer, &shared, rx))
        };
        let flush = shared.request_flush();
        tx.send(AudioCommand::Seek { at: Timestamp::ZERO, speed: 1.0, flush }).unwrap();
        std::thread::sleep(Duration::from_millis(800));
        assert!(shared.flush_pending(), "no callback yet, so the seek is still waiting for one");

        // Now the device calls back, 10 ms at a time, as fast as the ring fills.
        let mut played = Vec::new();
        let mut period = vec![0.0f32; 960];
        let (mut tap_in, mut tap_out) = rtrb::RingBuffer::new(4 * RATE as usize * 2);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while played.len() < 3 * RATE as usize && std::time::Instant::now() < deadline {
            shared.fill(&mut consumer, Some(&mut tap_in), &mut period, 0);
            while let Ok(s) = tap_out.pop() {
                played.push(s);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        tx.send(AudioCommand::Stop).unwrap();
        worker.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);

        let first_loud = played.iter().position(|s| s.abs() > 0.05).expect("the click was never played");
        let at = first_loud as f64 / f64::from(RATE * 2);
        assert!((at - CLICK_SECS).abs() < 0.005, "the click of {CLICK_SECS} s played {at:.3} s into the sound");
    }
}
