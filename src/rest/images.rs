//! Images: AddImage (`POST /v1/images`), QueryImage (`GET /v1/images[/{uuid}]`),
//! DeleteImage (`DELETE /v1/images/{uuid}`) and CalculateImageHash
//! (`PUT /v1/images/{uuid}/actions`, body key `calculateImageHash`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};

use super::query::Queried;
use super::reply::Refused;
use super::{inventory, request, Rest};
use crate::app::{AddImage, ApiError, App, CalculateImageHash, ImageView, Origin, Query};

/// The body keys of CalculateImageHash: ZStack's, then the lower-case spelling ZStack's
/// public API page prints (so that page's curl example runs as printed).
const CALCULATE_KEYS: &[&str] = &["calculateImageHash", "calculateimagehash"];

/// QueryImage.
pub struct Images;

impl Queried for Images {
    const API: &'static str = "QueryImage";
    type Item = ImageView;

    async fn find(app: &App, query: Query) -> Result<Vec<ImageView>, ApiError> {
        app.query_images(query).await
    }

    fn render(view: &ImageView) -> Value {
        inventory::image(view)
    }

    fn date(view: &ImageView, field: &str) -> Option<i64> {
        match field {
            "createDate" => Some(view.image.create_date),
            "lastOpDate" => Some(view.image.last_op_date),
            _ => None,
        }
    }
}

/// AddImage (asynchronous): `{"params": {...}}`.
pub async fn add(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refused> {
    let origin = origin(&headers);
    rest.submit_create("AddImage", &headers, &body, |app, p| async move {
        let p = p?;
        let req = AddImage {
            name: request::string(&p, "name")?,
            description: request::string(&p, "description")?,
            url: request::string(&p, "url")?,
            media_type: request::string(&p, "mediaType")?,
            guest_os_type: request::string(&p, "guestOsType")?,
            format: request::string(&p, "format")?,
            platform: request::string(&p, "platform")?,
            architecture: request::string(&p, "architecture")?,
            system: request::boolean(&p, "system")?,
            virtio: request::boolean(&p, "virtio")?,
            backup_storage_uuids: request::strings(&p, "backupStorageUuids")?,
            origin,
        };
        let added = app.add_image(req).await?;
        Ok(json!({ "inventory": inventory::image(&added) }))
    })
    .await
}

/// DeleteImage (asynchronous): `{}`. ZStack's `deleteMode` and `backupStorageUuids` are
/// not needed: imghash deletes the image from every storage at once.
pub async fn delete(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> Result<Response, Refused> {
    let origin = origin(&headers);
    rest.submit(
        "DeleteImage",
        &headers,
        Some(uuid.clone()),
        |app| async move {
            app.delete_image(uuid, origin).await?;
            Ok(json!({}))
        },
    )
    .await
}

/// The actions on an image; imghash has one, CalculateImageHash (asynchronous):
/// `{"calculateImageHash": {"backupStorageUuid", "algorithm"?, "chunkSize"?}}` with
/// `systemTags`/`userTags` at the top level or inside. The path's uuid is the image.
pub async fn action(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    body: Bytes,
) -> Result<Response, Refused> {
    // The transport's checks first, as ZStack's REST layer does them.
    request::authorization(&headers)?;
    let body = request::object(&body)?;
    let path = format!("/v1/images/{uuid}/actions");
    let action = request::action(&body, CALCULATE_KEYS, &path)?.clone();
    let origin = origin(&headers);
    rest.submit(
        "CalculateImageHash",
        &headers,
        Some(uuid.clone()),
        |app| async move {
            let fields = request::fields_of(CALCULATE_KEYS[0], Some(&action))?;
            request::check_tags(&body, &fields)?;
            let req = CalculateImageHash {
                image_uuid: uuid,
                backup_storage_uuid: request::string(&fields, "backupStorageUuid")?,
                algorithm: request::string(&fields, "algorithm")?,
                chunk_size: request::string(&fields, "chunkSize")?,
                mode: request::string(&fields, "mode")?,
                origin,
            };
            let outcome = app.calculate_image_hash(&req, None).await?;
            Ok(inventory::hash_result(&outcome))
        },
    )
    .await
}

/// Who asked, for forwarding to another node: the session to pass on. A REST call is never
/// a forwarded one (nodes forward over gRPC).
fn origin(headers: &HeaderMap) -> Origin {
    Origin {
        authorization: request::authorization(headers).ok(),
        forwarded: false,
    }
}
