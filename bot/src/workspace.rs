//! The workspace: everything a job starts from, built once per run and passed to every job —
//! the train, which branch the work tree holds, where each branch's files are read from, the
//! tools (helm, the upstream fetcher with its index cache, the schema store) and the settings
//! (GitHub, cache, remote). Jobs never build these themselves, so they cannot drift apart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use secrecy::SecretString;
use serde::Serialize;

use crate::config::{self, BranchStatus, Bundles, LoadedBundle, Train, TrainBranch};
use crate::forge::GitHub;
use crate::git::{self, Identity, Remote, Tree};
use crate::jobs::JobError;
use crate::model::BranchName;
use crate::render::{self, Helm, ReleaseError, Rendered};
use crate::upstream::{self, Fetcher, Release};
use crate::validate::Schemas;

/// How a run is configured: flags and environment, resolved by the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config repository.
    pub repo: PathBuf,
    /// Verified chart archives, indexes' schemas fetched by `schema_url`, ….
    pub cache_dir: PathBuf,
    /// `--schemas`: Kubernetes schema sets; overrides branches.toml.
    pub schemas: Option<PathBuf>,
    /// The bound of the render cache in the cache directory (`AKE_BOT_RENDER_CACHE_MB`).
    pub render_cache_max_bytes: u64,
    /// `--upstream-timeout`: the deadline of one upstream request.
    pub upstream_timeout: std::time::Duration,
    /// `render --branch`: the train branch the work tree holds, said explicitly.
    pub worktree_branch: Option<String>,
    /// `GITHUB_BASE_REF`: the branch a pull request's checkout targets (GitHub Actions).
    pub base_ref: Option<String>,
    pub github: GitHubSettings,
}

/// Where pull requests go and who the bot is.
#[derive(Debug, Clone)]
pub struct GitHubSettings {
    /// `GITHUB_API_URL`.
    pub api_url: String,
    /// `owner/repo`; with `token`, GitHub is read (and written by jobs that act).
    pub repository: Option<String>,
    pub token: Option<SecretString>,
    /// Bot branches are `<prefix><addon>`, `<prefix>backport/…`.
    pub branch_prefix: String,
    /// The git remote that is the GitHub repository.
    pub remote: String,
    /// The author of bot commits.
    pub identity: Identity,
}

impl GitHubSettings {
    /// Whether GitHub can be read (a repository and a token are set).
    pub fn readable(&self) -> bool {
        self.repository.is_some() && self.token.is_some()
    }

    /// For a job that writes to GitHub: the error that says what is missing, if anything.
    pub fn require(&self, job: &str) -> Result<(), JobError> {
        if self.readable() {
            return Ok(());
        }
        Err(JobError::Unavailable(format!(
            "{job} needs the GitHub repository and a token: set GITHUB_REPOSITORY and \
             GITHUB_TOKEN (or --github-repository/--github-token)\n\
             to only see the plan, pass --dry-run"
        )))
    }
}

impl Default for GitHubSettings {
    fn default() -> Self {
        GitHubSettings {
            api_url: "https://api.github.com".into(),
            repository: None,
            token: None,
            branch_prefix: "ake-bot/".into(),
            remote: "origin".into(),
            identity: Identity {
                name: "ake-bot".into(),
                email: "ake-bot@users.noreply.github.com".into(),
            },
        }
    }
}

/// Which state of the repository a job reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The work tree for the branch it holds, then local branches, then `<remote>/…`: what a
    /// person (or a PR's CI checkout) has in front of them. `validate`, `render`, `e2e`,
    /// `sync --dry-run`.
    Local,
    /// What the remote has (`refs/remotes/<remote>/…`). Jobs that act fetch first
    /// (`fetched: true`), so they build on what GitHub has; their dry runs read the remote as
    /// last fetched, and local branches where there is no remote.
    Remote { fetched: bool },
}

/// Where a branch's files were read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Origin {
    /// The checked-out work tree.
    WorkTree,
    /// A commit of the branch in git (`release-1.31` or `origin/release-1.31`).
    Git { label: String },
    /// The branch does not exist in the repository yet.
    NotCut,
}

