//! Audio output through cpal. The device callback only pops samples from a lock-free
//! single-producer single-consumer ring buffer (rtrb): no allocation, no lock, silence on
//! underrun. It counts the samples it has handed to the device and records the device's reported
//! latency, from which the player derives its master clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use cpal::traits::{DeviceTrait as _, HostTrait as _, StreamTrait as _};

/// Which output device to use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AudioDevice {
    /// The system default.
    #[default]
    Default,
    /// The first output device whose name contains this text (ALSA's `null` in tests).
    Named(String),
    /// No audio output: play on a wall clock.
    Disabled,
}

/// State shared between the callback and the player; all lock-free.
#[derive(Debug, Default)]
pub struct OutputShared {
    /// Interleaved samples handed to the device since the last reset.
    pub played: AtomicU64,
    /// Frames (samples per channel) that had to be filled with silence.
    pub underruns: AtomicU64,
    /// Device latency (playback instant minus callback instant), microseconds.
    pub latency_us: AtomicU64,
    /// Volume as f32 bits.
    pub volume: AtomicU32,
    pub paused: AtomicBool,
    /// The seek handshake, three counters that only grow (see [`OutputShared::request_flush`]):
    /// the latest seek the player asked for, the latest one whose old samples the decoder has
    /// stopped queueing, and the latest one the callback has dropped them for.
    flush_requested: AtomicU64,
    flush_ready: AtomicU64,
    flush_done: AtomicU64,
    /// Set by the decoder when the audio stream has ended.
    pub ended: AtomicBool,
    /// `played` when the latest callback started, and when that was (nanoseconds since the
    /// output's `epoch`), so that the clock can advance smoothly between callbacks.
    pub chunk_start: AtomicU64,
    pub callback_ns: AtomicU64,
    pub chunk_len: AtomicU64,
    /// Errors the backend reported (the first and then every 1000th are logged).
    pub errors: AtomicU64,
    /// The latest error's text, for the player to show when it gives up on the device.
    pub last_error: std::sync::Mutex<Option<String>>,
}

