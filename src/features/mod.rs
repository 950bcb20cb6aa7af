//! Model inputs from media: frame sampling and resizing, log-mel spectrograms, clip windows.

pub mod counterfactual;
pub mod fbank;
pub mod input;
pub mod window;

pub use counterfactual::Counterfactual;
pub use fbank::{Fbank, FbankConfig, WindowType};
pub use input::{ClipFeatures, WindowInput};
pub use window::{Window, WindowSpec};
