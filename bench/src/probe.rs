//! What the server process costs, read from /proc: resident memory (`VmRSS` in
//! `/proc/PID/status`, and its anonymous part `RssAnon`: heap and stacks without the
//! binary's code pages, which a first run pages in once), CPU time (`utime + stime` in `/proc/PID/stat`, all threads, including
//! ones that have exited) and open file descriptors (entries of `/proc/PID/fd`).
//!
//! The bench only reads these files; it never signals or stops the server. Without a
//! `--server-pid` every figure is reported as `null`.

use std::time::Instant;

use serde_json::{json, Value};

/// Kernel clock ticks per second in /proc/PID/stat. USER_HZ is 100 on every architecture
/// Linux ships for, independent of the kernel's internal HZ.
const TICKS_PER_SECOND: f64 = 100.0;

/// Reads a process's resource use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe {
    pid: Option<u32>,
}

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    /// When it was taken.
    pub(crate) at: Instant,
    /// Resident set size in KiB.
    pub(crate) rss_kb: u64,
    /// Its anonymous part in KiB (`None` on kernels before 4.5).
    pub(crate) anon_kb: Option<u64>,
    /// User + system CPU time in clock ticks.
    pub(crate) cpu_ticks: u64,
    /// Open file descriptors.
    pub(crate) fds: u64,
}

impl Probe {
    /// A probe of the server (`None`: no figures).
    pub(crate) fn new(pid: Option<u32>) -> Probe {
        Probe { pid }
    }

    /// A probe of the bench process itself, to report the generator's own memory.
    pub(crate) fn this_process() -> Probe {
        Probe {
            pid: Some(std::process::id()),
        }
    }

    /// Reads the process now; `None` without a pid or when the process is gone.
    pub(crate) fn sample(&self) -> Option<Sample> {
        let pid = self.pid?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        };
        let rss_kb = field("VmRSS:")?;
        let anon_kb = field("RssAnon:");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let cpu_ticks = cpu_ticks_of(&stat)?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
        Some(Sample {
            at: Instant::now(),
            rss_kb,
            anon_kb,
            cpu_ticks,
            fds,
        })
    }
}

/// utime + stime from the text of /proc/PID/stat. The command name (field 2) may contain
/// spaces and parentheses, so fields are counted from the last `)`.
fn cpu_ticks_of(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the file; field 3 (state) is index 0 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

impl Sample {
    /// CPU seconds used between `earlier` and `self`.
    pub(crate) fn cpu_seconds_since(&self, earlier: &Sample) -> f64 {
        self.cpu_ticks.saturating_sub(earlier.cpu_ticks) as f64 / TICKS_PER_SECOND
    }
}

/// `{rss_kb, fds}` of a sample, or nulls.
pub(crate) fn snapshot(sample: Option<&Sample>) -> Value {
    match sample {
        Some(sample) => json!({ "rss_kb": sample.rss_kb, "fds": sample.fds }),
        None => json!({ "rss_kb": null, "fds": null }),
    }
}

/// CPU seconds between two optional samples.
pub(crate) fn cpu_seconds(before: Option<&Sample>, after: Option<&Sample>) -> Option<f64> {
    Some(after?.cpu_seconds_since(before?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks_past_odd_process_names() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(cpu_ticks_of(stat), Some(300));
    }

    #[test]
    fn samples_this_process() {
        let sample = Probe::this_process().sample().unwrap();
        assert!(sample.rss_kb > 0 && sample.fds > 0);
        assert!(sample
            .anon_kb
            .is_some_and(|anon| anon > 0 && anon <= sample.rss_kb));
        assert!(Probe::new(None).sample().is_none());
    }
}
