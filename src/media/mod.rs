//! Media with FFmpeg (ffmpeg-next): video decoding with exact seeking and rotation, audio
//! decoding resampled to the model's rate, timestamps as newtypes.

pub mod audio;
pub mod error;
pub mod time;
pub mod video;

pub use audio::{AudioTrack, decode_audio};
pub use error::MediaError;
pub use time::Timestamp;
pub use video::{VideoDecoder, VideoFrame, VideoInfo};