impl Origin {
    /// `work tree`, `origin/release-1.32`, `not cut`.
    pub fn label(&self) -> String {
        match self {
            Origin::WorkTree => "work tree".into(),
            Origin::Git { label } => label.clone(),
            Origin::NotCut => "not cut".into(),
        }
    }
}

/// A branch of the train as this workspace reads it.
#[derive(Debug, Clone)]
pub struct BranchFiles {
    pub branch: TrainBranch,
    pub origin: Origin,
    /// `None` when the branch is not cut.
    pub tree: Option<Tree>,
    /// Its bundles (empty when not cut).
    pub bundles: Bundles,
}

/// Everything a job needs. Cheap to share by reference; the tools are built on first use.
pub struct Workspace {
    pub settings: Settings,
    pub train: Train,
    view: View,
    /// The train branch the work tree holds.
    checkout: BranchName,
    remote: Remote,
    forge: Option<GitHub>,
    helm: OnceLock<Result<Arc<Helm>, String>>,
    helm_version: tokio::sync::OnceCell<String>,
    render_cache: render::cache::RenderCache,
    fetcher: Arc<Fetcher>,
    permits: Arc<tokio::sync::Semaphore>,
    schemas: Option<Arc<Schemas>>,
    /// (chart, version) of unusable index entries already warned about in this run.
    warned: std::sync::Mutex<std::collections::BTreeSet<(String, String)>>,
}

impl Workspace {
    /// Read the train (from the work tree, or from `main` as `view` sees it — fetched first
    /// when the view says so) and set up the tools.
    pub async fn open(settings: Settings, view: View) -> Result<Workspace, JobError> {
        let remote = Remote::new(
            &settings.repo,
            &settings.github.remote,
            settings.github.token.clone(),
        );
        if view == (View::Remote { fetched: true }) {
            remote
                .fetch(&["main"])
                .await
                .map_err(|e| JobError::Git(e.to_string()))?;
        }
        let forge = match (&settings.github.repository, &settings.github.token) {
            (Some(repository), Some(token)) => Some(
                GitHub::new(&settings.github.api_url, repository, token)
                    .map_err(|e| JobError::Forge(e.to_string()))?,
            ),
            _ => None,
        };
        let (repo, remote_name) = (settings.repo.clone(), settings.github.remote.clone());
        let train = blocking(move || -> Result<Train, JobError> {
            match view {
                View::Local => Ok(config::load_train(&repo)?),
                View::Remote { fetched } => {
                    let tree =
                        locate_remote(&repo, &remote_name, "main", fetched)?.ok_or_else(|| {
                            JobError::Git(format!(
                                "main is not in {}: no {remote_name}/main{}",
                                repo.display(),
                                if fetched { "" } else { " and no local main" }
                            ))
                        })?;
                    Ok(config::load_train_from(&tree, &repo)?)
                }
            }
        })
        .await?;
        let checkout = checkout_branch(
            &settings.repo,
            &train,
            settings.worktree_branch.as_deref(),
            settings.base_ref.as_deref(),
        )?;
        let fetcher = Arc::new(
            Fetcher::new(train.mirrors.clone(), settings.cache_dir.clone())?
                .with_timeout(settings.upstream_timeout)
                // The token reads public releases at the authenticated rate limit; it goes to
                // the API host only.
                .with_github(
                    &settings.github.api_url,
                    settings
                        .github
                        .token
                        .as_ref()
                        .map(|t| secrecy::ExposeSecret::expose_secret(t).to_string()),
                )?,
        );
        let schemas =
            Schemas::resolve(settings.schemas.clone(), &train, &settings.cache_dir).map(Arc::new);
        let render_cache =
            render::cache::RenderCache::new(&settings.cache_dir, settings.render_cache_max_bytes);
        Ok(Workspace {
            settings,
            train,
            view,
            checkout,
            remote,
            forge,
            helm: OnceLock::new(),
            helm_version: tokio::sync::OnceCell::new(),
            render_cache,
            fetcher,
            permits: Arc::new(helm_permits()),
            schemas,
            warned: Default::default(),
        })
    }

