//! Chunk sinks: where the per-chunk digests of a run go while it runs (a manifest file, a
//! database, a network stream).
//!
//! # Design
//!
//! In the spirit of ripgrep's `Sink`: the run calls [`ChunkSink::chunk`] once per chunk,
//! in chunk order for each construction, and the sink may return an error, which stops the
//! run and becomes its result ([`Error::Sink`]).
//!
//! Chunks are hashed in parallel and completed in any order; a reorder buffer per
//! construction releases them in order. The sink does not run under that buffer's lock, nor
//! on a hashing thread: released chunks go through a short bounded queue to one thread
//! that owns the sink for the run, so a slow sink (a disk, a network) never holds up the
//! reorder buffer's other users and needs no locking of its own. When the queue is full the
//! hashers wait for the sink: memory stays bounded whatever the number of chunks.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::control::CancelToken;
use crate::error::{Error, Result};
use crate::Algorithm;

/// The error a [`ChunkSink`] returns: any error type, boxed (an `io::Error`, a database
/// error, a `String`).
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// The digest of one chunk, for manifests: where it lies and its digest bytes (the leaf
/// value the construction aggregates, e.g. `H(0x00 ‖ chunk)` for Merkle).
///
/// Fields are public to read; the type is `#[non_exhaustive]`, so outside this crate it is
/// built with [`ChunkDigest::new`] (and a field can be added without breaking callers):
///
/// ```compile_fail
/// let chunk = imghash_engine::ChunkDigest { offset: 0, len: 1, digest: vec![0] };
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChunkDigest {
    /// Byte offset of the chunk.
    pub offset: u64,
    /// Chunk length (the last chunk may be shorter).
    pub len: u64,
    /// The chunk's digest.
    pub digest: Vec<u8>,
}

impl ChunkDigest {
    /// The chunk of `len` bytes at `offset` whose digest is `digest`.
    pub fn new(offset: u64, len: u64, digest: Vec<u8>) -> ChunkDigest {
        ChunkDigest {
            offset,
            len,
            digest,
        }
    }
}

/// Receives the chunk digests of a run, in chunk order per construction.
///
/// Implemented by closures of the right shape and by
/// [`ManifestWriter`](crate::manifest::ManifestWriter). Runs on a thread of its own during
/// the run (hence `Send`), never on a hashing thread and never under a lock of the engine.
///
/// ```
/// use imghash_engine::{Algorithm, ChunkDigest, HashJob, SinkError, KIB};
///
/// let job = HashJob::builder([Algorithm::BlkhashSha256]).chunk_size(64 * KIB).build()?;
/// let mut offsets = Vec::new();
/// let mut collect = |_: Algorithm, chunk: &ChunkDigest| -> Result<(), SinkError> {
///     offsets.push(chunk.offset);
///     Ok(())
/// };
/// job.hash_slice_with(&[7; 150_000], &mut collect)?;
/// assert_eq!(offsets, [0, 65_536, 131_072]);
///
/// // An error from the sink stops the run and is its result.
/// let mut refuse = |_: Algorithm, _: &ChunkDigest| -> Result<(), SinkError> {
///     Err("disk full".into())
/// };
/// let err = job.hash_slice_with(&[7; 150_000], &mut refuse).unwrap_err();
/// assert!(matches!(err, imghash_engine::Error::Sink { offset: 0, .. }));
/// # Ok::<(), imghash_engine::Error>(())
/// ```
pub trait ChunkSink: Send {
    /// The next chunk of `algorithm` (chunks of different constructions interleave).
    /// An error stops the run, which then returns [`Error::Sink`] naming this chunk.
    fn chunk(&mut self, algorithm: Algorithm, chunk: &ChunkDigest) -> Result<(), SinkError>;

    /// Whether this sink takes the chunks of `algorithm` (a chunked construction of the
    /// job), asked once before the run; the default takes all. Chunks nobody wants are
    /// never copied out, and a run whose sink wants none runs as if it had no sink.
    fn wants(&self, algorithm: Algorithm) -> bool {
        let _ = algorithm;
        true
    }
}

