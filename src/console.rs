//! Standard output for commands whose output may be piped into `head` or a pager: once the
//! reader has gone, printing stops quietly instead of panicking (as `println!` does on a closed
//! pipe), and the command finishes its work, so no file it writes is left half done.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes one line to stdout, unless stdout has been closed (then nothing, from then on).
pub fn print_line(args: std::fmt::Arguments<'_>) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
    if let Err(e) = written {
        CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            log::warn!("cannot write to standard output any more: {e}");
        }
    }
}

/// Whether stdout was found closed (a command that only prints may stop early).
pub fn stdout_closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// `println!` through [`print_line`].
#[macro_export]
macro_rules! outln {
    () => {
        $crate::console::print_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::console::print_line(format_args!($($arg)*))
    };
}