    pub fn repo(&self) -> &Path {
        &self.settings.repo
    }

    pub fn view(&self) -> View {
        self.view
    }

    /// The train branch the work tree holds.
    pub fn checkout(&self) -> &BranchName {
        &self.checkout
    }

    /// The git remote, with the token when one is set.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// GitHub, when a repository and a token are set.
    pub fn forge(&self) -> Option<&GitHub> {
        self.forge.as_ref()
    }

    /// GitHub for a job that writes to it, or the error that says what is missing.
    pub fn require_forge(&self, job: &str) -> Result<&GitHub, JobError> {
        self.settings.github.require(job)?;
        self.forge
            .as_ref()
            .ok_or_else(|| JobError::Internal("GitHub settings without a client".into()))
    }

    pub fn identity(&self) -> &Identity {
        &self.settings.github.identity
    }

    /// `ake-bot/`.
    pub fn branch_prefix(&self) -> &str {
        &self.settings.github.branch_prefix
    }

    /// helm, found on first use (`$HELM`, else `PATH`).
    pub fn helm(&self) -> Result<Arc<Helm>, JobError> {
        self.helm
            .get_or_init(|| Helm::locate().map(Arc::new))
            .clone()
            .map_err(JobError::HelmMissing)
    }

    /// The upstream fetcher: each index read once per run, archives verified and cached.
    pub fn fetcher(&self) -> &Arc<Fetcher> {
        &self.fetcher
    }

    /// Kubernetes schemas: `--schemas`, else branches.toml's `schemas`, else `schema_url`
    /// fetched into the cache; `None` when none is configured.
    pub fn schemas(&self) -> Option<&Arc<Schemas>> {
        self.schemas.as_ref()
    }

    /// The train branch `name`, or an error listing the train's branches.
    pub fn branch(&self, name: &str) -> Result<&TrainBranch, JobError> {
        self.train
            .branch(name)
            .ok_or_else(|| JobError::UnknownBranch {
                name: name.to_string(),
                known: branch_names(&self.train),
            })
    }

    /// `names` checked against the train, in the train's order; every branch that is not eol
    /// when `names` is empty.
    pub fn select_branches(&self, names: &[String]) -> Result<Vec<TrainBranch>, JobError> {
        for n in names {
            self.branch(n)?;
        }
        Ok(self
            .train
            .branches
            .iter()
            .filter(|b| {
                if names.is_empty() {
                    b.status != BranchStatus::Eol
                } else {
                    names.iter().any(|n| n == b.name.as_str())
                }
            })
            .cloned()
            .collect())
    }

    /// Where `branch` is read from in this workspace's view, and its tree (`None`: not cut).
    /// Blocking (git2).
    pub fn locate(&self, branch: &str) -> Result<(Origin, Option<Tree>), JobError> {
        let repo = self.repo();
        let tree = match self.view {
            View::Local if branch == self.checkout.as_str() => {
                return Ok((Origin::WorkTree, Some(Tree::Dir(repo.to_path_buf()))))
            }
            View::Local => match git::branch_tree(repo, &format!("refs/heads/{branch}"), branch)? {
                Some(t) => Some(t),
                None => locate_remote(repo, self.remote.name(), branch, true)?,
            },
            View::Remote { fetched } => locate_remote(repo, self.remote.name(), branch, fetched)?,
        };
        Ok(match tree {
            Some(t) => (Origin::Git { label: t.label() }, Some(t)),
            None => (Origin::NotCut, None),
        })
    }

    /// `branch`'s bundles as this workspace reads it (empty when the branch is not cut).
    pub async fn branch_files(&self, branch: &TrainBranch) -> Result<BranchFiles, JobError> {
        let (origin, tree) = self.locate(branch.name.as_str())?;
        let bundles = match &tree {
            Some(t) => bundles_of(t.clone()).await?,
            None => Bundles::default(),
        };
        Ok(BranchFiles {
            branch: branch.clone(),
            origin,
            tree,
            bundles,
        })
    }

