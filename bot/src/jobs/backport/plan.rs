//! The backport plan: per (change on main, release branch), what should happen — skip and why,
//! nothing (already there, merged, declined, handed over), or a PR carrying the change, with
//! its commit, title, body and labels ready. Reads git, upstream and (when a token is set)
//! GitHub; pushes nothing, writes nothing to GitHub.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::config::{self, BranchStatus, Bundles, TrainBranch};
use crate::forge::{PullState, PullSummary};
use crate::git::{self, CommitSummary, FileChange, Tree};
use crate::jobs::pr::PrSpec;
use crate::jobs::JobError;
use crate::manifest::{self, Manifests};
use crate::report::{self, BackportBody, ConflictBody, Rerender};
use crate::workspace::{blocking, View, Workspace};

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
    pub changes: Changes,
    /// Only these release branches [default: all].
    pub branches: Vec<String>,
}

/// Every change and where it goes.
#[derive(Debug, Clone, Serialize)]
pub struct BackportPlan {
    /// Whether the source PRs were read (their labels opt branches in and out).
    pub source_prs_read: bool,
    pub changes: Vec<ChangePlan>,
}

/// One change on `main` and what should happen to it on each release branch.
#[derive(Debug, Clone, Serialize)]
pub struct ChangePlan {
    pub commit: String,
    pub subject: String,
    pub source_pr: Option<u64>,
    /// Addons whose source files the change touched.
    pub addons: Vec<String>,
    /// Why the change is not carried anywhere (nothing but generated files, …).
    pub nothing_to_carry: Option<String>,
    /// A failure for the whole change (what it changed could not be read, …).
    pub error: Option<String>,
    pub branches: Vec<BranchPlan>,
}

/// One (change, branch).
#[derive(Debug, Clone, Serialize)]
pub struct BranchPlan {
    pub branch: String,
    /// The bot branch holding the backport.
    pub head: String,
    pub step: Step,
}

/// What should happen to a change on one branch.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Step {
    /// The change does not go to this branch, and why.
    Skip { reason: String },
    /// The branch already holds the change.
    AlreadyApplied,
    /// The backport PR was merged.
    Merged { number: u64 },
    /// The backport PR was closed without merging: not reopened.
    Declined { number: u64 },
    /// A person pushed to the backport branch (finishing a conflict): left alone.
    HandedOver { number: u64 },
    /// Push the change to the bot branch and open or refresh its PR.
    Carry(Box<Carry>),
    /// Planning this branch failed; the others go on.
    Failed { message: String },
}

/// A backport to push and propose.
#[derive(Debug, Clone, Serialize)]
pub struct Carry {
    /// The files the commit writes on the branch.
    pub files: Vec<String>,
    /// Source files that conflicted: the PR is a draft a person finishes.
    pub conflicts: Vec<String>,
    /// The open PR that is refreshed, if any.
    pub existing: Option<u64>,
    /// Open `sync` PRs onto the branch for the same (addon, version): closed as superseded.
    #[serde(serialize_with = "numbers")]
    pub supersedes: Vec<PullSummary>,
    pub pr: PrSpec,
    /// The branch tip the commit builds on.
    pub tip: String,
    #[serde(skip)]
    pub remote_sha: Option<String>,
    #[serde(skip)]
    pub changes: Vec<FileChange>,
    #[serde(skip)]
    pub message: String,
    #[serde(skip)]
    pub open: Option<PullSummary>,
}

fn numbers<S: serde::Serializer>(pulls: &[PullSummary], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(pulls.iter().map(|p| p.number))
}

/// Files a backport never carries: generated ones (re-rendered per branch instead) and the
/// train itself, which lives on `main`.
pub(super) fn keep_branch_side(path: &str) -> bool {
    path == config::TRAIN_FILE || rendered_addon(path).is_some()
}

/// `bundles/<addon>/rendered/...` → the addon.
fn rendered_addon(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(config::BUNDLES_DIR)?.strip_prefix('/')?;
    let (addon, rest) = rest.split_once('/')?;
    let rendered_dir = std::path::Path::new(config::RENDERED_FILE)
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

/// What the planner reads once: the branches' tips and the bot branches on the remote.
struct Ctx<'a> {
    ws: &'a Workspace,
    /// Release branch → its tip (only branches that exist).
    tips: BTreeMap<String, String>,
    /// Bot branches on the remote → their tips (acting only: a dry run does not list them).
    bot_branches: BTreeMap<String, String>,
}

