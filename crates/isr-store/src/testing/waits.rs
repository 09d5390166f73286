//! Waiting in tests: on a condition (a counter, a state), never for a duration; and many
//! callers let go at the same instant.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Barrier;

/// How long [`until`] waits before it fails the test. Every condition a test waits on is
/// reached in milliseconds: this bound turns a hang (a bug) into a failure, it is not a
/// speed requirement.
const HANG: Duration = Duration::from_secs(60);

/// Wait until `condition` holds, checking it every 2 ms.
///
/// # Panics
/// After 60 s of real time, naming `what`.
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + HANG;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Run `make(0)` to `make(count - 1)` as `count` tasks that all start at once (each waits
/// at one barrier until every one is spawned), and return their outputs in that order.
///
/// # Panics
/// If a task panicked.
pub async fn concurrently<F, Fut, T>(count: usize, make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(count));
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let task = make(i);
            tokio::spawn(async move {
                barrier.wait().await;
                task.await
            })
        })
        .collect();
    let mut outputs = Vec::with_capacity(count);
    for task in tasks {
        outputs.push(task.await.expect("a concurrent task panicked"));
    }
    outputs
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_task_waits_for_the_last_one_spawned() {
        let arrived = Arc::new(AtomicUsize::new(0));
        let seen = concurrently(50, |i| {
            let arrived = Arc::clone(&arrived);
            arrived.fetch_add(1, Ordering::SeqCst);
            // Past the barrier, every task has been made and spawned.
            async move { (i, arrived.load(Ordering::SeqCst)) }
        })
        .await;
        assert!(
            seen.iter()
                .enumerate()
                .all(|(i, &(j, n))| i == j && n == 50)
        );
    }

    #[tokio::test]
    async fn until_returns_once_the_condition_holds() {
        let mut checks = 0;
        until("three checks", || {
            checks += 1;
            checks == 3
        })
        .await;
        assert_eq!(checks, 3);
    }
}
