//! File writing that never leaves a half-written or clobbered user file behind.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// A file's identity for caches: path, size and modification time (a file replaced or edited
/// gets another).
pub fn file_identity(path: &Path) -> String {
    let meta = std::fs::metadata(path).ok();
    let modified = meta
        .as_ref()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{}|{}|{}", path.display(), meta.map_or(0, |m| m.len()), modified)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it into place.
///
/// With `overwrite == false` an existing `path` is an error and is left untouched.
pub fn write_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> std::io::Result<()> {
    if !overwrite && path.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} already exists (use --force to replace it)", path.display()),
        ));
    }
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `dir/.name.tmp-<pid>`: same directory so the rename is atomic, hidden so it is not mistaken
/// for a result.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Whether the temporary file at `path` (named by [`temp_path`]) was left behind: its writer
/// is another process that no longer runs (on Unix), or it is over an hour old (elsewhere). A
/// temporary of a live process, this one included, is someone's write in progress.
pub fn is_abandoned_temporary(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // `.NAME.tmp-PID`, or `.NAME.tmp-PID.EXT` where the writer needs the extension (FFmpeg).
    let pid = name.rsplit_once(".tmp-").map(|(_, rest)| rest.split('.').next().unwrap_or_default());
    let Some(pid) = pid.and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    if pid == std::process::id() {
        return false;
    }
    #[cfg(unix)]
    {
        // Signal 0 checks that the process exists without touching it.
        let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
        // SAFETY: kill with signal 0 sends nothing; it only reports whether `pid` exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        !alive
    }
    #[cfg(not(unix))]
    {
        let age = std::fs::metadata(path).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        age.is_some_and(|a| a > std::time::Duration::from_secs(3600))
    }
}

/// An exclusive advisory lock on a lock file, held until dropped: one writer at a time for a
/// results file or an export. The system releases it when the holder exits, however it exits
/// (`kill -9` included), so a lock file left behind locks nothing.
#[derive(Debug)]
pub struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    /// Takes the lock at `path` (creating the file), or fails at once with a message naming
    /// `what` is being written and the process that holds it.
    pub fn acquire(path: &Path, what: &str) -> anyhow::Result<Self> {
        use std::io::{Read as _, Seek as _};
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot create the lock file {}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let by = if holder.is_empty() { String::new() } else { format!(" (process {holder})") };
                anyhow::bail!("another mbtscope run{by} is writing {what}; wait for it to finish, or write elsewhere");
            }
            Err(std::fs::TryLockError::Error(e)) => anyhow::bail!("cannot lock {}: {e}", path.display()),
        }
        // Who holds it, for the message above (best effort).
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(Self { _file: file })
    }
}

/// mbtscope's data folder (imported models): `$XDG_DATA_HOME/mbtscope`, else
/// `~/.local/share/mbtscope`.
pub fn data_dir() -> PathBuf {
    xdg_dir("XDG_DATA_HOME", ".local/share")
}

/// mbtscope's cache folder: `$XDG_CACHE_HOME/mbtscope`, else `~/.cache/mbtscope`.
pub fn cache_dir() -> PathBuf {
    xdg_dir("XDG_CACHE_HOME", ".cache")
}

/// `$VAR/mbtscope`, else `~/HOME_RELATIVE/mbtscope`, else under the temporary folder.
fn xdg_dir(var: &str, home_relative: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(home_relative)))
        .unwrap_or_else(std::env::temp_dir)
        .join("mbtscope")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_overwrite_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("mbtscope-fsutil-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.bin");
        write_atomic(&path, b"one", false).unwrap();
        assert!(write_atomic(&path, b"two", false).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        write_atomic(&path, b"three", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Only the temporaries of processes that are gone count as abandoned.
    #[test]
    fn abandoned_temporaries_are_those_of_dead_processes() {
        let dir = std::env::temp_dir();
        assert!(!is_abandoned_temporary(&temp_path(&dir.join("a.png"))), "this process's own");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        assert!(is_abandoned_temporary(&dir.join(format!(".a.png.tmp-{dead}"))), "a finished process's");
        assert!(is_abandoned_temporary(&dir.join(format!(".a.mp4.tmp-{dead}.mp4"))), "with an extension after the pid");
        assert!(!is_abandoned_temporary(&dir.join(".a.png.tmp-1")), "init's (alive, not ours to signal)");
        assert!(!is_abandoned_temporary(&dir.join("a.png")), "not a temporary");
    }
}
