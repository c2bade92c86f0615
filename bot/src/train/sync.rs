//! `sync`: for every bundle and every branch it applies to, the newest allowed upstream
//! version, re-rendered for that branch, and the PR that would carry it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::config::{self, Bundles, LoadedBundle, Train, TrainBranch};
use crate::git::{self, Tree};
use crate::manifest::{self, Manifests};
use crate::model::{AddonName, BranchName};
use crate::render::{self, Helm};
use crate::report::{self, PrBody};
use crate::upstream::{self, Fetcher, Release, Skip, UpstreamError};

pub use super::JobError;

/// What `sync` is asked to do.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// The config repository.
    pub repo: PathBuf,
    /// Only these addons (all when empty).
    pub addons: Vec<String>,
    /// Only these branches (all non-eol when empty).
    pub branches: Vec<String>,
    /// Where verified chart archives are cached.
    pub cache_dir: PathBuf,
    /// Read `main` (and `branches.toml`) from this ref instead of the work tree, e.g.
    /// `refs/remotes/origin/main` when acting: commits must build on what the remote has.
    pub main_ref: Option<String>,
    /// Kubernetes schema sets for the validation section of PR bodies (`validate --schemas`).
    pub schemas: Option<PathBuf>,
}

/// Where a branch's bundles were read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Origin {
    /// The checked-out work tree.
    WorkTree,
    /// A commit of the branch in git (`release-1.31` or `origin/release-1.31`).
    Git { label: String },
    /// The branch does not exist in the repository yet: planned from the work tree's bundles,
    /// with the current pin re-rendered for the branch's minor as the baseline.
    NotCut,
}

/// What should happen on one (addon, branch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// A newer version is admissible: open or update the PR.
    Update,
    /// The pin is the newest admissible version.
    UpToDate,
    /// Nothing admissible is newer, and the pin itself is not admissible here either (e.g. a
    /// chart whose `kubeVersion` excludes this branch's minor). Needs a human.
    Blocked { reason: String },
}

/// One (addon, branch) of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanEntry {
    pub addon: AddonName,
    pub branch: BranchName,
    pub kubernetes: String,
    pub origin: Origin,
    pub action: Action,
    pub current: String,
    pub current_app_version: Option<String>,
    pub target: Option<String>,
    pub target_app_version: Option<String>,
    /// Newer versions passed over, and why.
    pub skipped: Vec<Skip>,
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    /// Labels the PR carries.
    pub labels: Vec<String>,
    /// PR title and body, for `Update` entries.
    pub title: Option<String>,
    pub body: Option<String>,
    /// What would happen to the addon's PR (main only; `--dry-run` with GitHub access).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr: Option<super::publish::PrPlan>,
    /// The new committed render, for `Update` entries (not printed; the executor writes it).
    #[serde(skip)]
    pub rendered: Option<String>,
}

/// A failure scoped to one addon (and branch, when known).
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub addon: String,
    pub branch: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.branch {
            Some(b) => write!(f, "{} on {b}: {}", self.addon, self.message),
            None => write!(f, "{}: {}", self.addon, self.message),
        }
    }
}

/// The whole plan.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SyncPlan {
    pub entries: Vec<PlanEntry>,
    pub problems: Vec<Problem>,
}

struct BranchState {
    branch: TrainBranch,
    origin: Origin,
    bundles: Bundles,
}

