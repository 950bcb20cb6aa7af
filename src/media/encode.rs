//! Writing H.264 + AAC MP4 files with ffmpeg-next (the benchmark generator, later the annotated
//! video export). The file is written under a temporary name and renamed when complete, so a
//! failed or interrupted write never leaves a half-written file under the real name.

use std::path::{Path, PathBuf};

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling::{Context as Scaler, Flags};
use ffmpeg::{ChannelLayout, Dictionary, Rational, codec, encoder, format};
use ffmpeg_next as ffmpeg;

use super::error::MediaError;
use super::video::init;

/// What to write.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodeOptions {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Mono audio sample rate; `None` writes no audio stream.
    pub audio_rate: Option<u32>,
    /// x264 constant rate factor (lower is better quality).
    pub crf: u32,
}

/// An MP4 being written: feed frames (packed RGB) and the whole audio track, then `finish`.
pub struct Mp4Writer {
    path: PathBuf,
    tmp: PathBuf,
    output: format::context::Output,
    video: encoder::Video,
    video_index: usize,
    video_tb: Rational,
    scaler: Scaler,
    audio: Option<(encoder::Audio, usize, Rational)>,
    options: EncodeOptions,
    frames: i64,
    audio_samples: Vec<f32>,
    audio_written: usize,
}

fn err(path: &Path, what: &'static str, e: impl ToString) -> MediaError {
    MediaError::Decode { path: path.to_owned(), what, reason: e.to_string() }
}

impl Mp4Writer {
    /// Creates `path` (via a temporary file beside it). Refuses to replace an existing file
    /// unless `overwrite`.
    pub fn create(path: &Path, options: EncodeOptions, overwrite: bool) -> Result<Self, MediaError> {
        init();
        if path.exists() && !overwrite {
            return Err(err(path, "writing video", "the file already exists"));
        }
        let tmp = path.with_file_name(format!(
            ".{}.tmp-{}.mp4",
            path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            std::process::id()
        ));
        let mut output = format::output_as(&tmp, "mp4").map_err(|e| err(path, "creating the output", e))?;
        let global_header = output.format().flags().contains(format::Flags::GLOBAL_HEADER);

        let h264 = encoder::find_by_name("libx264")
            .or_else(|| encoder::find(codec::Id::H264))
            .ok_or_else(|| err(path, "finding an H.264 encoder", "none available"))?;
        let video_tb = Rational::new(1, options.fps as i32);
        let video_index;
        let video = {
            let mut stream = output.add_stream(h264).map_err(|e| err(path, "adding the video stream", e))?;
            video_index = stream.index();
            let mut enc = codec::context::Context::new_with_codec(h264)
                .encoder()
                .video()
                .map_err(|e| err(path, "setting up the video encoder", e))?;
            enc.set_width(options.width);
            enc.set_height(options.height);
            enc.set_format(Pixel::YUV420P);
            enc.set_time_base(video_tb);
            enc.set_frame_rate(Some(Rational::new(options.fps as i32, 1)));
            if global_header {
                enc.set_flags(codec::Flags::GLOBAL_HEADER);
            }
            let mut dict = Dictionary::new();
            dict.set("preset", "veryfast");
            dict.set("crf", &options.crf.to_string());
            let opened = enc.open_as_with(h264, dict).map_err(|e| err(path, "opening the video encoder", e))?;
            stream.set_parameters(&opened);
            stream.set_time_base(video_tb);
            stream.set_avg_frame_rate(Rational::new(options.fps as i32, 1));
            stream.set_rate(Rational::new(options.fps as i32, 1));
            opened
        };
        let audio = match options.audio_rate {
            None => None,
            Some(rate) => {
                let aac = encoder::find(codec::Id::AAC).ok_or_else(|| err(path, "finding an AAC encoder", "none available"))?;
                let mut stream = output.add_stream(aac).map_err(|e| err(path, "adding the audio stream", e))?;
                let index = stream.index();
                let mut enc = codec::context::Context::new_with_codec(aac)
                    .encoder()
                    .audio()
                    .map_err(|e| err(path, "setting up the audio encoder", e))?;
                let tb = Rational::new(1, rate as i32);
                enc.set_rate(rate as i32);
                enc.set_channel_layout(ChannelLayout::MONO);
                enc.set_format(format::Sample::F32(format::sample::Type::Planar));
                enc.set_bit_rate(64_000);
                enc.set_time_base(tb);
                if global_header {
                    enc.set_flags(codec::Flags::GLOBAL_HEADER);
                }
                let opened = enc.open_as(aac).map_err(|e| err(path, "opening the audio encoder", e))?;
                stream.set_parameters(&opened);
                stream.set_time_base(tb);
                Some((opened, index, tb))
            }
        };
        let scaler =
            Scaler::get(Pixel::RGB24, options.width, options.height, Pixel::YUV420P, options.width, options.height, Flags::BILINEAR)
                .map_err(|e| err(path, "setting up colour conversion", e))?;
        output.write_header().map_err(|e| err(path, "writing the header", e))?;
        Ok(Self {
            path: path.to_owned(),
            tmp,
            output,
            video,
            video_index,
            video_tb,
            scaler,
            audio,
            options,
            frames: 0,
            audio_samples: Vec::new(),
            audio_written: 0,
        })
    }

