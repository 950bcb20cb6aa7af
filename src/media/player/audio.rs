//! The audio side: the output device with the worker that decodes the clip's sound (resampled
//! for the playback speed) into the device's ring.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{AUDIO_AHEAD_SECS, ClockSource};
use crate::media::audio::AudioStream;
use crate::media::output::{AudioDevice, AudioOutput, OutputShared, Tap};
use crate::media::time::Timestamp;

pub(super) enum AudioCommand {
    Seek { at: Timestamp, speed: f64 },
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
    loop {
        let command = if stream.is_some() || !pending.is_empty() {
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
            Some(AudioCommand::Seek { at, speed }) => {
                pending.clear();
                // Decoding at rate / speed and playing at rate plays `speed` times faster.
                let decode_rate = (f64::from(rate) / speed).round() as u32;
                stream = match AudioStream::open(path, decode_rate, channels, at) {
                    Ok(s) => s,
                    Err(e) => {
                        log::warn!("{e}");
                        None
                    }
                };
                // Wait until the callback has dropped the old samples before queueing new ones.
                let deadline = Instant::now() + Duration::from_millis(500);
                while shared.flush.load(Ordering::Acquire) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                continue;
            }
            None => {}
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
