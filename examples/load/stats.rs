//! What the load counted, and its report.

use std::collections::BTreeMap;

/// Counts of one client, merged into the total at the end.
#[derive(Default)]
pub struct Stats {
    pub requests: u64,
    pub successes: u64,
    /// A digest that differs from the one computed here, a log-in that succeeded with a
    /// wrong password, an image still listed after its DeleteImage succeeded.
    pub wrong_values: u64,
    /// Answers by kind of request ("hash", "short deadline", "bad log-in", "copy+delete")
    /// and ZStack code (or "OK").
    pub outcomes: BTreeMap<String, u64>,
    pub bytes: u64,
    /// Latency of the full-deadline CalculateImageHash calls, µs.
    pub latencies_us: Vec<u64>,
}

impl Stats {
    pub fn merge(&mut self, other: Stats) {
        self.requests += other.requests;
        self.successes += other.successes;
        self.wrong_values += other.wrong_values;
        for (key, n) in other.outcomes {
            *self.outcomes.entry(key).or_default() += n;
        }
        self.bytes += other.bytes;
        self.latencies_us.extend(other.latencies_us);
    }

    /// Counts an answer of kind `kind`: "OK" or the ZStack code of the status.
    pub fn outcome(&mut self, kind: &str, result: Result<(), &tonic::Status>) {
        let code = match result {
            Ok(()) => "OK".to_string(),
            Err(status) => format!("{} {:?}", zstack_code(status), status.code()),
        };
        *self.outcomes.entry(format!("{kind}: {code}")).or_default() += 1;
    }

    pub fn print(&mut self, elapsed: f64) {
        self.latencies_us.sort_unstable();
        let latencies = &self.latencies_us;
        let percentile = |p: f64| {
            let n = latencies.len();
            if n == 0 {
                return 0.0;
            }
            latencies[((n - 1) as f64 * p).round() as usize] as f64 / 1000.0
        };
        println!("elapsed:      {elapsed:.1} s");
        println!("requests:     {}", self.requests);
        println!("successes:    {}", self.successes);
        println!("wrong values: {}", self.wrong_values);
        for (key, n) in &self.outcomes {
            println!("answers:      {n} x {key}");
        }
        println!(
            "throughput:   {:.1} requests/s, {:.1} successes/s, {:.1} MB/s hashed",
            self.requests as f64 / elapsed,
            self.successes as f64 / elapsed,
            self.bytes as f64 / 1e6 / elapsed
        );
        println!(
            "hash latency: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(0.5),
            percentile(0.9),
            percentile(0.99),
            percentile(1.0)
        );
    }
}

/// The ZStack code at the head of a status message ("SYS.1001: ...").
pub fn zstack_code(status: &tonic::Status) -> &str {
    status
        .message()
        .split_once(':')
        .map_or("(no ZStack code)", |(code, _)| code)
}