    /// The bundles of the work tree.
    pub async fn worktree_bundles(&self) -> Result<Bundles, JobError> {
        bundles_of(Tree::Dir(self.repo().to_path_buf())).await
    }

    /// Fetch those of `branches` the remote has (acting jobs read every branch from the
    /// remote as it is now).
    pub async fn fetch_branches(&self, branches: &[String]) -> Result<(), JobError> {
        let git = |e: git::RemoteError| JobError::Git(e.to_string());
        let heads = self.remote.branches("").await.map_err(git)?;
        let names: Vec<&str> = branches
            .iter()
            .map(String::as_str)
            .filter(|b| heads.iter().any(|(h, _)| h == b))
            .collect();
        if !names.is_empty() {
            self.remote.fetch(&names).await.map_err(git)?;
        }
        Ok(())
    }

    /// The commit a revision names (`refs/remotes/origin/main`, a SHA, a tag), if it exists.
    /// `None` too when the repository is not a git repository at all.
    pub fn commit(&self, rev: &str) -> Result<Option<git::CommitInfo>, JobError> {
        match git::commit_info(self.repo(), rev) {
            Ok(c) => Ok(c),
            Err(git::WriteError::Git { source, .. })
                if source.code() == git2::ErrorCode::NotFound =>
            {
                Ok(None)
            }
            Err(e) => Err(JobError::Git(e.to_string())),
        }
    }

    /// The ref `branch` is read from in the remote view (`refs/remotes/origin/x`, or the
    /// local branch for a dry run where the remote does not have it).
    pub fn remote_ref(&self, branch: &str) -> String {
        let tracking = format!("refs/remotes/{}/{branch}", self.remote.name());
        match self.view {
            View::Remote { fetched: false } if !matches!(self.commit(&tracking), Ok(Some(_))) => {
                format!("refs/heads/{branch}")
            }
            _ => tracking,
        }
    }

    /// Remove what killed runs left next to the work tree's renders.
    pub async fn remove_stale_temps(&self) {
        let bundles = self.repo().join(config::BUNDLES_DIR);
        if let Ok(removed) = blocking(move || Ok(crate::fs::remove_stale_temps(&bundles))).await {
            for p in removed {
                tracing::info!(path = %p.display(), "removed a temporary file a killed run left");
            }
        }
    }

    /// Say once per run that an index entry of `chart` cannot be used, and why.
    pub fn warn_unusable(&self, chart: &str, u: &crate::upstream::Unusable) {
        let first = self
            .warned
            .lock()
            .expect("the warned set is never poisoned: nothing panics holding it")
            .insert((chart.to_string(), u.version.clone()));
        if first {
            tracing::warn!(chart, version = %u.version, reason = %u.reason, "index entry skipped: {chart} {}: {}", u.version, u.reason);
        }
    }

    /// The index entry of the version `bundle` pins.
    pub async fn pinned_release(
        &self,
        bundle: &LoadedBundle,
    ) -> Result<Release, upstream::UpstreamError> {
        upstream::pinned_release(&self.fetcher, &bundle.bundle).await
    }

    /// `helm version --short`, asked once per run (and remembered in the cache between runs).
    pub async fn helm_version(&self) -> Result<&str, JobError> {
        let helm = self.helm()?;
        self.helm_version
            .get_or_try_init(|| render::cache::helm_version(&self.settings.cache_dir, &helm))
            .await
            .map(String::as_str)
            .map_err(JobError::HelmMissing)
    }

    /// The render cache (renders and planned entries) in the cache directory.
    pub fn render_cache(&self) -> &render::cache::RenderCache {
        &self.render_cache
    }

    /// Resolve every input of rendering `release` of `bundle` for `branch` (fetching the chart,
    /// verified), without rendering: its cache key and the work.
    pub async fn render_plan(
        &self,
        bundle: &LoadedBundle,
        branch: &TrainBranch,
        release: &Release,
    ) -> Result<render::RenderPlan, ReleaseError> {
        let helm_version = if render::needs_helm(&bundle.bundle) {
            Some(
                self.helm_version()
                    .await
                    .map_err(|e| ReleaseError::Render(e.to_string()))?,
            )
        } else {
            None
        };
        render::plan_release(&self.fetcher, helm_version, bundle, branch, release).await
    }

