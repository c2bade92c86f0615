//! The one way tests run the built binary: from an empty environment plus what the test
//! passes, so nothing from the developer's shell (`GITHUB_TOKEN`, `GITHUB_REPOSITORY`,
//! `AKE_BOT_*`, `RUST_LOG`, git config) reaches a test — a token in the shell can never make a
//! test talk to the real GitHub.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Run;

/// Variables passed through from the test process: how to find programs (git, kind), and the
/// helm under test that `scripts/with-helm` provides. Nothing else.
const PASSED_THROUGH: &[&str] = &["PATH", "HELM", "KUBECTL"];

/// A command line of the binary under test.
#[derive(Debug, Clone)]
pub struct Bot {
    bin: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    /// Passed-through variables this run goes without.
    removed: Vec<OsString>,
    stdin: Option<Vec<u8>>,
}

impl Bot {
    /// `bin` is the binary under test (`env!("CARGO_BIN_EXE_ake-bot")`).
    pub fn new(bin: impl Into<PathBuf>) -> Bot {
        Bot {
            bin: bin.into(),
            args: Vec::new(),
            env: Vec::new(),
            removed: Vec::new(),
            stdin: None,
        }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Bot {
        self.args.push(a.as_ref().to_os_string());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Bot {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// `--repo <path>`.
    pub fn repo(self, path: &Path) -> Bot {
        self.arg("--repo").arg(path)
    }

    /// Set a variable for this run (the only way one reaches the binary).
    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Bot {
        self.env
            .push((k.as_ref().to_os_string(), v.as_ref().to_os_string()));
        self
    }

    /// Run without a passed-through variable (`HELM`, to test a missing helm).
    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Bot {
        self.removed.push(k.as_ref().to_os_string());
        self
    }

    /// The Kubernetes schema sets `scripts/with-schemas` installed, as `AKE_BOT_SCHEMAS`.
    pub fn with_schemas(self) -> Bot {
        let dir = crate::schemas_dir();
        self.env("AKE_BOT_SCHEMAS", dir)
    }

    /// GitHub as the fake serves it: API URL, repository and token.
    pub fn github(self, api_url: &str, repository: &str, token: &str) -> Bot {
        self.env("GITHUB_API_URL", api_url)
            .env("GITHUB_REPOSITORY", repository)
            .env("GITHUB_TOKEN", token)
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Bot {
        self.stdin = Some(bytes.into());
        self
    }

    /// The command, with its environment cleared and rebuilt; `home` is its `HOME`.
    pub fn command(&self, home: &Path) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env_clear();
        for k in PASSED_THROUGH {
            if self.removed.iter().any(|r| r == k) {
                continue;
            }
            if let Some(v) = std::env::var_os(k) {
                cmd.env(k, v);
            }
        }
        cmd.env("HOME", home)
            .env("XDG_CACHE_HOME", shared_cache())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("TZ", "UTC")
            .env("LC_ALL", "C");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.args(&self.args);
        cmd
    }

    /// Run to the end; what it printed and how it exited.
    pub fn run(&self) -> Run {
        // A home of its own for each run: no ~/.gitconfig, no cache of the developer's.
        let home = tempfile::Builder::new()
            .prefix("ake-bot-home-")
            .tempdir()
            .expect("temp dir");
        let mut cmd = self.command(home.path());
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        if let Some(bytes) = &self.stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin is piped")
                .write_all(bytes)
                .expect("write stdin");
        }
        child.wait_with_output().expect("the binary runs").into()
    }
}

/// Chart archives are verified by digest, so tests share one cache (warm after the first).
fn shared_cache() -> PathBuf {
    let dir = std::env::temp_dir().join("ake-bot-test-cache");
    std::fs::create_dir_all(&dir).expect("cache dir");
    dir
}
