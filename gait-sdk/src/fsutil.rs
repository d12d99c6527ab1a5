//! Hostile-input file reading, atomic writes and lock files.
//!
//! Every input file is treated as hostile: sizes are capped before reading, directories and
//! non-UTF-8 text are rejected with precise messages, and state is written by temp file,
//! fsync and rename so a crash never leaves half a file behind.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Largest intent, policy or other JSON/YAML input accepted (16 MiB).
pub const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// Why an input file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Message shaped like the reference's (`open x: no such file or directory`).
    #[error("{0}")]
    Io(String),
    #[error("{path} is larger than the {limit}-byte input limit")]
    TooLarge { path: String, limit: u64 },
    #[error("{path} is not valid UTF-8 text")]
    NotUtf8 { path: String },
}

/// Lower-case, Go-style description of an I/O error.
pub fn go_io_reason(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::AlreadyExists => "file exists".into(),
        _ => {
            if err.raw_os_error() == Some(21) {
                return "is a directory".into();
            }
            if err.raw_os_error() == Some(20) {
                return "not a directory".into();
            }
            let s = err.to_string();
            let s = s.split(" (os error").next().unwrap_or(&s).to_string();
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
                None => s,
            }
        }
    }
}

/// Reads a whole file with a size cap.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let shown = path.display().to_string();
    let file = fs::File::open(path)
        .map_err(|e| ReadError::Io(format!("open {shown}: {}", go_io_reason(&e))))?;
    let meta = file
        .metadata()
        .map_err(|e| ReadError::Io(format!("stat {shown}: {}", go_io_reason(&e))))?;
    if meta.is_dir() {
        return Err(ReadError::Io(format!("read {shown}: is a directory")));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { path: shown, limit });
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    // Read one byte past the limit so a file that grows while we read is still caught.
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| ReadError::Io(format!("read {shown}: {}", go_io_reason(&e))))?;
    if buf.len() as u64 > limit {
        return Err(ReadError::TooLarge { path: shown, limit });
    }
    Ok(buf)
}

/// Reads a UTF-8 text input file capped at [`MAX_INPUT_BYTES`].
pub fn read_text_input(path: &Path) -> Result<String, ReadError> {
    let bytes = read_capped(path, MAX_INPUT_BYTES)?;
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8 {
        path: path.display().to_string(),
    })
}

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename,
/// then fsync of the directory. Parent directories are created with mode 0750.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_dir_all_mode(&parent, 0o750)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".gait-tmp-")
        .tempfile_in(&parent)?;
    set_mode(tmp.as_file(), mode)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    if let Ok(dir) = fs::File::open(&parent) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Writes several files atomically, each as [`write_atomic`] does, but with one directory
/// fsync per distinct parent: a command that records two pieces of evidence side by side pays
/// for three syncs instead of four. Every file is complete on disk before any is renamed into
/// place; on error, temp files are removed and nothing is renamed.
pub fn write_atomic_batch(files: &[(&Path, &[u8], u32)]) -> io::Result<()> {
    let mut staged = Vec::with_capacity(files.len());
    for (path, bytes, mode) in files {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        create_dir_all_mode(&parent, 0o750)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".gait-tmp-")
            .tempfile_in(&parent)?;
        set_mode(tmp.as_file(), *mode)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        staged.push((tmp, *path, parent));
    }
    let mut parents: Vec<PathBuf> = Vec::new();
    for (tmp, path, parent) in staged {
        tmp.persist(path).map_err(|e| e.error)?;
        if !parents.contains(&parent) {
            parents.push(parent);
        }
    }
    for parent in parents {
        if let Ok(dir) = fs::File::open(&parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(file: &fs::File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &fs::File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// `mkdir -p` with a mode for newly created directories.
pub fn create_dir_all_mode(dir: &Path, mode: u32) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    builder.create(dir)
}

/// Lexically cleans a path (`a/./b/../c` → `a/c`), like Go's `filepath.Clean`.
pub fn clean_path(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) | Some(Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// An exclusive lock held by creating `<path>` with `O_EXCL`; removed on drop.
///
/// This is the reference's lock-file protocol, so both implementations exclude each other
/// when they share state. A lock older than `stale_after` is presumed abandoned.
#[derive(Debug)]
pub struct LockFile {
    path: PathBuf,
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("timeout")]
    Timeout,
    #[error("open {path}: {reason}")]
    Io { path: String, reason: String },
}

impl LockFile {
    pub fn acquire(
        path: &Path,
        contents: &[u8],
        wait: Duration,
        retry: Duration,
        stale_after: Duration,
    ) -> Result<LockFile, LockError> {
        let deadline = Instant::now() + wait;
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut f) => {
                    let _ = f.write_all(contents);
                    let _ = f.sync_all();
                    return Ok(LockFile {
                        path: path.to_path_buf(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let stale = fs::metadata(path)
                        .and_then(|m| m.modified())
                        .map(|t| t.elapsed().map(|age| age > stale_after).unwrap_or(false))
                        .unwrap_or(false);
                    if stale {
                        let _ = fs::remove_file(path);
                        continue;
                    }
                    if Instant::now() >= deadline {
                        return Err(LockError::Timeout);
                    }
                    std::thread::sleep(retry);
                }
                Err(e) => {
                    return Err(LockError::Io {
                        path: path.display().to_string(),
                        reason: go_io_reason(&e),
                    })
                }
            }
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_read_rejects_large_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, vec![b'a'; 100]).unwrap();
        assert!(matches!(
            read_capped(&p, 10),
            Err(ReadError::TooLarge { .. })
        ));
        assert_eq!(read_capped(&p, 100).unwrap().len(), 100);
        let e = read_capped(dir.path(), 10).unwrap_err().to_string();
        assert!(e.ends_with("is a directory"), "{e}");
        let e = read_capped(&dir.path().join("missing"), 10)
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("no such file or directory"), "{e}");
    }

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/state.json");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let q = p.with_extension("second");
        write_atomic_batch(&[(&p, b"three", 0o600), (&q, b"four", 0o644)]).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"three");
        assert_eq!(fs::read(&q).unwrap(), b"four");
        let leftovers = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".gait-tmp-")
            })
            .count();
        assert_eq!(leftovers, 0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn lock_excludes_second_holder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let held = LockFile::acquire(
            &p,
            b"{}",
            Duration::from_millis(10),
            Duration::from_millis(1),
            Duration::from_secs(15),
        )
        .unwrap();
        assert!(matches!(
            LockFile::acquire(
                &p,
                b"{}",
                Duration::from_millis(20),
                Duration::from_millis(5),
                Duration::from_secs(15)
            ),
            Err(LockError::Timeout)
        ));
        drop(held);
        assert!(LockFile::acquire(
            &p,
            b"{}",
            Duration::from_millis(10),
            Duration::from_millis(1),
            Duration::from_secs(15)
        )
        .is_ok());
    }
}