/// Build the plan. Reads the repository and upstream; writes nothing but the chart cache.
pub async fn plan(req: &SyncRequest) -> Result<SyncPlan, JobError> {
    let repo = req.repo.clone();
    let main_tree = match &req.main_ref {
        Some(r) => Some(ref_tree(&repo, r)?),
        None => None,
    };
    let train = {
        let (repo, main_tree) = (repo.clone(), main_tree.clone());
        tokio::task::spawn_blocking(move || match &main_tree {
            Some(t) => config::load_train_from(t, &repo),
            None => config::load_train(&repo),
        })
        .await
        .expect("config loading does not panic")?
    };
    let states = {
        let (repo, train) = (repo.clone(), train.clone());
        tokio::task::spawn_blocking(move || load_branches(&repo, &train, main_tree))
            .await
            .expect("branch loading does not panic")?
    };
    let branches = select_branches(&train, &req.branches)?;
    let worktree_names = states
        .iter()
        .find(|s| s.branch.is_main())
        .map(|s| s.bundles.names())
        .unwrap_or_default();
    super::check_addons(&req.addons, &worktree_names)?;
    let helm = Arc::new(Helm::locate().map_err(JobError::HelmMissing)?);
    let fetcher = Arc::new(Fetcher::new(train.mirrors.clone(), req.cache_dir.clone())?);
    let permits = Arc::new(super::helm_permits());
    let store = req
        .schemas
        .clone()
        .or_else(|| train.schemas.clone())
        .map(|d| Arc::new(crate::validate::SchemaStore::new(d)));

    let mut out = SyncPlan::default();
    let mut tasks = tokio::task::JoinSet::new();
    for state in states
        .into_iter()
        .filter(|s| branches.contains(&s.branch.name))
    {
        let wanted = |dir: &str| req.addons.is_empty() || req.addons.iter().any(|a| a == dir);
        for p in state.bundles.problems.iter().filter(|p| wanted(&p.dir)) {
            out.problems.push(Problem {
                addon: p.dir.clone(),
                branch: Some(state.branch.name.to_string()),
                message: config::ConfigErrors(p.errors.clone()).to_string(),
            });
        }
        // Parsed once per branch, by whichever job needs it first, while others still render.
        let siblings = Arc::new(Siblings {
            loaded: state.bundles.loaded.clone(),
            parsed: tokio::sync::OnceCell::new(),
        });
        for lb in state
            .bundles
            .loaded
            .iter()
            .filter(|b| wanted(b.bundle.name.as_str()))
        {
            let job = Job {
                bundle: lb.clone(),
                branch: state.branch.clone(),
                origin: state.origin.clone(),
                helm: helm.clone(),
                fetcher: fetcher.clone(),
                permits: permits.clone(),
                siblings: siblings.clone(),
                store: store.clone(),
            };
            tasks.spawn(async move {
                let (addon, branch) = (job.bundle.bundle.name.clone(), job.branch.name.clone());
                let span = tracing::info_span!("plan", addon = %addon, branch = %branch);
                let res = tracing::Instrument::instrument(job.run(), span).await;
                (addon, branch, res)
            });
        }
    }
    while let Some(joined) = tasks.join_next().await {
        let (addon, branch, res) = joined.expect("planning tasks do not panic");
        match res {
            Ok(entry) => out.entries.push(entry),
            Err(message) => out.problems.push(Problem {
                addon: addon.to_string(),
                branch: Some(branch.to_string()),
                message,
            }),
        }
    }
    // Stable order: branches as in branches.toml, addons by name.
    let order: BTreeMap<BranchName, usize> = train
        .branches
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.clone(), i))
        .collect();
    out.entries
        .sort_by_key(|e| (order.get(&e.branch).copied(), e.addon.clone()));
    out.problems
        .sort_by(|a, b| (&a.addon, &a.branch).cmp(&(&b.addon, &b.branch)));
    Ok(out)
}

fn select_branches(train: &Train, names: &[String]) -> Result<Vec<BranchName>, JobError> {
    if names.is_empty() {
        return Ok(train
            .branches
            .iter()
            .filter(|b| b.status != config::BranchStatus::Eol)
            .map(|b| b.name.clone())
            .collect());
    }
    names
        .iter()
        .map(|n| {
            train
                .branch(n)
                .map(|b| b.name.clone())
                .ok_or_else(|| JobError::UnknownBranch {
                    name: n.clone(),
                    known: super::branch_names(train),
                })
        })
        .collect()
}