    /// The render `plan` describes: from the render cache, else with helm (and then cached).
    pub async fn render_planned(
        &self,
        plan: &render::RenderPlan,
    ) -> Result<Rendered, ReleaseError> {
        let helm = self
            .helm()
            .map_err(|e| ReleaseError::Render(e.to_string()))?;
        render::render_planned(&helm, &self.permits, &self.render_cache, plan).await
    }

    /// Fetch (verified) and render `release` of `bundle` for `branch` (through the cache).
    pub async fn render(
        &self,
        bundle: &LoadedBundle,
        branch: &TrainBranch,
        release: &Release,
    ) -> Result<Rendered, ReleaseError> {
        let plan = self.render_plan(bundle, branch, release).await?;
        self.render_planned(&plan).await
    }

    /// Render the version `bundle` pins for `branch`, with its index entry.
    pub async fn render_pinned(
        &self,
        bundle: &LoadedBundle,
        branch: &TrainBranch,
    ) -> Result<(Release, Rendered), String> {
        let release = self
            .pinned_release(bundle)
            .await
            .map_err(|e| e.to_string())?;
        let rendered = self
            .render(bundle, branch, &release)
            .await
            .map_err(|e| e.to_string())?;
        Ok((release, rendered))
    }
}

/// The train branch the work tree at `repo` holds: `explicit` (`render --branch`), else the
/// checked-out git branch when the train has it, else the branch a pull request targets
/// (`GITHUB_BASE_REF`, in a PR's CI checkout) when the train has it, else `main` (a feature
/// branch, a detached HEAD, or no git at all: changes head for main first).
pub fn checkout_branch(
    repo: &Path,
    train: &Train,
    explicit: Option<&str>,
    base_ref: Option<&str>,
) -> Result<BranchName, JobError> {
    if let Some(name) = explicit {
        return train
            .branch(name)
            .map(|b| b.name.clone())
            .ok_or_else(|| JobError::UnknownBranch {
                name: name.to_string(),
                known: branch_names(train),
            });
    }
    let known = |n: &str| train.branch(n).map(|b| b.name.clone());
    Ok(git::current_branch(repo)
        .and_then(|b| known(&b))
        .or_else(|| base_ref.filter(|b| !b.is_empty()).and_then(known))
        .unwrap_or_else(BranchName::main))
}

/// `branch` on the remote (`refs/remotes/<remote>/<branch>`); for a dry run that has not
/// fetched, the local branch where the remote has none.
fn locate_remote(
    repo: &Path,
    remote: &str,
    branch: &str,
    fetched: bool,
) -> Result<Option<Tree>, JobError> {
    let label = format!("{remote}/{branch}");
    if let Some(t) = git::branch_tree(repo, &format!("refs/remotes/{remote}/{branch}"), &label)? {
        return Ok(Some(t));
    }
    if fetched {
        return Ok(None);
    }
    Ok(git::branch_tree(
        repo,
        &format!("refs/heads/{branch}"),
        branch,
    )?)
}

async fn bundles_of(tree: Tree) -> Result<Bundles, JobError> {
    blocking(move || config::load_bundles(&tree).map_err(JobError::from)).await
}

/// Run blocking work (git2, file reads, parsing) off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, JobError> + Send + 'static,
) -> Result<T, JobError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| JobError::Internal(format!("a blocking task failed: {e}")))?
}

