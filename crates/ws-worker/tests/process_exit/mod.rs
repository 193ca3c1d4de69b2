//! Waiting for a child process to exit, with a deadline: the exit itself is awaited (a blocking
//! `wait` on the blocking pool), never polled; past the deadline the child is killed and the test
//! fails with `what` and `context()` (e.g. the worker's log so far).

use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

/// The child's exit status within `within`, or a failed test (the child SIGKILLed).
pub async fn exits_within(
    mut child: Child,
    within: Duration,
    what: &str,
    context: impl FnOnce() -> String,
) -> ExitStatus {
    let pid = child.id();
    let waiter = tokio::task::spawn_blocking(move || child.wait().expect("wait"));
    match tokio::time::timeout(within, waiter).await {
        Ok(status) => status.expect("waiter"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{what}: no exit within {within:?}\n{}", context());
        }
    }
}