/// The sink that wants nothing: `hash_file(path)` is `hash_file_with(path, &mut ())`.
impl ChunkSink for () {
    fn chunk(&mut self, _: Algorithm, _: &ChunkDigest) -> Result<(), SinkError> {
        Ok(())
    }

    fn wants(&self, _: Algorithm) -> bool {
        false
    }
}

impl<F, E> ChunkSink for F
where
    F: FnMut(Algorithm, &ChunkDigest) -> Result<(), E> + Send,
    E: Into<SinkError>,
{
    fn chunk(&mut self, algorithm: Algorithm, chunk: &ChunkDigest) -> Result<(), SinkError> {
        self(algorithm, chunk).map_err(Into::into)
    }
}

/// Chunks released in order, on their way to the sink's thread.
pub(crate) type ChunkSender = SyncSender<(Algorithm, ChunkDigest)>;

/// Where a run sends its chunks: the queue to the sink, for the constructions it wants.
#[derive(Clone)]
pub(crate) struct ChunkRoute {
    sender: ChunkSender,
    wanted: Vec<Algorithm>,
}

impl ChunkRoute {
    /// The sender for `algorithm`'s chunks, if the sink wants them.
    pub(crate) fn for_algorithm(&self, algorithm: Algorithm) -> Option<ChunkSender> {
        self.wanted
            .contains(&algorithm)
            .then(|| self.sender.clone())
    }
}

/// The chunked constructions of `algorithms` whose chunks `sink` wants. (BLAKE3, hashed in
/// subtrees in the parallel mode, has no chunks of its own to report.)
pub(crate) fn wanted_by(sink: &dyn ChunkSink, algorithms: &[Algorithm]) -> Vec<Algorithm> {
    algorithms
        .iter()
        .copied()
        .filter(|&algorithm| algorithm.is_chunked() && sink.wants(algorithm))
        .collect()
}

/// Chunks the queue to the sink holds: enough to smooth out a sink's pauses (a disk
/// flush), few enough that waiting chunks cost next to no memory.
const SINK_QUEUE: usize = 256;

/// Runs `run` with a route whose chunks (those of `wanted`) `sink` receives on a thread of
/// its own. If the sink fails, `stop` is cancelled (so the run ends within a block) and the
/// sink's error is the result, whatever the run returned.
pub(crate) fn with_sink<T>(
    sink: &mut dyn ChunkSink,
    wanted: Vec<Algorithm>,
    stop: &CancelToken,
    run: impl FnOnce(ChunkRoute) -> Result<T>,
) -> Result<T> {
    std::thread::scope(|scope| {
        let (sender, received) = sync_channel(SINK_QUEUE);
        let chunks = ChunkRoute { sender, wanted };
        let feeder = std::thread::Builder::new()
            .name("imghash-sink".to_string())
            .spawn_scoped(scope, move || feed(sink, received, stop))
            .map_err(|e| Error::ThreadPool(format!("cannot start the chunk sink's thread: {e}")))?;
        // `run` owns the only sender: when it returns (and drops it), the queue ends.
        let outcome = run(chunks);
        match feeder.join() {
            Ok(None) => outcome,
            Ok(Some(sink_error)) => Err(sink_error),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Hands every queued chunk to the sink until the queue ends or the sink fails.
fn feed(
    sink: &mut dyn ChunkSink,
    received: Receiver<(Algorithm, ChunkDigest)>,
    stop: &CancelToken,
) -> Option<Error> {
    let _stop_on_panic = StopOnPanic(stop);
    for (algorithm, chunk) in received {
        if let Err(error) = sink.chunk(algorithm, &chunk) {
            stop.cancel();
            // Returning drops the receiver: hashers blocked on a full queue wake up.
            return Some(Error::Sink {
                algorithm,
                offset: chunk.offset,
                error,
            });
        }
    }
    None
}

/// Stops the run if the sink panics, instead of hashing on with nobody to take the chunks.
struct StopOnPanic<'a>(&'a CancelToken);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.cancel();
        }
    }
}