/// One permit per core: helm is CPU-bound, more only adds contention.
fn helm_permits() -> tokio::sync::Semaphore {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// The branch names of the train, for messages.
pub fn branch_names(train: &Train) -> String {
    train
        .branches
        .iter()
        .map(|b| b.name.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Workspace {
    /// `validate` on `branch` with `addon`'s render replaced by `new` (what a PR proposes),
    /// keeping only what the PR answers for. Schemas that `schema_url` names are fetched
    /// first; when that fails, the verdict says so and the other checks still run.
    pub async fn check_change(
        &self,
        branch: &TrainBranch,
        siblings: Arc<crate::validate::SiblingRenders>,
        addon: &str,
        new: Arc<crate::manifest::Manifests>,
        policies: Arc<crate::validate::Policies>,
    ) -> Result<crate::validate::Verdict, JobError> {
        let prepared = match &self.schemas {
            Some(s) => {
                let renders = siblings
                    .iter()
                    .filter_map(|(_, s)| s.as_ref().ok())
                    .map(|s| &s.objects)
                    .chain(std::iter::once(&*new));
                s.prepare(&self.fetcher, branch.kubernetes, renders).await
            }
            None => Ok(()),
        };
        let (branch, schemas, addon) = (branch.clone(), self.schemas.clone(), addon.to_string());
        blocking(move || {
            let store = schemas.as_deref().map(Schemas::store);
            let mut verdict = crate::validate::check_change(
                &branch,
                &siblings,
                &addon,
                &new,
                store,
                Some(&policies),
            );
            if let Err(e) = prepared {
                verdict.incomplete = true;
                verdict.warnings += 1;
                verdict
                    .lines
                    .insert(0, format!("**warning** schemas could not be fetched: {e}"));
            }
            Ok(verdict)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn train() -> Train {
        config::branches_for_tests(
            "[main]\nkubernetes = \"1.33\"\nkind_image = \"k\"\n\
             [[release]]\nkubernetes = \"1.32\"\nkind_image = \"k\"\n",
        )
    }

    /// A repository with one commit, `branch` checked out (`None`: a detached HEAD).
    fn repo_on(branch: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let r = git2::Repository::init(dir.path()).expect("init");
        let sig = git2::Signature::new("t", "t@example.com", &git2::Time::new(0, 0)).expect("sig");
        let tree = r
            .find_tree(r.treebuilder(None).and_then(|b| b.write()).expect("tree"))
            .expect("tree");
        let c = r
            .commit(None, &sig, &sig, "initial", &tree, &[])
            .expect("commit");
        match branch {
            Some(b) => {
                r.reference(&format!("refs/heads/{b}"), c, true, "branch")
                    .expect("branch");
                r.set_head(&format!("refs/heads/{b}")).expect("head");
            }
            None => r.set_head_detached(c).expect("detach"),
        }
        dir
    }

    fn on(dir: &tempfile::TempDir, explicit: Option<&str>, base_ref: Option<&str>) -> String {
        checkout_branch(dir.path(), &train(), explicit, base_ref)
            .expect("a train branch")
            .to_string()
    }

    #[test]
    fn the_work_tree_holds_one_branch_decided_in_one_place() {
        // The checked-out train branch.
        assert_eq!(
            on(&repo_on(Some("release-1.32")), None, None),
            "release-1.32"
        );
        // `render --branch` says so explicitly, whatever is checked out.
        assert_eq!(
            on(&repo_on(Some("main")), Some("release-1.32"), None),
            "release-1.32"
        );
        // A feature branch or a detached HEAD heads for main…
        assert_eq!(on(&repo_on(Some("fix-values")), None, None), "main");
        assert_eq!(on(&repo_on(None), None, None), "main");
        // …unless a pull request's checkout says which branch it targets.
        assert_eq!(
            on(&repo_on(None), None, Some("release-1.32")),
            "release-1.32"
        );
        assert_eq!(on(&repo_on(None), None, Some("")), "main");
        // A base ref that is not in the train, or no git at all: main.
        assert_eq!(on(&repo_on(None), None, Some("feature")), "main");
        let plain = tempfile::tempdir().expect("temp dir");
        assert_eq!(on(&plain, None, None), "main");
        // An explicit branch the train does not have is an error that lists the train.
        let e = checkout_branch(plain.path(), &train(), Some("release-9.9"), None)
            .expect_err("unknown branch");
        assert_eq!(
            e.to_string(),
            "unknown branch \"release-9.9\": branches.toml has main, release-1.32"
        );
    }
}