/// Plan carrying the requested changes. Errors that stop the whole job (no config, cannot
/// fetch, a commit not on main) are returned; everything scoped to one change or branch is in
/// the plan.
pub async fn plan(ws: &Workspace, req: &BackportRequest) -> Result<BackportPlan, JobError> {
    let main_rev = ws.remote_ref("main");
    let main_tip = ws
        .commit(&main_rev)?
        .ok_or_else(|| JobError::Git(format!("{main_rev} does not exist")))?
        .id;
    let releases: Vec<&TrainBranch> = ws.train.branches.iter().filter(|b| !b.is_main()).collect();
    for b in &req.branches {
        if !releases.iter().any(|r| r.name.as_str() == b) {
            return Err(JobError::UnknownBranch {
                name: b.clone(),
                known: releases
                    .iter()
                    .map(|b| b.name.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let wanted: Vec<TrainBranch> = releases
        .into_iter()
        .filter(|b| req.branches.is_empty() || req.branches.iter().any(|n| n == b.name.as_str()))
        .cloned()
        .collect();

    let prefix = ws.branch_prefix();
    let (mut tips, mut bot_branches) = (BTreeMap::new(), BTreeMap::new());
    if ws.view() == (View::Remote { fetched: true }) {
        let heads = ws
            .remote()
            .branches("")
            .await
            .map_err(|e| JobError::Git(e.to_string()))?;
        for (name, sha) in heads {
            if wanted.iter().any(|b| b.name.as_str() == name) {
                tips.insert(name, sha);
            } else if name.starts_with(&format!("{prefix}backport/")) {
                bot_branches.insert(name, sha);
            }
        }
        let mut fetch: Vec<&str> = tips.keys().map(String::as_str).collect();
        fetch.extend(bot_branches.keys().map(String::as_str));
        if !fetch.is_empty() {
            ws.remote()
                .fetch(&fetch)
                .await
                .map_err(|e| JobError::Git(e.to_string()))?;
        }
    } else {
        for b in &wanted {
            if let Some(c) = ws.commit(&ws.remote_ref(b.name.as_str()))? {
                tips.insert(b.name.to_string(), c.id);
            }
        }
    }
    let ctx = Ctx {
        ws,
        tips,
        bot_branches,
    };
    let mut changes = Vec::new();
    for (commit, source_pr) in ctx.sources(req, &main_rev, &main_tip).await? {
        let span = tracing::info_span!("backport", commit = %&commit.id[..12]);
        let c = tracing::Instrument::instrument(
            ctx.plan_change(&commit, source_pr.as_ref(), &wanted),
            span,
        )
        .await;
        changes.push(c);
    }
    Ok(BackportPlan {
        source_prs_read: ws.forge().is_some(),
        changes,
    })
}

/// Bundles as of `commit`.
async fn bundles_at(ws: &Workspace, commit: &str, label: String) -> Result<Bundles, String> {
    let tree = Tree::Commit {
        repo: ws.repo().to_path_buf(),
        commit: commit.to_string(),
        label,
    };
    blocking(move || Ok(config::load_bundles(&tree)?))
        .await
        .map_err(|e| e.to_string())
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
    text: Rerender,
    change: FileChange,
    labels: Vec<String>,
}

/// Whether `branch` takes changes at all, given the source PR's labels.
pub(super) fn not_applicable(branch: &TrainBranch, labels: &[String]) -> Option<String> {
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

impl Ctx<'_> {
    /// The commits to carry, oldest first, each with the PR that merged it (when GitHub is
    /// there to ask).
    async fn sources(
        &self,
        req: &BackportRequest,
        main_rev: &str,
        main_tip: &str,
    ) -> Result<Vec<(CommitSummary, Option<PullSummary>)>, JobError> {
        let repo = self.ws.repo().to_path_buf();
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
        match &req.changes {
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
                let forge = self.ws.forge().ok_or_else(|| {
                    JobError::Unavailable(
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
                            return Err(JobError::Usage(format!(
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
        if let Some(forge) = self.ws.forge() {
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

    async fn plan_change(
        &self,
        commit: &CommitSummary,
        source_pr: Option<&PullSummary>,
        wanted: &[TrainBranch],
    ) -> ChangePlan {
        let mut plan = ChangePlan {
            commit: commit.id.clone(),
            subject: commit.subject.clone(),
            source_pr: source_pr.map(|p| p.number),
            addons: Vec::new(),
            nothing_to_carry: None,
            error: None,
            branches: Vec::new(),
        };
        let change = match self.read_change(commit).await {
            Ok(c) => c,
            Err(e) => {
                plan.error = Some(e);
                return plan;
            }
        };
        plan.addons = change.addons.iter().cloned().collect();
        if change.source_paths.is_empty() {
            plan.nothing_to_carry =
                Some("the change touches only generated files and branches.toml".into());
            return plan;
        }
        let labels: Vec<String> = source_pr.map(|p| p.labels.clone()).unwrap_or_default();
        for branch in wanted {
            let head = format!(
                "{}backport/{}/{:.12}",
                self.ws.branch_prefix(),
                branch.name,
                commit.id
            );
            let span = tracing::info_span!("branch", branch = %branch.name);
            let step = tracing::Instrument::instrument(
                self.plan_branch(commit, source_pr, &change, &labels, branch, &head),
                span,
            )
            .await
            .unwrap_or_else(|message| Step::Failed { message });
            plan.branches.push(BranchPlan {
                branch: branch.name.to_string(),
                head,
                step,
            });
        }
        plan
    }

    /// What the commit changed, and the bundles before and after it.
    async fn read_change(&self, commit: &CommitSummary) -> Result<Change, String> {
        let (repo, id) = (self.ws.repo().to_path_buf(), commit.id.clone());
        let paths = blocking(move || {
            git::changed_paths(&repo, &id).map_err(|e| JobError::Git(e.to_string()))
        })
        .await
        .map_err(|e| e.to_string())?;
        let source_paths: Vec<String> =
            paths.into_iter().filter(|p| !keep_branch_side(p)).collect();
        let addons: BTreeSet<String> = source_paths
            .iter()
            .filter_map(|p| source_addon(p))
            .map(str::to_string)
            .collect();
        let after = bundles_at(self.ws, &commit.id, format!("{:.12}", commit.id)).await?;
        let before = match &commit.parent {
            Some(p) => Some(bundles_at(self.ws, p, format!("{p:.12}")).await?),
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

    async fn plan_branch(
        &self,
        commit: &CommitSummary,
        source_pr: Option<&PullSummary>,
        change: &Change,
        labels: &[String],
        branch: &TrainBranch,
        head: &str,
    ) -> Result<Step, String> {
        if let Some(reason) = not_applicable(branch, labels) {
            return Ok(Step::Skip { reason });
        }
        let Some(tip) = self.tips.get(branch.name.as_str()).cloned() else {
            return Ok(Step::Skip {
                reason: format!("`{}` does not exist on the remote yet", branch.name),
            });
        };
        let mut refused = Vec::new();
        for lb in &change.bumps {
            let release = self
                .ws
                .pinned_release(lb)
                .await
                .map_err(|e| e.to_string())?;
            if let Err(why) = crate::upstream::admissible(&release, &lb.bundle, branch) {
                refused.push(format!("{} {}: {why}", lb.bundle.name, lb.bundle.version));
            }
        }
        if !refused.is_empty() {
            return Ok(Step::Skip {
                reason: format!("cannot take {}", refused.join("; ")),
            });
        }

        // The PRs this backport already has decide whether there is anything to do.
        let pulls: Vec<PullSummary> = match self.ws.forge() {
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
                return Ok(Step::Merged { number: p.number });
            }
            if let Some(p) = pulls.first() {
                return Ok(Step::Declined { number: p.number });
            }
        }
        let remote_sha = self.bot_branches.get(head).cloned();
        if let (Some(pr), Some(sha)) = (open, &remote_sha) {
            if !self.authored_by_bot(sha).await? {
                return Ok(Step::HandedOver { number: pr.number });
            }
        }

        let (repo, id, onto) = (self.ws.repo().to_path_buf(), commit.id.clone(), tip.clone());
        let pick = blocking(move || {
            git::cherry_pick(&repo, &id, &onto, &keep_branch_side)
                .map_err(|e| JobError::Git(e.to_string()))
        })
        .await
        .map_err(|e| e.to_string())?;
        if pick.changes.is_empty() && pick.conflicts.is_empty() {
            return Ok(Step::AlreadyApplied);
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
        let addons: Vec<String> = change.addons.iter().cloned().collect();
        let supersedes = self.direct_duplicates(change, branch).await?;
        let body = if conflicts.is_empty() {
            let texts: Vec<Rerender> = rendered.iter().map(|r| r.text.clone()).collect();
            report::backport_body(&BackportBody {
                commit: &commit.id,
                source_pr: source_pr.map(|p| p.number),
                branch: branch.name.as_str(),
                kube: &branch.kubernetes.to_string(),
                tip: &tip,
                rendered: &texts,
                addons: &addons,
            })
        } else {
            report::conflict_body(&ConflictBody {
                commit: &commit.id,
                merge: commit.parents > 1,
                source_pr: source_pr.map(|p| p.number),
                branch: branch.name.as_str(),
                kube: &branch.kubernetes.to_string(),
                tip: &tip,
                head,
                remote: self.ws.remote().name(),
                conflicts: &conflicts,
                addons: &addons,
            })
        }
        .map_err(|e| e.to_string())?;
        let title = report::backport_title(
            branch.name.as_str(),
            source_pr.map_or(commit.subject.as_str(), |p| p.title.as_str()),
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
        let mut labels = vec!["ake-bot".to_string(), "backport".to_string()];
        labels.extend(rendered.iter().flat_map(|r| r.labels.iter().cloned()));
        if !conflicts.is_empty() {
            labels.push(CONFLICT_LABEL.into());
        }
        labels.sort();
        labels.dedup();
        Ok(Step::Carry(Box::new(Carry {
            files,
            existing: open.map(|p| p.number),
            pr: PrSpec {
                head: head.to_string(),
                base: branch.name.to_string(),
                title,
                body,
                labels,
                draft: !conflicts.is_empty(),
                target: None,
            },
            conflicts,
            supersedes,
            tip,
            remote_sha,
            changes,
            message,
            open: open.cloned(),
        })))
    }

    /// Open `sync` PRs onto `branch` (`<prefix><branch>/<addon>`) that propose the very
    /// version this change brings: the backport carries it, so they are closed once it is
    /// proposed (a backport and a direct PR for one (addon, branch, version) are never both
    /// open).
    async fn direct_duplicates(
        &self,
        change: &Change,
        branch: &TrainBranch,
    ) -> Result<Vec<PullSummary>, String> {
        let Some(forge) = self.ws.forge() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for lb in &change.bumps {
            let head = format!(
                "{}{}/{}",
                self.ws.branch_prefix(),
                branch.name,
                lb.bundle.name
            );
            let version = lb.bundle.version.to_string();
            let pulls = forge
                .pulls_for_head(&head)
                .await
                .map_err(|e| e.to_string())?;
            out.extend(pulls.into_iter().filter(|p| {
                p.state == PullState::Open
                    && p.base == branch.name.as_str()
                    && report::marker_field(&p.body, "target").as_deref() == Some(version.as_str())
            }));
        }
        Ok(out)
    }

    async fn authored_by_bot(&self, sha: &str) -> Result<bool, String> {
        let (repo, sha) = (self.ws.repo().to_path_buf(), sha.to_string());
        let c = blocking(move || {
            git::commit_summary(&repo, &sha).map_err(|e| JobError::Git(e.to_string()))
        })
        .await
        .map_err(|e| e.to_string())?;
        Ok(c.is_some_and(|c| c.author_email == self.ws.identity().email))
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
        let (repo, tip_c, changes_c) = (
            self.ws.repo().to_path_buf(),
            tip.to_string(),
            changes.to_vec(),
        );
        let who = git::Identity {
            name: "ake-bot".into(),
            email: "ake-bot@localhost".into(),
        };
        let picked = blocking(move || {
            git::commit_on(&repo, &tip_c, &changes_c, "picked sources", &who)
                .map_err(|e| JobError::Git(e.to_string()))
        })
        .await
        .map_err(|e| e.to_string())?;
        let label = format!("{} with the change", branch.name);
        let after = bundles_at(self.ws, &picked.id, label).await?;
        let before = bundles_at(self.ws, tip, branch.name.to_string()).await?;
        let siblings = {
            let loaded = after.loaded.clone();
            blocking(move || Ok(crate::validate::parse_siblings(&loaded)))
                .await
                .map(std::sync::Arc::new)
                .map_err(|e| e.to_string())?
        };
        let policies = {
            let files = after.policies.clone();
            blocking(move || Ok(crate::validate::Policies::load(&files)))
                .await
                .map(std::sync::Arc::new)
                .map_err(|e| e.to_string())?
        };
        let mut out = Vec::new();
        for a in addons {
            if let Some(p) = after.problems.iter().find(|p| &p.dir == a) {
                return Err(config::ConfigErrors(p.errors.clone()).to_string());
            }
            let Some(lb) = after.loaded.iter().find(|b| b.bundle.name.as_str() == a) else {
                // The change removed the addon: its render goes too.
                if let Some(old) = before.loaded.iter().find(|b| b.bundle.name.as_str() == a) {
                    out.push(Rerendered {
                        text: Rerender {
                            addon: a.clone(),
                            from: Some(old.bundle.version.to_string()),
                            to: None,
                            summary: Vec::new(),
                            validation: None,
                        },
                        change: FileChange {
                            path: old.bundle.rendered_file(),
                            content: None,
                        },
                        labels: vec!["removed-objects".into()],
                    });
                }
                continue;
            };
            let (_, rendered) = self
                .ws
                .render_pinned(lb, branch)
                .await
                .map_err(|e| format!("{a}: {e}"))?;
            let old = before.loaded.iter().find(|b| b.bundle.name.as_str() == a);
            let old_text = old.and_then(|o| o.rendered.clone()).unwrap_or_default();
            if old_text == rendered.text {
                continue;
            }
            let (summary, mut labels) = describe(&old_text, &rendered.text, &lb.bundle);
            let verdict = self
                .ws
                .check_change(
                    branch,
                    siblings.clone(),
                    a,
                    std::sync::Arc::new(rendered.manifests.clone()),
                    policies.clone(),
                )
                .await
                .map_err(|e| e.to_string())?;
            labels.extend(verdict.labels.iter().cloned());
            out.push(Rerendered {
                text: Rerender {
                    addon: a.clone(),
                    from: old.map(|o| o.bundle.version.to_string()),
                    to: Some(lb.bundle.version.to_string()),
                    summary,
                    validation: Some(verdict),
                },
                change: FileChange {
                    path: lb.bundle.rendered_file(),
                    content: Some(rendered.text.into_bytes()),
                },
                labels,
            });
        }
        Ok(out)
    }
}

/// What changes in the branch's rendered manifests, one line each, and the labels it earns.
fn describe(old: &str, new: &str, bundle: &config::Bundle) -> (Vec<String>, Vec<String>) {
    let (Ok(o), Ok(n)) = (Manifests::parse(old), Manifests::parse(new)) else {
        return (
            vec!["(the rendered manifests could not be compared)".into()],
            Vec::new(),
        );
    };
    let d = manifest::diff(&o, &n);
    (summary_lines(&d), report::labels(bundle, &d))
}

/// The backport body's lines for one bundle: counts, images, each CRD's verdict followed by
/// what a reviewer of this branch must read (every breaking change with its paths, versions
/// newly deprecated; additive changes are only counted), RBAC.
fn summary_lines(d: &manifest::ManifestDiff) -> Vec<String> {
    let mut lines = vec![format!(
        "{} added, {} removed, {} changed objects",
        d.added.len(),
        d.removed.len(),
        d.changed.len()
    )];
    lines.extend(d.summary.images.iter().map(|i| format!("image {i}")));
    for c in &d.summary.crds {
        lines.push(format!("CRD {}", report::crd::verdict_line(c)));
        let breaking = report::crd::lines(c, manifest::Impact::Breaking);
        lines.extend(
            breaking
                .iter()
                .map(|l| format!("CRD `{}` breaking {l}", c.crd)),
        );
        let notices = report::crd::notice_lines(c);
        lines.extend(notices.iter().map(|l| format!("CRD `{}` {l}", c.crd)));
    }
    lines.extend(d.summary.rbac.iter().map(|r| format!("RBAC {r}")));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backport_names_every_breaking_crd_change_and_counts_the_additive_ones() {
        let crd = |props: &str, required: &str| {
            format!(
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
                 metadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  \
                 scope: Namespaced\n  names: {{kind: Widget, plural: widgets, singular: widget, \
                 listKind: WidgetList}}\n  versions:\n  - name: v1\n    served: true\n    \
                 storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        \
                 properties:\n          spec:\n            type: object\n            \
                 required: [{required}]\n            properties: {{{props}}}\n"
            )
        };
        let old = Manifests::parse(&crd("a: {type: string}", "")).unwrap();
        let new = Manifests::parse(&crd("a: {type: string}, b: {type: string}", "a")).unwrap();
        assert_eq!(
            summary_lines(&manifest::diff(&old, &new)),
            [
                "0 added, 0 removed, 1 changed objects",
                "CRD `widgets.example.com`: breaking (1 breaking, 1 additive)",
                "CRD `widgets.example.com` breaking v1: now required at `spec.a`",
            ]
        );
    }

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
