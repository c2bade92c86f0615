//! Test support for ake-bot: where the real fixtures are, scratch copies of the config repo,
//! hermetic git, and snapshot filters. It talks only files and git, so it does not depend on
//! the bot itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (holds branches.toml, bundles/, mirror/).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the testkit lives two levels below the workspace root")
}

/// The offline chart mirror shipped with the project (real upstream charts).
pub fn mirror_dir() -> PathBuf {
    workspace_root().join("mirror")
}

/// `bot/tests/fixtures`: real upstream indexes and `helm template` output.
pub fn fixtures_dir() -> PathBuf {
    workspace_root().join("bot/tests/fixtures")
}

/// Kubernetes JSON schema sets (kubernetes-validate's, v1.25–v1.37), as `scripts/with-schemas`
/// exports them. Tests that validate need them: without, they fail and say how to get them.
pub fn schemas_dir() -> PathBuf {
    tool_env("AKE_BOT_SCHEMAS")
}

/// The reference validator (`kubernetes-validate`), as `scripts/with-schemas` exports it.
pub fn kubernetes_validate() -> PathBuf {
    tool_env("KUBERNETES_VALIDATE")
}

fn tool_env(var: &str) -> PathBuf {
    let p = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{var} is not set: run the tests as README says, through scripts/with-schemas")
    });
    assert!(p.exists(), "{var}={} does not exist", p.display());
    p
}

/// A scratch copy of the project's config repository (branches.toml, bundles/, mirror/) in a
/// temporary directory, for tests that run jobs against it or break it on purpose.
pub struct ConfigRepo {
    dir: tempfile::TempDir,
}

impl ConfigRepo {
    /// Copy the project's real config and mirror.
    pub fn from_project() -> ConfigRepo {
        let dir = tempfile::Builder::new()
            .prefix("ake-bot-repo-")
            .tempdir()
            .expect("temp dir");
        let root = workspace_root();
        std::fs::copy(root.join("branches.toml"), dir.path().join("branches.toml"))
            .expect("copy branches.toml");
        copy_dir(&root.join("bundles"), &dir.path().join("bundles"));
        copy_dir(&root.join("mirror"), &dir.path().join("mirror"));
        // e2e fixtures are part of a branch: validate counts them as present.
        copy_dir(&root.join("e2e"), &dir.path().join("e2e"));
        ConfigRepo { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Also copy the project's `policies/` (Gatekeeper templates and constraints).
    pub fn with_policies(self) -> ConfigRepo {
        copy_dir(
            &workspace_root().join("policies"),
            &self.path().join("policies"),
        );
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {rel}: {e}"));
    }

    /// Replace `from` with `to` in a file; panics if `from` is not there, so a test cannot
    /// silently stop testing what it says.
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        self.write(rel, &text.replacen(from, to, 1));
    }

    /// Pin `addon` to `version` by hand, as a person would: the `version:` line changes and a
    /// pinned `digest:` (which named the old version's bytes) is dropped.
    pub fn pin(&self, addon: &str, version: &str) {
        let rel = format!("bundles/{addon}/bundle.yaml");
        let text = self.read(&rel);
        let mut found = false;
        let out: String = text
            .split_inclusive('\n')
            .filter(|l| !l.starts_with("digest:"))
            .map(|l| {
                if l.starts_with("version:") {
                    found = true;
                    format!("version: {version}\n")
                } else {
                    l.to_string()
                }
            })
            .collect();
        assert!(found, "{rel} has no version: line");
        self.write(&rel, &out);
    }

    /// The manifest digest (`sha256:…`) the OCI layout at `layout` (repo-relative) tags `tag`.
    pub fn layout_digest(&self, layout: &str, tag: &str) -> String {
        let index: serde_json::Value =
            serde_json::from_str(&self.read(&format!("{layout}/index.json"))).expect("index.json");
        index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .and_then(|m| m["digest"].as_str())
            .unwrap_or_else(|| panic!("{layout} has no tag {tag}"))
            .to_string()
    }

    pub fn remove(&self, rel: &str) {
        let p = self.path().join(rel);
        if p.is_dir() {
            std::fs::remove_dir_all(p).expect("rm -r");
        } else {
            std::fs::remove_file(p).expect("rm");
        }
    }

    /// Every file under the repo with its content: compare before and after a run to prove
    /// nothing was written.
    pub fn files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(self.path(), self.path(), &mut out);
        out
    }