    /// Sets the whole mono audio track (written interleaved with the frames as they come).
    pub fn set_audio(&mut self, samples: Vec<f32>) {
        self.audio_samples = samples;
    }

    /// Appends one frame of packed RGB (`width * height * 3` bytes).
    pub fn push_frame(&mut self, rgb: &[u8]) -> Result<(), MediaError> {
        let (w, h) = (self.options.width, self.options.height);
        if rgb.len() != (w * h * 3) as usize {
            return Err(err(&self.path, "encoding a frame", format!("expected {} bytes, got {}", w * h * 3, rgb.len())));
        }
        let mut frame = ffmpeg::frame::Video::new(Pixel::RGB24, w, h);
        let stride = frame.stride(0);
        let data = frame.data_mut(0);
        for y in 0..h as usize {
            data[y * stride..y * stride + w as usize * 3].copy_from_slice(&rgb[y * w as usize * 3..(y + 1) * w as usize * 3]);
        }
        let mut yuv = ffmpeg::frame::Video::empty();
        self.scaler.run(&frame, &mut yuv).map_err(|e| err(&self.path, "converting a frame", e))?;
        yuv.set_pts(Some(self.frames));
        self.frames += 1;
        self.video.send_frame(&yuv).map_err(|e| err(&self.path, "encoding a frame", e))?;
        self.drain_video()?;
        // Audio up to the end of this frame.
        let until = (self.frames as f64 / f64::from(self.options.fps) * f64::from(self.options.audio_rate.unwrap_or(0))) as usize;
        self.write_audio(until, false)
    }

    fn drain_video(&mut self) -> Result<(), MediaError> {
        let mut packet = ffmpeg::Packet::empty();
        let stream_tb = self.output.stream(self.video_index).map(|s| s.time_base()).unwrap_or(self.video_tb);
        while self.video.receive_packet(&mut packet).is_ok() {
            packet.set_stream(self.video_index);
            packet.rescale_ts(self.video_tb, stream_tb);
            packet.write_interleaved(&mut self.output).map_err(|e| err(&self.path, "writing video", e))?;
        }
        Ok(())
    }

    fn write_audio(&mut self, until: usize, last: bool) -> Result<(), MediaError> {
        let Some((enc, index, tb)) = self.audio.as_mut() else { return Ok(()) };
        let frame_size = (enc.frame_size() as usize).max(1);
        let until = until.min(self.audio_samples.len());
        let stream_tb = self.output.stream(*index).map(|s| s.time_base()).unwrap_or(*tb);
        while self.audio_written + frame_size <= until || (last && self.audio_written < self.audio_samples.len()) {
            let n = frame_size.min(self.audio_samples.len() - self.audio_written);
            let mut frame = ffmpeg::frame::Audio::new(format::Sample::F32(format::sample::Type::Planar), frame_size, ChannelLayout::MONO);
            frame.set_rate(self.options.audio_rate.unwrap_or(16_000));
            let plane = frame.data_mut(0);
            for (k, s) in self.audio_samples[self.audio_written..self.audio_written + n].iter().enumerate() {
                plane[k * 4..k * 4 + 4].copy_from_slice(&s.to_le_bytes());
            }
            for b in &mut plane[n * 4..frame_size * 4] {
                *b = 0;
            }
            frame.set_pts(Some(self.audio_written as i64));
            self.audio_written += n;
            enc.send_frame(&frame).map_err(|e| MediaError::Decode {
                path: self.path.clone(),
                what: "encoding audio",
                reason: e.to_string(),
            })?;
            let mut packet = ffmpeg::Packet::empty();
            while enc.receive_packet(&mut packet).is_ok() {
                packet.set_stream(*index);
                packet.rescale_ts(*tb, stream_tb);
                packet.write_interleaved(&mut self.output).map_err(|e| MediaError::Decode {
                    path: self.path.clone(),
                    what: "writing audio",
                    reason: e.to_string(),
                })?;
            }
        }
        Ok(())
    }

    /// Flushes the encoders, writes the trailer and renames the file into place.
    pub fn finish(mut self) -> Result<PathBuf, MediaError> {
        let result = (|| {
            self.write_audio(usize::MAX, true)?;
            self.video.send_eof().map_err(|e| err(&self.path, "finishing video", e))?;
            self.drain_video()?;
            if let Some((enc, index, tb)) = self.audio.as_mut() {
                let _ = enc.send_eof();
                let stream_tb = self.output.stream(*index).map(|s| s.time_base()).unwrap_or(*tb);
                let mut packet = ffmpeg::Packet::empty();
                while enc.receive_packet(&mut packet).is_ok() {
                    packet.set_stream(*index);
                    packet.rescale_ts(*tb, stream_tb);
                    packet.write_interleaved(&mut self.output).map_err(|e| err(&self.path, "writing audio", e))?;
                }
            }
            self.output.write_trailer().map_err(|e| err(&self.path, "writing the trailer", e))?;
            std::fs::rename(&self.tmp, &self.path).map_err(|e| err(&self.path, "renaming into place", e))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        result.map(|()| self.path.clone())
    }
}

impl Drop for Mp4Writer {
    fn drop(&mut self) {
        // An unfinished writer leaves nothing behind (finish() renamed it if it succeeded).
        let _ = std::fs::remove_file(&self.tmp);
    }
}
