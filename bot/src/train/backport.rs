//! `backport`: carry each change merged to `main` to every release branch it applies to, as a
//! pull request onto that branch.
//!
//! Per (change, branch): decide whether it applies (branch status, the source PR's labels, the
//! branch's caps and the chart's `kubeVersion` for any version the change moves to), pick the
//! change's **source** files onto the branch in memory, re-render the touched bundles for the
//! branch's Kubernetes minor (so rendered files never conflict and are right for the branch),
//! and reconcile one bot branch and one PR for it. Conflicts in source files still give a PR:
//! a draft, labelled `backport-conflict`, with the paths and the commands to finish by hand.
//! The source PR gets one comment, kept current, saying where the change went and where not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::publish::{self, PrOutcome, PrSpec, PublishSettings};
use super::JobError;
use crate::config::{self, BranchStatus, Bundles, Train, TrainBranch};
use crate::forge::{GitHub, PullState, PullSummary};
use crate::git::{self, CommitSummary, FileChange, Remote, Tree};
use crate::manifest::{self, Manifests};
use crate::render::Helm;
use crate::upstream::Fetcher;

/// The label that keeps a change on `main` only.
pub const OPT_OUT_LABEL: &str = "no-backport";
/// The label on backport PRs whose source files conflicted.
pub const CONFLICT_LABEL: &str = "backport-conflict";
/// How many commits `--since` may walk before asking for explicit `--commit`s.
const SINCE_LIMIT: usize = 100;

/// Which changes to carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// The tip of `main`.
    Tip,
    /// These commits on `main`.
    Commits(Vec<String>),
    /// The commits these merged PRs made on `main`.
    Pulls(Vec<u64>),
    /// Every commit on `main`'s first-parent line after this one (a push's `before`).
    Since(String),
}

#[derive(Debug, Clone)]
pub struct BackportRequest {
    pub repo: PathBuf,
    pub cache_dir: PathBuf,
    pub changes: Changes,
    /// Only these release branches [default: all].
    pub branches: Vec<String>,
    /// Plan only: no fetch, no push, no GitHub write (GitHub is read when settings are given,
    /// for the source PRs' labels and the existing backport PRs).
    pub dry_run: bool,
    /// Kubernetes schema sets for the validation section of PR bodies.
    pub schemas: Option<PathBuf>,
}

/// What happened (or, with `--dry-run`, would happen) to one change on one branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// A backport PR exists and says what it should (opened, updated or unchanged).
    Pr {
        number: u64,
        action: PrAction,
    },
    /// A draft PR with conflicts a person must resolve.
    Conflict {
        number: Option<u64>,
        paths: Vec<String>,
    },
    /// `--dry-run`: the PR that would be opened or refreshed.
    Planned {
        files: Vec<String>,
        conflicts: Vec<String>,
        existing: Option<u64>,
    },
    /// The change does not go to this branch, and why.
    Skipped {
        reason: String,
    },
    /// The branch already holds the change.
    AlreadyApplied,
    /// The backport PR was merged.
    Merged {
        number: u64,
    },
    /// The backport PR was closed without merging: not reopened.
    Declined {
        number: u64,
    },
    /// A person pushed to the backport branch (finishing a conflict): left alone.
    HandedOver {
        number: u64,
    },
    Failed {
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrAction {
    Opened,
    Updated,
    Unchanged,
}

#[derive(Debug, Clone, Serialize)]
pub struct BranchResult {
    pub branch: String,
    /// The bot branch holding the backport.
    pub head: String,
    pub outcome: Outcome,
}

/// One change on `main` and where it went.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeResult {
    pub commit: String,
    pub subject: String,
    pub source_pr: Option<u64>,
    /// Addons whose source files the change touched.
    pub addons: Vec<String>,
    /// Why the change is not carried anywhere (nothing but generated files, …).
    pub nothing_to_carry: Option<String>,
    pub branches: Vec<BranchResult>,
    /// The summary comment on the source PR: `posted`, `updated`, `unchanged`.
    pub comment: Option<String>,
    /// A failure for the whole change (its PR could not be read, …).
    pub error: Option<String>,
}

impl ChangeResult {
    pub fn failed(&self) -> bool {
        self.error.is_some()
            || self
                .branches
                .iter()
                .any(|b| matches!(b.outcome, Outcome::Failed { .. }))
    }
}

/// Files a backport never carries: generated ones (re-rendered per branch instead) and the
/// train itself, which lives on `main`.
fn keep_branch_side(path: &str) -> bool {
    path == config::TRAIN_FILE || rendered_addon(path).is_some()
}

