//! The narrow IO seam under the log and the snapshots (style.md §4 item 12, after redb's
//! `StorageBackend`): a [`Backend`] is one file, a [`Dir`] is the directory that names
//! files. The real implementations wrap `std::fs`; the tests plug in a simulated disk
//! (`sim.rs`) that keeps durable and pending bytes apart and can crash, tear the last write
//! or flip a bit, so the same WAL and recovery code runs against those faults.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One file, addressed by byte offset. Everything the storage code does to file contents
/// goes through these five calls.
pub trait Backend: Send {
    /// Reads up to `buf.len()` bytes at `offset`; returns fewer only at the end of the file.
    ///
    /// # Errors
    /// Any IO error of the underlying file.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// Writes all of `bytes` at `offset`, extending the file if needed. Not durable until
    /// [`Backend::sync`] returns.
    ///
    /// # Errors
    /// Any IO error; the caller must then treat the file's contents as unknown.
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()>;

    /// Makes every earlier write and `set_len` durable (`fdatasync`).
    ///
    /// # Errors
    /// A failed fsync: the caller must assume the pending writes are lost (the Linux page
    /// cache may already have dropped them), so the log poisons itself.
    fn sync(&mut self) -> io::Result<()>;

    /// Current length in bytes.
    ///
    /// # Errors
    /// Any IO error of the underlying file.
    fn len(&self) -> io::Result<u64>;

    /// Whether the file is empty.
    ///
    /// # Errors
    /// As [`Backend::len`].
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Truncates or extends (with zeros) to `len` bytes.
    ///
    /// # Errors
    /// Any IO error of the underlying file.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

/// A directory of files, by plain name. Creating, renaming and removing are durable only
/// after [`Dir::sync`], as on a real file system.
pub trait Dir: Send + Sync + std::fmt::Debug {
    /// The directory's path, used to name files in error messages.
    fn path(&self) -> &Path;

    /// Names of the regular files in the directory, in no particular order.
    ///
    /// # Errors
    /// The directory cannot be read.
    fn list(&self) -> io::Result<Vec<String>>;

    /// Opens an existing file for reading and writing.
    ///
    /// # Errors
    /// The file does not exist or cannot be opened.
    fn open(&self, name: &str) -> io::Result<Box<dyn Backend>>;

    /// Opens an existing file for reading only (the inspection tools, which must work on a
    /// directory they may not write).
    ///
    /// # Errors
    /// The file does not exist or cannot be opened.
    fn open_read(&self, name: &str) -> io::Result<Box<dyn Backend>> {
        self.open(name)
    }

    /// Creates a new, empty file; fails if one of that name exists.
    ///
    /// # Errors
    /// `AlreadyExists`, or any IO error.
    fn create(&self, name: &str) -> io::Result<Box<dyn Backend>>;

    /// Removes a file.
    ///
    /// # Errors
    /// The file does not exist or cannot be removed.
    fn remove(&self, name: &str) -> io::Result<()>;

    /// Renames a file, replacing any file named `to`.
    ///
    /// # Errors
    /// `from` does not exist, or any IO error.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;

    /// Makes the directory's entries durable (fsync of the directory itself).
    ///
    /// # Errors
    /// A failed fsync.
    fn sync(&self) -> io::Result<()>;

    /// The full path of a file in this directory.
    fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }
}

/// A real file.
#[derive(Debug)]
pub struct FileBackend {
    file: File,
}

impl FileBackend {
    /// Wraps an open file.
    pub fn new(file: File) -> FileBackend {
        FileBackend { file }
    }
}

impl Backend for FileBackend {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, offset)
    }

    fn sync(&mut self) -> io::Result<()> {
        // fdatasync also flushes a size change, which is all the metadata the log needs.
        self.file.sync_data()
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
}

/// A real directory.
#[derive(Debug, Clone)]
pub struct FsDir {
    path: PathBuf,
}

impl FsDir {
    /// Opens `path`, creating it (and its parents) if missing; a directory created here is
    /// made durable in its parent at once.
    ///
    /// # Errors
    /// The directory cannot be created or its parent cannot be synced.
    pub fn create_all(path: &Path) -> io::Result<FsDir> {
        if !path.is_dir() {
            fs::create_dir_all(path)?;
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                File::open(parent)?.sync_all()?;
            }
        }
        Ok(FsDir { path: path.to_owned() })
    }

    /// Wraps an existing directory without creating anything (for read-only tools).
    pub fn existing(path: &Path) -> FsDir {
        FsDir { path: path.to_owned() }
    }
}

impl Dir for FsDir {
    fn path(&self) -> &Path {
        &self.path
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.path)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Ok(name) = entry.file_name().into_string() {
                    names.push(name);
                }
            }
        }
        Ok(names)
    }

    fn open(&self, name: &str) -> io::Result<Box<dyn Backend>> {
        let file = OpenOptions::new().read(true).write(true).open(self.file(name))?;
        Ok(Box::new(FileBackend::new(file)))
    }

    fn open_read(&self, name: &str) -> io::Result<Box<dyn Backend>> {
        Ok(Box::new(FileBackend::new(File::open(self.file(name))?)))
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn Backend>> {
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(self.file(name))?;
        Ok(Box::new(FileBackend::new(file)))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.file(name))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.file(from), self.file(to))
    }

    fn sync(&self) -> io::Result<()> {
        File::open(&self.path)?.sync_all()
    }
}

