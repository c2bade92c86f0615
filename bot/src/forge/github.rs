//! GitHub REST calls ake-bot makes, each retried with bounded backoff when GitHub says a retry
//! may help.

use std::time::Duration;

use http::header::HeaderMap;
use octocrab::Octocrab;
use secrecy::{ExposeSecret, SecretString};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::json;

use super::ForgeError;
use crate::retry::{Backoff, Next};

/// Per-request deadline: a hung connection must not hang the job (every wait has a deadline).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const ATTEMPTS: u32 = 4;
/// A `Retry-After` longer than this is not waited out inside one run; the next scheduled run
/// picks the work up.
const MAX_WAIT: Duration = Duration::from_secs(120);

/// A GitHub repository the bot acts on.
pub struct GitHub {
    client: Octocrab,
    owner: String,
    repo: String,
    retry_base: Duration,
    timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PullState {
    Open,
    Closed,
}

/// What the bot needs to know about a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullSummary {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub state: PullState,
    pub merged: bool,
    pub head: String,
    pub head_sha: String,
    pub base: String,
    pub labels: Vec<String>,
    pub html_url: String,
    /// The commit the merge made on the base branch (squash, merge or the last rebased one).
    pub merge_commit_sha: Option<String>,
}

/// A comment on an issue or pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueComment {
    pub id: u64,
    pub body: String,
}

/// What the bot needs to know about an issue (not a pull request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssueSummary {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub state: PullState,
    pub html_url: String,
}

#[derive(Deserialize)]
struct RawIssue {
    number: u64,
    title: String,
    body: Option<String>,
    state: PullState,
    html_url: String,
    /// Present when the "issue" is a pull request (the issues API lists both).
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
}

impl From<RawIssue> for IssueSummary {
    fn from(i: RawIssue) -> Self {
        IssueSummary {
            number: i.number,
            title: i.title,
            body: i.body.unwrap_or_default(),
            state: i.state,
            html_url: i.html_url,
        }
    }
}

/// A pull request to open.
#[derive(Debug, Clone, Serialize)]
pub struct NewPull {
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub draft: bool,
}

#[derive(Deserialize)]
struct RawPull {
    number: u64,
    title: String,
    body: Option<String>,
    state: PullState,
    merged_at: Option<String>,
    head: RawRef,
    base: RawRef,
    #[serde(default)]
    labels: Vec<RawLabel>,
    html_url: String,
    #[serde(default)]
    merge_commit_sha: Option<String>,
}

#[derive(Deserialize)]
struct RawRef {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
}

#[derive(Deserialize)]
struct RawLabel {
    name: String,
}

impl From<RawPull> for PullSummary {
    fn from(p: RawPull) -> Self {
        let merged = p.merged_at.is_some();
        PullSummary {
            number: p.number,
            title: p.title,
            body: p.body.unwrap_or_default(),
            state: p.state,
            merged,
            head: p.head.name,
            head_sha: p.head.sha,
            base: p.base.name,
            labels: p.labels.into_iter().map(|l| l.name).collect(),
            html_url: p.html_url,
            // Only a merged PR's merge commit means anything on the base branch.
            merge_commit_sha: p.merge_commit_sha.filter(|_| merged),
        }
    }
}