/// `bundles/<addon>/rendered/...` → the addon.
fn rendered_addon(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(config::BUNDLES_DIR)?.strip_prefix('/')?;
    let (addon, rest) = rest.split_once('/')?;
    let rendered_dir = Path::new(config::RENDERED_FILE)
        .components()
        .next()?
        .as_os_str()
        .to_str()?;
    rest.starts_with(&format!("{rendered_dir}/"))
        .then_some(addon)
}

/// `bundles/<addon>/<source file>` → the addon.
fn source_addon(path: &str) -> Option<&str> {
    if rendered_addon(path).is_some() {
        return None;
    }
    let rest = path.strip_prefix(config::BUNDLES_DIR)?.strip_prefix('/')?;
    rest.split_once('/').map(|(a, _)| a)
}

struct Ctx<'a> {
    req: &'a BackportRequest,
    settings: Option<&'a PublishSettings>,
    forge: Option<GitHub>,
    remote: Remote,
    train: Train,
    /// Release branch → its tip on the remote (only branches that exist there).
    tips: BTreeMap<String, String>,
    /// Bot branches on the remote → their tips.
    bot_branches: BTreeMap<String, String>,
    helm: Arc<Helm>,
    fetcher: Arc<Fetcher>,
    permits: Arc<tokio::sync::Semaphore>,
    prefix: String,
    remote_name: String,
    store: Option<Arc<crate::validate::SchemaStore>>,
}

/// Carry the requested changes. Errors that stop the whole job (no config, cannot fetch) are
/// returned; everything scoped to one change or branch is in the results.
pub async fn backport(
    req: &BackportRequest,
    settings: Option<&PublishSettings>,
    forge_reader: Option<GitHub>,
) -> Result<Vec<ChangeResult>, JobError> {
    let remote_name = settings.map_or("origin".to_string(), |s| s.remote.clone());
    let remote = Remote::new(&req.repo, &remote_name, settings.map(|s| s.token.clone()));
    let main_rev = ref_for(&req.repo, &remote_name, "main", req.dry_run);
    if !req.dry_run {
        remote
            .fetch(&["main"])
            .await
            .map_err(|e| JobError::Git(e.to_string()))?;
    }
    let main_tip = commit_of(&req.repo, &main_rev)?
        .ok_or_else(|| JobError::Git(format!("{main_rev} does not exist")))?;
    let train = {
        let tree = Tree::Commit {
            repo: req.repo.clone(),
            commit: main_tip.clone(),
            label: main_rev.clone(),
        };
        let root = req.repo.clone();
        tokio::task::spawn_blocking(move || config::load_train_from(&tree, &root))
            .await
            .expect("config loading does not panic")?
    };
    for b in &req.branches {
        if train.branch(b).is_none_or(TrainBranch::is_main) {
            return Err(JobError::UnknownBranch {
                name: b.clone(),
                known: release_names(&train),
            });
        }
    }
    let wanted: Vec<String> = train
        .branches
        .iter()
        .filter(|b| !b.is_main())
        .filter(|b| req.branches.is_empty() || req.branches.iter().any(|n| n == b.name.as_str()))
        .map(|b| b.name.to_string())
        .collect();

    let prefix = settings.map_or("ake-bot/".to_string(), |s| s.branch_prefix.clone());
    let (mut tips, mut bot_branches) = (BTreeMap::new(), BTreeMap::new());
    if req.dry_run {
        for b in &wanted {
            if let Some(sha) = commit_of(&req.repo, &ref_for(&req.repo, &remote_name, b, true))? {
                tips.insert(b.clone(), sha);
            }
        }
    } else {
        let heads = remote
            .branches("")
            .await
            .map_err(|e| JobError::Git(e.to_string()))?;
        for (name, sha) in heads {
            if wanted.contains(&name) {
                tips.insert(name, sha);
            } else if name.starts_with(&format!("{prefix}backport/")) {
                bot_branches.insert(name, sha);
            }
        }
        let mut fetch: Vec<&str> = tips.keys().map(String::as_str).collect();
        fetch.extend(bot_branches.keys().map(String::as_str));
        if !fetch.is_empty() {
            remote
                .fetch(&fetch)
                .await
                .map_err(|e| JobError::Git(e.to_string()))?;
        }
    }

    let forge = match (settings, forge_reader) {
        (_, Some(f)) => Some(f),
        (Some(s), None) => Some(
            GitHub::new(&s.api_url, &s.repository, &s.token)
                .map_err(|e| JobError::Forge(e.to_string()))?,
        ),
        (None, None) => None,
    };
    let helm = Arc::new(Helm::locate().map_err(JobError::HelmMissing)?);
    let fetcher = Arc::new(Fetcher::new(train.mirrors.clone(), req.cache_dir.clone())?);
    let train_schemas = train.schemas.clone();
    let ctx = Ctx {
        req,
        settings,
        forge,
        remote,
        train,
        tips,
        bot_branches,
        helm,
        fetcher,
        permits: Arc::new(super::helm_permits()),
        prefix,
        remote_name,
        store: req
            .schemas
            .clone()
            .or_else(|| train_schemas.clone())
            .map(|d| Arc::new(crate::validate::SchemaStore::new(d))),
    };

    let mut results = Vec::new();
    for (commit, source_pr) in ctx.sources(&main_rev, &main_tip).await? {
        let span = tracing::info_span!("backport", commit = %&commit.id[..12]);
        let r =
            tracing::Instrument::instrument(ctx.carry(&commit, source_pr.as_ref(), &wanted), span)
                .await;
        results.push(r);
    }
    Ok(results)
}

