//! The reader's memory: buffers aligned for the hash loops, a small bounded pool that
//! recycles them, and the [`Block`] a reader hands to every digest, which returns its
//! buffer to the pool when the last digest drops it.

use std::sync::{Arc, Condvar, Mutex};

use crate::control::Progress;

/// Where read buffers start. The kernel copies from the page cache with `rep movsb`,
/// which on this AMD machine measured ~4x slower (sys time) into a destination 8 or 16
/// bytes past a cache line than into an aligned one, and the AVX2 hash loops load 32 bytes
/// at a time; `malloc` only promises 16, and which offset a buffer got depended on
/// allocations as unrelated as the length of the file name. xxhsum aligns its buffer too.
const BUFFER_ALIGN: usize = 64;

/// A zeroed heap buffer whose first byte is [`BUFFER_ALIGN`]-aligned.
pub(crate) struct ReadBuffer {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl ReadBuffer {
    pub(crate) fn new(len: usize) -> ReadBuffer {
        // Over-allocate and start at the first aligned byte: safe code, 63 bytes wasted.
        let storage = vec![0; len + BUFFER_ALIGN - 1];
        let start = storage.as_ptr().align_offset(BUFFER_ALIGN);
        ReadBuffer {
            storage,
            start,
            len,
        }
    }
}

impl std::ops::Deref for ReadBuffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }
}

impl std::ops::DerefMut for ReadBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// Buffers of one size, allocated on first need up to a limit, then recycled.
pub(crate) struct BufferPool {
    /// Bytes in each buffer.
    pub(crate) size: usize,
    limit: usize,
    /// Free buffers it takes to wake a waiting reader (see [`BufferPool::batched`]).
    wake_at: usize,
    state: Mutex<PoolState>,
    returned: Condvar,
}

struct PoolState {
    free: Vec<ReadBuffer>,
    allocated: usize,
    /// Readers blocked in [`BufferPool::take`]. `Condvar::notify_one` is a futex system call
    /// even with nobody waiting (~0.5 µs here); once per 64 KiB block it measured 5% of an
    /// XXH3 run, so it is only made when someone waits.
    waiting: usize,
}

impl BufferPool {
    pub(crate) fn new(size: usize, limit: usize) -> Arc<BufferPool> {
        BufferPool::with_wake_at(size, limit, 1)
    }

    /// A pool whose reader, once it has run out of buffers, sleeps until half of them are
    /// free again. Waking it for every returned buffer made one cross-core wake-up per block
    /// whenever the hashers were the slower side (~16% of a SHA-1 run's time in a VM);
    /// woken for half the pool, it refills it in one go, well ahead of the hashers. Only for
    /// readers whose consumers never wait on the reader while holding a buffer.
    pub(crate) fn batched(size: usize, limit: usize) -> Arc<BufferPool> {
        BufferPool::with_wake_at(size, limit, (limit / 2).max(1))
    }

    fn with_wake_at(size: usize, limit: usize, wake_at: usize) -> Arc<BufferPool> {
        Arc::new(BufferPool {
            size,
            limit,
            wake_at,
            state: Mutex::new(PoolState {
                free: Vec::new(),
                allocated: 0,
                waiting: 0,
            }),
            returned: Condvar::new(),
        })
    }

    /// A buffer of `size` bytes; waits while all `limit` buffers are in use.
    pub(crate) fn take(&self) -> ReadBuffer {
        let mut state = self.state.lock().expect("buffer pool lock");
        loop {
            if let Some(buf) = state.free.pop() {
                return buf;
            }
            if state.allocated < self.limit {
                state.allocated += 1;
                return ReadBuffer::new(self.size);
            }
            state.waiting += 1;
            state = (self.returned)
                .wait_while(state, |s| s.free.len() < self.wake_at)
                .expect("buffer pool lock");
            state.waiting -= 1;
        }
    }

    pub(crate) fn give_back(&self, buf: ReadBuffer) {
        let mut state = self.state.lock().expect("buffer pool lock");
        state.free.push(buf);
        if state.waiting > 0 && state.free.len() >= self.wake_at {
            self.returned.notify_one();
        }
    }
}

/// A run of the input, in order, either read into a pooled buffer or known to be zeros.
pub(crate) struct Block {
    pub(crate) len: usize,
    /// `None` when the whole block lies in a hole.
    data: Option<ReadBuffer>,
    pool: Arc<BufferPool>,
    progress: Progress,
}

impl Block {
    pub(crate) fn new(
        len: usize,
        data: Option<ReadBuffer>,
        pool: &Arc<BufferPool>,
        progress: &Progress,
    ) -> Block {
        Block {
            len,
            data,
            pool: pool.clone(),
            progress: progress.clone(),
        }
    }

    /// The bytes, or `None` if the block is all zeros from a hole.
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        self.data.as_deref().map(|d| &d[..self.len])
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // Every digest is done with these bytes: count them and recycle the buffer.
        self.progress.add(self.len as u64);
        if let Some(buf) = self.data.take() {
            self.pool.give_back(buf);
        }
    }
}
