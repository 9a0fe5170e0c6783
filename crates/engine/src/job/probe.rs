//! The probe that decides, on the input itself, whether hashing from mappings is faster
//! than reading: the first stretches are read, the next ones mapped, and the way with the
//! lower time per byte takes the rest. Used by the mapped strategy (windows in order on
//! one thread: [`probed_way`]) and by the parallel one (pieces on pool threads, handed
//! out in turn: [`Probe::next_way`]).

use std::time::Duration;

/// Stretches hashed each way before choosing. The first of each way is not counted: it
/// pays for starting up, or (mapped) was prepared while the reads ran. Four counted
/// each: with two, on a busy machine, single interruptions decided.
pub(super) const PROBES_EACH: u64 = 5;

/// Whether stretch `index` of the input is mapped while probing; `None` past the probe.
pub(super) fn probed_way(index: u64) -> Option<bool> {
    (index < 2 * PROBES_EACH).then_some(index >= PROBES_EACH)
}

/// The time per byte measured each way: the sum over the windows counted.
#[derive(Default)]
pub(super) struct Probe {
    /// Per way (read, mapped): stretches handed out by [`Probe::next_way`].
    handed: [u64; 2],
    /// Per way (read, mapped): windows seen, and seconds and bytes of those counted.
    seen: [u64; 2],
    seconds: [f64; 2],
    bytes: [u64; 2],
}

impl Probe {
    /// The way to hash the next stretch (mapped?): read and mapped in turn, so that
    /// whatever slows the machine down meanwhile weighs on both alike.
    pub(super) fn next_way(&mut self) -> bool {
        let mapped = self.handed[1] < self.handed[0];
        self.handed[usize::from(mapped)] += 1;
        mapped
    }

    pub(super) fn record(&mut self, mapped: bool, bytes: u64, elapsed: Duration) {
        let way = usize::from(mapped);
        self.seen[way] += 1;
        if self.seen[way] > 1 {
            self.seconds[way] += elapsed.as_secs_f64();
            self.bytes[way] += bytes;
        }
    }

    /// `Some(map?)` once both ways have had their windows.
    pub(super) fn verdict(&self) -> Option<bool> {
        if self.seen.iter().any(|&seen| seen < PROBES_EACH) {
            return None;
        }
        let per_byte = |way: usize| self.seconds[way] / self.bytes[way].max(1) as f64;
        Some(per_byte(1) < per_byte(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::size::MIB;

    const WINDOW: u64 = 4 * MIB;

    fn probe(read_ms: u64, mapped_ms: u64) -> Probe {
        let mut probe = Probe::default();
        for _ in 0..PROBES_EACH {
            assert_eq!(probe.verdict(), None);
            probe.record(false, WINDOW, Duration::from_millis(read_ms));
        }
        for _ in 0..PROBES_EACH {
            probe.record(true, WINDOW, Duration::from_millis(mapped_ms));
        }
        probe
    }

    #[test]
    fn the_probe_takes_the_way_measured_faster() {
        assert_eq!(probe(10, 6).verdict(), Some(true));
        assert_eq!(probe(6, 10).verdict(), Some(false));
    }

    #[test]
    fn the_first_window_of_each_way_does_not_count() {
        let mut probe = Probe::default();
        // A slow first read (start-up) and a fast first mapped window (made while the
        // reads ran) would reverse the verdict if they counted.
        probe.record(false, WINDOW, Duration::from_millis(100));
        for _ in 1..PROBES_EACH {
            probe.record(false, WINDOW, Duration::from_millis(8));
        }
        probe.record(true, WINDOW, Duration::from_millis(1));
        for _ in 1..PROBES_EACH {
            assert_eq!(probe.verdict(), None);
            probe.record(true, WINDOW, Duration::from_millis(9));
        }
        assert_eq!(probe.verdict(), Some(false));
    }

    #[test]
    fn pieces_are_handed_out_read_and_mapped_in_turn() {
        let mut probe = Probe::default();
        let ways: Vec<bool> = (0..6).map(|_| probe.next_way()).collect();
        assert_eq!(ways, [false, true, false, true, false, true]);
    }

    #[test]
    fn the_probe_reads_first_then_maps_then_stops() {
        let ways: Vec<Option<bool>> = (0..2 * PROBES_EACH + 1).map(probed_way).collect();
        assert!(ways[..PROBES_EACH as usize]
            .iter()
            .all(|w| *w == Some(false)));
        let mapped = &ways[PROBES_EACH as usize..2 * PROBES_EACH as usize];
        assert!(mapped.iter().all(|w| *w == Some(true)));
        assert_eq!(ways.last(), Some(&None));
    }
}
