//! ImageService: AddImage, QueryImage, GetImage, DeleteImage, and CalculateImageHash in its
//! unary and streaming forms.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::metadata::{deadline, origin, session};
use super::{decode, inventory, observe, proto};
use crate::app::calculate::{self, HashJobHandle};
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
        let mut line = observe::start("AddImage");
        let result = async {
            line.account = Some(session(&self.app, request.metadata()).await?.account_uuid);
            let origin = origin(request.metadata());
            let mut req = decode::add_image(request.into_inner());
            req.origin = origin;
            let added = self.app.add_image(req).await?;
            line.image = Some(added.image.uuid.clone());
            Ok(proto::AddImageResponse {
                inventory: Some(inventory::image(added)),
            })
        }
        .await;
        observe::answer(&self.app, line, result)
    }

    async fn query_image(
        &self,
        request: Request<proto::QueryImageRequest>,
    ) -> Result<Response<proto::QueryImageResponse>, Status> {
        let mut line = observe::start("QueryImage");
        let result = async {
            line.account = Some(session(&self.app, request.metadata()).await?.account_uuid);
            let req = request.into_inner();
            let found = self
                .app
                .query_images(decode::query(req.conditions, req.limit))
                .await?;
            Ok(proto::QueryImageResponse {
                inventories: found.into_iter().map(inventory::image).collect(),
            })
        }
        .await;
        observe::answer(&self.app, line, result)
    }

    async fn get_image(
        &self,
        request: Request<proto::GetImageRequest>,
    ) -> Result<Response<proto::GetImageResponse>, Status> {
        let mut line = observe::start("GetImage");
        let result = async {
            line.account = Some(session(&self.app, request.metadata()).await?.account_uuid);
            let uuid = request.into_inner().uuid;
            line.image = Some(uuid.clone());
            let image = self.app.get_image(uuid).await?;
            Ok(proto::GetImageResponse {
                inventory: Some(inventory::image(image)),
            })
        }
        .await;
        observe::answer(&self.app, line, result)
    }

    async fn delete_image(
        &self,
        request: Request<proto::DeleteImageRequest>,
    ) -> Result<Response<proto::DeleteImageResponse>, Status> {
        let mut line = observe::start("DeleteImage");
        let result = async {
            line.account = Some(session(&self.app, request.metadata()).await?.account_uuid);
            let origin = origin(request.metadata());
            let uuid = request.into_inner().uuid;
            line.image = Some(uuid.clone());
            self.app.delete_image(uuid, origin).await?;
            Ok(proto::DeleteImageResponse { success: true })
        }
        .await;
        observe::answer(&self.app, line, result)
    }

    async fn calculate_image_hash(
        &self,
        request: Request<proto::CalculateImageHashRequest>,
    ) -> Result<Response<proto::CalculateImageHashResponse>, Status> {
        let mut line = observe::start("CalculateImageHash");
        // Taken first: the client's timer started before the request left, so the time the
        // session check takes (database round trips) must count against it too.
        let deadline = deadline(request.metadata());
        let result = async {
            line.account = Some(session(&self.app, request.metadata()).await?.account_uuid);
            let mut req = decode::calculate_image_hash(request.get_ref());
            req.origin = origin(request.metadata());
            line.image = Some(req.image_uuid.clone());
            let outcome = self.app.calculate_image_hash(&req, deadline).await?;
            Ok(inventory::hash_response(&outcome))
        }
        .await;
        observe::answer(&self.app, line, result)
    }

    type CalculateImageHashStreamStream = EventStream;

    async fn calculate_image_hash_stream(
        &self,
        request: Request<proto::CalculateImageHashRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let mut line = observe::start("CalculateImageHashStream");
        // Before the session check and the start, as in calculate_image_hash.
        let deadline = deadline(request.metadata());
        let started = async {
            line.account = Some(session(&self.app, request.metadata()).await?.account_uuid);
            let mut req = decode::calculate_image_hash(request.get_ref());
            req.origin = origin(request.metadata());
            line.image = Some(req.image_uuid.clone());
            // Bad requests fail the call itself, before any event.
            self.app.start_hash(&req).await
        }
        .await;
        let handle = match started {
            Ok(handle) => handle,
            Err(e) => {
                line.finish(self.app.metrics(), Some(&e));
                return Err(e.into());
            }
        };
        let (tx, rx) = mpsc::channel(4);
        let app = self.app.clone();
        tokio::spawn(async move {
            let result = stream_events(handle, deadline, &tx).await;
            line.finish(app.metrics(), result.as_ref().err());
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
