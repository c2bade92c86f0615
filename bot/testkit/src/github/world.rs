//! The fake GitHub's state, as plain Rust (bors' "world first, HTTP second"). Branches and
//! commits are not modelled: they live in a real bare git repository (`origin`), which the bot
//! pushes to; the world reads it with git when a PR needs a head SHA.

use std::collections::VecDeque;
use std::path::PathBuf;

/// An injected failure for the next call of one operation (or any, with `"*"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and a GitHub-style error body.
    Status(u16),
    /// A secondary rate limit: 403 with `retry-after` and `x-ratelimit-remaining: 0`.
    RateLimited { retry_after_secs: u64 },
    /// Never answer in time (the client sees a timeout, as with a dropped connection).
    Hang,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    pub number: u64,
    pub title: String,
    pub body: String,
    /// "open" or "closed".
    pub state: String,
    pub merged: bool,
    pub draft: bool,
    pub head: String,
    pub base: String,
    pub labels: Vec<String>,
    /// The commit merging made on the base branch.
    pub merge_commit_sha: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: u64,
    pub issue: u64,
    pub body: String,
}

/// An issue (not a pull request; the two share one number space, as on GitHub).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: String,
    /// "open" or "closed".
    pub state: String,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub id: u64,
    pub tag: String,
    pub name: String,
    pub body: String,
}

/// One request the fake answered, for assertions such as "the second run wrote nothing".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub operation: String,
    pub status: u16,
}

impl Recorded {
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }
}

/// The world: one repository.
#[derive(Debug, Clone)]
pub struct FakeGitHub {
    pub owner: String,
    pub repo: String,
    pub default_branch: String,
    /// The bare repository standing in for the GitHub remote.
    pub origin: PathBuf,
    pub pulls: Vec<Pull>,
    pub comments: Vec<Comment>,
    pub issues: Vec<Issue>,
    pub releases: Vec<Release>,
    pub requests: Vec<Recorded>,
    /// Contract violations seen by the server; `finish` fails the test if any.
    pub violations: Vec<String>,
    pub faults: VecDeque<(String, Fault)>,
    /// When set, every request must carry `Authorization: Bearer|token <this>`; others get 401.
    pub token: Option<String>,
    next_id: u64,
}

impl FakeGitHub {
    pub fn new(owner: &str, repo: &str, origin: PathBuf) -> FakeGitHub {
        FakeGitHub {
            owner: owner.into(),
            repo: repo.into(),
            default_branch: "main".into(),
            origin,
            pulls: Vec::new(),
            comments: Vec::new(),
            issues: Vec::new(),
            releases: Vec::new(),
            requests: Vec::new(),
            violations: Vec::new(),
            faults: VecDeque::new(),
            token: None,
            next_id: 1,
        }
    }

    /// Require this token on every request.
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Make the next call of `operation` (e.g. `pulls/create`, or `*`) fail with `fault`.
    pub fn inject(&mut self, operation: &str, fault: Fault) {
        self.faults.push_back((operation.to_string(), fault));
    }

    pub(crate) fn take_fault(&mut self, operation: &str) -> Option<Fault> {
        let i = self
            .faults
            .iter()
            .position(|(op, _)| op == operation || op == "*")?;
        self.faults.remove(i).map(|(_, f)| f)
    }

    /// A human opens a PR (or the test sets one up).
    pub fn open_pull(&mut self, head: &str, base: &str, title: &str, body: &str) -> u64 {
        let number = self.next_id();
        self.pulls.push(Pull {
            number,
            title: title.into(),
            body: body.into(),
            state: "open".into(),
            merged: false,
            draft: false,
            head: head.into(),
            base: base.into(),
            labels: Vec::new(),
            merge_commit_sha: None,
        });
        number
    }

    /// A PR that was merged into `base` as `merge_commit` (already on origin), with `labels`.
    pub fn merged_pull(
        &mut self,
        head: &str,
        base: &str,
        title: &str,
        merge_commit: &str,
        labels: &[&str],
    ) -> u64 {
        let number = self.open_pull(head, base, title, "");
        let p = self.pull_mut(number).expect("just opened");
        p.state = "closed".into();
        p.merged = true;
        p.merge_commit_sha = Some(merge_commit.to_string());
        p.labels = labels.iter().map(|l| l.to_string()).collect();
        number
    }

    /// A person merges PR `number` (the test has put its change on the base branch).
    pub fn merge(&mut self, number: u64, merge_commit: &str) {
        if let Some(p) = self.pull_mut(number) {
            p.state = "closed".into();
            p.merged = true;
            p.merge_commit_sha = Some(merge_commit.to_string());
        }
    }

    pub fn pull(&self, number: u64) -> Option<&Pull> {
        self.pulls.iter().find(|p| p.number == number)
    }

    pub fn pull_mut(&mut self, number: u64) -> Option<&mut Pull> {
        self.pulls.iter_mut().find(|p| p.number == number)
    }

    /// A human closes a PR without merging.
    pub fn close_pull(&mut self, number: u64) {
        if let Some(p) = self.pull_mut(number) {
            p.state = "closed".into();
        }
    }

    pub fn issue(&self, number: u64) -> Option<&Issue> {
        self.issues.iter().find(|i| i.number == number)
    }

    pub fn issue_mut(&mut self, number: u64) -> Option<&mut Issue> {
        self.issues.iter_mut().find(|i| i.number == number)
    }

    /// Whether `number` is an issue or a pull request.
    pub fn exists(&self, number: u64) -> bool {
        self.pull(number).is_some() || self.issue(number).is_some()
    }

    pub fn open_pulls(&self) -> Vec<&Pull> {
        self.pulls.iter().filter(|p| p.state == "open").collect()
    }

    pub fn comments_on(&self, issue: u64) -> Vec<&Comment> {
        self.comments.iter().filter(|c| c.issue == issue).collect()
    }

    /// Writes (non-GET requests) answered so far.
    pub fn writes(&self) -> Vec<&Recorded> {
        self.requests.iter().filter(|r| r.is_write()).collect()
    }

    /// The SHA `refs/heads/<branch>` has in origin, if the branch exists.
    pub fn branch_sha(&self, branch: &str) -> Option<String> {
        let out = std::process::Command::new("git")
            .args(["rev-parse", "--verify", "--quiet"])
            .arg(format!("refs/heads/{branch}^{{commit}}"))
            .current_dir(&self.origin)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}
