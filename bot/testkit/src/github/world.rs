//! The fake GitHub's state, as plain Rust (bors' "world first, HTTP second"). Branches and
//! commits are not modelled: they live in a real bare git repository (`origin`), which the bot
//! pushes to; the world reads it with git when a PR needs a head SHA.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

/// An injected failure for the next call of one operation (or any, with `"*"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and a GitHub-style error body.
    Status(u16),
    /// A secondary rate limit: 403 with `retry-after` and `x-ratelimit-remaining: 0`.
    RateLimited { retry_after_secs: u64 },
    /// A primary rate limit as some GitHub endpoints and proxies give it: 429 with
    /// `retry-after`.
    TooManyRequests { retry_after_secs: u64 },
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

/// A release of an upstream repository (one the bot reads release assets from, not the config
/// repository). Listed newest first, as GitHub lists them: the last added comes first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRelease {
    pub id: u64,
    pub tag: String,
    pub draft: bool,
    pub prerelease: bool,
    /// `null` for drafts on GitHub; the builder sets a fixed date.
    pub published_at: Option<String>,
    pub assets: Vec<UpstreamAsset>,
}

/// An asset attached to an upstream release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamAsset {
    pub id: u64,
    pub name: String,
    /// What the storage download serves.
    pub bytes: Vec<u8>,
    /// What GitHub reports as `digest` (`sha256:<hex>`); the builder computes it from `bytes`.
    /// Set it to `None` (older assets have none) or to a wrong value to test verification.
    pub digest: Option<String>,
}

/// The operation id the fake records for the asset storage download (`/_storage/<id>`), which
/// is not part of the REST API; `inject` accepts it like any documented operation.
pub const STORAGE_OPERATION: &str = "storage/download";

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

/// The world: the config repository, plus other repositories the bot writes to (tenants'),
/// each a world of its own in `repos`, and upstream repositories it reads releases from.
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
    /// Upstream repositories (`owner/name`) and their releases, served by `repos/list-releases`
    /// and `repos/get-release-asset`; the assets' bytes by the storage download.
    pub upstream: BTreeMap<String, Vec<UpstreamRelease>>,
    /// Other repositories (`owner/name`) with pull requests and comments of their own, e.g.
    /// tenant repositories. Requests to them are recorded in this (the top) world.
    pub repos: BTreeMap<String, FakeGitHub>,
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
            upstream: BTreeMap::new(),
            repos: BTreeMap::new(),
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

    /// Another repository the token can reach (a tenant's), with `origin` as its git remote.
    /// A repository not added answers 404, as GitHub does for one the token cannot see.
    pub fn add_repo(&mut self, full_name: &str, origin: PathBuf) -> &mut FakeGitHub {
        let (owner, repo) = full_name
            .split_once('/')
            .expect("a repository is owner/name");
        self.repos
            .entry(full_name.to_string())
            .or_insert_with(|| FakeGitHub::new(owner, repo, origin))
    }

    /// The repository `full_name` added with [`FakeGitHub::add_repo`].
    pub fn repo(&self, full_name: &str) -> &FakeGitHub {
        self.repos
            .get(full_name)
            .unwrap_or_else(|| panic!("the fake has no repository {full_name}"))
    }

    pub fn repo_mut(&mut self, full_name: &str) -> &mut FakeGitHub {
        self.repos
            .get_mut(full_name)
            .unwrap_or_else(|| panic!("the fake has no repository {full_name}"))
    }

    /// An upstream repository with no releases yet (it exists: listing it answers `[]`).
    pub fn add_upstream_repo(&mut self, repo: &str) {
        self.upstream.entry(repo.to_string()).or_default();
    }

    /// Publish a release of the upstream repository `repo` (`owner/name`) with `assets`
    /// (name, bytes), each with the digest GitHub would compute. Returns the release, so a test
    /// can make it a draft or pre-release, or change an asset's digest.
    pub fn add_upstream_release(
        &mut self,
        repo: &str,
        tag: &str,
        assets: &[(&str, &[u8])],
    ) -> &mut UpstreamRelease {
        let id = self.next_id();
        let assets = assets
            .iter()
            .map(|(name, bytes)| UpstreamAsset {
                id: self.next_id(),
                name: name.to_string(),
                bytes: bytes.to_vec(),
                digest: Some(format!("sha256:{}", sha256_hex(bytes))),
            })
            .collect();
        let releases = self.upstream.entry(repo.to_string()).or_default();
        releases.push(UpstreamRelease {
            id,
            tag: tag.to_string(),
            draft: false,
            prerelease: false,
            published_at: Some("2026-01-01T00:00:00Z".into()),
            assets,
        });
        releases.last_mut().expect("just pushed")
    }

    /// The asset `name` of release `tag` of `repo`, to change what GitHub reports about it.
    pub fn upstream_asset_mut(
        &mut self,
        repo: &str,
        tag: &str,
        name: &str,
    ) -> Option<&mut UpstreamAsset> {
        self.upstream
            .get_mut(repo)?
            .iter_mut()
            .find(|r| r.tag == tag)?
            .assets
            .iter_mut()
            .find(|a| a.name == name)
    }

    /// The asset with this id, in any upstream repository: (repository, release, asset).
    pub fn upstream_asset(&self, id: u64) -> Option<(&str, &UpstreamRelease, &UpstreamAsset)> {
        self.upstream.iter().find_map(|(repo, releases)| {
            releases.iter().find_map(|r| {
                r.assets
                    .iter()
                    .find(|a| a.id == id)
                    .map(|a| (repo.as_str(), r, a))
            })
        })
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

/// SHA-256 of `data`, lower-case hex: the digest GitHub reports for release assets. Written out
/// here (FIPS 180-4) because the test kit does not depend on a hashing crate; the tests check
/// it against the standard vectors.
pub fn sha256_hex(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standard_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        // Two blocks of padding, and a length past one block.
        assert_eq!(
            sha256_hex(&[b'a'; 1000]),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
    }
}
