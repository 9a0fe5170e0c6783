//! ImageService: AddImage, QueryImage, GetImage, DeleteImage, and CalculateImageHash in its
//! unary and streaming forms.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::metadata::{deadline, session};
use super::{decode, inventory, proto};
use crate::app::calculate::{self, CalculateImageHash, HashJobHandle};
use crate::app::{ApiError, App, HashOutcome};

/// How often the streaming RPC reports progress.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// The ImageService over the application.
pub struct ImageService {
    pub app: Arc<App>,
}

type EventStream =
    Pin<Box<dyn Stream<Item = Result<proto::CalculateImageHashEvent, Status>> + Send>>;

#[tonic::async_trait]
impl proto::image_service_server::ImageService for ImageService {
    async fn add_image(
        &self,
        request: Request<proto::AddImageRequest>,
    ) -> Result<Response<proto::AddImageResponse>, Status> {
        session(&self.app, request.metadata()).await?;
        let started = Instant::now();
        let added = self
            .app
            .add_image(decode::add_image(request.into_inner()))
            .await
            .inspect_err(|e| tracing::warn!(rpc = "AddImage", error = %e, "failed"))?;
        tracing::info!(rpc = "AddImage", image = %added.image.uuid, md5 = ?added.image.md5_sum,
            duration_ms = started.elapsed().as_millis() as u64, "added");
        Ok(Response::new(proto::AddImageResponse {
            inventory: Some(inventory::image(added)),
        }))
    }

    async fn query_image(
        &self,
        request: Request<proto::QueryImageRequest>,
    ) -> Result<Response<proto::QueryImageResponse>, Status> {
        session(&self.app, request.metadata()).await?;
        let req = request.into_inner();
        let found = self
            .app
            .query_images(decode::query(req.conditions, req.limit))
            .await?;
        Ok(Response::new(proto::QueryImageResponse {
            inventories: found.into_iter().map(inventory::image).collect(),
        }))
    }

    async fn get_image(
        &self,
        request: Request<proto::GetImageRequest>,
    ) -> Result<Response<proto::GetImageResponse>, Status> {
        session(&self.app, request.metadata()).await?;
        let image = self.app.get_image(request.into_inner().uuid).await?;
        Ok(Response::new(proto::GetImageResponse {
            inventory: Some(inventory::image(image)),
        }))
    }

    async fn delete_image(
        &self,
        request: Request<proto::DeleteImageRequest>,
    ) -> Result<Response<proto::DeleteImageResponse>, Status> {
        session(&self.app, request.metadata()).await?;
        let uuid = request.into_inner().uuid;
        self.app.delete_image(uuid.clone()).await?;
        tracing::info!(rpc = "DeleteImage", image = %uuid, "deleted");
        Ok(Response::new(proto::DeleteImageResponse { success: true }))
    }

    async fn calculate_image_hash(
        &self,
        request: Request<proto::CalculateImageHashRequest>,
    ) -> Result<Response<proto::CalculateImageHashResponse>, Status> {
        session(&self.app, request.metadata()).await?;
        let deadline = deadline(request.metadata());
        let started = Instant::now();
        let req = decode::calculate_image_hash(request.get_ref());
        let result = self.app.calculate_image_hash(&req, deadline).await;
        log_hash("CalculateImageHash", &req, started, &result);
        let outcome = result?;
        Ok(Response::new(inventory::hash_response(&outcome)))
    }

    type CalculateImageHashStreamStream = EventStream;

    async fn calculate_image_hash_stream(
        &self,
        request: Request<proto::CalculateImageHashRequest>,
    ) -> Result<Response<EventStream>, Status> {
        session(&self.app, request.metadata()).await?;
        let deadline = deadline(request.metadata());
        let req = decode::calculate_image_hash(request.get_ref());
        // Bad requests fail the call itself, before any event.
        let handle = self.app.start_hash(&req).await?;
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let started = Instant::now();
            let result = stream_events(handle, deadline, &tx).await;
            log_hash("CalculateImageHashStream", &req, started, &result);
            let last = result.map(|outcome| proto::CalculateImageHashEvent {
                event: Some(proto::calculate_image_hash_event::Event::Result(
                    inventory::hash_response(&outcome),
                )),
            });
            // The client may be gone; then there is nobody to tell.
            let _ = tx.send(last.map_err(Status::from)).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Sends progress every [`PROGRESS_INTERVAL`] until the job ends; returns its outcome.
/// If the client goes away, returning drops the handle, which cancels the job.
async fn stream_events(
    handle: HashJobHandle,
    deadline: Option<tokio::time::Instant>,
    tx: &mpsc::Sender<Result<proto::CalculateImageHashEvent, Status>>,
) -> Result<Arc<HashOutcome>, ApiError> {
    let mut ticks = tokio::time::interval(PROGRESS_INTERVAL);
    ticks.tick().await;
    let wait = calculate::wait(&handle, deadline);
    tokio::pin!(wait);
    loop {
        tokio::select! {
            outcome = &mut wait => return outcome,
            _ = ticks.tick() => {
                let progress = handle.progress();
                let event = proto::CalculateImageHashEvent {
                    event: Some(proto::calculate_image_hash_event::Event::Progress(
                        proto::HashProgress {
                            bytes_done: progress.done(),
                            bytes_total: progress.total().unwrap_or(0),
                        },
                    )),
                };
                if tx.send(Ok(event)).await.is_err() {
                    return Err(ApiError::Cancelled("The client went away".to_string()));
                }
            }
        }
    }
}

fn log_hash(
    rpc: &'static str,
    req: &CalculateImageHash,
    started: Instant,
    result: &Result<Arc<HashOutcome>, ApiError>,
) {
    let duration_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(outcome) => tracing::info!(rpc, image = %req.image_uuid,
            backup_storage = %req.backup_storage_uuid,
            algorithm = %outcome.hash.algorithm, duration_ms, "hash computed"),
        Err(err) => tracing::warn!(rpc, image = %req.image_uuid,
            backup_storage = %req.backup_storage_uuid, algorithm = %req.algorithm,
            duration_ms, error = %err, "hash failed"),
    }
}
