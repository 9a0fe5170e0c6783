//! Forwarding a call about a Local backup storage to the node that holds its directory, over
//! gRPC with the caller's session (sessions are shared) and a mark that stops the owner from
//! forwarding it again. The owner's answer is read back from the shared store by the caller,
//! so only success or the owner's failure travels back.
//!
//! The owner is down when its heartbeat is stale or it cannot be reached: SYS.1006 naming it
//! and its address.

use std::sync::Arc;
use std::time::Duration;

use imghash_store::Node;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::Request;

use super::{Cluster, Origin, FORWARDED_BY};
use crate::app::error::ApiError;
use crate::app::{now_ms, App};
use crate::grpc::proto;
use crate::grpc::proto::image_service_client::ImageServiceClient;

/// How long to wait for the owner to accept a connection. A node that is up accepts at
/// once; one that is not must not hold the caller for long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A call on its way to the owner of a storage.
pub struct Forward {
    /// This node.
    pub cluster: Arc<Cluster>,
    /// The owner, as registered (`None`: it never registered, or left).
    pub owner: Option<Node>,
    /// The owner's name.
    pub owner_name: String,
    /// The storage the call is about.
    pub storage_uuid: String,
}

impl Forward {
    /// SYS.1006 naming the owner, its address and why.
    fn down(&self, why: &str) -> ApiError {
        let address = self
            .owner
            .as_ref()
            .and_then(|n| n.advertise.as_deref())
            .unwrap_or("no address");
        ApiError::Unavailable(format!(
            "Backup storage[uuid:{}] is on node '{}' (at {address}), which {why}",
            self.storage_uuid, self.owner_name
        ))
    }

    /// A client of the owner, once it is known live and reachable.
    async fn client(&self) -> Result<ImageServiceClient<Channel>, ApiError> {
        let owner = self
            .owner
            .as_ref()
            .ok_or_else(|| self.down("is not running (it is not registered)"))?;
        let silent_ms = now_ms().saturating_sub(owner.heartbeat_date);
        if owner.heartbeat_date <= self.cluster.live_after(now_ms()) {
            return Err(self.down(&format!(
                "is down (no heartbeat for {} s)",
                silent_ms / 1000
            )));
        }
        let address = owner
            .advertise
            .as_deref()
            .ok_or_else(|| self.down("has no address to reach it at (see --advertise)"))?;
        let scheme = if self.cluster.tls_ca.is_some() {
            "https"
        } else {
            "http"
        };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{address}"))
            .map_err(|e| self.down(&format!("has a bad address: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT);
        if let Some(ca) = &self.cluster.tls_ca {
            let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
            let tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca))
                .domain_name(host.trim_matches(['[', ']']));
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| self.down(&format!("cannot be reached over TLS: {e}")))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| self.down(&format!("cannot be reached: {e}")))?;
        Ok(ImageServiceClient::new(channel))
    }

    /// The request with the caller's session and the forwarding mark.
    fn request<T>(&self, origin: &Origin, message: T) -> Result<Request<T>, ApiError> {
        let mut request = Request::new(message);
        let metadata = request.metadata_mut();
        if let Some(authorization) = &origin.authorization {
            let value = MetadataValue::try_from(authorization.as_str()).map_err(|_| {
                ApiError::InvalidSession("Malformed authorization: not visible ASCII".to_string())
            })?;
            metadata.insert("authorization", value);
        }
        let me = MetadataValue::try_from(self.cluster.name.as_str())
            .map_err(|_| ApiError::Internal("the node name is not ASCII".to_string()))?;
        metadata.insert(FORWARDED_BY, me);
        Ok(request)
    }

    /// The owner's failure as ours; a failure of the connection itself (the owner died
    /// mid-call) names the owner.
    fn failed(&self, status: tonic::Status) -> ApiError {
        crate::grpc::api_error(&status)
            .unwrap_or_else(|| self.down(&format!("failed mid-call: {}", status.message())))
    }

    /// CalculateImageHash on the owner; the caller reads the recorded hash.
    pub async fn calculate_image_hash(
        &self,
        origin: &Origin,
        message: proto::CalculateImageHashRequest,
    ) -> Result<(), ApiError> {
        let request = self.request(origin, message)?;
        let mut client = self.client().await?;
        tracing::info!(node = %self.owner_name, storage = %self.storage_uuid,
            "forwarding CalculateImageHash to the node holding the storage");
        client
            .calculate_image_hash(request)
            .await
            .map_err(|s| self.failed(s))?;
        Ok(())
    }

    /// AddImage on the owner; the uuid of the image it added.
    pub async fn add_image(
        &self,
        origin: &Origin,
        message: proto::AddImageRequest,
    ) -> Result<String, ApiError> {
        let request = self.request(origin, message)?;
        let mut client = self.client().await?;
        tracing::info!(node = %self.owner_name, storage = %self.storage_uuid,
            "forwarding AddImage to the node holding the storage");
        let added = client
            .add_image(request)
            .await
            .map_err(|s| self.failed(s))?;
        added
            .into_inner()
            .inventory
            .map(|inventory| inventory.uuid)
            .ok_or_else(|| self.down("answered AddImage without the image"))
    }

    /// DeleteImage on the owner (it removes the files it copied).
    pub async fn delete_image(&self, origin: &Origin, uuid: String) -> Result<(), ApiError> {
        let request = self.request(origin, proto::DeleteImageRequest { uuid })?;
        let mut client = self.client().await?;
        tracing::info!(node = %self.owner_name, storage = %self.storage_uuid,
            "forwarding DeleteImage to the node holding the storage");
        client
            .delete_image(request)
            .await
            .map_err(|s| self.failed(s))?;
        Ok(())
    }
}

impl App {
    /// The forwarding of a call about these storages, if one of them is a Local storage
    /// that another node holds (the first such); `None` for a call this node answers itself.
    pub(crate) async fn forward_for(
        &self,
        storage_uuids: &[String],
        origin: &Origin,
    ) -> Result<Option<Forward>, ApiError> {
        if origin.forwarded {
            return Ok(None);
        }
        let (wanted, me) = (storage_uuids.to_vec(), self.cluster.name.clone());
        let owner = self
            .db(move |store| {
                for uuid in wanted {
                    match store.backup_storage_node(&uuid)? {
                        Some(name) if name != me => {
                            let node = store.node(&name)?;
                            return Ok(Some((uuid, name, node)));
                        }
                        _ => {}
                    }
                }
                Ok(None)
            })
            .await?;
        Ok(owner.map(|(storage_uuid, owner_name, owner)| Forward {
            cluster: self.cluster.clone(),
            owner,
            owner_name,
            storage_uuid,
        }))
    }
}