    /// Make the directory a git repository with everything committed on `main` (hermetic: no
    /// user or system git config is read).
    pub fn git_init(&self) {
        git(self.path(), &["init", "-q", "-b", "main"]);
        git(self.path(), &["add", "-A"]);
        git(self.path(), &["commit", "-q", "-m", "initial config"]);
    }

    /// Give the repository a bare `origin` (a clone of it, standing in for GitHub) and fetch
    /// it, like a CI checkout. Keep the returned guard alive as long as origin is needed.
    pub fn with_bare_origin(&self) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::Builder::new()
            .prefix("ake-bot-origin-")
            .tempdir()
            .expect("temp dir");
        let origin = dir.path().join("origin.git");
        git(
            dir.path(),
            &[
                "clone",
                "-q",
                "--bare",
                self.path().to_str().expect("utf-8 path"),
                "origin.git",
            ],
        );
        self.git(&[
            "remote",
            "add",
            "origin",
            origin.to_str().expect("utf-8 path"),
        ]);
        self.git(&["fetch", "-q", "origin"]);
        (dir, origin)
    }

    /// Cut `release-<minor>` from the current `main` as ake-bot would leave it: every committed
    /// render's header names the branch and its minor (as `ake-bot render --branch` writes
    /// it), so each render differs from main's exactly where a bump on main changes it. Leaves
    /// `main` checked out.
    pub fn cut_release_branch(&self, minor: &str) {
        let name = format!("release-{minor}");
        self.git(&["checkout", "-q", "-b", &name, "main"]);
        for (rel, _) in self.files() {
            let rel = rel.to_string_lossy().into_owned();
            if rel.starts_with("bundles/") && rel.ends_with("/rendered/manifests.yaml") {
                let text = self.read(&rel);
                let header = text.lines().nth(1).unwrap_or_default().to_string();
                let (chart, _) = header
                    .split_once(", Kubernetes ")
                    .unwrap_or_else(|| panic!("{rel}: unexpected render header {header:?}"));
                self.edit(
                    &rel,
                    &header,
                    &format!("{chart}, Kubernetes {minor}, branch {name}"),
                );
            }
        }
        self.git(&["commit", "-q", "-am", &format!("render for {name}")]);
        self.git(&["checkout", "-q", "main"]);
    }

    /// Commit everything on `main`, cut `release-<minor>` for each of `minors` (as ake-bot
    /// would leave them) and put them all on a bare `origin`. Keep the guard alive.
    pub fn train_on_origin(&self, minors: &[&str]) -> (tempfile::TempDir, PathBuf) {
        self.git_init();
        for minor in minors {
            self.cut_release_branch(minor);
        }
        let guard = self.with_bare_origin();
        for minor in minors {
            self.git(&["push", "-q", "origin", &format!("release-{minor}")]);
        }
        guard
    }

    /// Run git in the repo, hermetically; panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        git(self.path(), args)
    }
}

/// Run git hermetically in `dir` (gitoxide's isolation: no system or global config, fixed
/// identity and dates, UTC, C locale).
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// insta filters that replace a temp repo path with `[REPO]`.
pub fn path_filters(repo: &Path) -> Vec<(String, &'static str)> {
    vec![(regex_escape(&repo.display().to_string()), "[REPO]")]
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
            // Fixtures may be read-only in the source tree; tests must be able to edit copies.
            let mut perm = std::fs::metadata(&target).expect("metadata").permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&target, perm).expect("chmod");
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("dir entry");
        let p = entry.path();
        if p.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            let rel = p.strip_prefix(root).expect("under root").to_path_buf();
            out.insert(rel, std::fs::read(&p).expect("read"));
        }
    }
}
pub mod bot;
pub mod chart;
pub mod github;
pub mod kube;
pub mod registry;

