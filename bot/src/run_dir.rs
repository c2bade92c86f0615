//! One temporary directory per run. Every temporary file of the run — ours (values files, an
//! e2e kubeconfig) and those of the programs we start (helm, git), which inherit `TMPDIR` —
//! lives in it, and it is removed when the run ends, interrupted or not. Nothing is left in
//! the system temp directory.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The system temp directory as it was before the run pointed `TMPDIR` at its own.
static SYSTEM_TEMP: OnceLock<PathBuf> = OnceLock::new();

/// The run's temporary directory; removed on drop.
pub struct RunDir {
    dir: tempfile::TempDir,
}

impl RunDir {
    /// Create the run's directory and make it the process's `TMPDIR`. Call once, first thing,
    /// before any thread starts (setting the environment is not thread-safe).
    pub fn create() -> std::io::Result<RunDir> {
        let system = std::env::temp_dir();
        let _ = SYSTEM_TEMP.set(system.clone());
        let dir = tempfile::Builder::new()
            .prefix(&format!("ake-bot-run-{}-", std::process::id()))
            .tempdir_in(&system)?;
        // Children (helm, git) inherit it; tempfile and std read it.
        std::env::set_var("TMPDIR", dir.path());
        Ok(RunDir { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The system temp directory (for things that outlive the run, such as a fallback cache).
pub fn system_temp() -> PathBuf {
    SYSTEM_TEMP
        .get()
        .cloned()
        .unwrap_or_else(std::env::temp_dir)
}
