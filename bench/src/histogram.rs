//! A lock-free latency histogram in microseconds, shared by thousands of client tasks.
//!
//! Log-linear buckets: exact below 256 µs, then 128 buckets per power of two, so any
//! reported percentile is within 0.8% of the true value. Recording is two relaxed atomic adds
//! (no lock, no allocation), which matters because the bench records every delivery while
//! sharing the machine's two cores with the server it measures. Percentiles report a
//! bucket's upper bound, so they never flatter the server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

/// log2 of the number of sub-buckets per power of two.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Values up to 2^40 µs (about 12 days) have their own bucket; larger ones share the last.
const MAX_EXPONENT: u64 = 40 - SUB_BITS as u64;
const N_BUCKETS: usize = (2 * SUB + MAX_EXPONENT * SUB) as usize;

/// Counts of latencies, safe to record into from any task.
#[derive(Debug)]
pub(crate) struct Histogram {
    counts: Box<[AtomicU64]>,
    total: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..N_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            total: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }
}

fn bucket_of(us: u64) -> usize {
    if us < 2 * SUB {
        return us as usize;
    }
    let exponent = u64::from(63 - us.leading_zeros() - SUB_BITS);
    let index = 2 * SUB + (exponent - 1) * SUB + ((us >> exponent) - SUB);
    (index as usize).min(N_BUCKETS - 1)
}

/// The largest value that falls into bucket `index`.
fn upper_bound_of(index: usize) -> u64 {
    let index = index as u64;
    if index < 2 * SUB {
        return index;
    }
    let exponent = (index - 2 * SUB) / SUB + 1;
    let mantissa = (index - 2 * SUB) % SUB + SUB;
    ((mantissa + 1) << exponent) - 1
}

impl Histogram {
    /// Records one latency.
    pub(crate) fn record(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// How many latencies were recorded.
    pub(crate) fn count(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// The `quantile` (0..=1) in microseconds; 0 when empty.
    pub(crate) fn quantile_us(&self, quantile: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((quantile * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count.load(Ordering::Relaxed);
            if seen >= rank {
                return upper_bound_of(index).min(self.max_us.load(Ordering::Relaxed));
            }
        }
        self.max_us.load(Ordering::Relaxed)
    }

    /// The non-empty buckets as `[[upper bound in µs, count], …]`, so that histograms of
    /// several processes can be merged exactly (`bench/crowd.sh`).
    pub(crate) fn buckets(&self) -> Value {
        let buckets: Vec<Value> = self
            .counts
            .iter()
            .enumerate()
            .filter_map(|(index, count)| {
                let count = count.load(Ordering::Relaxed);
                (count > 0).then(|| json!([upper_bound_of(index), count]))
            })
            .collect();
        json!(buckets)
    }

    /// `{count, mean_ms, p50_ms, p90_ms, p99_ms, max_ms}` for the results line.
    pub(crate) fn summary(&self) -> Value {
        let ms = |us: u64| us as f64 / 1000.0;
        let count = self.count();
        let mean_us = self.sum_us.load(Ordering::Relaxed) / count.max(1);
        json!({
            "count": count,
            "mean_ms": ms(mean_us),
            "p50_ms": ms(self.quantile_us(0.50)),
            "p90_ms": ms(self.quantile_us(0.90)),
            "p99_ms": ms(self.quantile_us(0.99)),
            "max_ms": ms(self.max_us.load(Ordering::Relaxed)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut previous = 0;
        for us in (0..5_000_000u64).step_by(97) {
            let index = bucket_of(us);
            assert!(index >= previous, "{us}");
            previous = index;
            let upper = upper_bound_of(index);
            assert!(
                upper >= us && upper as f64 <= us as f64 * 1.008 + 1.0,
                "{us} -> {upper}"
            );
        }
    }

    #[test]
    fn quantiles_of_a_uniform_run() {
        let histogram = Histogram::default();
        for ms in 1..=1000 {
            histogram.record(Duration::from_millis(ms));
        }
        let p99 = histogram.quantile_us(0.99);
        assert!((990_000..=998_000).contains(&p99), "{p99}");
        assert_eq!(histogram.quantile_us(1.0), 1_000_000);
        assert_eq!(histogram.count(), 1000);
    }
}
