//! A simulated disk for tests (TigerBeetle's `testing/storage.zig`, redb's
//! `FuzzerBackend`): every file keeps its durable bytes apart from the writes made since
//! its last sync, and the directory keeps its durable names apart from creates, renames
//! and removes made since its last sync. [`SimDisk::crash`] then loses what a power cut
//! may lose: all pending writes, or (seeded) a prefix of them with the last one torn;
//! [`SimDisk::flip_bit`] damages durable bytes; [`SimDisk::fail_syncs`] makes fsync fail.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::backend::{Backend, Dir};

/// What a crash keeps of the writes made since each file's last sync.
#[derive(Debug, Clone, Copy)]
pub enum Crash {
    /// Nothing unsynced survives.
    DropPending,
    /// A seeded number of pending writes survive whole, and the next one survives as a
    /// seeded prefix (a torn write); later ones are lost.
    Tear(u64),
}

#[derive(Debug, Clone)]
enum Pending {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Debug, Default)]
struct SimFile {
    durable: Vec<u8>,
    current: Vec<u8>,
    pending: Vec<Pending>,
}

fn apply(bytes: &mut Vec<u8>, op: &Pending) {
    match op {
        Pending::Write(offset, data) => {
            let end = *offset as usize + data.len();
            if bytes.len() < end {
                bytes.resize(end, 0);
            }
            bytes[*offset as usize..end].copy_from_slice(data);
        }
        Pending::SetLen(len) => bytes.resize(*len as usize, 0),
    }
}

#[derive(Debug, Default)]
struct State {
    files: HashMap<u64, SimFile>,
    names: BTreeMap<String, u64>,
    durable_names: BTreeMap<String, u64>,
    next_id: u64,
    generation: u64,
    fail_syncs: bool,
}

/// A simulated directory; clones share the same disk.
#[derive(Debug, Clone)]
pub struct SimDisk {
    state: Arc<Mutex<State>>,
    path: PathBuf,
}

fn stale() -> io::Error {
    io::Error::other("stale file handle: the disk crashed since it was opened")
}

/// splitmix64: a tiny seeded generator so a torn crash replays from its seed.
fn mix(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SimDisk {
    /// An empty disk whose directory is reported as `path` in messages.
    pub fn new(path: &str) -> SimDisk {
        SimDisk { state: Arc::new(Mutex::new(State::default())), path: PathBuf::from(path) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("sim disk lock")
    }

    /// Power loss: unsynced names and bytes are lost as `crash` says; every open handle
    /// goes stale.
    pub fn crash(&self, crash: Crash) {
        let mut st = self.lock();
        st.generation += 1;
        let mut seed = match crash {
            Crash::DropPending => 0,
            Crash::Tear(seed) => seed,
        };
        let mut ids: Vec<u64> = st.files.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let f = st.files.get_mut(&id).expect("listed");
            let mut kept = f.durable.clone();
            if let Crash::Tear(_) = crash {
                let n = f.pending.len() as u64;
                let whole = if n == 0 { 0 } else { mix(&mut seed) % (n + 1) };
                for op in &f.pending[..whole as usize] {
                    apply(&mut kept, op);
                }
                if let Some(Pending::Write(offset, data)) = f.pending.get(whole as usize) {
                    let cut = (mix(&mut seed) % (data.len() as u64 + 1)) as usize;
                    apply(&mut kept, &Pending::Write(*offset, data[..cut].to_vec()));
                }
            }
            f.durable = kept.clone();
            f.current = kept;
            f.pending.clear();
        }
        st.names = st.durable_names.clone();
        let live: Vec<u64> = st.names.values().copied().collect();
        st.files.retain(|id, _| live.contains(id));
    }

    /// Flips one bit of a file's bytes, durable and current (media damage).
    ///
    /// # Panics
    /// If there is no such file or the offset is past its end.
    pub fn flip_bit(&self, name: &str, offset: u64, bit: u8) {
        let mut st = self.lock();
        let id = st.names[name];
        let f = st.files.get_mut(&id).expect("named file");
        if let Some(b) = f.durable.get_mut(offset as usize) {
            *b ^= 1 << bit;
        }
        f.current[offset as usize] ^= 1 << bit;
    }

    /// From now on every file sync fails (a dying disk).
    pub fn fail_syncs(&self, fail: bool) {
        self.lock().fail_syncs = fail;
    }

    /// A copy of a file's current bytes.
    pub fn contents(&self, name: &str) -> Vec<u8> {
        let st = self.lock();
        st.files[&st.names[name]].current.clone()
    }

    /// Names currently in the directory, sorted.
    pub fn names(&self) -> Vec<String> {
        self.lock().names.keys().cloned().collect()
    }
}

struct SimHandle {
    state: Arc<Mutex<State>>,
    id: u64,
    generation: u64,
}

impl SimHandle {
    fn with<R>(&self, f: impl FnOnce(&mut State, u64) -> io::Result<R>) -> io::Result<R> {
        let mut st = self.state.lock().expect("sim disk lock");
        if st.generation != self.generation {
            return Err(stale());
        }
        f(&mut st, self.id)
    }
}

impl Backend for SimHandle {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.with(|st, id| {
            let cur = &st.files[&id].current;
            let from = (offset as usize).min(cur.len());
            let n = buf.len().min(cur.len() - from);
            buf[..n].copy_from_slice(&cur[from..from + n]);
            Ok(n)
        })
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.with(|st, id| {
            let f = st.files.get_mut(&id).expect("open file");
            let op = Pending::Write(offset, bytes.to_vec());
            apply(&mut f.current, &op);
            f.pending.push(op);
            Ok(())
        })
    }

    fn sync(&mut self) -> io::Result<()> {
        self.with(|st, id| {
            if st.fail_syncs {
                return Err(io::Error::other("simulated fsync failure"));
            }
            let f = st.files.get_mut(&id).expect("open file");
            f.durable = f.current.clone();
            f.pending.clear();
            Ok(())
        })
    }

    fn len(&self) -> io::Result<u64> {
        self.with(|st, id| Ok(st.files[&id].current.len() as u64))
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.with(|st, id| {
            let f = st.files.get_mut(&id).expect("open file");
            let op = Pending::SetLen(len);
            apply(&mut f.current, &op);
            f.pending.push(op);
            Ok(())
        })
    }
}

impl Dir for SimDisk {
    fn path(&self) -> &Path {
        &self.path
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.names())
    }

    fn open(&self, name: &str) -> io::Result<Box<dyn Backend>> {
        let st = self.lock();
        let id = *st.names.get(name).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok(Box::new(SimHandle { state: self.state.clone(), id, generation: st.generation }))
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn Backend>> {
        let mut st = self.lock();
        if st.names.contains_key(name) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        let id = st.next_id;
        st.next_id += 1;
        st.files.insert(id, SimFile::default());
        st.names.insert(name.to_owned(), id);
        Ok(Box::new(SimHandle { state: self.state.clone(), id, generation: st.generation }))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut st = self.lock();
        st.names.remove(name).map(|_| ()).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut st = self.lock();
        let id = st.names.remove(from).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        st.names.insert(to.to_owned(), id);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let mut st = self.lock();
        st.durable_names = st.names.clone();
        Ok(())
    }
}
