//! [`RbdSource`]: an RBD image as an engine [`Source`], its data objects fetched ahead in
//! parallel.
//!
//! A round trip to an OSD costs far more than a local `pread`, so the engine's small
//! sequential reads are served from whole objects that a few fetcher threads read ahead
//! of it (the read-ahead window). An object is dropped from the window once every byte
//! of it has been handed out (or, for a hole, skipped), so memory stays at a handful of
//! objects whatever the image size. A reader that needs an object the fetchers will not
//! reach soon (the engine's parallel mode hands out stretches further apart than the
//! window) fetches it itself instead of waiting, so no reader ever waits on another.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::io;
use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use imghash_engine::Source;

use crate::cluster::{Cluster, Pool};
use crate::error::{CephError, Result};
use crate::header::ImageLayout;
use crate::spec::RbdSpec;

/// Bytes of objects the fetchers may hold ahead of the engine: four 4 MiB objects in
/// flight hide a round trip, and with librados's own ~27 MiB the process stays under the
/// engine's 64 MiB resident target (measured ~50 MiB; a 32 MiB window measured ~73 MiB).
const READ_AHEAD_BYTES: u64 = 16 << 20;

/// Bytes asked of an OSD per request: librados receives each reply into a buffer of its
/// own before copying it out, so smaller requests keep that second copy small.
const FETCH_PIECE: usize = 1 << 20;

/// An RBD image (or snapshot) opened for hashing.
pub struct RbdSource {
    label: String,
    layout: ImageLayout,
    /// The image's own pool, for re-reading its header at the end.
    header_pool: Pool,
    shared: Arc<Shared>,
    fetchers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RbdSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RbdSource")
            .field("label", &self.label)
            .field("layout", &self.layout)
            .finish()
    }
}

impl RbdSource {
    /// Opens the image (or snapshot) that `spec` names.
    pub fn open(cluster: &Arc<Cluster>, spec: &RbdSpec) -> Result<RbdSource> {
        let header_pool = cluster.pool(&spec.pool)?;
        let layout = ImageLayout::read(&header_pool, spec)?;
        let mut data_pool = match layout.data_pool_id {
            Some(id) => cluster.pool_by_id(id)?,
            None => cluster.pool(&spec.pool)?,
        };
        if let Some(snap_id) = layout.snap_id {
            data_pool.read_snapshot(snap_id);
        }
        let window_objects = (READ_AHEAD_BYTES / layout.object_size).clamp(2, 16) as usize;
        let shared = Arc::new(Shared {
            pool: data_pool,
            layout: layout.clone(),
            window: Mutex::new(Window::default()),
            changed: Condvar::new(),
            window_objects,
        });
        let fetchers = (0..window_objects.min(layout.object_count() as usize))
            .map(|i| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("rbd-fetch-{i}"))
                    .spawn(move || shared.fetch_ahead())
                    .map_err(|error| CephError::Io {
                        what: "starting the object fetcher threads".into(),
                        error,
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RbdSource {
            label: spec.to_string(),
            layout,
            header_pool,
            shared,
            fetchers,
        })
    }

    /// Where the image's bytes are and how long it is.
    pub fn layout(&self) -> &ImageLayout {
        &self.layout
    }
}

impl Drop for RbdSource {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.changed.notify_all();
        for fetcher in self.fetchers.drain(..) {
            // A fetcher that panicked has nothing left to clean up.
            let _ = fetcher.join();
        }
    }
}

impl Source for RbdSource {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn len(&self) -> u64 {
        self.layout.len
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let shared = &self.shared;
        if offset >= self.layout.len || buf.is_empty() {
            return Ok(0);
        }
        let number = offset / self.layout.object_size;
        let within = (offset % self.layout.object_size) as usize;
        let want = buf.len().min(shared.object_range(number).len() - within);
        let buf = &mut buf[..want];
        match shared.object(number)? {
            Some(object) => {
                object.copy_to(buf, within);
                // Let go first, so that a wholly consumed object's buffer can be reused.
                drop(object);
                shared.consumed(number, want as u64);
            }
            // Already handed out once and dropped: read again, straight from the OSD.
            None => {
                let name = shared.object_name(number);
                let filled = shared.pool.read(&name, buf, within as u64)?.unwrap_or(0);
                buf[filled..].fill(0);
            }
        }
        Ok(want)
    }