/// Reads a file through a window of `WINDOW_BYTES`, so scanning records costs one system
/// call per window rather than two per record.
pub(crate) struct PageReader<'a> {
    backend: &'a dyn Backend,
    len: u64,
    start: u64,
    buf: Vec<u8>,
}

const WINDOW_BYTES: usize = 1 << 20;

impl<'a> PageReader<'a> {
    pub(crate) fn new(backend: &'a dyn Backend) -> io::Result<PageReader<'a>> {
        Ok(PageReader { len: backend.len()?, backend, start: 0, buf: Vec::new() })
    }

    /// The file's length when the reader was made.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The `n` bytes at `offset`, or fewer at the end of the file.
    pub(crate) fn bytes(&mut self, offset: u64, n: usize) -> io::Result<&[u8]> {
        let end = (offset + n as u64).min(self.len);
        if offset >= end {
            return Ok(&[]);
        }
        let have = offset >= self.start && end <= self.start + self.buf.len() as u64;
        if !have {
            let want = (end - offset).max(WINDOW_BYTES as u64).min(self.len - offset);
            self.buf.resize(want as usize, 0);
            let got = self.backend.read_at(offset, &mut self.buf)?;
            self.buf.truncate(got);
            self.start = offset;
        }
        let from = (offset - self.start) as usize;
        let to = ((end - self.start) as usize).min(self.buf.len());
        Ok(&self.buf[from..to])
    }

    /// Reads exactly `N` bytes at `offset`, or `None` past the end.
    pub(crate) fn array<const N: usize>(&mut self, offset: u64) -> io::Result<Option<[u8; N]>> {
        let b = self.bytes(offset, N)?;
        Ok(b.try_into().ok())
    }
}

/// A snapshot writer syncs after this many bytes. Left to the end, a large snapshot's
/// dirty pages go to the disk in one burst that the write-ahead log's next fsync queues
/// behind (90 ms on this machine with a 700k-node tree); paced, the log waits for one
/// slice at most.
const WRITE_BACK_BYTES: u64 = 4 << 20;

/// Sequential `io::Write` over a backend, buffered, for streaming a snapshot.
pub(crate) struct BackendWriter {
    backend: Box<dyn Backend>,
    offset: u64,
    buf: Vec<u8>,
    /// Bytes written since the last sync.
    unsynced: u64,
}

impl BackendWriter {
    pub(crate) fn new(backend: Box<dyn Backend>) -> BackendWriter {
        BackendWriter { backend, offset: 0, buf: Vec::with_capacity(WINDOW_BYTES), unsynced: 0 }
    }

    /// Moves past `n` bytes just written, syncing every [`WRITE_BACK_BYTES`].
    fn advance(&mut self, n: usize) -> io::Result<()> {
        self.offset += n as u64;
        self.unsynced += n as u64;
        if self.unsynced >= WRITE_BACK_BYTES {
            self.backend.sync()?;
            self.unsynced = 0;
        }
        Ok(())
    }

    /// Writes out the buffer and makes the file durable.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        io::Write::flush(self)?;
        self.backend.sync()
    }
}

impl io::Write for BackendWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.buf.len() + bytes.len() > WINDOW_BYTES {
            self.flush()?;
        }
        if bytes.len() >= WINDOW_BYTES {
            self.backend.write_at(self.offset, bytes)?;
            self.advance(bytes.len())?;
        } else {
            self.buf.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.backend.write_at(self.offset, &self.buf)?;
            let n = self.buf.len();
            self.buf.clear();
            self.advance(n)?;
        }
        Ok(())
    }
}

/// Sequential `io::Read` over a backend, for streaming a snapshot back in.
pub(crate) struct BackendReader {
    backend: Box<dyn Backend>,
    offset: u64,
}

impl BackendReader {
    pub(crate) fn new(backend: Box<dyn Backend>) -> BackendReader {
        BackendReader { backend, offset: 0 }
    }
}

impl BackendReader {
    /// Whether everything was read and the file's last 4 bytes are `tail`: lets a reader
    /// of a framed stream insist on the frame's own end mark instead of accepting EOF.
    pub(crate) fn ends_with(&self, tail: &[u8; 4]) -> io::Result<bool> {
        let len = self.backend.len()?;
        let mut last = [0u8; 4];
        let n = if len >= 4 { self.backend.read_at(len - 4, &mut last)? } else { 0 };
        Ok(self.offset == len && n == 4 && &last == tail)
    }
}

impl io::Read for BackendReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.backend.read_at(self.offset, buf)?;
        self.offset += n as u64;
        Ok(n)
    }
}