pub use bot::Bot;
pub use chart::{chart_archive, tgz};

/// A bare repository standing in for GitHub's remote, with `main` and any extra branches (each
/// one commit on top of main), built hermetically. Returns (temp dir guard, bare repo path).
pub fn bare_origin(branches: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let (dir, origin) = seeded_origin("ake-bot-origin-", &[("README.md", "config repo\n")]);
    let work = dir.path().join("work");
    for b in branches {
        git(&work, &["checkout", "-q", "-b", b, "main"]);
        std::fs::write(work.join("change.txt"), format!("{b}\n")).expect("write");
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", &format!("change on {b}")]);
        git(
            &work,
            &["push", "-q", origin.to_str().expect("utf-8 path"), b],
        );
    }
    (dir, origin)
}

/// A temporary directory holding `origin.git` (bare) and `work/` (its clone), with `files`
/// committed on `main` and pushed, built hermetically.
fn seeded_origin(prefix: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temp dir");
    let origin = dir.path().join("origin.git");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    git(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", "origin.git"],
    );
    git(&work, &["init", "-q", "-b", "main"]);
    for (rel, text) in files {
        let p = work.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
    }
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "initial"]);
    git(
        &work,
        &["push", "-q", origin.to_str().expect("utf-8 path"), "main"],
    );
    (dir, origin)
}

/// A tenant's repository: a bare `origin` (standing in for GitHub) with `files` committed on
/// `main`, built hermetically.
pub struct TenantRepo {
    dir: tempfile::TempDir,
    pub origin: PathBuf,
}

impl TenantRepo {
    pub fn new(files: &[(&str, &str)]) -> TenantRepo {
        let (dir, origin) = seeded_origin("ake-bot-tenant-", files);
        TenantRepo { dir, origin }
    }

    /// The tenant's team commits `text` to `rel` on main and pushes it.
    pub fn commit(&self, rel: &str, text: &str, message: &str) {
        let work = self.dir.path().join("work");
        git(
            &work,
            &[
                "pull",
                "-q",
                "--ff-only",
                self.origin.to_str().expect("utf-8 path"),
                "main",
            ],
        );
        std::fs::write(work.join(rel), text).expect("write");
        git(&work, &["commit", "-q", "-am", message]);
        git(
            &work,
            &[
                "push",
                "-q",
                self.origin.to_str().expect("utf-8 path"),
                "main",
            ],
        );
    }

    /// The git URL tenants.toml names it by.
    pub fn url(&self) -> String {
        format!("file://{}", self.origin.display())
    }

    /// The file `rel` on origin's `branch`.
    pub fn show(&self, branch: &str, rel: &str) -> String {
        git(&self.origin, &["show", &format!("{branch}:{rel}")])
    }

    /// Every ref of origin with its object: compare before and after a run.
    pub fn refs(&self) -> String {
        git(
            &self.origin,
            &["for-each-ref", "--format=%(refname) %(objectname)"],
        )
    }
}

/// What a run of the built binary printed, and how it ended.
#[derive(Debug, Clone)]
pub struct Run {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A `helm` that writes each call's arguments to a log (one line per call) and then runs the
/// real helm ($HELM, else `helm` on PATH): for proving how often a run starts helm.
pub struct CountingHelm {
    dir: tempfile::TempDir,
}

impl CountingHelm {
    pub fn new() -> CountingHelm {
        let dir = tempfile::Builder::new()
            .prefix("ake-bot-helm-")
            .tempdir()
            .expect("temp dir");
        let real = std::env::var_os("HELM")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("helm"));
        let log = dir.path().join("calls.log");
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        );
        let helm = dir.path().join("helm");
        std::fs::write(&helm, script).expect("write the helm wrapper");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        CountingHelm { dir }
    }

    /// The wrapper, for `$HELM`.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("helm")
    }

    /// Every call so far, as its arguments.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Forget the calls so far.
    pub fn reset(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("calls.log"));
    }
}

impl Default for CountingHelm {
    fn default() -> Self {
        CountingHelm::new()
    }
}