/// The tree of commit `reference` (`refs/remotes/origin/main`).
fn ref_tree(repo: &Path, reference: &str) -> Result<Tree, JobError> {
    let info = git::commit_info(repo, reference)
        .map_err(|e| JobError::Git(e.to_string()))?
        .ok_or_else(|| {
            JobError::Git(format!("{reference} does not exist in {}", repo.display()))
        })?;
    Ok(Tree::Commit {
        repo: repo.to_path_buf(),
        commit: info.id,
        label: reference.trim_start_matches("refs/remotes/").to_string(),
    })
}

/// Read each branch's bundles from where that branch lives.
fn load_branches(
    repo: &Path,
    train: &Train,
    main_tree: Option<Tree>,
) -> Result<Vec<BranchState>, git::TreeError> {
    let checked_out = git::current_branch(repo).unwrap_or_else(|| "main".to_string());
    let worktree = Tree::Dir(repo.to_path_buf());
    let worktree_bundles = config::load_bundles(&worktree)?;
    let mut out = Vec::new();
    for b in &train.branches {
        let (origin, bundles) = if let (true, Some(t)) = (b.is_main(), &main_tree) {
            (Origin::Git { label: t.label() }, config::load_bundles(t)?)
        } else if b.name.as_str() == checked_out {
            (Origin::WorkTree, worktree_bundles.clone())
        } else if let Some(tree) = git::find_branch(repo, b.name.as_str())? {
            let bundles = config::load_bundles(&tree)?;
            (
                Origin::Git {
                    label: tree.label(),
                },
                bundles,
            )
        } else {
            (Origin::NotCut, worktree_bundles.clone())
        };
        out.push(BranchState {
            branch: b.clone(),
            origin,
            bundles,
        });
    }
    Ok(out)
}

/// A branch's bundles and, once a job asks, their parsed renders.
struct Siblings {
    loaded: Vec<LoadedBundle>,
    parsed: tokio::sync::OnceCell<Arc<crate::validate::ParsedRenders>>,
}

impl Siblings {
    async fn parsed(&self) -> Arc<crate::validate::ParsedRenders> {
        self.parsed
            .get_or_init(|| async {
                let loaded = self.loaded.clone();
                Arc::new(
                    tokio::task::spawn_blocking(move || crate::validate::parse_renders(&loaded))
                        .await
                        .expect("parsing renders does not panic"),
                )
            })
            .await
            .clone()
    }
}

struct Job {
    bundle: LoadedBundle,
    branch: TrainBranch,
    origin: Origin,
    helm: Arc<Helm>,
    fetcher: Arc<Fetcher>,
    permits: Arc<tokio::sync::Semaphore>,
    /// The branch's bundles, for validating the change in context.
    siblings: Arc<Siblings>,
    store: Option<Arc<crate::validate::SchemaStore>>,
}

