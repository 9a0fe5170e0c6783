//! [`RbdSource`]: an RBD image as an engine [`Source`], its data objects fetched ahead in
//! parallel.
//!
//! A round trip to an OSD costs far more than a local `pread`, so the engine's small
//! sequential reads are served from whole objects that a few fetcher threads read ahead
//! of it (the read-ahead window, in [`crate::window`]).

use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::thread::JoinHandle;

use imghash_engine::Source;

use crate::cluster::{Cluster, Pool};
use crate::error::{CephError, Result};
use crate::header::ImageLayout;
use crate::spec::RbdSpec;
use crate::window::ReadAhead;

/// An RBD image (or snapshot) opened for hashing.
pub struct RbdSource {
    label: String,
    layout: ImageLayout,
    /// The image's own pool, for re-reading its header at the end.
    header_pool: Pool,
    shared: Arc<ReadAhead>,
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
        let shared = Arc::new(ReadAhead::new(data_pool, layout.clone()));
        let fetchers = (0..shared.window_objects.min(layout.object_count() as usize))
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
        self.shared.shut_down();
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