impl OutputShared {
    /// The player's side of a seek: from now on the callback plays silence and the clock holds,
    /// until the decoder has stopped queueing the old samples ([`Self::ready_to_flush`]) and the
    /// callback has dropped them. Returns the seek's number, for the decoder.
    ///
    /// Both sides must take part: a callback that dropped the queue on its own could run before
    /// the decoder saw the seek (old samples queued after it would play), and a decoder that
    /// waited for the callback only so long could start queueing before a slow device's first
    /// callback (which then dropped the new samples: the sound ran ahead of the picture).
    pub fn request_flush(&self) -> u64 {
        self.flush_requested.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The decoder's side: everything queued before seek `seek` may be dropped.
    pub fn ready_to_flush(&self, seek: u64) {
        self.flush_ready.fetch_max(seek, Ordering::AcqRel);
    }

    /// Whether the callback has dropped the samples queued before seek `seek`.
    pub fn flushed(&self, seek: u64) -> bool {
        self.flush_done.load(Ordering::Acquire) >= seek
    }

    /// Whether a seek is waiting for the old samples to be dropped (the clock holds meanwhile).
    pub fn flush_pending(&self) -> bool {
        self.flush_done.load(Ordering::Acquire) < self.flush_requested.load(Ordering::Acquire)
    }

    /// Records an error from the backend (the error callback; never the audio callback, which
    /// must not lock).
    pub fn report_error(&self, message: String) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        if n == 1 || n.is_multiple_of(1000) {
            log::warn!("audio output error ({n} so far): {message}");
        }
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(message);
        }
    }

    /// The device callback's work for one period: takes a pending flush, then fills `data` from
    /// the ring (silence where it runs short, and while paused or flushing), copies what it
    /// played into `tap`, and counts it for the clock. `now_ns` is the time of the call.
    pub fn fill(&self, consumer: &mut rtrb::Consumer<f32>, tap: Option<&mut Tap>, data: &mut [f32], now_ns: u64) {
        let ready = self.flush_ready.load(Ordering::Acquire);
        if ready > self.flush_done.load(Ordering::Acquire) {
            while consumer.pop().is_ok() {}
            // The count restarts, and so does everything the clock reads with it:
            // a chunk recorded before the flush would otherwise be read as taken
            // after it (the clock jumped ahead after a seek while paused).
            self.played.store(0, Ordering::Release);
            self.mark_chunk(0, now_ns);
            self.flush_done.store(ready, Ordering::Release);
        }
        if self.flush_pending() {
            // A seek whose old samples are still queued: they must not play.
            data.iter_mut().for_each(|s| *s = 0.0);
            self.mark_chunk(0, now_ns);
            return;
        }
        if self.paused.load(Ordering::Acquire) {
            data.iter_mut().for_each(|s| *s = 0.0);
            // Nothing handed over: the clock, once playing again, starts from here.
            self.mark_chunk(0, now_ns);
            return;
        }
        let volume = f32::from_bits(self.volume.load(Ordering::Relaxed));
        let mut written = 0;
        for sample in data.iter_mut() {
            match consumer.pop() {
                Ok(v) => {
                    *sample = v * volume;
                    written += 1;
                }
                Err(_) => *sample = 0.0,
            }
        }
        if let Some(tap) = tap {
            for &s in &data[..written] {
                let _ = tap.push(s);
            }
        }
        let mut counted = written;
        if written < data.len() {
            if self.ended.load(Ordering::Acquire) {
                // The audio is over: silence keeps the clock running for the video.
                counted = data.len();
            } else {
                self.underruns.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.mark_chunk(counted as u64, now_ns);
    }

    /// The callback's bookkeeping for a period in which it handed `counted` samples to the
    /// device: the clock reads `chunk_start`, `chunk_len` and `callback_ns` together.
    fn mark_chunk(&self, counted: u64, now_ns: u64) {
        let before = self.played.fetch_add(counted, Ordering::AcqRel);
        self.chunk_start.store(before, Ordering::Release);
        self.chunk_len.store(counted, Ordering::Release);
        self.callback_ns.store(now_ns, Ordering::Release);
    }
}

/// An open output stream and the producer side of its ring buffer.
pub struct AudioOutput {
    pub shared: Arc<OutputShared>,
    pub rate: u32,
    pub channels: u16,
    pub device_name: String,
    /// Reference instant for `callback_ns`.
    pub epoch: std::time::Instant,
    _stream: cpal::Stream,
}

/// What the callback optionally copies the played samples into (for tests and meters).
pub type Tap = rtrb::Producer<f32>;

impl AudioOutput {
    /// Opens the device and starts a stream reading from `consumer`.
    pub fn open(
        device: &AudioDevice,
        consumer_for: impl FnOnce(u32, u16) -> rtrb::Consumer<f32>,
        mut tap: Option<Tap>,
    ) -> Result<Self, String> {
        let host = cpal::default_host();
        let device = match device {
            AudioDevice::Disabled => return Err("audio output is disabled".into()),
            AudioDevice::Default => host.default_output_device().ok_or("no default audio output device")?,
            AudioDevice::Named(name) => {
                // Match the backend's device id (ALSA's `null`, `default`, `hw:0,0`...) exactly,
                // or the description loosely.
                let devices: Vec<cpal::Device> = host.output_devices().map_err(|e| e.to_string())?.collect();
                let id = |d: &cpal::Device| d.id().map(|i| i.id().to_owned()).unwrap_or_default();
                let names: Vec<String> = devices.iter().map(|d| format!("{} ({d})", id(d))).collect();
                devices
                    .into_iter()
                    .find(|d| id(d) == *name || d.to_string().contains(name.as_str()))
                    .ok_or_else(|| format!("no audio output device named like `{name}` (have: {})", names.join(", ")))?
            }
        };
        let device_name = device.id().map(|i| i.id().to_owned()).unwrap_or_else(|_| device.to_string());
        let supported = device.default_output_config().map_err(|e| e.to_string())?;
        let rate = supported.sample_rate();
        let channels = supported.channels();
        let config = cpal::StreamConfig { channels, sample_rate: rate, buffer_size: cpal::BufferSize::Default };
        let mut consumer = consumer_for(rate, channels);
        let shared = Arc::new(OutputShared::default());
        shared.volume.store(1.0f32.to_bits(), Ordering::Relaxed);
        let cb = Arc::clone(&shared);
        let errors = Arc::clone(&shared);
        let epoch = std::time::Instant::now();
        let stream = device
            .build_output_stream(
                config,
                move |data: &mut [f32], info: &cpal::OutputCallbackInfo| {
                    let ts = info.timestamp();
                    if let Some(latency) = ts.playback.checked_duration_since(ts.callback) {
                        cb.latency_us.store(latency.as_micros() as u64, Ordering::Relaxed);
                    }
                    cb.fill(&mut consumer, tap.as_mut(), data, epoch.elapsed().as_nanos() as u64);
                },
                // A broken device can report an error on every period: the player falls back to
                // the wall clock when they keep coming (see `Player::poll`).
                move |err| errors.report_error(err.to_string()),
                None,
            )
            .map_err(|e| e.to_string())?;
        stream.play().map_err(|e| e.to_string())?;
        Ok(Self { shared, rate, channels, device_name, epoch, _stream: stream })
    }
}