impl GitHub {
    /// `api_url` is `GITHUB_API_URL` (https://api.github.com, or GitHub Enterprise's
    /// `https://HOST/api/v3`); `repository` is `owner/repo`.
    pub fn new(
        api_url: &str,
        repository: &str,
        token: &SecretString,
    ) -> Result<GitHub, ForgeError> {
        let (owner, repo) = repository
            .split_once('/')
            .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
            .ok_or_else(|| {
                ForgeError::Config(format!("repository {repository:?} is not owner/repo"))
            })?;
        let client = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| ForgeError::Config(format!("API URL {api_url:?}: {e}")))?
            .personal_token(token.expose_secret().to_string())
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(REQUEST_TIMEOUT))
            .set_write_timeout(Some(REQUEST_TIMEOUT))
            .add_header(
                http::header::HeaderName::from_static("x-github-api-version"),
                "2022-11-28".into(),
            )
            .build()
            .map_err(|e| ForgeError::Config(format!("cannot build the GitHub client: {e}")))?;
        Ok(GitHub {
            client,
            owner: owner.into(),
            repo: repo.into(),
            retry_base: Duration::from_secs(1),
            timeout: REQUEST_TIMEOUT,
        })
    }

    /// A shorter per-request deadline (tests of hung connections).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Shorter retry waits (tests).
    pub fn with_retry_base(mut self, base: Duration) -> Self {
        self.retry_base = base;
        self
    }

    fn route(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.owner, self.repo)
    }

    /// The repository's default branch; also how a job learns that the token reaches the
    /// repository at all (404 when it does not, as GitHub hides what a token cannot see).
    pub async fn default_branch(&self) -> Result<String, ForgeError> {
        #[derive(Deserialize)]
        struct RawRepo {
            default_branch: String,
        }
        let what = format!("reading repository {}/{}", self.owner, self.repo);
        let route = format!("/repos/{}/{}", self.owner, self.repo);
        let raw: RawRepo = self.call(&what, http::Method::GET, &route, None).await?;
        Ok(raw.default_branch)
    }

    /// Every pull request, open or closed, whose head is `branch` in this repository.
    pub async fn pulls_for_head(&self, branch: &str) -> Result<Vec<PullSummary>, ForgeError> {
        let what = format!("listing pull requests for {branch}");
        let route = self.route(&format!(
            "pulls?state=all&per_page=100&head={}",
            url_encode(&format!("{}:{branch}", self.owner))
        ));
        let raw: Vec<RawPull> = self.call(&what, http::Method::GET, &route, None).await?;
        Ok(raw.into_iter().map(Into::into).collect())
    }

    /// One pull request by number.
    pub async fn pull(&self, number: u64) -> Result<PullSummary, ForgeError> {
        let what = format!("reading pull request #{number}");
        let raw: RawPull = self
            .call(
                &what,
                http::Method::GET,
                &self.route(&format!("pulls/{number}")),
                None,
            )
            .await?;
        Ok(raw.into())
    }

    /// The pull requests GitHub associates with `sha` (the one merged as that commit among
    /// them).
    pub async fn pulls_for_commit(&self, sha: &str) -> Result<Vec<PullSummary>, ForgeError> {
        let what = format!("finding the pull request of commit {sha:.12}");
        let route = self.route(&format!("commits/{sha}/pulls?per_page=100"));
        let raw: Vec<RawPull> = self.call(&what, http::Method::GET, &route, None).await?;
        Ok(raw.into_iter().map(Into::into).collect())
    }

    pub async fn create_pull(&self, new: &NewPull) -> Result<PullSummary, ForgeError> {
        let what = format!("opening a pull request from {} to {}", new.head, new.base);
        let body = serde_json::to_value(new).expect("NewPull serialises");
        let raw: RawPull = self
            .call(&what, http::Method::POST, &self.route("pulls"), Some(body))
            .await?;
        Ok(raw.into())
    }

    /// Rewrite title and body.
    pub async fn update_pull(
        &self,
        number: u64,
        title: &str,
        body: &str,
    ) -> Result<(), ForgeError> {
        let what = format!("updating pull request #{number}");
        let _: serde_json::Value = self
            .call(
                &what,
                http::Method::PATCH,
                &self.route(&format!("pulls/{number}")),
                Some(json!({ "title": title, "body": body })),
            )
            .await?;
        Ok(())
    }

    pub async fn close_pull(&self, number: u64) -> Result<(), ForgeError> {
        let what = format!("closing pull request #{number}");
        let _: serde_json::Value = self
            .call(
                &what,
                http::Method::PATCH,
                &self.route(&format!("pulls/{number}")),
                Some(json!({ "state": "closed" })),
            )
            .await?;
        Ok(())
    }

    pub async fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), ForgeError> {
        let what = format!("labelling #{number}");
        let _: serde_json::Value = self
            .call(
                &what,
                http::Method::POST,
                &self.route(&format!("issues/{number}/labels")),
                Some(json!({ "labels": labels })),
            )
            .await?;
        Ok(())
    }

    pub async fn remove_label(&self, number: u64, label: &str) -> Result<(), ForgeError> {
        let what = format!("unlabelling #{number}");
        let route = self.route(&format!(
            "issues/{number}/labels/{}",
            url_encode(label).replace('/', "%2F")
        ));
        let _: serde_json::Value = self.call(&what, http::Method::DELETE, &route, None).await?;
        Ok(())
    }

    /// Bodies of the comments on issue or PR `number` (first 100).
    pub async fn comments(&self, number: u64) -> Result<Vec<String>, ForgeError> {
        Ok(self
            .comment_list(number)
            .await?
            .into_iter()
            .map(|c| c.body)
            .collect())
    }

    /// The comments on issue or PR `number` (first 100), with their ids.
    pub async fn comment_list(&self, number: u64) -> Result<Vec<IssueComment>, ForgeError> {
        #[derive(Deserialize)]
        struct RawComment {
            id: u64,
            body: Option<String>,
        }
        let what = format!("reading comments of #{number}");
        let route = self.route(&format!("issues/{number}/comments?per_page=100"));
        let raw: Vec<RawComment> = self.call(&what, http::Method::GET, &route, None).await?;
        Ok(raw
            .into_iter()
            .map(|c| IssueComment {
                id: c.id,
                body: c.body.unwrap_or_default(),
            })
            .collect())
    }

    /// Rewrite comment `id` (the bot's own summary comment, kept current instead of repeated).
    pub async fn update_comment(&self, id: u64, body: &str) -> Result<(), ForgeError> {
        let what = format!("updating comment {id}");
        let _: serde_json::Value = self
            .call(
                &what,
                http::Method::PATCH,
                &self.route(&format!("issues/comments/{id}")),
                Some(json!({ "body": body })),
            )
            .await?;
        Ok(())
    }

    /// Whether a GitHub release exists for `tag`.
    pub async fn release_exists(&self, tag: &str) -> Result<bool, ForgeError> {
        let what = format!("looking up the release for {tag}");
        let route = self.route(&format!(
            "releases/tags/{}",
            url_encode(tag).replace('/', "%2F")
        ));
        match self
            .call::<serde_json::Value>(&what, http::Method::GET, &route, None)
            .await
        {
            Ok(_) => Ok(true),
            Err(ForgeError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Publish a release for an existing tag.
    pub async fn create_release(
        &self,
        tag: &str,
        name: &str,
        body: &str,
    ) -> Result<(), ForgeError> {
        let what = format!("creating the release {tag}");
        let _: serde_json::Value = self
            .call(
                &what,
                http::Method::POST,
                &self.route("releases"),
                Some(json!({ "tag_name": tag, "name": name, "body": body })),
            )
            .await?;
        Ok(())
    }

    /// Every open pull request of the repository (paged; a repository with thousands is not
    /// what this bot serves, so the pages stop at 20).
    pub async fn open_pulls(&self) -> Result<Vec<PullSummary>, ForgeError> {
        let mut out = Vec::new();
        for page in 1..=20 {
            let what = format!("listing open pull requests (page {page})");
            let route = self.route(&format!("pulls?state=open&per_page=100&page={page}"));
            let raw: Vec<RawPull> = self.call(&what, http::Method::GET, &route, None).await?;
            let n = raw.len();
            out.extend(raw.into_iter().map(PullSummary::from));
            if n < 100 {
                break;
            }
        }
        Ok(out)
    }

    /// Issues (not pull requests), open or closed, carrying `label`, oldest first.
    pub async fn issues_labelled(&self, label: &str) -> Result<Vec<IssueSummary>, ForgeError> {
        let what = format!("listing issues labelled {label}");
        let route = self.route(&format!(
            "issues?state=all&per_page=100&sort=created&direction=asc&labels={}",
            url_encode(label)
        ));
        let raw: Vec<RawIssue> = self.call(&what, http::Method::GET, &route, None).await?;
        Ok(raw
            .into_iter()
            .filter(|i| i.pull_request.is_none())
            .map(Into::into)
            .collect())
    }

    /// Open an issue.
    pub async fn create_issue(
        &self,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<IssueSummary, ForgeError> {
        let what = format!("opening the issue {title:?}");
        let raw: RawIssue = self
            .call(
                &what,
                http::Method::POST,
                &self.route("issues"),
                Some(json!({ "title": title, "body": body, "labels": labels })),
            )
            .await?;
        Ok(raw.into())
    }

    /// Rewrite an issue's body, reopening it when `reopen`.
    pub async fn update_issue(
        &self,
        number: u64,
        body: &str,
        reopen: bool,
    ) -> Result<(), ForgeError> {
        let what = format!("updating issue #{number}");
        let mut patch = json!({ "body": body });
        if reopen {
            patch["state"] = json!("open");
        }
        let _: serde_json::Value = self
            .call(
                &what,
                http::Method::PATCH,
                &self.route(&format!("issues/{number}")),
                Some(patch),
            )
            .await?;
        Ok(())
    }

    pub async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError> {
        let what = format!("commenting on #{number}");
        let _: serde_json::Value = self
            .call(
                &what,
                http::Method::POST,
                &self.route(&format!("issues/{number}/comments")),
                Some(json!({ "body": body })),
            )
            .await?;
        Ok(())
    }

    /// One logical call, retried while GitHub says a retry may help.
    async fn call<T: DeserializeOwned>(
        &self,
        what: &str,
        method: http::Method,
        route: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, ForgeError> {
        let backoff = Backoff {
            attempts: ATTEMPTS,
            base: self.retry_base,
            max_wait: MAX_WAIT,
        };
        let text = backoff
            .run(
                what,
                || self.once(what, &method, route, body.as_ref()),
                |e: &ForgeError| match e {
                    ForgeError::RateLimited { retry_after, .. } => Next::RetryAfter(*retry_after),
                    e if e.should_retry() => Next::Retry,
                    _ => Next::Stop,
                },
            )
            .await?;
        serde_json::from_str(&text).map_err(|e| ForgeError::Decode {
            what: what.to_string(),
            message: e.to_string(),
        })
    }

    async fn once(
        &self,
        what: &str,
        method: &http::Method,
        route: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<String, ForgeError> {
        let transport = |e: octocrab::Error| ForgeError::Transport {
            what: what.to_string(),
            message: crate::error_chain(&e),
        };
        let send = async {
            match *method {
                http::Method::GET => self.client._get(route).await,
                http::Method::POST => self.client._post(route, body).await,
                http::Method::PATCH => self.client._patch(route, body).await,
                _ => self.client._delete(route, body).await,
            }
        };
        let resp = tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| ForgeError::Transport {
                what: what.to_string(),
                message: format!("no answer within {:.1}s", self.timeout.as_secs_f64()),
            })?
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = self.client.body_to_string(resp).await.map_err(transport)?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        Err(classify(what, status, &headers, &text))
    }
}

/// Map an error response to a [`ForgeError`]. A 403 or 429 with `retry-after`, or with
/// `x-ratelimit-remaining: 0`, is a rate limit (GitHub's primary and secondary limits).
fn classify(what: &str, status: u16, headers: &HeaderMap, text: &str) -> ForgeError {
    let what = what.to_string();
    let message = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            let msg = v.get("message")?.as_str()?.to_string();
            let detail: Vec<String> = v
                .get("errors")
                .and_then(|e| e.as_array())
                .into_iter()
                .flatten()
                .filter_map(|e| {
                    e.get("message")
                        .or_else(|| e.get("code"))
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .collect();
            Some(if detail.is_empty() {
                msg
            } else {
                format!("{msg} ({})", detail.join("; "))
            })
        })
        .unwrap_or_else(|| text.chars().take(200).collect());
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let retry_after = header("retry-after")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let exhausted = header("x-ratelimit-remaining") == Some("0");
    if status == 429 || (status == 403 && (retry_after.is_some() || exhausted)) {
        let reset_wait = header("x-ratelimit-reset")
            .and_then(|s| s.parse::<u64>().ok())
            .and_then(|reset| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_secs();
                Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
            });
        return ForgeError::RateLimited {
            what,
            retry_after: retry_after
                .or(reset_wait)
                .unwrap_or(Duration::from_secs(60)),
        };
    }
    match status {
        404 => ForgeError::NotFound { what },
        409 => ForgeError::Conflict { what, message },
        422 => ForgeError::Unprocessable { what, message },
        _ => ForgeError::Status {
            what,
            status,
            message,
        },
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn rate_limits_are_recognised_by_status_and_headers() {
        let e = classify("x", 403, &headers(&[("retry-after", "7")]), "{}");
        assert_eq!(
            e,
            ForgeError::RateLimited {
                what: "x".into(),
                retry_after: Duration::from_secs(7)
            }
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let reset = (now + 30).to_string();
        let e = classify(
            "x",
            403,
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset),
            ]),
            "{}",
        );
        match e {
            ForgeError::RateLimited { retry_after, .. } => assert!(
                (29..=31).contains(&retry_after.as_secs()),
                "{retry_after:?}"
            ),
            other => panic!("{other:?}"),
        }
        let e = classify("x", 429, &HeaderMap::new(), "{}");
        assert!(matches!(e, ForgeError::RateLimited { .. }));
        // A plain 403 (no permission) is not a rate limit and is not retried.
        let e = classify(
            "x",
            403,
            &HeaderMap::new(),
            r#"{"message":"Resource not accessible by integration"}"#,
        );
        assert_eq!(
            e,
            ForgeError::Status {
                what: "x".into(),
                status: 403,
                message: "Resource not accessible by integration".into()
            }
        );
        assert!(!e.should_retry());
        let e = classify(
            "x",
            422,
            &HeaderMap::new(),
            r#"{"message":"Validation Failed","errors":[{"message":"A pull request already exists for acme:x."}]}"#,
        );
        assert_eq!(
            e.to_string(),
            "x: rejected (422): Validation Failed (A pull request already exists for acme:x.)"
        );
    }
}
