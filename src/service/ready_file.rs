//! The ready file of `tether run --ready-file PATH`: once the HTTP listener is bound, the
//! address it bound (`127.0.0.1:PORT`, what a script needs when `server.listen` asked for
//! port 0) is written to PATH, so scripts and tests wait for the file instead of guessing a
//! free port. The file is cleared at start (a stale one from an earlier run never misleads),
//! written atomically (a temporary file renamed into place: a reader never sees half of it)
//! and removed when the service stops.
//!
//! Owns only that file. Must never decide anything about the service or hold its address
//! for anyone but the file's reader.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why the ready file could not be cleared or written.
#[derive(Debug, thiserror::Error)]
#[error("the ready file {}: cannot {action}: {source}", path.display())]
pub struct ReadyFileError {
    path: PathBuf,
    action: &'static str,
    #[source]
    source: std::io::Error,
}

/// The ready file of one run, cleared and not yet written.
#[derive(Debug)]
pub struct ReadyFile {
    path: PathBuf,
}

impl ReadyFile {
    /// Takes `path` for this run: removes a file left there by an earlier one.
    pub fn clear(path: &Path) -> Result<ReadyFile, ReadyFileError> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ReadyFileError {
                    path: path.to_owned(),
                    action: "remove the stale file",
                    source,
                });
            }
        }
        Ok(ReadyFile {
            path: path.to_owned(),
        })
    }

    /// Writes `addr` and a newline, all at once (a temporary file beside it, renamed).
    pub fn announce(&self, addr: SocketAddr) -> Result<(), ReadyFileError> {
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let fail = |action, source| ReadyFileError {
            path: self.path.clone(),
            action,
            source,
        };
        std::fs::write(&tmp, format!("{addr}\n")).map_err(|e| fail("write it", e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail("move it into place", e)
        })
    }

    /// Removes the file (the service has stopped); a file already gone is fine.
    pub fn remove(self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the ready file");
        }
    }
}

/// The address a ready file holds, or `None` while it is absent or not an address.
pub fn read(path: &Path) -> Option<SocketAddr> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_cleared_at_start_written_whole_and_removed_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready");
        std::fs::write(&path, "127.0.0.1:1\n").unwrap();
        let ready = ReadyFile::clear(&path).unwrap();
        assert!(!path.exists(), "a stale file survived the start");
        assert_eq!(read(&path), None);
        let addr: SocketAddr = "127.0.0.1:40123".parse().unwrap();
        ready.announce(addr).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "127.0.0.1:40123\n");
        assert_eq!(read(&path), Some(addr));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "the temporary file stayed behind");
        ready.remove();
        assert!(!path.exists());
    }

    #[test]
    fn a_file_that_cannot_be_written_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("ready");
        let ready = ReadyFile::clear(&path).unwrap();
        let e = ready
            .announce("127.0.0.1:1".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no-such-dir"), "{e}");
        assert!(e.contains("cannot write it"), "{e}");
    }
}
