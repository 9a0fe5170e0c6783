//! The read-ahead window of an [`RbdSource`](crate::RbdSource): which data object holds
//! which bytes of the image, and the objects that fetcher threads read ahead of the engine.
//!
//! An object is dropped from the window once every byte of it has been handed out (or, for
//! a hole, skipped), so memory stays at a handful of objects whatever the image size. A
//! reader that needs an object the fetchers will not reach soon (the engine's parallel mode
//! hands out stretches further apart than the window) fetches it itself instead of waiting,
//! so no reader ever waits on another.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::io;
use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::cluster::Pool;
use crate::header::ImageLayout;

/// Bytes of objects the fetchers may hold ahead of the engine: four 4 MiB objects in
/// flight hide a round trip, and with librados's own ~27 MiB the process stays under the
/// engine's 64 MiB resident target (measured ~50 MiB; a 32 MiB window measured ~73 MiB).
const READ_AHEAD_BYTES: u64 = 16 << 20;

/// Objects the window may track ahead of the engine, holes included: an absent object
/// holds no memory, so holes must not use up the window (with one object in four
/// holding data, a window of four slots left the engine waiting on a fetch it could have
/// had in advance at every data object: 0.33 s of 2.1 s for MD5 of 1 GiB).
const MAX_SLOTS: usize = 64;

/// Bytes asked of an OSD per request: librados receives each reply into a buffer of its
/// own before copying it out, so smaller requests keep that second copy small.
const FETCH_PIECE: usize = 1 << 20;

/// State shared by the readers (engine threads) and the fetcher threads.
pub(crate) struct ReadAhead {
    pub(crate) pool: Pool,
    pub(crate) layout: ImageLayout,
    window: Mutex<Window>,
    /// Signalled whenever an object arrives or leaves the window, or on shutdown.
    changed: Condvar,
    pub(crate) window_objects: usize,
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
    /// Slots that hold (or will hold) an object's bytes: those being fetched, and the
    /// fetched objects that have data. Absent objects hold nothing.
    fn holding(&self) -> usize {
        let holds = |slot: &Slot| match slot {
            Slot::Loading => true,
            Slot::Ready { object, .. } => !object.bytes.is_empty(),
            Slot::Failed(..) => false,
        };
        self.slots.values().filter(|slot| holds(slot)).count()
    }

    /// Objects the fetchers may still take on: bounded by the objects held in memory
    /// and by the slots tracked.
    fn room(&self, window_objects: usize) -> usize {
        let memory = window_objects.saturating_sub(self.holding());
        memory.min(MAX_SLOTS.saturating_sub(self.slots.len()))
    }

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
pub(crate) struct Object {
    bytes: Vec<u8>,
    pub(crate) filled: usize,
}

impl Object {
    pub(crate) fn copy_to(&self, buf: &mut [u8], within: usize) {
        // An absent object has no bytes at all, so only slice them where data lies.
        let data_len = self.filled.saturating_sub(within).min(buf.len());
        let (data, zeros) = buf.split_at_mut(data_len);
        if data_len > 0 {
            data.copy_from_slice(&self.bytes[within..within + data_len]);
        }
        zeros.fill(0);
    }
}

impl ReadAhead {
    /// The window for reading `layout`'s objects from `pool`.
    pub(crate) fn new(pool: Pool, layout: ImageLayout) -> ReadAhead {
        let window_objects = (READ_AHEAD_BYTES / layout.object_size).clamp(2, 16) as usize;
        ReadAhead {
            pool,
            layout,
            window: Mutex::new(Window::default()),
            changed: Condvar::new(),
            window_objects,
        }
    }

    /// Stops the fetchers: they return once they see it.
    pub(crate) fn shut_down(&self) {
        self.lock().shutdown = true;
        self.changed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, Window> {
        // A panic while holding the lock leaves counters at worst stale, never unsafe.
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn object_name(&self, number: u64) -> CString {
        CString::new(self.layout.object_name(number)).expect("object names have no NUL")
    }

    /// The image bytes object `number` covers, relative to the object's start.
    pub(crate) fn object_range(&self, number: u64) -> Range<usize> {
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
    pub(crate) fn fetch_ahead(&self) {
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
                    if window.next_fetch < count && window.room(self.window_objects) > 0 {
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
    pub(crate) fn object(&self, number: u64) -> io::Result<Option<Arc<Object>>> {
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
                    let room = window.room(self.window_objects) as u64;
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
    pub(crate) fn consumed(&self, number: u64, bytes: u64) {
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
    pub(crate) fn exists_on_osd(&self, number: u64) -> io::Result<bool> {
        let mut probe = [0u8; 1];
        let filled = self.pool.read(&self.object_name(number), &mut probe, 0)?;
        Ok(filled.unwrap_or(0) > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(len: usize) -> Slot {
        Slot::Ready {
            object: Arc::new(Object {
                bytes: vec![7; len],
                filled: len,
            }),
            consumed: 0,
        }
    }

    #[test]
    fn absent_objects_take_no_room_but_a_slot() {
        let mut window = Window::default();
        window.slots.insert(0, Slot::Loading);
        for number in 1..4 {
            window.slots.insert(number, ready(0)); // absent: holds nothing
        }
        assert_eq!(window.room(4), 3);
        window.slots.insert(4, ready(4096));
        assert_eq!(window.room(4), 2);
        for number in 5..MAX_SLOTS as u64 {
            window.slots.insert(number, ready(0));
        }
        assert_eq!(window.room(4), 0, "the slots tracked are bounded too");
    }
}
