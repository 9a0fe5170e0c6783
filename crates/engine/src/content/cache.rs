//! A small least-recently-used cache of immutable values (grain and L2 tables, decompressed
//! clusters), bounded in bytes so that memory stays fixed whatever the image size.

use std::sync::{Arc, Mutex};

/// Values keyed by `(layer, host offset)`, most recently used last.
pub(crate) struct Lru<V> {
    budget: usize,
    entries: Mutex<Vec<(Key, Arc<V>, usize)>>,
}

type Key = (usize, u64);

impl<V> Lru<V> {
    /// A cache of about `budget` bytes; it always keeps a few values, so that every hashing
    /// thread can keep the table it is working through even when one table is larger.
    pub(crate) fn new(budget: usize) -> Lru<V> {
        Lru {
            budget,
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The value for `key`, loading it with `load` (outside the lock) on a miss.
    pub(crate) fn get_or_load<E>(
        &self,
        key: Key,
        size: usize,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        if let Some(value) = self.lookup(key) {
            return Ok(value);
        }
        // Two threads may load the same value at once; both results are equal, and one
        // wasted read is cheaper than holding the lock across I/O.
        let value = Arc::new(load()?);
        let mut entries = self.entries.lock().expect("cache lock");
        if !entries.iter().any(|(k, ..)| *k == key) {
            entries.push((key, value.clone(), size));
            let mut total: usize = entries.iter().map(|(.., s)| s).sum();
            // Keep at least four values: two threads each holding one plus read-ahead.
            while total > self.budget && entries.len() > 4 {
                total -= entries.remove(0).2;
            }
        }
        Ok(value)
    }

    fn lookup(&self, key: Key) -> Option<Arc<V>> {
        let mut entries = self.entries.lock().expect("cache lock");
        let at = entries.iter().position(|(k, ..)| *k == key)?;
        let entry = entries.remove(at);
        let value = entry.1.clone();
        entries.push(entry);
        Some(value)
    }
}
