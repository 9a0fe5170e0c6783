//! The copies in flight, by image: so that DeleteImage (and shutdown) can stop a copy and
//! wait until it has cleaned up, and so that a request that goes away stops its copy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use imghash_engine::CancelToken;
use tokio::sync::{watch, Notify};

/// One copy's controls.
pub struct CopyControl {
    /// Stops the copy's reads (checked before each one).
    pub cancel: CancelToken,
    /// Wakes the copy while it still waits for a run slot.
    pub stopped: Notify,
    /// Closed when the copy task has ended and cleaned up.
    ended: watch::Receiver<()>,
}

impl CopyControl {
    /// Asks the copy to stop.
    pub fn stop(&self) {
        self.cancel.cancel();
        self.stopped.notify_one();
    }

    /// Waits until the copy task has ended (files and row cleaned up or finished).
    pub async fn ended(&self) {
        let mut ended = self.ended.clone();
        while ended.changed().await.is_ok() {}
    }
}

/// Held by the copy task: dropping it marks the copy ended.
pub struct Ending {
    _sender: watch::Sender<()>,
}

/// The registry.
#[derive(Default)]
pub struct Copies {
    inflight: Mutex<HashMap<String, Arc<CopyControl>>>,
}

impl Copies {
    fn inflight(&self) -> MutexGuard<'_, HashMap<String, Arc<CopyControl>>> {
        self.inflight.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers the copy of `image_uuid`; the task keeps [`Ending`] until it has ended.
    pub fn register(&self, image_uuid: &str) -> (Arc<CopyControl>, Ending) {
        let (sender, ended) = watch::channel(());
        let control = Arc::new(CopyControl {
            cancel: CancelToken::new(),
            stopped: Notify::new(),
            ended,
        });
        self.inflight()
            .insert(image_uuid.to_string(), control.clone());
        (control, Ending { _sender: sender })
    }

    /// Unregisters the copy of `image_uuid` (its task ends).
    pub fn forget(&self, image_uuid: &str) {
        self.inflight().remove(image_uuid);
    }

    /// The copy of `image_uuid`, if one is in flight.
    pub fn get(&self, image_uuid: &str) -> Option<Arc<CopyControl>> {
        self.inflight().get(image_uuid).cloned()
    }

    /// Stops every copy (shutdown).
    pub fn stop_all(&self) {
        for control in self.inflight().values() {
            control.stop();
        }
    }
}

/// Stops the copy when dropped unless disarmed: a request future dropped because its
/// client went away or its deadline passed takes its copy with it.
pub struct StopOnDrop(pub Option<Arc<CopyControl>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(control) = self.0.take() {
            tracing::info!("the request of a copy went away; stopping the copy");
            control.stop();
        }
    }
}
