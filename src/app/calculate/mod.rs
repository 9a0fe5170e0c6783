//! CalculateImageHash: resolve the request to the computation it names, look the target up
//! once ([`input`]), then check, hash and record ([`record`]) inside one job that every
//! identical request shares; each waiter only renders the recorded result.

mod input;
mod record;

use std::fmt;
use std::sync::Arc;

use imghash_engine::{parse_chunk_size, Algorithm, HashJob};
use tokio::time::Instant;

use super::cluster::{forward::Forward, lease, Origin};
use super::error::{from_engine, ApiError};
use super::images::ImageView;
use super::jobs::{Plan, Work};
use super::{blocking, validate, App};
use input::Input;
use record::record;

pub(crate) use record::recorded;

pub use super::jobs::HashJobHandle;

/// CalculateImageHash, as ZStack's REST body has it (plus the chunk size and mode
/// extensions).
#[derive(Clone, Debug, Default)]
pub struct CalculateImageHash {
    /// The image (REST path `{uuid}`).
    pub image_uuid: String,
    /// The backup storage whose copy is hashed (mandatory).
    pub backup_storage_uuid: String,
    /// Any case; empty means MD5.
    pub algorithm: String,
    /// With a unit (`4MiB`); empty means the algorithm's default.
    pub chunk_size: String,
    /// `file` or `content`, any case; empty means `file`.
    pub mode: String,
    /// Who asked, for forwarding the call to the node holding a Local storage.
    pub origin: Origin,
}

/// What a hash is of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HashMode {
    /// The image file's bytes, as ZStack hashes them (its md5Sum).
    #[default]
    File,
    /// The disk the image holds, as the guest sees it, whatever the image's format: what
    /// `qemu-img convert -O raw` and the same checksum of the result would give.
    Content,
}

impl HashMode {
    /// The name in requests, answers and hash records.
    pub fn name(self) -> &'static str {
        match self {
            HashMode::File => "file",
            HashMode::Content => "content",
        }
    }

    /// The request's `mode`: empty is `file`; any case.
    pub fn parse(text: &str) -> Result<HashMode, ApiError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "file" => Ok(HashMode::File),
            "content" => Ok(HashMode::Content),
            _ => Err(ApiError::InvalidArgument(format!(
                "Unknown calculateImageHash.mode '{text}'; known modes: file, content"
            ))),
        }
    }
}

impl fmt::Display for HashMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What makes two requests the same computation: every field resolved, so that requests
/// that differ only in spelling (`MD5`/`md5`, no chunk size/the default one) share a job.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HashKey {
    /// The image.
    pub image_uuid: String,
    /// The backup storage whose copy is hashed.
    pub backup_storage_uuid: String,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The chunk size the algorithm uses (`None` for the standard digests).
    pub chunk_size: Option<u64>,
    /// The file's bytes or the disk it holds.
    pub mode: HashMode,
}

/// A hash as computed and recorded.
#[derive(Clone, Debug)]
pub struct ComputedHash {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The digest as its tools print it.
    pub value: String,
    /// The chunk size of a chunked construction.
    pub chunk_size: Option<u64>,
    /// Bytes hashed.
    pub bytes: u64,
    /// Wall time of the computation.
    pub seconds: f64,
    /// What was hashed.
    pub mode: HashMode,
}

/// The result of a CalculateImageHash: the hash, and the image as recording it left it.
#[derive(Clone, Debug)]
pub struct HashOutcome {
    /// The image after the record (md5Sum, lastOpDate).
    pub image: ImageView,
    /// The hash.
    pub hash: ComputedHash,
}

impl HashKey {
    /// Checks the fields: uuids, the mandatory backup storage, the algorithm (default MD5,
    /// any case), the chunk size (with a unit, only for algorithms that take one) and the
    /// mode.
    pub fn resolve(req: &CalculateImageHash) -> Result<HashKey, ApiError> {
        let image_uuid = validate::uuid("uuid", &req.image_uuid)?;
        let backup_storage_uuid = validate::uuid(
            "calculateImageHash.backupStorageUuid",
            &req.backup_storage_uuid,
        )?;
        let algorithm = match req.algorithm.trim() {
            "" => Algorithm::Md5,
            name => name.parse::<Algorithm>().map_err(from_engine)?,
        };
        Ok(HashKey {
            image_uuid: image_uuid.to_string(),
            backup_storage_uuid: backup_storage_uuid.to_string(),
            algorithm,
            chunk_size: chunk_size_used(algorithm, &req.chunk_size)?,
            mode: HashMode::parse(&req.mode)?,
        })
    }
}

/// The chunk size `algorithm` will use given the request's text, by the engine's rule
/// (`HashJobBuilder::build` refuses a size the algorithm cannot use: SYS.1007).
fn chunk_size_used(algorithm: Algorithm, text: &str) -> Result<Option<u64>, ApiError> {
    let mut settings = HashJob::builder([algorithm]);
    match text.trim() {
        "" => {}
        text => settings = settings.chunk_size(parse_chunk_size(text).map_err(from_engine)?),
    }
    let job = settings.build().map_err(from_engine)?;
    Ok(job.chunk_size_of(algorithm))
}

impl App {
    /// Computes (or joins the computation of) the hash, waits for it until `deadline`.
    pub async fn calculate_image_hash(
        &self,
        req: &CalculateImageHash,
        deadline: Option<Instant>,
    ) -> Result<Arc<HashOutcome>, ApiError> {
        let handle = self.start_hash(req).await?;
        wait(&handle, deadline).await
    }

