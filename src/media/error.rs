//! Media errors: each names the file, last.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("cannot open media file ({reason}): {path}")]
    Open { path: PathBuf, reason: String },
    #[error("no video stream (audio-only files are not supported yet): {path}")]
    NoVideo { path: PathBuf },
    #[error("unsupported codec {codec} for the {kind} stream: {path}")]
    Codec { path: PathBuf, kind: &'static str, codec: String },
    #[error("video is {width}x{height}, larger than the supported {max}x{max}: {path}")]
    TooLarge { path: PathBuf, width: u32, height: u32, max: u32 },
    #[error("{what} failed ({reason}): {path}")]
    Decode { path: PathBuf, what: &'static str, reason: String },
    /// A file asked for its sound (another clip's audio swapped in) has none.
    #[error("no audio stream: {path}")]
    NoAudio { path: PathBuf },
    #[error("no frame at {time}; the video ends at {end}: {path}")]
    NoFrame { path: PathBuf, time: super::Timestamp, end: super::Timestamp },
}
