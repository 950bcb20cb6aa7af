//! Media with FFmpeg (ffmpeg-next): video decoding with exact seeking and rotation, audio
//! decoding resampled to the model's rate, timestamps as newtypes, and the playback engine
//! (audio through cpal as the master clock).

pub mod audio;
pub mod encode;
pub mod error;
pub mod output;
pub mod player;
pub mod time;
pub mod video;

pub use audio::{AudioTrack, decode_audio};
pub use error::MediaError;
pub use output::AudioDevice;
pub use player::{ClockSource, Player, PlayerEvent, PlayerOptions, PlayerStats};
pub use time::Timestamp;
pub use video::{VideoDecoder, VideoFrame, VideoInfo};
