//! Progress on stderr: a bar on a terminal, or (with `--progress` elsewhere) a plain line
//! every few seconds, polled from the job's shared counter.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use imghash_engine::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// Files smaller than this finish before a bar is worth drawing.
const MIN_BAR_BYTES: u64 = 64 << 20;
const PLAIN_INTERVAL: Duration = Duration::from_secs(2);

/// Shows progress until dropped.
pub struct ProgressDisplay {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressDisplay {
    pub fn start(name: &str, progress: &Progress, forced: bool) -> Option<ProgressDisplay> {
        let terminal = std::io::stderr().is_terminal();
        if !terminal && !forced {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (name, progress, stop_flag) = (name.to_string(), progress.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            if terminal {
                draw_bar(&name, &progress, &stop_flag, forced);
            } else {
                print_lines(&name, &progress, &stop_flag);
            }
        });
        Some(ProgressDisplay {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ProgressDisplay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn draw_bar(name: &str, progress: &Progress, stop: &AtomicBool, forced: bool) {
    let mut bar: Option<ProgressBar> = None;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let total = progress.total().unwrap_or(0);
        if bar.is_none() && (forced || total >= MIN_BAR_BYTES) {
            let new = ProgressBar::new(total).with_message(name.to_string());
            new.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar = Some(new);
        }
        if let Some(bar) = &bar {
            bar.set_position(progress.done());
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

fn print_lines(name: &str, progress: &Progress, stop: &AtomicBool) {
    let started = Instant::now();
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if last.elapsed() < PLAIN_INTERVAL {
            continue;
        }
        last = Instant::now();
        let done = progress.done();
        let rate = done as f64 / started.elapsed().as_secs_f64() / 1e6;
        match progress.total() {
            Some(total) if total > 0 => eprintln!(
                "{name}: {:.1}% of {total} bytes, {rate:.0} MB/s",
                done as f64 * 100.0 / total as f64
            ),
            _ => eprintln!("{name}: {done} bytes, {rate:.0} MB/s"),
        }
    }
}
