//! The retry policy: which outcomes are worth another attempt, how long to wait between
//! attempts (exponential backoff with full jitter), and the loop that runs attempts until one
//! succeeds, one fails for good, or the time budget is spent.
//!
//! The loop is generic over the attempt so it can be tested with paused time and a scripted
//! receiver; the HTTP request itself lives in `delivery`.

use std::future::Future;

use tokio::time::{sleep_until, Duration, Instant};

/// First backoff step.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between two attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// The receiver answered 2xx.
    Delivered {
        /// The HTTP status.
        status: u16,
    },
    /// A network error, a timeout, 408, 429 or 5xx: worth another try.
    Retryable {
        /// The HTTP status, when the receiver answered.
        status: Option<u16>,
        /// What went wrong, for the log.
        error: String,
        /// The receiver's `Retry-After`, when it sent one in seconds.
        retry_after: Option<Duration>,
    },
    /// Any other answer (4xx, a redirect): trying again would not help.
    Permanent {
        /// The HTTP status.
        status: Option<u16>,
        /// What went wrong, for the log.
        error: String,
    },
}

impl Attempt {
    /// Classifies an HTTP answer.
    pub(crate) fn from_status(status: u16, retry_after: Option<Duration>) -> Attempt {
        match status {
            200..=299 => Attempt::Delivered { status },
            408 | 429 | 500..=599 => Attempt::Retryable {
                status: Some(status),
                error: format!("receiver answered {status}"),
                retry_after,
            },
            300..=399 => Attempt::Permanent {
                status: Some(status),
                error: format!("receiver answered {status}: redirects are not followed, configure the final URL"),
            },
            _ => Attempt::Permanent {
                status: Some(status),
                error: format!("receiver answered {status}"),
            },
        }
    }

    /// The HTTP status, when there was an answer.
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            Attempt::Delivered { status } => Some(*status),
            Attempt::Retryable { status, .. } | Attempt::Permanent { status, .. } => *status,
        }
    }

    /// The error text, when the attempt failed.
    pub(crate) fn error(&self) -> Option<&str> {
        match self {
            Attempt::Delivered { .. } => None,
            Attempt::Retryable { error, .. } | Attempt::Permanent { error, .. } => Some(error),
        }
    }
}

/// How long to wait after the `n_failures`-th failure: a uniformly random time between zero
/// and `FIRST_BACKOFF * 2^(n_failures - 1)`, capped at `MAX_BACKOFF` ("full jitter", so
/// many senders that failed together do not retry together). `jitter` is in `[0, 1)`.
pub(crate) fn backoff(n_failures: u32, jitter: f64) -> Duration {
    let exponent = n_failures.saturating_sub(1).min(16);
    let ceiling = FIRST_BACKOFF.saturating_mul(1 << exponent).min(MAX_BACKOFF);
    ceiling.mul_f64(jitter.clamp(0.0, 1.0))
}

