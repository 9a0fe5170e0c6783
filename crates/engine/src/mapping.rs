//! Stretches of a file mapped into memory, so that digests hash the page cache in place
//! instead of a copy of it.
//!
//! Reading a file costs the kernel a copy of every byte from the page cache; for the
//! fastest digests that copy is most of the time (XXH3 on an Intel Xeon VM: 0.17 s of
//! system time copying a GiB against 0.03 s hashing it). A mapping costs instead the page
//! table entries, which [`Mapping::populate`] sets up in one system call (and which a
//! thread other than the hashing one can do ahead of it). Whether that is faster depends
//! on the machine, so the engine measures it on the input itself (see `job::mapped`).
//!
//! A mapped file that shrinks while it is hashed would raise `SIGBUS` on the next access
//! to a page past its new end, and kill the process. A handler ([`guard`]) catches
//! exactly those: it puts zero pages in place of the rest of the stretch, so that the
//! access completes, and marks the mapping cut; [`Mapping::was_cut`] then fails the run
//! as a changed file. Faults at addresses that are not in a live mapping of ours go to
//! the handler that was there before (Rust's own, or the default action).

use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use rustix::mm::{madvise, mmap, munmap, Advice, MapFlags, ProtFlags};

/// Mappings live at once, process-wide: a few per hashing thread. When all slots are
/// taken a mapping is refused and the caller reads instead.
const SLOTS: usize = 64;

/// A live mapping's address range, for the `SIGBUS` handler. `start == 0`: free.
struct Slot {
    start: AtomicUsize,
    end: AtomicUsize,
    cut: AtomicBool,
}

static LIVE: [Slot; SLOTS] = [const {
    Slot {
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        cut: AtomicBool::new(false),
    }
}; SLOTS];

/// `len` bytes of a file from a page-aligned offset, mapped read-only.
pub(crate) struct Mapping {
    ptr: *mut std::ffi::c_void,
    len: usize,
    slot: &'static Slot,
}

// The mapping is read-only and owned: it may be sent to and read from any thread.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `file` from `offset` (a multiple of the page size). `None`
    /// when mappings are not available here (a file system that cannot map, every slot
    /// in use, or the `SIGBUS` guard could not be installed): the caller reads instead,
    /// and a real problem with the file shows there.
    pub(crate) fn new(file: &File, offset: u64, len: usize) -> Option<Mapping> {
        if len == 0 || !guard() {
            return None;
        }
        let slot = LIVE.iter().find(|s| {
            s.start
                .compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        // SAFETY: a fresh read-only shared mapping at an address the kernel picks; no
        // Rust object is aliased.
        let mapped = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::SHARED,
                file,
                offset,
            )
        };
        let Ok(ptr) = mapped else {
            slot.start.store(0, Ordering::Release);
            return None;
        };
        slot.cut.store(false, Ordering::Relaxed);
        slot.end.store(ptr as usize + len, Ordering::Release);
        slot.start.store(ptr as usize, Ordering::Release);
        Some(Mapping { ptr, len, slot })
    }

    /// Sets up the page table entries of `range` (relative to the mapping's start) in one
    /// go, so that hashing it takes no page faults. Best effort: a kernel without
    /// `MADV_POPULATE_READ` (before Linux 5.14) is asked to read ahead instead.
    pub(crate) fn populate(&self, range: std::ops::Range<usize>) {
        let page = rustix::param::page_size();
        let start = range.start / page * page;
        let end = range.end.min(self.len);
        if start >= end {
            return;
        }
        // SAFETY: the range lies inside this mapping; advice does not change its contents.
        unsafe {
            let at = self.ptr.cast::<u8>().add(start).cast();
            if madvise(at, end - start, Advice::LinuxPopulateRead).is_err() {
                // Past the file's end (it shrank: hashing reports it) or an old kernel.
                let _ = madvise(at, end - start, Advice::WillNeed);
            }
        }
    }

    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `len` readable bytes from `ptr` while `self` lives; pages past a shrunk
        // file's end read as zeros (see the module's guard), and the run then fails.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }

    /// True if the file ended inside this mapping while it was read: what was hashed
    /// from here on is not the file's.
    pub(crate) fn was_cut(&self) -> bool {
        self.slot.cut.load(Ordering::Acquire)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // Out of the handler's sight first, then gone.
        self.slot.start.store(usize::MAX, Ordering::Release);
        self.slot.end.store(0, Ordering::Release);
        // SAFETY: the mapping made in `new`; `bytes` borrows end with `self`.
        let _ = unsafe { munmap(self.ptr, self.len) };
        self.slot.start.store(0, Ordering::Release);
    }
}