    fn next_data(&self, offset: u64) -> io::Result<Option<Range<u64>>> {
        let shared = &self.shared;
        let object_size = self.layout.object_size;
        let mut number = offset / object_size;
        while number < self.layout.object_count() {
            let range = shared.object_range(number);
            let filled = shared.object(number)?.map(|object| object.filled);
            let holds_data = match filled {
                Some(0) => {
                    // A hole is never read, so skipping it is all the use it gets.
                    shared.consumed(number, range.len() as u64);
                    false
                }
                Some(_) => true,
                None => shared.exists_on_osd(number)?,
            };
            if holds_data {
                let start = offset.max(number * object_size);
                return Ok(Some(start..number * object_size + range.len() as u64));
            }
            number += 1;
        }
        Ok(None)
    }

    fn changed_since_open(&self) -> io::Result<Option<String>> {
        if self.layout.snap_id.is_some() {
            return Ok(None); // snapshots are immutable
        }
        match ImageLayout::current_len(&self.header_pool, &self.layout.id) {
            Ok(len) if len == self.layout.len => Ok(None),
            Ok(len) => Ok(Some(format!(
                "was resized from {} to {len} bytes",
                self.layout.len
            ))),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(Some("was deleted".into())),
            Err(e) => Err(e),
        }
    }
}

/// State shared by the readers (engine threads) and the fetcher threads.
struct Shared {
    pool: Pool,
    layout: ImageLayout,
    window: Mutex<Window>,
    /// Signalled whenever an object arrives or leaves the window, or on shutdown.
    changed: Condvar,
    window_objects: usize,
}

#[derive(Default)]
struct Window {
    /// The next object the fetchers will consider.
    next_fetch: u64,
    /// Objects being fetched or not yet wholly handed out.
    slots: BTreeMap<u64, Slot>,
    /// Objects at or beyond `next_fetch` already handed out (fetched by a reader itself),
    /// which the fetchers must skip.
    done_ahead: BTreeSet<u64>,
    /// Buffers of dropped objects, for reuse.
    spare: Vec<Vec<u8>>,
    shutdown: bool,
}

impl Window {
    /// Keeps a dropped object's buffer for the next fetch (reallocating 4 MiB buffers
    /// from several threads made glibc hold several times the window resident).
    fn recycle(&mut self, bytes: Option<Vec<u8>>, keep: usize) {
        if let Some(bytes) = bytes.filter(|b| b.capacity() > 0) {
            if self.spare.len() < keep {
                self.spare.push(bytes);
            }
        }
    }
}

enum Slot {
    Loading,
    Ready {
        object: Arc<Object>,
        /// Bytes of the object's range handed out (or skipped) so far.
        consumed: u64,
    },
    Failed(io::ErrorKind, String),
}

/// One data object's bytes; past `filled` (a short or absent object) it reads as zeros.
struct Object {
    bytes: Vec<u8>,
    filled: usize,
}

