//! The parallel mode's work queue: hands out units in order, each a *claim* of one unit,
//! or of a whole stretch of units that are all hole.
//!
//! A hole costs nothing to hash (its chunks take the precomputed zero-chunk digests, a run
//! of them collected as one entry), so on a 1 TiB image that is mostly holes the cost per
//! unit dominated: 256 Ki units of 4 MiB, each claimed, mapped and collected on its own.
//! A stretch of hole units is claimed as one instead.
//!
//! A unit hashed ahead of an unfinished earlier one leaves its chunk digests waiting in
//! the reorder buffers, so one thread could race millions of chunks ahead of another that
//! reads data. The queue keeps at most `window` claims in flight from the first unfinished
//! one, which bounds those digests whatever the image size (issue #11): a hole claim
//! leaves one run per construction waiting, however long it is.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::{Condvar, Mutex};

/// Hands out claims (ranges of unit numbers) in order.
pub(super) struct UnitQueue {
    units: u64,
    window: usize,
    state: Mutex<QueueState>,
    /// Signalled when the first unfinished claim finishes, or the run stops.
    moved: Condvar,
}

struct QueueState {
    next: u64,
    /// Claims handed out and not yet known finished with every claim before them: (first
    /// unit, finished).
    in_flight: VecDeque<(u64, bool)>,
    stopped: bool,
}

impl UnitQueue {
    pub(super) fn new(units: u64, window: usize) -> UnitQueue {
        UnitQueue {
            units,
            window: window.max(1),
            state: Mutex::new(QueueState {
                next: 0,
                in_flight: VecDeque::new(),
                stopped: false,
            }),
            moved: Condvar::new(),
        }
    }

    /// The next claim, waiting while `window` claims are in flight; `None` once all units
    /// are handed out or the run stopped. `hole_units(first)` says how many units from
    /// `first` on are entirely hole (0 if `first` holds data, or if holes must go unit by
    /// unit); it is asked under the queue's lock, so claims never overlap. No deadlock: the
    /// first unfinished claim is always held by a thread that is hashing it.
    pub(super) fn take(&self, hole_units: impl FnOnce(u64) -> u64) -> Option<Range<u64>> {
        let mut state = self.state.lock().expect("unit queue lock");
        loop {
            if state.stopped || state.next >= self.units {
                return None;
            }
            if state.in_flight.len() < self.window {
                let first = state.next;
                let span = hole_units(first).clamp(1, self.units - first);
                state.next += span;
                state.in_flight.push_back((first, false));
                return Some(first..first + span);
            }
            state = self.moved.wait(state).expect("unit queue lock");
        }
    }

    /// Marks the claim that starts at unit `first` finished.
    pub(super) fn finish(&self, first: u64) {
        let mut state = self.state.lock().expect("unit queue lock");
        if let Some(claim) = state.in_flight.iter_mut().find(|(f, _)| *f == first) {
            claim.1 = true;
        }
        let before = state.in_flight.len();
        while state.in_flight.front().is_some_and(|&(_, done)| done) {
            state.in_flight.pop_front();
        }
        if state.in_flight.len() != before {
            self.moved.notify_all();
        }
    }

    /// Ends the run after an error or a cancel: waiting threads return.
    pub(super) fn stop(&self) {
        self.state.lock().expect("unit queue lock").stopped = true;
        self.moved.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hole_stretches_are_one_claim_and_the_window_counts_claims() {
        let queue = UnitQueue::new(10, 2);
        assert_eq!(queue.take(|_| 0), Some(0..1));
        assert_eq!(queue.take(|first| 6 - first), Some(1..6));
        queue.finish(1); // finished ahead of claim 0: the window stays full
        queue.finish(0);
        assert_eq!(queue.take(|_| 100), Some(6..10)); // never past the last unit
        assert_eq!(queue.take(|_| 0), None);
    }
}
