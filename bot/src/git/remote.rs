//! Talking to the remote through the `git` CLI (fetch, push, delete), as cargo and bors do:
//! git's transports, proxies and credentials handling are not worth re-implementing. The token
//! reaches git only through the environment of the one child process (never argv, which other
//! users can read, and never a config file); credential helpers are switched off so nothing
//! stores it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

const TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// The remote ref was not where we expected (someone else pushed): re-read and retry.
    #[error("{what} was rejected: the remote branch moved ({detail})")]
    Stale { what: String, detail: String },
    #[error("{what} failed: {detail}")]
    Failed { what: String, detail: String },
}

/// The remote of a repository (`origin`), with optional HTTPS token auth.
pub struct Remote {
    repo: PathBuf,
    name: String,
    token: Option<SecretString>,
}

impl Remote {
    pub fn new(repo: &Path, name: &str, token: Option<SecretString>) -> Remote {
        Remote {
            repo: repo.to_path_buf(),
            name: name.to_string(),
            token,
        }
    }

    /// The remote's name (`origin`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Fetch `branches` into `refs/remotes/<remote>/<branch>`.
    pub async fn fetch(&self, branches: &[&str]) -> Result<(), RemoteError> {
        let mut args = vec![
            "fetch".to_string(),
            "--quiet".into(),
            "--no-tags".into(),
            self.name.clone(),
        ];
        for b in branches {
            args.push(format!("+refs/heads/{b}:refs/remotes/{}/{b}", self.name));
        }
        self.run(&format!("fetching {}", branches.join(", ")), &args)
            .await
            .map(|_| ())
    }

    /// Fetch the remote's `branch` into the local ref `local` (any name: a tenant's branch into
    /// a scratch repository) and return the commit it points at.
    pub async fn fetch_branch_as(&self, branch: &str, local: &str) -> Result<String, RemoteError> {
        let args = vec![
            "fetch".to_string(),
            "--quiet".into(),
            "--no-tags".into(),
            self.name.clone(),
            format!("+refs/heads/{branch}:{local}"),
        ];
        self.run(&format!("fetching {branch}"), &args).await?;
        let sha = self
            .run(
                &format!("reading {local}"),
                &[
                    "rev-parse".into(),
                    "--verify".into(),
                    format!("{local}^{{commit}}"),
                ],
            )
            .await?;
        Ok(sha.trim().to_string())
    }

    /// The branch the remote's `HEAD` names (its default branch), if it says.
    pub async fn default_branch(&self) -> Result<Option<String>, RemoteError> {
        let out = self
            .run(
                "reading the default branch",
                &[
                    "ls-remote".into(),
                    "--symref".into(),
                    self.name.clone(),
                    "HEAD".into(),
                ],
            )
            .await?;
        Ok(out.lines().find_map(|l| {
            let rest = l.strip_prefix("ref: refs/heads/")?;
            Some(rest.split('\t').next()?.to_string())
        }))
    }

    /// Mirror the remote's tags locally (the remote is the truth about tags).
    pub async fn fetch_tags(&self) -> Result<(), RemoteError> {
        let args = [
            "fetch",
            "--quiet",
            self.name.as_str(),
            "+refs/tags/*:refs/tags/*",
        ]
        .map(str::to_string);
        self.run("fetching tags", &args).await.map(|_| ())
    }

    /// Push tag `name`, never forcing: if the remote has it on another object, git rejects the
    /// push and the error says so.
    pub async fn push_tag(&self, name: &str) -> Result<(), RemoteError> {
        let args = vec![
            "push".to_string(),
            "--quiet".into(),
            "--porcelain".into(),
            self.name.clone(),
            format!("refs/tags/{name}:refs/tags/{name}"),
        ];
        self.run(&format!("pushing tag {name}"), &args)
            .await
            .map(|_| ())
    }

