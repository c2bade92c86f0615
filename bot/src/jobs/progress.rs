//! What a run has finished so far, so an interrupted run can say it ("wrote cert-manager's
//! render"). Jobs record each step that changed something once it is complete.

use std::sync::Mutex;

static DONE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Record a finished step.
pub fn finished(what: impl Into<String>) {
    if let Ok(mut d) = DONE.lock() {
        d.push(what.into());
    }
}

/// Everything recorded so far.
pub fn take() -> Vec<String> {
    DONE.lock()
        .map(|mut d| std::mem::take(&mut *d))
        .unwrap_or_default()
}