/// Runs `attempt` until it delivers, fails permanently, or `deadline` passes; the last
/// attempt happens at the deadline at the latest. `progress` sees every result with the
/// attempt number and whether it is final. Returns the number of attempts and the last result.
pub(crate) async fn run<A, F>(
    deadline: Instant,
    mut attempt: A,
    mut jitter: impl FnMut() -> f64,
    mut progress: impl FnMut(u32, &Attempt, bool),
) -> (u32, Attempt)
where
    A: FnMut() -> F,
    F: Future<Output = Attempt>,
{
    let mut n_attempts = 0;
    loop {
        let result = attempt().await;
        n_attempts += 1;
        let now = Instant::now();
        let retry_at = match &result {
            Attempt::Retryable { retry_after, .. } if now < deadline => {
                let wait = backoff(n_attempts, jitter())
                    .max(retry_after.unwrap_or_default())
                    .min(MAX_BACKOFF);
                Some((now + wait).min(deadline))
            }
            _ => None,
        };
        progress(n_attempts, &result, retry_at.is_none());
        match retry_at {
            Some(at) => sleep_until(at).await,
            None => return (n_attempts, result),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn failing(status: u16) -> Attempt {
        Attempt::from_status(status, None)
    }

    /// Runs with a scripted receiver that fails `n_failures` times with `status`, then
    /// answers 200; returns (attempts, last status, times of the attempts since start).
    async fn script(
        n_failures: u32,
        status: u16,
        budget: Duration,
    ) -> (u32, Option<u16>, Vec<Duration>) {
        let start = Instant::now();
        let calls = RefCell::new(Vec::new());
        let (n, last) = run(
            start + budget,
            || {
                calls.borrow_mut().push(start.elapsed());
                let n_calls = calls.borrow().len() as u32;
                async move {
                    if n_calls <= n_failures {
                        failing(status)
                    } else {
                        failing(200)
                    }
                }
            },
            || 0.999,
            |_, _, _| {},
        )
        .await;
        (n, last.status(), calls.into_inner())
    }

    #[test]
    fn classification() {
        assert!(matches!(failing(204), Attempt::Delivered { status: 204 }));
        for status in [408, 429, 500, 502, 503, 599] {
            assert!(
                matches!(failing(status), Attempt::Retryable { .. }),
                "{status}"
            );
        }
        for status in [301, 400, 401, 403, 404, 409, 410, 422] {
            assert!(
                matches!(failing(status), Attempt::Permanent { .. }),
                "{status}"
            );
        }
    }

    #[test]
    fn backoff_doubles_to_the_cap_with_full_jitter() {
        let secs = |n| backoff(n, 0.999_999).as_secs_f64().round() as u64;
        let steps: Vec<u64> = (1..=8).map(secs).collect();
        assert_eq!(steps, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff(3, 0.0), Duration::ZERO);
        assert_eq!(backoff(3, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(u32::MAX, 0.5), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_delivered() {
        let (n, status, times) = script(3, 503, Duration::from_secs(300)).await;
        assert_eq!((n, status), (4, Some(200)));
        let secs: Vec<u64> = times
            .iter()
            .map(|t| t.as_secs_f64().round() as u64)
            .collect();
        // Waits of ~1, ~2 and ~4 seconds (jitter pinned near its top).
        assert_eq!(secs, [0, 1, 3, 7]);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_are_not_retried() {
        let (n, status, _) = script(5, 404, Duration::from_secs(300)).await;
        assert_eq!((n, status), (1, Some(404)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_ends_retrying_with_a_last_attempt_at_the_deadline() {
        let (n, status, times) = script(u32::MAX, 500, Duration::from_secs(10)).await;
        assert_eq!(status, Some(500));
        // 0, ~1, ~3, ~7, then the deadline (10) instead of ~15.
        assert_eq!(n, 5);
        assert_eq!(times.last().copied(), Some(Duration::from_secs(10)));
        let (n, _, _) = script(u32::MAX, 500, Duration::ZERO).await;
        assert_eq!(n, 1, "a zero budget still makes one attempt");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_up_to_the_cap() {
        let start = Instant::now();
        let n_calls = RefCell::new(0);
        let (n, _) = run(
            start + Duration::from_secs(300),
            || {
                *n_calls.borrow_mut() += 1;
                let first = *n_calls.borrow() == 1;
                async move {
                    if first {
                        Attempt::from_status(429, Some(Duration::from_secs(20)))
                    } else {
                        failing(200)
                    }
                }
            },
            || 0.0,
            |_, _, _| {},
        )
        .await;
        assert_eq!(n, 2);
        assert_eq!(start.elapsed(), Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn progress_sees_every_attempt_and_the_final_one() {
        let seen = RefCell::new(Vec::new());
        let n_calls = RefCell::new(0);
        run(
            Instant::now() + Duration::from_secs(300),
            || {
                *n_calls.borrow_mut() += 1;
                let n = *n_calls.borrow();
                async move { failing(if n < 3 { 500 } else { 200 }) }
            },
            || 0.5,
            |n, attempt, last| seen.borrow_mut().push((n, attempt.status(), last)),
        )
        .await;
        assert_eq!(
            seen.into_inner(),
            [
                (1, Some(500), false),
                (2, Some(500), false),
                (3, Some(200), true)
            ]
        );
    }
}