fn release_names(train: &Train) -> String {
    train
        .branches
        .iter()
        .filter(|b| !b.is_main())
        .map(|b| b.name.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where to read `branch`: the remote-tracking ref (fetched, or as the checkout left it for a
/// dry run), else a local branch of that name.
fn ref_for(repo: &Path, remote: &str, branch: &str, dry_run: bool) -> String {
    let tracking = format!("refs/remotes/{remote}/{branch}");
    if !dry_run || matches!(git::commit_info(repo, &tracking), Ok(Some(_))) {
        tracking
    } else {
        format!("refs/heads/{branch}")
    }
}

fn commit_of(repo: &Path, rev: &str) -> Result<Option<String>, JobError> {
    git::commit_info(repo, rev)
        .map(|c| c.map(|c| c.id))
        .map_err(|e| JobError::Git(e.to_string()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
}

/// Bundles as of `commit`.
async fn bundles_at(repo: &Path, commit: &str, label: String) -> Result<Bundles, String> {
    let tree = Tree::Commit {
        repo: repo.to_path_buf(),
        commit: commit.to_string(),
        label,
    };
    blocking(move || config::load_bundles(&tree).map_err(|e| e.to_string())).await
}

impl Ctx<'_> {
    /// The commits to carry, oldest first, each with the PR that merged it (when GitHub is
    /// there to ask).
    async fn sources(
        &self,
        main_rev: &str,
        main_tip: &str,
    ) -> Result<Vec<(CommitSummary, Option<PullSummary>)>, JobError> {
        let repo = self.req.repo.clone();
        let git_err = |e: git::WriteError| JobError::Git(e.to_string());
        let mut out = Vec::new();
        let on_main = |sha: &str| -> Result<CommitSummary, JobError> {
            let c = git::commit_summary(&repo, sha)
                .map_err(git_err)?
                .ok_or_else(|| {
                    JobError::Git(format!(
                        "commit {sha} is not in the repository (fetch it, or check the SHA)"
                    ))
                })?;
            let reachable = git::first_parent_since(&repo, &c.id, main_tip, usize::MAX).is_ok();
            if !reachable {
                return Err(JobError::Git(format!(
                    "commit {:.12} is not on main's first-parent history ({main_rev}); backport carries changes merged to main",
                    c.id
                )));
            }
            Ok(c)
        };
        match &self.req.changes {
            Changes::Tip => out.push((on_main(main_tip)?, None)),
            Changes::Commits(shas) => {
                for s in shas {
                    out.push((on_main(s)?, None));
                }
            }
            Changes::Since(since) => {
                for c in
                    git::first_parent_since(&repo, since, main_tip, SINCE_LIMIT).map_err(git_err)?
                {
                    out.push((c, None));
                }
            }
            Changes::Pulls(numbers) => {
                let forge = self.forge.as_ref().ok_or_else(|| {
                    JobError::Forge(
                        "--pr needs GitHub: set GITHUB_REPOSITORY and GITHUB_TOKEN".into(),
                    )
                })?;
                for n in numbers {
                    let pr = forge
                        .pull(*n)
                        .await
                        .map_err(|e| JobError::Forge(e.to_string()))?;
                    let sha = match (&pr.merge_commit_sha, pr.base.as_str()) {
                        (Some(sha), "main") => sha.clone(),
                        _ => {
                            return Err(JobError::Forge(format!(
                                "pull request #{n} is not merged into main (base {}, {}); backport carries merged changes",
                                pr.base,
                                if pr.merged { "merged" } else { "not merged" }
                            )))
                        }
                    };
                    out.push((on_main(&sha)?, Some(pr)));
                }
            }
        }
        // The PR each commit came from: its labels opt branches in or out.
        if let Some(forge) = &self.forge {
            for (c, pr) in out.iter_mut().filter(|(_, pr)| pr.is_none()) {
                let pulls = forge
                    .pulls_for_commit(&c.id)
                    .await
                    .map_err(|e| JobError::Forge(e.to_string()))?;
                *pr = pulls
                    .into_iter()
                    .find(|p| p.merged && p.merge_commit_sha.as_deref() == Some(c.id.as_str()));
            }
        }
        Ok(out)
    }

    async fn carry(
        &self,
        commit: &CommitSummary,
        source_pr: Option<&PullSummary>,
        wanted: &[String],
    ) -> ChangeResult {
        let mut result = ChangeResult {
            commit: commit.id.clone(),
            subject: commit.subject.clone(),
            source_pr: source_pr.map(|p| p.number),
            addons: Vec::new(),
            nothing_to_carry: None,
            branches: Vec::new(),
            comment: None,
            error: None,
        };
        let change = match self.read_change(commit).await {
            Ok(c) => c,
            Err(e) => {
                result.error = Some(e);
                return result;
            }
        };
        result.addons = change.addons.iter().cloned().collect();
        if change.source_paths.is_empty() {
            result.nothing_to_carry =
                Some("the change touches only generated files and branches.toml".into());
            return result;
        }
        let labels: Vec<String> = source_pr.map(|p| p.labels.clone()).unwrap_or_default();
        for name in wanted {
            let branch = self
                .train
                .branch(name)
                .expect("wanted branches come from the train")
                .clone();
            let head = format!("{}backport/{}/{:.12}", self.prefix, branch.name, commit.id);
            let span = tracing::info_span!("branch", branch = %branch.name);
            let outcome = tracing::Instrument::instrument(
                self.carry_to(commit, source_pr, &change, &labels, &branch, &head),
                span,
            )
            .await
            .unwrap_or_else(|message| Outcome::Failed { message });
            result.branches.push(BranchResult {
                branch: name.clone(),
                head,
                outcome,
            });
        }
        if let (Some(pr), Some(forge), false) = (source_pr, &self.forge, self.req.dry_run) {
            match summary_comment(forge, pr.number, commit, &result).await {
                Ok(c) => result.comment = Some(c),
                Err(e) => result.error = Some(format!("commenting on #{}: {e}", pr.number)),
            }
        }
        result
    }

    /// What the commit changed, and the bundles before and after it.
    async fn read_change(&self, commit: &CommitSummary) -> Result<Change, String> {
        let (repo, id) = (self.req.repo.clone(), commit.id.clone());
        let paths =
            blocking(move || git::changed_paths(&repo, &id).map_err(|e| e.to_string())).await?;
        let source_paths: Vec<String> =
            paths.into_iter().filter(|p| !keep_branch_side(p)).collect();
        let addons: BTreeSet<String> = source_paths
            .iter()
            .filter_map(|p| source_addon(p))
            .map(str::to_string)
            .collect();
        let after = bundles_at(&self.req.repo, &commit.id, format!("{:.12}", commit.id)).await?;
        let before = match &commit.parent {
            Some(p) => Some(bundles_at(&self.req.repo, p, format!("{p:.12}")).await?),
            None => None,
        };
        // Addons whose pinned version the change moves: the branch must be able to take it.
        let mut bumps = Vec::new();
        for a in &addons {
            let Some(new) = after.loaded.iter().find(|b| b.bundle.name.as_str() == a) else {
                continue;
            };
            let old = before
                .as_ref()
                .and_then(|b| b.loaded.iter().find(|x| x.bundle.name.as_str() == a));
            if old.is_none_or(|o| o.bundle.version != new.bundle.version) {
                bumps.push(new.clone());
            }
        }
        Ok(Change {
            source_paths,
            addons,
            bumps,
        })
    }

    async fn carry_to(
        &self,
        commit: &CommitSummary,
        source_pr: Option<&PullSummary>,
        change: &Change,
        labels: &[String],
        branch: &TrainBranch,
        head: &str,
    ) -> Result<Outcome, String> {
        if let Some(reason) = not_applicable(branch, labels) {
            return Ok(Outcome::Skipped { reason });
        }
        let Some(tip) = self.tips.get(branch.name.as_str()).cloned() else {
            return Ok(Outcome::Skipped {
                reason: format!("`{}` does not exist on the remote yet", branch.name),
            });
        };
        let mut refused = Vec::new();
        for lb in &change.bumps {
            let release = super::rerender::pinned_release(&self.fetcher, lb).await?;
            if let Err(why) = crate::upstream::admissible(&release, &lb.bundle, branch) {
                refused.push(format!("{} {}: {why}", lb.bundle.name, lb.bundle.version));
            }
        }
        if !refused.is_empty() {
            return Ok(Outcome::Skipped {
                reason: format!("cannot take {}", refused.join("; ")),
            });
        }

        // The PRs this backport already has decide whether there is anything to do.
        let pulls = match &self.forge {
            Some(f) => f
                .pulls_for_head(head)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|p| p.base == branch.name.as_str())
                .collect(),
            None => Vec::new(),
        };
        let open = pulls.iter().find(|p| p.state == PullState::Open);
        if open.is_none() {
            if let Some(p) = pulls.iter().find(|p| p.merged) {
                return Ok(Outcome::Merged { number: p.number });
            }
            if let Some(p) = pulls.first() {
                return Ok(Outcome::Declined { number: p.number });
            }
        }
        let remote_sha = self.bot_branches.get(head).cloned();
        if let (Some(pr), Some(sha)) = (open, &remote_sha) {
            if !self.authored_by_bot(sha).await? {
                return Ok(Outcome::HandedOver { number: pr.number });
            }
        }

        let (repo, id, onto) = (self.req.repo.clone(), commit.id.clone(), tip.clone());
        let pick = blocking(move || {
            git::cherry_pick(&repo, &id, &onto, &keep_branch_side).map_err(|e| e.to_string())
        })
        .await?;
        if pick.changes.is_empty() && pick.conflicts.is_empty() {
            return Ok(Outcome::AlreadyApplied);
        }
        let conflicts: Vec<String> = pick
            .conflicts
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let mut changes = pick.changes.clone();
        let mut rendered = Vec::new();
        if conflicts.is_empty() {
            rendered = self
                .rerender(branch, &tip, &changes, &change.addons)
                .await?;
            changes.extend(rendered.iter().map(|r| r.change.clone()));
        }
        let files: Vec<String> = changes
            .iter()
            .map(|c| c.path.display().to_string())
            .collect();
        if self.req.dry_run {
            return Ok(Outcome::Planned {
                files,
                conflicts,
                existing: open.map(|p| p.number),
            });
        }
        let (Some(s), Some(forge)) = (self.settings, &self.forge) else {
            return Err("backport needs GitHub settings to act".into());
        };
        let body = body(
            commit,
            source_pr,
            branch,
            head,
            &tip,
            &conflicts,
            &rendered,
            &self.remote_name,
        );
        let title = format!(
            "[{}] {}",
            branch.name,
            source_pr.map_or(commit.subject.as_str(), |p| p.title.as_str())
        );
        let message = format!(
            "{title}\n\n(cherry picked from commit {})\n{}",
            commit.id,
            if conflicts.is_empty() {
                format!(
                    "Re-rendered for Kubernetes {} by ake-bot backport.",
                    branch.kubernetes
                )
            } else {
                format!(
                    "CONFLICTS in: {}. Resolve, then `ake-bot render --branch {}`.",
                    conflicts.join(", "),
                    branch.name
                )
            }
        );
        publish::push_on_base(
            &self.req.repo,
            &self.remote,
            &tip,
            remote_sha.as_deref(),
            head,
            changes,
            message,
            &s.identity,
        )
        .await?;
        let mut labels = vec!["ake-bot".to_string(), "backport".to_string()];
        labels.extend(rendered.iter().flat_map(|r| r.labels.iter().cloned()));
        if !conflicts.is_empty() {
            labels.push(CONFLICT_LABEL.into());
        }
        labels.sort();
        labels.dedup();
        let spec = PrSpec {
            head,
            base: branch.name.as_str(),
            title: &title,
            body: &body,
            labels: &labels,
            draft: !conflicts.is_empty(),
        };
        let number = match publish::ensure_pr(forge, &spec, open).await? {
            PrOutcome::Opened { number } => (number, PrAction::Opened),
            PrOutcome::Updated { number } => (number, PrAction::Updated),
            PrOutcome::Unchanged { number } => (number, PrAction::Unchanged),
            other => return Err(format!("unexpected PR outcome {other:?}")),
        };
        Ok(if conflicts.is_empty() {
            Outcome::Pr {
                number: number.0,
                action: number.1,
            }
        } else {
            Outcome::Conflict {
                number: Some(number.0),
                paths: conflicts,
            }
        })
    }

    async fn authored_by_bot(&self, sha: &str) -> Result<bool, String> {
        let Some(s) = self.settings else {
            return Ok(true);
        };
        let (repo, sha) = (self.req.repo.clone(), sha.to_string());
        let c =
            blocking(move || git::commit_summary(&repo, &sha).map_err(|e| e.to_string())).await?;
        Ok(c.is_some_and(|c| c.author_email == s.identity.email))
    }

    /// Render every touched bundle for `branch` as the picked sources define it.
    async fn rerender(
        &self,
        branch: &TrainBranch,
        tip: &str,
        changes: &[FileChange],
        addons: &BTreeSet<String>,
    ) -> Result<Vec<Rerendered>, String> {
        if addons.is_empty() {
            return Ok(Vec::new());
        }
        // The picked sources as an unreferenced commit, so bundles load the usual way.
        let (repo, tip_c, changes_c) = (self.req.repo.clone(), tip.to_string(), changes.to_vec());
        let who = git::Identity {
            name: "ake-bot".into(),
            email: "ake-bot@localhost".into(),
        };
        let picked = blocking(move || {
            git::commit_on(&repo, &tip_c, &changes_c, "picked sources", &who)
                .map_err(|e| e.to_string())
        })
        .await?;
        let label = format!("{} with the change", branch.name);
        let after = bundles_at(&self.req.repo, &picked.id, label).await?;
        let before = bundles_at(&self.req.repo, tip, branch.name.to_string()).await?;
        let mut out = Vec::new();
        for a in addons {
            if let Some(p) = after.problems.iter().find(|p| &p.dir == a) {
                return Err(config::ConfigErrors(p.errors.clone()).to_string());
            }
            let Some(lb) = after.loaded.iter().find(|b| b.bundle.name.as_str() == a) else {
                // The change removed the addon: its render goes too.
                if let Some(old) = before.loaded.iter().find(|b| b.bundle.name.as_str() == a) {
                    out.push(Rerendered {
                        addon: a.clone(),
                        from: Some(old.bundle.version.to_string()),
                        to: None,
                        change: FileChange {
                            path: old.bundle.rendered_file(),
                            content: None,
                        },
                        summary: String::new(),
                        labels: vec!["removed-objects".into()],
                        verdict: None,
                    });
                }
                continue;
            };
            let (_, rendered) = super::rerender::render_pinned(
                &self.fetcher,
                &self.helm,
                &self.permits,
                lb,
                branch,
            )
            .await
            .map_err(|e| format!("{a}: {e}"))?;
            let old = before.loaded.iter().find(|b| b.bundle.name.as_str() == a);
            let old_text = old.and_then(|o| o.rendered.clone()).unwrap_or_default();
            if old_text == rendered.text {
                continue;
            }
            let (summary, mut labels) = describe(&old_text, &rendered.text, &lb.bundle);
            let verdict = {
                let (branch, loaded, store) =
                    (branch.clone(), after.loaded.clone(), self.store.clone());
                let (addon, new) = (a.clone(), rendered.manifests.clone());
                blocking(move || {
                    let siblings = crate::validate::parse_renders(&loaded);
                    Ok(crate::validate::check_change(
                        &branch,
                        &siblings,
                        &addon,
                        &new,
                        store.as_deref(),
                    ))
                })
                .await?
            };
            labels.extend(verdict.labels.iter().cloned());
            out.push(Rerendered {
                addon: a.clone(),
                from: old.map(|o| o.bundle.version.to_string()),
                to: Some(lb.bundle.version.to_string()),
                change: FileChange {
                    path: lb.bundle.rendered_file(),
                    content: Some(rendered.text.into_bytes()),
                },
                summary,
                labels,
                verdict: Some(verdict),
            });
        }
        Ok(out)
    }
}

/// What a commit changed, as backport needs it.
struct Change {
    /// Changed paths that are carried (not generated, not the train).
    source_paths: Vec<String>,
    /// Addons with changed source files (re-rendered on each branch).
    addons: BTreeSet<String>,
    /// Bundles (as of the commit) whose pinned version the commit moved.
    bumps: Vec<config::LoadedBundle>,
}

/// One bundle re-rendered for a branch.
struct Rerendered {
    addon: String,
    from: Option<String>,
    to: Option<String>,
    change: FileChange,
    /// Markdown lines: what changes in the branch's rendered manifests.
    summary: String,
    labels: Vec<String>,
    /// `validate` on the branch with this render.
    verdict: Option<crate::validate::Verdict>,
}

/// Whether `branch` takes changes at all, given the source PR's labels.
fn not_applicable(branch: &TrainBranch, labels: &[String]) -> Option<String> {
    let opt_in = format!("backport/{}", branch.name);
    if branch.status == BranchStatus::Eol {
        return Some(format!("`{}` is end of life", branch.name));
    }
    if labels.iter().any(|l| l == OPT_OUT_LABEL) {
        return Some(format!("the source PR is labelled `{OPT_OUT_LABEL}`"));
    }
    if branch.status == BranchStatus::Frozen && !labels.contains(&opt_in) {
        return Some(format!(
            "`{}` is frozen; label the source PR `{opt_in}` to carry it there",
            branch.name
        ));
    }
    None
}

/// Markdown lines summarising the manifest diff, and the labels it earns.
fn describe(old: &str, new: &str, bundle: &config::Bundle) -> (String, Vec<String>) {
    let (Ok(o), Ok(n)) = (Manifests::parse(old), Manifests::parse(new)) else {
        return (
            "(the rendered manifests could not be compared)".into(),
            Vec::new(),
        );
    };
    let d = manifest::diff(&o, &n);
    let mut lines = vec![format!(
        "{} added, {} removed, {} changed objects",
        d.added.len(),
        d.removed.len(),
        d.changed.len()
    )];
    for i in &d.summary.images {
        lines.push(format!(
            "image `{}` {}: {} → {}",
            i.object,
            i.container,
            i.from.as_deref().unwrap_or("—"),
            i.to.as_deref().unwrap_or("—")
        ));
    }
    lines.extend(d.summary.crds.iter().map(|c| format!("CRD {c}")));
    lines.extend(d.summary.rbac.iter().map(|r| format!("RBAC {r}")));
    let labels = crate::report::labels(bundle, &d);
    (lines.join("\n  - "), labels)
}

#[allow(clippy::too_many_arguments)]
fn body(
    commit: &CommitSummary,
    source_pr: Option<&PullSummary>,
    branch: &TrainBranch,
    head: &str,
    tip: &str,
    conflicts: &[String],
    rendered: &[Rerendered],
    remote: &str,
) -> String {
    let marker = crate::report::marker(
        "backport",
        &[("commit", &commit.id), ("branch", branch.name.as_str())],
    );
    let from = match source_pr {
        Some(p) => format!("#{} ({:.12})", p.number, commit.id),
        None => format!("commit {:.12}", commit.id),
    };
    let mut b = format!(
        "{marker}\n## Backport of {from} to `{}` (Kubernetes {})\n\n",
        branch.name, branch.kubernetes
    );
    if conflicts.is_empty() {
        b.push_str("The change's source files were cherry-picked and the touched bundles re-rendered for this branch's Kubernetes minor.\n");
        if rendered.is_empty() {
            b.push_str("\nThe rendered manifests of this branch do not change.\n");
        }
        for r in rendered {
            b.push_str(&format!(
                "\n- **{}** {} → {}\n  - {}\n",
                r.addon,
                r.from.as_deref().unwrap_or("(new)"),
                r.to.as_deref().unwrap_or("(removed)"),
                r.summary
            ));
            if let Some(v) = &r.verdict {
                b.push_str(&validation_lines(v));
            }
        }
    } else {
        b.push_str(&format!(
            "> [!WARNING]\n> The cherry-pick conflicted in {} file(s). This draft holds git's conflict markers; the rendered manifests are not updated yet.\n\nConflicting paths:\n",
            conflicts.len()
        ));
        for c in conflicts {
            b.push_str(&format!("- `{c}`\n"));
        }
        b.push_str(&format!(
            "\nTo finish by hand:\n\n```sh\ngit fetch {remote} {branch} {head}\ngit switch -C {head} {remote}/{branch}\ngit cherry-pick -x {id}\n# resolve the conflicts in the paths above, then:\ngit checkout {remote}/{branch} -- branches.toml 'bundles/*/rendered'   # never merged: the branch's own\nake-bot render --branch {branch}\ngit add -A && git -c core.editor=true cherry-pick --continue\ngit push --force-with-lease {remote} {head}\n```\n\nOnce a person pushes to this branch, ake-bot leaves it alone.\n",
            branch = branch.name,
            id = commit.id,
        ));
    }
    b.push_str(&format!(
        "\n<sub>Base: `{}` at {tip:.12}. Opened by ake-bot backport.</sub>\n",
        branch.name
    ));
    b
}

/// The validation of one re-rendered bundle, as nested Markdown list items.
fn validation_lines(v: &crate::validate::Verdict) -> String {
    if v.errors == 0 && v.warnings == 0 {
        let schemas = if v.schemas {
            ""
        } else {
            " (built-in kinds not checked against schemas)"
        };
        return format!(
            "  - validate on Kubernetes {}: no problems{schemas}\n",
            v.kubernetes
        );
    }
    let mut s = format!(
        "  - validate on Kubernetes {}: **{} error(s), {} warning(s)**\n",
        v.kubernetes, v.errors, v.warnings
    );
    for l in &v.lines {
        s.push_str(&format!("    - {l}\n"));
    }
    if v.more > 0 {
        s.push_str(&format!("    - … and {} more\n", v.more));
    }
    s
}

/// Post, or bring up to date, the one comment on the source PR saying where the change went.
async fn summary_comment(
    forge: &GitHub,
    number: u64,
    commit: &CommitSummary,
    result: &ChangeResult,
) -> Result<String, String> {
    let marker = crate::report::marker("backport-summary", &[("commit", &commit.id)]);
    let mut text = format!(
        "{marker}\n**Backports of {:.12}**\n\n| branch | |\n|---|---|\n",
        commit.id
    );
    for b in &result.branches {
        let what = match &b.outcome {
            Outcome::Pr { number, .. } => format!("#{number}"),
            Outcome::Conflict { number, paths } => format!(
                "{} conflicts in {}: finish by hand (steps in the PR)",
                number.map_or(String::new(), |n| format!("draft #{n},")),
                paths
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Outcome::Planned { .. } => "planned".into(),
            Outcome::Skipped { reason } => format!("skipped: {reason}"),
            Outcome::AlreadyApplied => "already has this change".into(),
            Outcome::Merged { number } => format!("merged in #{number}"),
            Outcome::Declined { number } => {
                format!("#{number} was closed without merging; not reopened")
            }
            Outcome::HandedOver { number } => format!("#{number}, being finished by hand"),
            Outcome::Failed { message } => format!("failed: {message} (retried on the next run)"),
        };
        text.push_str(&format!(
            "| `{}` | {} |\n",
            b.branch,
            what.replace('|', "\\|")
        ));
    }
    let existing = forge
        .comment_list(number)
        .await
        .map_err(|e| e.to_string())?;
    match existing.iter().find(|c| c.body.contains(&marker)) {
        Some(c) if c.body == text => Ok("unchanged".into()),
        Some(c) => {
            forge
                .update_comment(c.id, &text)
                .await
                .map_err(|e| e.to_string())?;
            Ok("updated".into())
        }
        None => {
            forge
                .comment(number, &text)
                .await
                .map_err(|e| e.to_string())?;
            Ok("posted".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_files_and_the_train_stay_on_the_branch_side() {
        assert!(keep_branch_side("branches.toml"));
        assert!(keep_branch_side(
            "bundles/cert-manager/rendered/manifests.yaml"
        ));
        assert!(!keep_branch_side("bundles/cert-manager/bundle.yaml"));
        assert!(!keep_branch_side("bundles/cert-manager/values.yaml.j2"));
        assert!(!keep_branch_side("e2e/cert-manager/check.sh"));
        assert_eq!(
            source_addon("bundles/argo-cd/values.yaml.j2"),
            Some("argo-cd")
        );
        assert_eq!(
            source_addon("bundles/argo-cd/rendered/manifests.yaml"),
            None
        );
        assert_eq!(source_addon("README.md"), None);
    }

    #[test]
    fn branch_status_and_labels_decide_first() {
        let train = config::branches_for_tests(
            "[main]\nkubernetes = \"1.33\"\nkind_image = \"k\"\n\
             [[release]]\nkubernetes = \"1.32\"\nkind_image = \"k\"\n\
             [[release]]\nkubernetes = \"1.24\"\nkind_image = \"k\"\nstatus = \"frozen\"\n\
             [[release]]\nkubernetes = \"1.23\"\nkind_image = \"k\"\nstatus = \"eol\"\n",
        );
        let b = |n: &str| train.branch(n).unwrap().clone();
        let none: Vec<String> = vec![];
        assert_eq!(not_applicable(&b("release-1.32"), &none), None);
        assert!(not_applicable(&b("release-1.23"), &none)
            .unwrap()
            .contains("end of life"));
        assert!(not_applicable(&b("release-1.24"), &none)
            .unwrap()
            .contains("label the source PR `backport/release-1.24`"));
        let opt_in = vec!["backport/release-1.24".to_string()];
        assert_eq!(not_applicable(&b("release-1.24"), &opt_in), None);
        let opt_out = vec![OPT_OUT_LABEL.to_string()];
        assert!(not_applicable(&b("release-1.32"), &opt_out).is_some());
    }
}
