//! Decoding, seeking, rotation, audio layouts and bad input, on clips the tests make with
//! Debian's ffmpeg CLI. Each video frame carries its index as 8 black/white stripes, so a decoded
//! frame says which frame it is.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mbtscope::media::{MediaError, Timestamp, VideoDecoder, decode_audio};

const W: usize = 64;
const H: usize = 48;

/// Frame `i` as RGB: stripe k (8 px wide) is white when bit k of `i` is set.
fn coded_frame(i: usize) -> Vec<u8> {
    let mut rgb = vec![0u8; W * H * 3];
    for y in 0..H {
        for x in 0..W {
            let on = (i >> (x / 8)) & 1 == 1;
            let v = if on { 235 } else { 16 };
            rgb[(y * W + x) * 3..(y * W + x) * 3 + 3].copy_from_slice(&[v, v, v]);
        }
    }
    rgb
}

/// Reads the index back from a decoded (upright, unscaled) frame.
fn frame_index(frame: &mbtscope::media::VideoFrame) -> usize {
    (0..8)
        .map(|k| {
            let [r, _, _] = frame.pixel((k * 8 + 4) as u32, (H / 2) as u32);
            usize::from(r > 128) << k
        })
        .sum()
}

/// Encodes `count` coded frames at 25 fps with ffmpeg, plus `extra` arguments (audio inputs,
/// filters, metadata) placed before the output.
fn make_clip(name: &str, count: usize, pre: &[&str], extra: &[&str]) -> PathBuf {
    let dir = crate::scratch(&format!("media-{name}"));
    let path = dir.join(name);
    let mut args: Vec<String> = vec!["-y".into(), "-loglevel".into(), "error".into()];
    args.extend(pre.iter().map(ToString::to_string));
    args.extend(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &format!("{W}x{H}"), "-r", "25", "-i", "-"].iter().map(ToString::to_string));
    args.extend(extra.iter().map(ToString::to_string));
    args.push(path.to_string_lossy().into_owned());
    let mut child = Command::new("ffmpeg")
        .args(&args)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg (Debian package `ffmpeg`) must be installed for the media tests");
    {
        let mut stdin = child.stdin.take().unwrap();
        for i in 0..count {
            stdin.write_all(&coded_frame(i)).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
    path
}

fn h264(name: &str, count: usize) -> PathBuf {
    make_clip(name, count, &[], &["-c:v", "libx264", "-g", "12", "-crf", "1", "-pix_fmt", "yuv444p"])
}

#[test]
fn every_seek_lands_on_the_exact_frame() {
    let clip = h264("counter.mp4", 75);
    let mut decoder = VideoDecoder::open(&clip).unwrap();
    let info = decoder.info().clone();
    assert_eq!((info.width, info.height, info.rotation), (W as u32, H as u32, 0));
    assert!((info.frame_rate - 25.0).abs() < 1e-6, "{info:?}");
    // Forward, backward and mid-GOP targets; frame i is shown during [i/25, (i+1)/25).
    for &i in &[0usize, 1, 11, 12, 13, 40, 74, 5, 60, 23, 24, 25] {
        for offset in [0.0, 0.5, 0.99] {
            let t = Timestamp::from_secs((i as f64 + offset) / 25.0);
            let frame = decoder.frame_at(t).unwrap();
            assert_eq!(frame_index(&frame), i, "at {t}");
        }
    }
    let times: Vec<Timestamp> = (0..20).map(|k| Timestamp::from_secs(k as f64 * 0.12 + 0.3)).collect();
    let frames = decoder.frames_at(&times).unwrap();
    for (t, f) in times.iter().zip(&frames) {
        assert_eq!(frame_index(f), (t.secs() * 25.0 + 1e-9).floor() as usize, "frames_at {t}");
    }
    // Consecutive windows continue decoding without a seek; the frames must be the same as
    // after one. Sampled at 12 ms, so frames repeat; the last call reaches past the end.
    for start in [0.0, 0.6, 1.2, 1.21, 1.9, 2.5, 2.8] {
        let times: Vec<Timestamp> = (0..50).map(|k| Timestamp::from_secs(start + k as f64 * 0.012)).collect();
        let frames = decoder.frames_at(&times).unwrap();
        for (t, f) in times.iter().zip(&frames) {
            assert_eq!(frame_index(f), ((t.secs() * 25.0 + 1e-9).floor() as usize).min(74), "frames_at {t} (window from {start} s)");
        }
    }
    // Past the end: the last frame is shown.
    assert_eq!(frame_index(&decoder.frame_at(Timestamp::from_secs(10.0)).unwrap()), 74);
}

#[test]
fn variable_frame_rate_timestamps_are_followed() {
    // Frames 0..24 at 25 fps, then a 0.5 s pause, then the rest.
    let clip = make_clip(
        "vfr.mkv",
        50,
        &[],
        &["-vf", "setpts=N/25/TB+gte(N\\,25)*0.5/TB", "-fps_mode", "passthrough", "-c:v", "libx264", "-crf", "1", "-pix_fmt", "yuv444p"],
    );
    let mut decoder = VideoDecoder::open(&clip).unwrap();
    assert_eq!(frame_index(&decoder.frame_at(Timestamp::from_secs(0.98)).unwrap()), 24);
    assert_eq!(frame_index(&decoder.frame_at(Timestamp::from_secs(1.3)).unwrap()), 24, "inside the pause");
    assert_eq!(frame_index(&decoder.frame_at(Timestamp::from_secs(1.5)).unwrap()), 25);
    assert_eq!(frame_index(&decoder.frame_at(Timestamp::from_secs(1.59)).unwrap()), 27);
}

/// Sets the track header's display matrix of an mp4 to a 90-degree clockwise turn, as phones
/// write it (FFmpeg 5.1's CLI can no longer set it).
fn rotate_mp4_90(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes.windows(4).position(|w| w == b"tkhd").expect("an mp4 track header");
    assert_eq!(bytes[at + 4], 0, "version 0 tkhd");
    let matrix = at + 4 + 40;
    let values: [i32; 9] = [0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x4000_0000];
    for (k, v) in values.iter().enumerate() {
        bytes[matrix + 4 * k..matrix + 4 * k + 4].copy_from_slice(&v.to_be_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn rotation_metadata_is_honoured_as_ffmpeg_does() {
    let clip = h264("rotated.mp4", 10);
    rotate_mp4_90(&clip);
    let mut decoder = VideoDecoder::open(&clip).unwrap();
    let info = decoder.info().clone();
    assert_eq!((info.width, info.height, info.rotation), (H as u32, W as u32, 90), "{info:?}");
    let frame = decoder.frame_at(Timestamp::from_secs(1.0 / 25.0)).unwrap();
    assert_eq!((frame.width, frame.height), (H as u32, W as u32));
    // FFmpeg's own autorotation of the same frame is the reference.
    let reference = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&clip)
        .args(["-vf", "select=eq(n\\,1)", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(reference.status.success(), "{}", String::from_utf8_lossy(&reference.stderr));
    assert_eq!(reference.stdout.len(), frame.rgb.len(), "ffmpeg's rotated frame has another size");
    let worst = reference.stdout.iter().zip(&frame.rgb).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(worst <= 3, "differs from ffmpeg's autorotated frame by {worst}");
    // Frame 1 has only its first stripe (the left 8 columns) white.
    assert!(frame.pixel(24, 3)[0] > 128 || frame.pixel(24, 60)[0] > 128);
}

#[test]
fn audio_of_any_layout_and_rate_becomes_16k_mono() {
    for (name, layout, rate, codec) in
        [("mono.mkv", "mono", 8000, "flac"), ("stereo.mp4", "stereo", 44100, "aac"), ("surround.mkv", "5.1", 48000, "ac3")]
    {
        let tone = format!("sine=frequency=1000:sample_rate={rate}:duration=2");
        let clip = make_clip(
            name,
            50,
            &["-f", "lavfi", "-i", &tone],
            &[
                "-map",
                "1:v",
                "-map",
                "0:a",
                "-ac",
                &layout.replace("5.1", "6").replace("stereo", "2").replace("mono", "1"),
                "-c:a",
                codec,
                "-c:v",
                "libx264",
                "-shortest",
            ],
        );
        let track = decode_audio(&clip, 16_000, Timestamp::ZERO, None).unwrap().expect("an audio stream");
        assert_eq!(track.rate, 16_000);
        let secs = track.samples.len() as f64 / 16_000.0;
        assert!((secs - 2.0).abs() < 0.1, "{name}: {secs} s of audio");
        // 1 kHz: about 2000 zero crossings per second, in the middle of the clip.
        let mid = &track.samples[8000..24000];
        let crossings = mid.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
        assert!((1900..2100).contains(&crossings), "{name}: {crossings} crossings in 1 s");
        let rms = (mid.iter().map(|v| v * v).sum::<f32>() / mid.len() as f32).sqrt();
        assert!(rms > 0.01, "{name}: silent after downmix ({rms})");
    }
    let silent = h264("silent.mp4", 10);
    assert!(decode_audio(&silent, 16_000, Timestamp::ZERO, None).unwrap().is_none());
    assert!(!VideoDecoder::open(&silent).unwrap().info().has_audio);
}

/// A plain stereo WAV names no channel layout: FFmpeg 5.1 then leaves the frame's legacy channel
/// count at 0, and a copy of such a frame had no samples, so the resampler refused it ("Invalid
/// argument"). It decodes like any other stereo track.
#[test]
fn a_wav_without_a_channel_layout_decodes() {
    let dir = crate::scratch("media-plain-wav");
    let path = dir.join("plain.wav");
    let status = Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100:duration=2", "-ac", "2"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let track = decode_audio(&path, 16_000, Timestamp::ZERO, None).unwrap().expect("an audio stream");
    let secs = track.samples.len() as f64 / 16_000.0;
    assert!((secs - 2.0).abs() < 0.1, "{secs} s of audio");
    let mid = &track.samples[8000..24000];
    let crossings = mid.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
    assert!((1900..2100).contains(&crossings), "{crossings} crossings in 1 s");
}

/// A span decoded from the middle of a clip (after a seek) is the same audio, at the same time,
/// as that span of the whole decoded track. Regression: the first chunks after a seek lie wholly
/// before the requested start and come back empty, and the track's start was taken from them,
/// which shifted every window's spectrogram and left most of it silent.
#[test]
fn audio_decoded_from_mid_clip_lines_up_with_the_whole_track() {
    // A chirp, so that every instant sounds different.
    let tone = "aevalsrc=sin(2*PI*(200+400*t)*t):s=16000:d=4";
    let clip = make_clip(
        "chirp.mp4",
        100,
        &["-f", "lavfi", "-i", tone],
        &["-map", "1:v", "-map", "0:a", "-c:a", "aac", "-c:v", "libx264", "-g", "25", "-shortest"],
    );
    let whole = decode_audio(&clip, 16_000, Timestamp::ZERO, None).unwrap().unwrap();
    for (from, to) in [(1.04, 2.96), (0.5, 2.5), (2.2, 3.0)] {
        let part = decode_audio(&clip, 16_000, Timestamp::from_secs(from), Some(Timestamp::from_secs(to))).unwrap().unwrap();
        // AAC frames are 1024 samples at the source rate; the start lands within one sample.
        assert!((part.start.secs() - from).abs() < 1.0 / 16_000.0 + 1e-6, "{from}: track starts at {:?}", part.start);
        let len = ((to - from) * 16_000.0) as usize;
        let (a, b) = (part.span(Timestamp::from_secs(from), len), whole.span(Timestamp::from_secs(from), len));
        let silent = a.iter().filter(|v| v.abs() < 1e-4).count();
        assert!(silent < len / 100, "{from}-{to}: {silent} of {len} samples silent");
        // Tolerance: resampler and decoder state differ after a seek for a few ms at most.
        let max = a.iter().zip(&b).skip(160).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(max < 0.05, "{from}-{to}: differs from the whole track by {max}");
    }
}

fn expect_open_error(path: &Path, needle: &str) {
    let err = VideoDecoder::open(path).err().unwrap_or_else(|| panic!("{} opened", path.display()));
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "error does not name the file: {text}");
    assert!(text.contains(needle), "expected `{needle}` in: {text}");
}

#[test]
fn bad_files_give_errors_that_name_them() {
    let dir = crate::scratch("media-bad");
    let empty = dir.join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    expect_open_error(&empty, "empty");

    let random = dir.join("random.mp4");
    let mut state = 12345u32;
    let bytes: Vec<u8> = (0..100_000)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (state >> 16) as u8
        })
        .collect();
    std::fs::write(&random, bytes).unwrap();
    expect_open_error(&random, "cannot open");

    expect_open_error(&dir.join("missing.mp4"), "cannot open");

    // Huge declared dimensions in a tiny file.
    let huge = dir.join("huge.y4m");
    std::fs::write(&huge, b"YUV4MPEG2 W100000 H100000 F25:1 Ip A1:1 C420jpeg\nFRAME\n").unwrap();
    let err = VideoDecoder::open(&huge).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("huge.y4m") && (err.contains("larger") || err.contains("cannot open")), "{err}");

    // Audio only: a clear message for now.
    let audio_only = dir.join("tone.m4a");
    let status = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac"])
        .arg(&audio_only)
        .status()
        .unwrap();
    assert!(status.success());
    let err = VideoDecoder::open(&audio_only).err().unwrap();
    assert!(matches!(err, MediaError::NoVideo { .. }), "{err}");
    assert!(err.to_string().contains("tone.m4a"));
}

#[test]
fn truncated_and_corrupted_streams_decode_what_they_can() {
    let clip = make_clip("faststart.mp4", 100, &[], &["-c:v", "libx264", "-g", "10", "-movflags", "+faststart", "-pix_fmt", "yuv444p"]);
    let bytes = std::fs::read(&clip).unwrap();

    // Truncated: the index is at the front, the media data ends early.
    let truncated = clip.with_file_name("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let mut decoder = VideoDecoder::open(&truncated).unwrap();
    let mut count = 0;
    while let Ok(Some(_)) = decoder.next_frame() {
        count += 1;
        assert!(count <= 100);
    }
    assert!(count > 10 && count < 100, "decoded {count} frames of a truncated file");

    // Corrupted packets in the middle: keep going, count what was skipped.
    let mut corrupted = bytes.clone();
    let start = bytes.len() / 2;
    for (k, b) in corrupted[start..start + 48].iter_mut().enumerate() {
        *b ^= (k * 37 + 11) as u8;
    }
    let path = clip.with_file_name("corrupted.mp4");
    std::fs::write(&path, &corrupted).unwrap();
    let mut decoder = VideoDecoder::open(&path).unwrap();
    let mut count = 0;
    loop {
        match decoder.next_frame() {
            Ok(Some(_)) => count += 1,
            Ok(None) => break,
            Err(e) => panic!("corruption should be skipped, got {e}"),
        }
        assert!(count <= 200);
    }
    assert!(count > 50, "decoded only {count} frames around the corruption");
    // A frame after the damage can still be reached by seeking.
    let late = decoder.frame_at(Timestamp::from_secs(3.5)).unwrap();
    assert_eq!(frame_index(&late), 87);
}

#[test]
fn vp9_and_opus_in_webm_decode_and_seek() {
    let tone = "sine=frequency=1000:sample_rate=48000:duration=2";
    let clip = make_clip(
        "vp9.webm",
        50,
        &["-f", "lavfi", "-i", tone],
        &["-map", "1:v", "-map", "0:a", "-c:v", "libvpx-vp9", "-lossless", "1", "-g", "10", "-c:a", "libopus", "-shortest"],
    );
    let mut decoder = VideoDecoder::open(&clip).unwrap();
    assert_eq!(decoder.info().codec, "vp9");
    for i in [3usize, 27, 11, 40] {
        let frame = decoder.frame_at(Timestamp::from_secs((i as f64 + 0.5) / 25.0)).unwrap();
        assert_eq!(frame_index(&frame), i);
    }
    let track = decode_audio(&clip, 16_000, Timestamp::ZERO, None).unwrap().unwrap();
    assert!((track.samples.len() as f64 / 16_000.0 - 2.0).abs() < 0.1);
}

#[test]
fn an_unknown_codec_is_named() {
    // An MPEG-4 AVI whose codec tags are rewritten to a fourcc no decoder knows.
    let clip = make_clip("unknown.avi", 10, &[], &["-c:v", "mpeg4", "-vtag", "XVID"]);
    let mut bytes = std::fs::read(&clip).unwrap();
    let mut patched = 0;
    for i in 0..bytes.len().saturating_sub(4) {
        if &bytes[i..i + 4] == b"XVID" || &bytes[i..i + 4] == b"xvid" {
            bytes[i..i + 4].copy_from_slice(b"QQZZ");
            patched += 1;
        }
    }
    assert!(patched >= 2, "expected the strh and strf codec tags");
    std::fs::write(&clip, bytes).unwrap();
    let err = VideoDecoder::open(&clip).err().expect("an unknown codec must not open");
    let text = err.to_string();
    assert!(matches!(err, MediaError::Codec { .. }), "{text}");
    assert!(text.contains("unknown.avi"), "{text}");
}
