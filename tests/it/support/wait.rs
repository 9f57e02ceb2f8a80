//! Bounded waits: every wait in a test has a hard timeout and says what it waited for.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use kube::Resource;
use kube::api::Api;
use kube::runtime::wait::Condition;
use serde::de::DeserializeOwned;

/// The default upper bound of a wait on the apiserver.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits until the named object satisfies `condition`, failing the test after `timeout`.
/// Returns the object as it was when the condition held.
pub async fn await_condition<K>(
    api: Api<K>,
    name: &str,
    condition: impl Condition<K>,
    timeout: Duration,
) -> K
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + 'static,
{
    let waited = tokio::time::timeout(
        timeout,
        kube::runtime::wait::await_condition(api, name, condition),
    )
    .await;
    match waited {
        Ok(Ok(Some(object))) => object,
        Ok(Ok(None)) => panic!("{name} was deleted while waiting for a condition"),
        Ok(Err(e)) => panic!("watching {name} failed: {e}"),
        Err(_) => panic!("{name} did not reach the condition within {timeout:?}"),
    }
}

/// Polls `probe` every 100 ms until it returns `Some`, failing the test after `timeout` with
/// `what` in the message.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