    /// The remote's branches under `prefix` (e.g. `ake-bot/`), as (branch, sha).
    pub async fn branches(&self, prefix: &str) -> Result<Vec<(String, String)>, RemoteError> {
        let out = self
            .run(
                "listing remote branches",
                &[
                    "ls-remote".into(),
                    "--heads".into(),
                    self.name.clone(),
                    format!("refs/heads/{prefix}*"),
                ],
            )
            .await?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let (sha, r) = l.split_once('\t')?;
                Some((r.strip_prefix("refs/heads/")?.to_string(), sha.to_string()))
            })
            .collect())
    }

    /// Point `branch` at `commit`, but only if it is still at `expected` (`None`: must not
    /// exist yet). A lease, so a concurrent run's push is never overwritten blindly.
    pub async fn push(
        &self,
        commit: &str,
        branch: &str,
        expected: Option<&str>,
    ) -> Result<(), RemoteError> {
        let lease = format!(
            "--force-with-lease=refs/heads/{branch}:{}",
            expected.unwrap_or("")
        );
        let args = vec![
            "push".to_string(),
            "--quiet".into(),
            "--porcelain".into(),
            lease,
            self.name.clone(),
            format!("{commit}:refs/heads/{branch}"),
        ];
        self.run(&format!("pushing {branch}"), &args)
            .await
            .map(|_| ())
    }

    /// Delete `branch` if it is still at `expected`.
    pub async fn delete(&self, branch: &str, expected: &str) -> Result<(), RemoteError> {
        let args = vec![
            "push".to_string(),
            "--quiet".into(),
            "--porcelain".into(),
            format!("--force-with-lease=refs/heads/{branch}:{expected}"),
            self.name.clone(),
            format!(":refs/heads/{branch}"),
        ];
        self.run(&format!("deleting {branch}"), &args)
            .await
            .map(|_| ())
    }

    async fn run(&self, what: &str, args: &[String]) -> Result<String, RemoteError> {
        let mut cmd = tokio::process::Command::new("git");
        cmd.kill_on_drop(true)
            .current_dir(&self.repo)
            .args(["-c", "credential.helper=", "-c", "core.askPass="])
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(std::process::Stdio::null());
        if let Some(token) = &self.token {
            // GitHub accepts `x-access-token:<token>` basic auth for installation and PAT
            // tokens alike. Passed as config through the environment, seen only by this child.
            let basic = base64(format!("x-access-token:{}", token.expose_secret()).as_bytes());
            cmd.env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                .env(
                    "GIT_CONFIG_VALUE_0",
                    format!("Authorization: Basic {basic}"),
                );
        }
        let out = tokio::time::timeout(TIMEOUT, cmd.output())
            .await
            .map_err(|_| RemoteError::Failed {
                what: what.to_string(),
                detail: format!("git did not finish within {}s", TIMEOUT.as_secs()),
            })?
            .map_err(|e| RemoteError::Failed {
                what: what.to_string(),
                detail: format!("cannot run git: {e}"),
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(stdout);
        }
        let detail = self.redact(&format!(
            "{}{}",
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
        if remote_moved(&detail) {
            return Err(RemoteError::Stale {
                what: what.to_string(),
                detail,
            });
        }
        Err(RemoteError::Failed {
            what: what.to_string(),
            detail,
        })
    }

    /// Belt and braces: git never prints the header, but if any output ever carried the token
    /// (or its base64 form), it must not reach logs or errors.
    fn redact(&self, text: &str) -> String {
        match &self.token {
            Some(t) => {
                let secret = t.expose_secret();
                let basic = base64(format!("x-access-token:{secret}").as_bytes());
                text.replace(secret, "<token>").replace(&basic, "<token>")
            }
            None => text.to_string(),
        }
    }
}

/// Whether git's report of a failed push means the remote branch moved: a lease that no longer
/// holds, or — when two pushes race at the remote itself — the remote refusing to move a ref
/// that changed under it. Either way: re-read and retry, not a failure of the remote.
fn remote_moved(detail: &str) -> bool {
    ["stale info", "[rejected]", "fetch first", "cannot lock ref"]
        .iter()
        .any(|m| detail.contains(m))
        || (detail.contains("[remote rejected]")
            && (detail.contains("reference already exists")
                || detail.contains("incorrect old value")))
}

/// Standard base64 (RFC 4648), for one basic-auth header; not worth a dependency.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_push_that_lost_a_race_is_a_moved_branch() {
        // git's own words, from a lease check and from two pushes racing at a bare remote.
        assert!(super::remote_moved(
            "! refs/heads/x [rejected] (stale info)"
        ));
        assert!(super::remote_moved(
            "!\tabc:refs/heads/ake-bot/x\t[remote rejected] (failed to update ref)\nremote: error: cannot lock ref 'refs/heads/ake-bot/x': reference already exists"
        ));
        assert!(super::remote_moved(
            "! [remote rejected] x -> x (incorrect old value provided)"
        ));
        assert!(!super::remote_moved(
            "fatal: could not read Username for 'https://github.com': terminal prompts disabled"
        ));
        assert!(!super::remote_moved(
            "! [remote rejected] x -> x (pre-receive hook declined)"
        ));
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(input.as_bytes()), want);
        }
    }
}