    /// Starts the job of the request, or joins the identical one in flight. Fails at once
    /// for a bad request, a missing image or storage, or a full queue.
    pub async fn start_hash(&self, req: &CalculateImageHash) -> Result<HashJobHandle, ApiError> {
        let key = HashKey::resolve(req)?;
        if let Some(joined) = self.jobs.join(&key) {
            return Ok(joined);
        }
        let plan = match self.hash_input(&key, req.origin.forwarded).await? {
            Input::Remote(owner) => self.forward_plan(req, &key, owner),
            input => {
                let store = self.store.clone();
                let job_key = key.clone();
                let work: Work = Box::new(move |job| {
                    let report = input.hash(job)?;
                    record(&store, &job_key, report)
                });
                lease::shared(self.store.clone(), self.cluster.clone(), key.clone(), work)
            }
        };
        self.jobs.submit(key, plan)
    }

    /// The plan of a job whose storage another node holds: that node computes (and records)
    /// it, and this one answers from the record. Nobody waiting here any more drops the
    /// forwarded call, which cancels it there.
    fn forward_plan(&self, req: &CalculateImageHash, key: &HashKey, owner: input::Owner) -> Plan {
        let (cluster, store) = (self.cluster.clone(), self.store.clone());
        let (origin, message) = (
            req.origin.clone(),
            crate::grpc::forwarding::calculate_image_hash(req),
        );
        let key = key.clone();
        Box::new(move |context| {
            Box::pin(async move {
                let forward = Forward {
                    cluster,
                    owner: owner.node,
                    owner_name: owner.name,
                    storage_uuid: key.backup_storage_uuid.clone(),
                };
                tokio::select! {
                    done = forward.calculate_image_hash(&origin, message) => done?,
                    () = context.cancelled() => {
                        return Err(ApiError::Cancelled("The hash job was cancelled".to_string()))
                    }
                }
                blocking("hash record", move || recorded(&store, &key)).await
            })
        })
    }
}

fn not_found(kind: &str, uuid: &str) -> ApiError {
    ApiError::NotFound(format!(
        "Cannot find {kind}[uuid:{uuid}], it may have been deleted"
    ))
}

/// Waits for the job, or answers SYS.1001 once the deadline passes (dropping the handle then
/// cancels the job if no other request waits for it).
pub async fn wait(
    handle: &HashJobHandle,
    deadline: Option<Instant>,
) -> Result<Arc<HashOutcome>, ApiError> {
    match deadline {
        None => handle.wait().await,
        Some(at) => tokio::time::timeout_at(at, handle.wait())
            .await
            .unwrap_or_else(|_| {
                Err(ApiError::DeadlineExceeded(
                    "The deadline of the request passed before the hash was computed; the \
                     job was cancelled"
                        .to_string(),
                ))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(algorithm: &str, chunk_size: &str) -> CalculateImageHash {
        CalculateImageHash {
            image_uuid: "0123456789abcdef0123456789abcdef".into(),
            backup_storage_uuid: "fedcba9876543210fedcba9876543210".into(),
            algorithm: algorithm.into(),
            chunk_size: chunk_size.into(),
            mode: String::new(),
            origin: Origin::default(),
        }
    }

    fn key(algorithm: &str, chunk_size: &str) -> Result<HashKey, ApiError> {
        HashKey::resolve(&request(algorithm, chunk_size))
    }

    fn key_in_mode(mode: &str) -> Result<HashKey, ApiError> {
        HashKey::resolve(&CalculateImageHash {
            mode: mode.into(),
            ..request("md5", "")
        })
    }

    #[test]
    fn the_mode_is_part_of_the_key_and_its_spelling_is_not() {
        assert_eq!(key_in_mode("").unwrap(), key_in_mode("FILE").unwrap());
        assert_eq!(key_in_mode("").unwrap().mode, HashMode::File);
        assert_eq!(key_in_mode(" Content").unwrap().mode, HashMode::Content);
        assert_ne!(
            key_in_mode("file").unwrap(),
            key_in_mode("content").unwrap()
        );
        let err = key_in_mode("guest").unwrap_err();
        assert!(matches!(err, ApiError::InvalidArgument(_)), "{err}");
        assert!(err.to_string().contains("'guest'"), "{err}");
    }

    #[test]
    fn the_default_chunk_size_and_its_spelling_make_one_key() {
        assert_eq!(
            key("merkle-sha256", "").unwrap(),
            key("MERKLE-SHA256", "4MiB").unwrap()
        );
        assert_eq!(key("merkle-sha256", "").unwrap().chunk_size, Some(4 << 20));
        assert_ne!(
            key("merkle-sha256", "").unwrap(),
            key("merkle-sha256", "1MiB").unwrap()
        );
        assert_eq!(
            key("glacier-sha256", "").unwrap(),
            key("glacier-sha256", "1MiB").unwrap()
        );
        assert_eq!(key("", "").unwrap(), key("MD5", " ").unwrap());
        assert_eq!(key("md5", "").unwrap().chunk_size, None);
    }

    #[test]
    fn a_chunk_size_the_algorithm_cannot_use_is_sys_1007() {
        for (algorithm, size) in [
            ("md5", "4MiB"),
            ("glacier-sha256", "4MiB"),
            ("sha256", "1MiB"),
        ] {
            let err = key(algorithm, size).unwrap_err();
            assert!(
                matches!(err, ApiError::InvalidArgument(_)),
                "{algorithm} {size}: {err}"
            );
        }
    }
}
