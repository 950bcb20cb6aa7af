//! MBT in burn: configuration, modules, attention capture and FLOP counting.

pub mod attention;
pub mod block;
pub mod config;
pub mod cpu_block;
mod cpu_kernels;
pub mod device;
pub mod flops;
pub mod layout;
pub mod mbt;
pub mod names;
mod save;

pub use config::{Classifier, MbtConfig, Modality};
pub use mbt::{AttentionObserver, AttentionPass, Capture, HeadFusion, Mbt, MbtInput, MbtOutput, PassKind};
