//! One way to retry a network call, for GitHub and upstream alike: bounded attempts, an
//! exponential wait unless the server says how long (`Retry-After`), and a cap on any single
//! wait so a run never sleeps out a long rate limit (the next scheduled run picks it up).

use std::future::Future;
use std::time::Duration;

/// What a failed attempt calls for (bors' `ShouldRetry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Retrying cannot help (a 404, a bad request, …).
    Stop,
    /// Try again after the usual backoff.
    Retry,
    /// Try again after this long (the server said so).
    RetryAfter(Duration),
}

/// How often and how long to retry.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first retry waits this long, each next one twice as long.
    pub base: Duration,
    /// A wait longer than this is not waited out: the error is returned instead.
    pub max_wait: Duration,
}

impl Backoff {
    /// Run `attempt` until it succeeds, `next` says stop, or the attempts are used up.
    pub async fn run<T, E, F, Fut>(
        &self,
        what: &str,
        mut attempt: F,
        next: impl Fn(&E) -> Next,
    ) -> Result<T, E>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut n = 0;
        loop {
            n += 1;
            let e = match attempt().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let wait = match next(&e) {
                Next::Stop => return Err(e),
                Next::Retry => self.base * 2u32.saturating_pow(n - 1),
                Next::RetryAfter(d) => d,
            };
            if n >= self.attempts || wait > self.max_wait {
                return Err(e);
            }
            tracing::warn!(what, attempt = n, error = %e, wait_ms = wait.as_millis() as u64, "failed, retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

/// Why an attempt under [`Backoff::run_timed`] ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfTime {
    /// This attempt took longer than its deadline (another may be quicker).
    Attempt,
    /// The total for all attempts is spent (no more attempts).
    Total,
}

impl Backoff {
    /// [`Backoff::run`] under deadlines: each attempt gets `per_attempt`, or what is left of
    /// `total`, so a stalled server fails within `total` whatever the retries. `out_of_time`
    /// makes the error for an attempt that ran out (`next` then says whether to retry it).
    pub async fn run_timed<T, E, F, Fut>(
        &self,
        what: &str,
        total: Duration,
        per_attempt: Duration,
        mut attempt: F,
        next: impl Fn(&E) -> Next,
        out_of_time: impl Fn(OutOfTime) -> E,
    ) -> Result<T, E>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let started = tokio::time::Instant::now();
        self.run(
            what,
            || {
                let left = total.saturating_sub(started.elapsed());
                let run = (!left.is_zero())
                    .then(|| tokio::time::timeout(left.min(per_attempt), attempt()));
                let out_of_time = &out_of_time;
                async move {
                    match run {
                        None => Err(out_of_time(OutOfTime::Total)),
                        Some(run) => run
                            .await
                            .unwrap_or_else(|_| Err(out_of_time(OutOfTime::Attempt))),
                    }
                }
            },
            next,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const FAST: Backoff = Backoff {
        attempts: 3,
        base: Duration::from_millis(1),
        max_wait: Duration::from_secs(1),
    };

    #[tokio::test]
    async fn retries_what_may_help_and_stops_at_the_limit() {
        let calls = Cell::new(0);
        let r: Result<(), String> = FAST
            .run(
                "x",
                || async {
                    calls.set(calls.get() + 1);
                    Err("500".to_string())
                },
                |_| Next::Retry,
            )
            .await;
        assert_eq!((r, calls.get()), (Err("500".into()), 3));

        let calls = Cell::new(0);
        let r: Result<u8, String> = FAST
            .run(
                "x",
                || async {
                    calls.set(calls.get() + 1);
                    if calls.get() < 2 {
                        Err("timeout".to_string())
                    } else {
                        Ok(7)
                    }
                },
                |_| Next::Retry,
            )
            .await;
        assert_eq!((r, calls.get()), (Ok(7), 2));
    }

    #[tokio::test]
    async fn does_not_retry_what_cannot_help_or_waits_too_long() {
        let calls = Cell::new(0);
        let r: Result<(), String> = FAST
            .run(
                "x",
                || async {
                    calls.set(calls.get() + 1);
                    Err("404".to_string())
                },
                |_| Next::Stop,
            )
            .await;
        assert_eq!((r.is_err(), calls.get()), (true, 1));
        let calls = Cell::new(0);
        let r: Result<(), String> = FAST
            .run(
                "x",
                || async {
                    calls.set(calls.get() + 1);
                    Err("rate limited".to_string())
                },
                |_| Next::RetryAfter(Duration::from_secs(3600)),
            )
            .await;
        assert_eq!(
            (r.is_err(), calls.get()),
            (true, 1),
            "an hour is not waited out"
        );
    }
}
