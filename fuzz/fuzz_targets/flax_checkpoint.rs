//! Any byte string given to the Flax checkpoint reader must produce parameters or an error,
//! never a panic, a hang or an outsized allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mbtscope::weights::flax::params_from_bytes(data);
    let _ = mbtscope::npz::parse_npy(data);
});
