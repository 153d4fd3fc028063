//! The file-system primitives of the file store: symlink-refusing checks, 0700 directories,
//! JSON files read whole and written atomically (temp file, fsync, rename, directory fsync), the
//! lock file, the listing of `messages/`, and [`Fail`], an error still waiting for its session id.

use std::fs::{self, DirBuilder, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::codec::{Invalid, parse_json_bytes};
use crate::session::error::{SessionError, SessionErrorKind};

/// A failure before the session id is attached.
#[derive(Debug)]
pub(super) struct Fail {
    pub(super) path: Option<PathBuf>,
    pub(super) kind: SessionErrorKind,
}

impl Fail {
    pub(super) fn at(path: &Path, kind: SessionErrorKind) -> Fail {
        Fail {
            path: Some(path.to_path_buf()),
            kind,
        }
    }

    pub(super) fn io(path: &Path, e: io::Error) -> Fail {
        Fail::at(path, SessionErrorKind::io(e))
    }

    pub(super) fn corrupt(path: &Path, detail: impl Into<String>) -> Fail {
        Fail::at(path, SessionErrorKind::corrupt(detail))
    }

    pub(super) fn invalid(path: &Path, invalid: Invalid) -> Fail {
        Fail::at(path, invalid.into_kind())
    }

    /// Whether this is the OS saying the file is not there.
    pub(super) fn is_not_found(&self) -> bool {
        matches!(
            self.kind,
            SessionErrorKind::Io {
                kind: io::ErrorKind::NotFound,
                ..
            }
        )
    }

    pub(super) fn into_error(self, session_id: &str) -> SessionError {
        SessionError::new(session_id, self.path, self.kind)
    }
}

/// `message_<N>.json` files of a messages directory, sorted by N. A missing directory has none.
/// Other names (temp files) are ignored; a `message_*.json` whose N is not an integer is corrupt
/// (Strands fails on it too).
pub(super) fn message_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Fail> {
    if !is_dir(dir)? {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Fail::io(dir, e))? {
        let entry = entry.map_err(|e| Fail::io(dir, e))?;
        let name = entry.file_name();
        let Some(index) = name
            .to_str()
            .and_then(|n| n.strip_prefix("message_")?.strip_suffix(".json"))
        else {
            continue;
        };
        let path = entry.path();
        let index = index
            .parse::<u64>()
            .map_err(|_| Fail::corrupt(&path, "message file name without an index"))?;
        files.push((index, path));
    }
    files.sort();
    Ok(files)
}

/// Whether `path` is a directory; `false` when missing. A link or a non-directory is an error.
pub(super) fn is_dir(path: &Path) -> Result<bool, Fail> {
    match lstat(path)? {
        None => Ok(false),
        Some(meta) if meta.is_dir() => Ok(true),
        Some(meta) if meta.file_type().is_symlink() => Err(Fail::at(path, SessionErrorKind::SymlinkRefused)),
        Some(_) => Err(Fail::io(
            path,
            io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
        )),
    }
}

/// Creates a 0700 directory unless it exists (its parent must exist).
pub(super) fn ensure_dir(path: &Path, durable: bool) -> Result<(), Fail> {
    if is_dir(path)? {
        return Ok(());
    }
    match DirBuilder::new().mode(0o700).create(path) {
        // Like a renamed file, a new directory survives a crash only once its parent is synced.
        Ok(()) if !durable => Ok(()),
        Ok(()) => match path.parent() {
            Some(parent) => File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(|e| Fail::io(parent, e)),
            None => Ok(()),
        },
        // Another writer made it in between: fine, if it is a real directory.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && is_dir(path)? => Ok(()),
        Err(e) => Err(Fail::io(path, e)),
    }
}

pub(super) fn lstat(path: &Path) -> Result<Option<Metadata>, Fail> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Fail::io(path, e)),
    }
}

/// Fails unless the open `file` is the regular file `path` names (not through a link).
fn check_same_file(path: &Path, file: &File) -> Result<(), Fail> {
    let opened = file.metadata().map_err(|e| Fail::io(path, e))?;
    match lstat(path)? {
        Some(named)
            if named.file_type().is_file() && named.dev() == opened.dev() && named.ino() == opened.ino() =>
        {
            Ok(())
        }
        _ => Err(Fail::at(path, SessionErrorKind::SymlinkRefused)),
    }
}

/// Reads and parses a JSON file; `None` when it does not exist.
pub(super) fn read_json(path: &Path) -> Result<Option<Value>, Fail> {
    match lstat(path)? {
        None => return Ok(None),
        Some(meta) if meta.file_type().is_symlink() => {
            return Err(Fail::at(path, SessionErrorKind::SymlinkRefused));
        }
        Some(_) => {}
    }
    let mut file = File::open(path).map_err(|e| Fail::io(path, e))?;
    check_same_file(path, &file)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| Fail::io(path, e))?;
    parse_json_bytes(bytes)
        .map(Some)
        .map_err(|e| Fail::invalid(path, e))
}

/// Whether [`write_json`] may replace an existing file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Replace {
    Allowed,
    Never,
}

/// Writes `value` as Python's `json.dump(indent=2, ensure_ascii=False)` would, atomically.
pub(super) fn write_json(path: &Path, value: &Value, replace: Replace, durable: bool) -> Result<(), Fail> {
    match lstat(path)? {
        Some(meta) if meta.file_type().is_symlink() => {
            return Err(Fail::at(path, SessionErrorKind::SymlinkRefused));
        }
        Some(_) if replace == Replace::Never => {
            return Err(Fail::io(
                path,
                io::Error::new(io::ErrorKind::AlreadyExists, "file exists; not replacing it"),
            ));
        }
        _ => {}
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let (tmp_path, mut tmp) = create_temp(dir)?;
    let written = tmp
        .write_all(crate::pyjson::to_string_pretty(value).as_bytes())
        .and_then(|()| if durable { tmp.sync_data() } else { Ok(()) })
        .and_then(|()| fs::rename(&tmp_path, path));
    drop(tmp);
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp_path);
        return Err(Fail::io(path, e));
    }
    if !durable {
        return Ok(());
    }
    // The rename is durable only once the directory entry is.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Fail::io(dir, e))
}

/// A new, empty, 0600 `.strands_<random>.tmp` file in `dir` (never an existing file or link).
fn create_temp(dir: &Path) -> Result<(PathBuf, File), Fail> {
    let mut last_error = None;
    for _ in 0..16 {
        let random: String = crate::ids::uuid4()
            .chars()
            .filter(|c| *c != '-')
            .take(12)
            .collect();
        let path = dir.join(format!(".strands_{random}.tmp"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(Fail::io(&path, e)),
        }
    }
    let e = last_error.unwrap_or_else(|| io::ErrorKind::AlreadyExists.into());
    Err(Fail::io(dir, e))
}

/// Opens (creating, 0600) the lock file, refusing a link.
pub(super) fn open_lock_file(path: &Path) -> Result<File, Fail> {
    if lstat(path)?.is_some_and(|m| m.file_type().is_symlink()) {
        return Err(Fail::at(path, SessionErrorKind::SymlinkRefused));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| Fail::io(path, e))?;
    check_same_file(path, &file)?;
    Ok(file)
}