impl Object {
    fn copy_to(&self, buf: &mut [u8], within: usize) {
        // An absent object has no bytes at all, so only slice them where data lies.
        let data_len = self.filled.saturating_sub(within).min(buf.len());
        let (data, zeros) = buf.split_at_mut(data_len);
        if data_len > 0 {
            data.copy_from_slice(&self.bytes[within..within + data_len]);
        }
        zeros.fill(0);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Window> {
        // A panic while holding the lock leaves counters at worst stale, never unsafe.
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn object_name(&self, number: u64) -> CString {
        CString::new(self.layout.object_name(number)).expect("object names have no NUL")
    }

    /// The image bytes object `number` covers, relative to the object's start.
    fn object_range(&self, number: u64) -> Range<usize> {
        let start = number * self.layout.object_size;
        0..(self.layout.len - start).min(self.layout.object_size) as usize
    }

    /// Reads object `number` whole into `bytes`, a piece at a time. An absent object
    /// comes back empty, with `bytes` returned for reuse.
    fn fetch(&self, number: u64, mut bytes: Vec<u8>) -> io::Result<(Object, Option<Vec<u8>>)> {
        let len = self.object_range(number).len();
        bytes.resize(len, 0);
        let name = self.object_name(number);
        let mut filled = 0;
        while filled < len {
            let end = (filled + FETCH_PIECE).min(len);
            let got = self
                .pool
                .read(&name, &mut bytes[filled..end], filled as u64)
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("reading object {}: {e}", self.layout.object_name(number)),
                    )
                })?;
            match got {
                None if filled == 0 => {
                    let absent = Object {
                        bytes: Vec::new(),
                        filled: 0,
                    };
                    return Ok((absent, Some(bytes)));
                }
                got => filled += got.unwrap_or(0),
            }
            if filled < end {
                break; // the object ends here; the rest of its range reads as zeros
            }
        }
        Ok((Object { bytes, filled }, None))
    }

    /// The fetcher threads' loop: fetch the next object while the window has room.
    fn fetch_ahead(&self) {
        let count = self.layout.object_count();
        loop {
            let (number, buffer) = {
                let mut window = self.lock();
                loop {
                    if window.shutdown {
                        return;
                    }
                    // Skip objects a reader already fetched itself.
                    loop {
                        let next = window.next_fetch;
                        let taken =
                            window.slots.contains_key(&next) || window.done_ahead.remove(&next);
                        if next >= count || !taken {
                            break;
                        }
                        window.next_fetch += 1;
                    }
                    if window.next_fetch < count && window.slots.len() < self.window_objects {
                        break;
                    }
                    window = self.changed.wait(window).unwrap_or_else(|e| e.into_inner());
                }
                let number = window.next_fetch;
                window.next_fetch += 1;
                window.slots.insert(number, Slot::Loading);
                (number, window.spare.pop().unwrap_or_default())
            };
            let fetched = self.fetch(number, buffer);
            self.finish_loading(number, fetched);
        }
    }

    fn finish_loading(&self, number: u64, fetched: io::Result<(Object, Option<Vec<u8>>)>) {
        let mut window = self.lock();
        let slot = match fetched {
            Ok((object, unused)) => {
                window.recycle(unused, self.window_objects);
                Slot::Ready {
                    object: Arc::new(object),
                    consumed: 0,
                }
            }
            Err(e) => Slot::Failed(e.kind(), e.to_string()),
        };
        window.slots.insert(number, slot);
        drop(window);
        self.changed.notify_all();
    }

    /// Object `number` from the window, waiting for or fetching it as needed; `None` if
    /// it was already handed out whole.
    fn object(&self, number: u64) -> io::Result<Option<Arc<Object>>> {
        let mut window = self.lock();
        loop {
            match window.slots.get(&number) {
                Some(Slot::Ready { object, .. }) => return Ok(Some(object.clone())),
                Some(Slot::Failed(kind, message)) => {
                    return Err(io::Error::new(*kind, message.clone()))
                }
                Some(Slot::Loading) => {}
                None if number < window.next_fetch || window.done_ahead.contains(&number) => {
                    return Ok(None)
                }
                None => {
                    let room = self.window_objects.saturating_sub(window.slots.len()) as u64;
                    if number - window.next_fetch >= room {
                        // The fetchers will not reach it soon: fetch it here.
                        window.slots.insert(number, Slot::Loading);
                        let buffer = window.spare.pop().unwrap_or_default();
                        drop(window);
                        let fetched = self.fetch(number, buffer);
                        self.finish_loading(number, fetched);
                        window = self.lock();
                        continue;
                    }
                }
            }
            window = self.changed.wait(window).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Records that `bytes` more of object `number` were handed out, dropping it once all
    /// of its range has been.
    fn consumed(&self, number: u64, bytes: u64) {
        let mut window = self.lock();
        let whole = self.object_range(number).len() as u64;
        let Some(Slot::Ready { consumed, .. }) = window.slots.get_mut(&number) else {
            return;
        };
        *consumed += bytes;
        if *consumed < whole {
            return;
        }
        if let Some(Slot::Ready { object, .. }) = window.slots.remove(&number) {
            if number >= window.next_fetch {
                window.done_ahead.insert(number);
            }
            let bytes = Arc::try_unwrap(object).ok().map(|object| object.bytes);
            window.recycle(bytes, self.window_objects);
        }
        drop(window);
        self.changed.notify_all();
    }

    /// Whether object `number` exists with data, asked of the OSD directly.
    fn exists_on_osd(&self, number: u64) -> io::Result<bool> {
        let mut probe = [0u8; 1];
        let filled = self.pool.read(&self.object_name(number), &mut probe, 0)?;
        Ok(filled.unwrap_or(0) > 0)
    }
}