/// The error of a run whose file ended inside the mapping of the stretch from `offset`.
pub(crate) fn cut_short(source: &dyn crate::Source, offset: u64) -> crate::Error {
    crate::Error::Changed {
        source_name: source.describe(),
        detail: format!("ended inside the stretch from offset {offset} while it was hashed"),
    }
}

/// The `SIGBUS` action that was in place before ours, to pass other faults on to.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

/// Installs the `SIGBUS` handler once per process; false if it could not be.
fn guard() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        // SAFETY: plain sigaction calls with zero-initialised structures; the handler
        // only uses atomics, mmap and the previous action, all async-signal-safe.
        unsafe {
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous) != 0 {
                return false;
            }
            let _ = PREVIOUS.set(previous);
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) == 0
        }
    })
}

extern "C" fn on_sigbus(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let address = unsafe { (*info).si_addr() } as usize;
    for slot in &LIVE {
        let (start, end) = (
            slot.start.load(Ordering::Acquire),
            slot.end.load(Ordering::Acquire),
        );
        if start == 0 || start == usize::MAX || address < start || address >= end {
            continue;
        }
        let page = address & !(rustix::param::page_size() - 1);
        // SAFETY: replaces pages of our own live mapping with anonymous zero pages.
        let zeros = unsafe {
            libc::mmap(
                page as *mut libc::c_void,
                end - page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if zeros != libc::MAP_FAILED {
            slot.cut.store(true, Ordering::Release);
            return;
        }
    }
    pass_on(signal, info, context);
}

/// Hands a fault that is not ours to the action that was there before.
fn pass_on(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let Some(previous) = PREVIOUS.get() else {
        return;
    };
    match previous.sa_sigaction {
        libc::SIG_DFL | libc::SIG_IGN => {
            // SAFETY: restoring the earlier action; returning re-runs the faulting access,
            // which then takes the default action (the process ends with SIGBUS).
            unsafe { libc::sigaction(libc::SIGBUS, previous, std::ptr::null_mut()) };
        }
        handler if previous.sa_flags & libc::SA_SIGINFO != 0 => {
            // SAFETY: the earlier handler, called as it was registered.
            let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(handler) };
            handler(signal, info, context);
        }
        handler => {
            // SAFETY: as above, for a handler registered without SA_SIGINFO.
            let handler: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
            handler(signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn a_file_cut_short_while_mapped_reads_as_zeros_and_is_reported_not_fatal() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![0xa5; 1 << 20]).unwrap();
        let mapping = Mapping::new(&file, 0, 1 << 20).unwrap();
        mapping.populate(0..1 << 20);
        assert_eq!(mapping.bytes()[700_000], 0xa5);
        assert!(!mapping.was_cut());
        // Truncation takes the pages past the new end out of the mapping: touching one
        // raises SIGBUS, which must not end the process.
        file.set_len(4096).unwrap();
        assert_eq!(mapping.bytes()[100], 0xa5);
        assert_eq!(mapping.bytes()[700_000], 0);
        assert!(mapping.was_cut());
        drop(mapping);
        // The slot is free again, and a new mapping starts uncut.
        let again = Mapping::new(&file, 0, 4096).unwrap();
        assert!(!again.was_cut());
    }
}
