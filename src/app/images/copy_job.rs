//! A copy as a job: admitted like a hash job (`--max-jobs` + `--max-queued`), run in a run
//! slot on an engine job thread of its own (never tokio's blocking pool, which hung copies
//! used to exhaust), stoppable through its [`CopyControl`], and finished or rolled back by
//! its own task, so that the image row and files are settled even when nobody waits.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use imghash_engine::{Algorithm, HashJob, JobHandle};
use imghash_store::Store;
use rayon::ThreadPool;
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use super::copies::{Copies, CopyControl, Ending};
use super::import::{self, Imported, Placement};
use crate::app::confine::OpenedFile;
use crate::app::error::{from_engine, ApiError};
use crate::app::jobs::Jobs;
use crate::app::vocabulary::ImageStatus;
use crate::app::{blocking, now_ms};

/// Everything one copy needs, moved into its task.
pub struct CopyJob {
    pub store: Arc<Store>,
    pub jobs: Arc<Jobs>,
    pub copies: Arc<Copies>,
    pub pool: Arc<ThreadPool>,
    pub image_uuid: String,
    pub source: OpenedFile,
    pub placements: Vec<Placement>,
    pub control: Arc<CopyControl>,
    pub ending: Ending,
    pub admission: OwnedSemaphorePermit,
}

impl CopyJob {
    /// Starts the task; its outcome arrives on the receiver (nobody need listen).
    pub fn spawn(self) -> oneshot::Receiver<Result<(), ApiError>> {
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let _ = tx.send(self.run().await);
        });
        rx
    }

    async fn run(self) -> Result<(), ApiError> {
        let CopyJob {
            store,
            jobs,
            copies,
            pool,
            image_uuid: uuid,
            source,
            placements,
            control,
            ending,
            admission,
        } = self;
        let copied = copy(&jobs, &pool, &control, &uuid, source, placements.clone()).await;
        let outcome = match copied {
            Ok(imported) => finish(&store, &uuid, imported, &placements).await,
            Err(err) => Err(err),
        };
        if let Err(err) = &outcome {
            // No row may stay Downloading: the files are gone, so is the row (if a
            // DeleteImage has not removed it already).
            let (db, gone) = (store.clone(), uuid.clone());
            let _ = blocking("inventory", move || Ok(db.delete_image(&gone))).await;
            tracing::info!(image = %uuid, error = %err, "a copy ended without an image");
        }
        copies.forget(&uuid);
        drop((ending, admission));
        outcome
    }
}

/// Waits for a run slot (or the stop), then copies on an engine job thread.
async fn copy(
    jobs: &Jobs,
    pool: &Arc<ThreadPool>,
    control: &Arc<CopyControl>,
    uuid: &str,
    source: OpenedFile,
    placements: Vec<Placement>,
) -> Result<Imported, ApiError> {
    let cancelled = || ApiError::Cancelled(format!("The copy of image[uuid:{uuid}] was cancelled"));
    let _slot = tokio::select! {
        slot = jobs.run_slot() => slot?,
        _ = control.stopped.notified() => return Err(cancelled()),
    };
    if control.cancel.is_cancelled() {
        return Err(cancelled());
    }
    let job = HashJob::builder([Algorithm::Md5])
        .pool(pool.clone())
        .build()
        .map_err(from_engine)?
        .cancel(&control.cancel);
    let (token, image) = (control.cancel.clone(), uuid.to_string());
    let run: JobHandle<Imported, ApiError> = job.start(move |run| {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            import::materialise(&source, &image, &placements, run, &token)
        }))
        .unwrap_or_else(|_| Err(ApiError::Internal("the copy panicked".to_string())))
    });
    run.await.map_err(|err| match err {
        ApiError::Cancelled(_) => cancelled(),
        other => other,
    })
}

/// Marks the image Ready with its sizes and MD5. If that fails (the row was deleted
/// meanwhile, or the inventory failed), the copied files are removed: nothing may be left
/// without a record.
async fn finish(
    store: &Arc<Store>,
    uuid: &str,
    imported: Imported,
    placements: &[Placement],
) -> Result<(), ApiError> {
    let (db, id) = (store.clone(), uuid.to_string());
    let finished = blocking("inventory", move || {
        db.finish_image(
            &id,
            ImageStatus::Ready.as_str(),
            imported.size,
            imported.actual_size,
            imported.md5.as_deref(),
            now_ms(),
        )
        .map_err(ApiError::from)
    })
    .await;
    if finished.is_err() {
        let (placements, id) = (placements.to_vec(), uuid.to_string());
        let _ = blocking("image file removal", move || {
            for p in placements.iter().filter(|p| p.copy) {
                import::remove_copied_file(&p.install_path, &p.storage_dir, &id);
            }
            Ok(())
        })
        .await;
    }
    finished.map(|_| ())
}