impl Job {
    async fn run(self) -> Result<PlanEntry, String> {
        let b = &self.bundle.bundle;
        let helm_src = b.helm();
        let index = self
            .fetcher
            .index(&helm_src.repo)
            .await
            .map_err(|e| e.to_string())?;
        if !index.has_chart(&helm_src.chart) {
            return Err(UpstreamError::ChartMissing {
                chart: helm_src.chart.clone(),
                index: index.location.clone(),
            }
            .to_string());
        }
        let releases = index.releases(&helm_src.chart);
        if !releases.skipped.is_empty() {
            tracing::debug!(skipped = releases.skipped.len(), "index entries skipped");
        }
        let current = releases
            .releases
            .iter()
            .find(|r| r.version == b.version)
            .cloned();
        let choice = upstream::choose(&releases.releases, b, &self.branch, &b.version);

        let mut entry = PlanEntry {
            addon: b.name.clone(),
            branch: self.branch.name.clone(),
            kubernetes: self.branch.kubernetes.to_string(),
            origin: self.origin.clone(),
            action: Action::UpToDate,
            current: b.version.to_string(),
            current_app_version: current.as_ref().and_then(|r| r.entry.app_version.clone()),
            target: None,
            target_app_version: None,
            skipped: choice.skipped_newer.clone(),
            added: 0,
            removed: 0,
            changed: 0,
            labels: Vec::new(),
            title: None,
            body: None,
            pr: None,
            rendered: None,
        };
        let target = match choice.target {
            Some(t) if t.version > b.version => t,
            Some(t) if t.version == b.version => return Ok(entry),
            other => {
                // Nothing newer is admissible. If the pin itself is fine, the branch is simply
                // current; if not, a human must decide (never downgrade silently).
                if let Err(reason) = &choice.current_admissible {
                    entry.action = Action::Blocked {
                        reason: match other {
                            Some(t) => format!(
                                "pinned {} is not admissible here ({reason}); newest admissible is {}, which would be a downgrade",
                                b.version, t.version
                            ),
                            None => format!(
                                "no version of {} is admissible on {} (pinned {}: {reason})",
                                helm_src.chart, self.branch.name, b.version
                            ),
                        },
                    };
                }
                return Ok(entry);
            }
        };
        entry.target = Some(target.version.to_string());
        entry.target_app_version = target.entry.app_version.clone();
        entry.action = Action::Update;

        let new = self.render(&target).await?;
        let verdict = {
            let (branch, siblings, store) = (
                self.branch.clone(),
                self.siblings.parsed().await,
                self.store.clone(),
            );
            let (addon, new_m) = (b.name.to_string(), new.manifests.clone());
            tokio::task::spawn_blocking(move || {
                crate::validate::check_change(&branch, &siblings, &addon, &new_m, store.as_deref())
            })
            .await
            .map_err(|e| format!("validation task failed: {e}"))?
        };
        let old = match self.baseline(current.as_ref()).await? {
            Some(m) => m,
            None => Manifests::parse("").map_err(|e| e.to_string())?,
        };
        let diff = tokio::task::spawn_blocking({
            let new = new.manifests;
            move || manifest::diff(&old, &new)
        })
        .await
        .map_err(|e| format!("diff task failed: {e}"))?;
        entry.added = diff.added.len();
        entry.removed = diff.removed.len();
        entry.changed = diff.changed.len();
        let body = PrBody {
            addon: b,
            branch: &self.branch,
            current: current.as_ref(),
            current_version: &b.version,
            target: &target,
            skipped: &choice.skipped_newer,
            diff: &diff,
            baseline_note: (self.origin == Origin::NotCut).then_some(
                "This branch is not cut in this repository yet: the baseline is the current pin rendered for its minor.",
            ),
            validation: Some(&verdict),
        };
        entry.labels = report::labels(b, &diff);
        entry.labels.extend(verdict.labels.iter().cloned());
        entry.title = Some(report::title(b, &self.branch, &b.version, &target.version));
        entry.body =
            Some(report::pr_body(&body).map_err(|e| format!("cannot render the PR body: {e}"))?);
        entry.rendered = Some(new.text);
        Ok(entry)
    }

    /// What the branch runs today: its committed render, or (not cut yet, or never rendered)
    /// the current pin rendered for this branch.
    async fn baseline(&self, current: Option<&Release>) -> Result<Option<Manifests>, String> {
        if self.origin != Origin::NotCut {
            if let Some(text) = self.bundle.rendered.clone() {
                let file = self.bundle.bundle.rendered_file();
                return tokio::task::spawn_blocking(move || Manifests::parse(&text))
                    .await
                    .map_err(|e| format!("parser task failed: {e}"))?
                    .map(Some)
                    .map_err(|e| {
                        format!("committed render {} is unreadable: {e}", file.display())
                    });
            }
        }
        match current {
            Some(r) => Ok(Some(self.render(r).await?.manifests)),
            None => Ok(None),
        }
    }

    async fn render(&self, release: &Release) -> Result<render::Rendered, String> {
        super::render_release(
            &self.fetcher,
            &self.helm,
            &self.permits,
            &self.bundle,
            &self.branch,
            release,
        )
        .await
    }
}
