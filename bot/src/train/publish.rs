//! `sync` acting: for each addon, make GitHub match the plan for `main` — one bot branch and
//! at most one open PR per addon — whatever state a previous, possibly crashed or concurrent,
//! run left behind.
//!
//! Per addon: observe (PRs for the bot branch, the branch's commit on origin), diff (desired
//! tree on top of origin/main vs the branch's tree; desired title/body/labels vs the PR's),
//! act (leased push, open/update/close) only where they differ. A second run with nothing new
//! therefore writes nothing.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Serialize;

use super::sync::{self, Action, PlanEntry, SyncPlan, SyncRequest};
use super::JobError;
use crate::config;
use crate::forge::{ForgeError, GitHub, NewPull, PullState, PullSummary};
use crate::git::{self, FileChange, Identity, Remote, Tree};

/// Where and as whom to publish.
pub struct PublishSettings {
    /// `GITHUB_API_URL`.
    pub api_url: String,
    /// `owner/repo`.
    pub repository: String,
    pub token: SecretString,
    /// Bot branches are `<prefix><addon>`.
    pub branch_prefix: String,
    pub identity: Identity,
    /// The git remote that is the GitHub repository.
    pub remote: String,
}

/// What happened to one addon's PR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PrOutcome {
    Opened {
        number: u64,
    },
    Updated {
        number: u64,
    },
    Unchanged {
        number: u64,
    },
    Closed {
        number: u64,
    },
    /// Nothing to do and no PR open.
    Nothing,
    /// An update exists but is not proposed, and why.
    Skipped {
        reason: String,
    },
    Failed {
        message: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct AddonResult {
    pub addon: String,
    pub branch: String,
    pub target: Option<String>,
    pub pushed: bool,
    pub outcome: PrOutcome,
}

/// Plan against origin/main, then reconcile every addon. Errors that stop the whole job
/// (cannot fetch, bad config) are returned; per-addon failures are in the results.
pub async fn publish(
    req: &SyncRequest,
    s: &PublishSettings,
) -> Result<(SyncPlan, Vec<AddonResult>), JobError> {
    let remote = Remote::new(&req.repo, &s.remote, Some(s.token.clone()));
    remote
        .fetch(&["main"])
        .await
        .map_err(|e| JobError::Git(e.to_string()))?;
    let main_ref = format!("refs/remotes/{}/main", s.remote);
    let plan = sync::plan(&SyncRequest {
        branches: vec!["main".into()],
        main_ref: Some(main_ref.clone()),
        ..req.clone()
    })
    .await?;
    let base = git::commit_info(&req.repo, &main_ref)
        .map_err(|e| JobError::Git(e.to_string()))?
        .ok_or_else(|| JobError::Git(format!("{main_ref} is missing after fetch")))?;
    let forge = GitHub::new(&s.api_url, &s.repository, &s.token)
        .map_err(|e| JobError::Forge(e.to_string()))?;
    let bot_branches = remote
        .branches(&s.branch_prefix)
        .await
        .map_err(|e| JobError::Git(e.to_string()))?;
    if !bot_branches.is_empty() {
        let names: Vec<&str> = bot_branches.iter().map(|(b, _)| b.as_str()).collect();
        remote
            .fetch(&names)
            .await
            .map_err(|e| JobError::Git(e.to_string()))?;
    }
    let main_tree = Tree::Commit {
        repo: req.repo.clone(),
        commit: base.id.clone(),
        label: main_ref.clone(),
    };

    let mut results = Vec::new();
    for entry in &plan.entries {
        let ctx = AddonCtx {
            req,
            s,
            forge: &forge,
            remote: &remote,
            base: &base,
            main_tree: &main_tree,
            remote_sha: bot_branches
                .iter()
                .find(|(b, _)| *b == format!("{}{}", s.branch_prefix, entry.addon))
                .map(|(_, sha)| sha.clone()),
        };
        let span = tracing::info_span!("publish", addon = %entry.addon);
        let (pushed, outcome) = tracing::Instrument::instrument(ctx.reconcile(entry), span).await;
        results.push(AddonResult {
            addon: entry.addon.to_string(),
            branch: format!("{}{}", s.branch_prefix, entry.addon),
            target: entry.target.clone(),
            pushed,
            outcome,
        });
    }
    Ok((plan, results))
}

/// For `--dry-run`: annotate `main`'s entries with what would happen to their PRs. Reads
/// GitHub, writes nothing; a lookup that fails becomes a problem for that addon.
pub async fn annotate_prs(
    plan: &mut SyncPlan,
    api_url: &str,
    repository: &str,
    token: &SecretString,
    branch_prefix: &str,
) -> Result<(), JobError> {
    let forge =
        GitHub::new(api_url, repository, token).map_err(|e| JobError::Forge(e.to_string()))?;
    for entry in plan
        .entries
        .iter_mut()
        .filter(|e| e.branch.as_str() == "main")
    {
        let branch = format!("{branch_prefix}{}", entry.addon);
        match forge.pulls_for_head(&branch).await {
            Ok(pulls) => entry.pr = Some(decide(entry, &pulls)),
            Err(e) => plan.problems.push(sync::Problem {
                addon: entry.addon.to_string(),
                branch: Some("main".into()),
                message: e.to_string(),
            }),
        }
    }
    Ok(())
}

struct AddonCtx<'a> {
    req: &'a SyncRequest,
    s: &'a PublishSettings,
    forge: &'a GitHub,
    remote: &'a Remote,
    base: &'a git::CommitInfo,
    main_tree: &'a Tree,
    remote_sha: Option<String>,
}

/// What should happen to an addon's PR, decided from the plan entry and the PRs that exist.
/// Shared by `sync` (which then acts) and `sync --dry-run` (which prints it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PrPlan {
    /// No PR for this update yet: open one.
    Open,
    /// The open PR's title, body or labels differ from the plan: rewrite them.
    Update { number: u64 },
    /// The open PR already says what the plan says (its branch is compared when acting).
    Keep { number: u64 },
    /// Nothing to propose any more: close it.
    Close { number: u64, reason: String },
    /// An update exists but is not proposed.
    Skip { reason: String },
    /// No update and no PR.
    Nothing,
}

/// Decide what to do with `entry`'s PR given every PR for its bot branch (open or closed).
pub fn decide(entry: &PlanEntry, pulls: &[PullSummary]) -> PrPlan {
    let open = pulls.iter().find(|p| p.state == PullState::Open);
    match (&entry.action, &entry.target) {
        (Action::Update, Some(target)) => {
            let declined = pulls.iter().any(|p| {
                p.state == PullState::Closed
                    && !p.merged
                    && marker_field(&p.body, "target").as_deref() == Some(target.as_str())
            });
            match open {
                None if declined => PrPlan::Skip {
                    reason: format!("a pull request for {target} was closed without merging; not reopened (a newer version will be proposed)"),
                },
                None => PrPlan::Open,
                Some(pr) => {
                    let same = Some(&pr.title) == entry.title.as_ref()
                        && Some(&pr.body) == entry.body.as_ref()
                        && entry.labels.iter().all(|l| pr.labels.contains(l))
                        && !pr.labels.iter().any(|l| is_managed_label(l) && !entry.labels.contains(l));
                    if same {
                        PrPlan::Keep { number: pr.number }
                    } else {
                        PrPlan::Update { number: pr.number }
                    }
                }
            }
        }
        _ => match open {
            None => PrPlan::Nothing,
            Some(pr) => PrPlan::Close {
                number: pr.number,
                reason: match &entry.action {
                    Action::Blocked { reason } => format!("the update is blocked: {reason}"),
                    _ => format!(
                        "`main` already runs {} {}, the newest allowed version",
                        entry.addon, entry.current
                    ),
                },
            },
        },
    }
}

/// The marker the bot embeds in bodies: `<!-- ake-bot: {...} -->`.
fn marker_field(body: &str, field: &str) -> Option<String> {
    let start = body.find("<!-- ake-bot: ")? + "<!-- ake-bot: ".len();
    let end = body[start..].find(" -->")? + start;
    let v: serde_json::Value = serde_json::from_str(&body[start..end]).ok()?;
    v.get(field)?.as_str().map(str::to_string)
}

impl AddonCtx<'_> {
    async fn reconcile(&self, entry: &PlanEntry) -> (bool, PrOutcome) {
        let mut pushed = false;
        let outcome = match self.reconcile_inner(entry, &mut pushed).await {
            Ok(o) => o,
            Err(message) => PrOutcome::Failed { message },
        };
        (pushed, outcome)
    }

    async fn reconcile_inner(
        &self,
        entry: &PlanEntry,
        pushed: &mut bool,
    ) -> Result<PrOutcome, String> {
        let branch = format!("{}{}", self.s.branch_prefix, entry.addon);
        let pulls = self
            .forge
            .pulls_for_head(&branch)
            .await
            .map_err(|e| e.to_string())?;
        let open = pulls.iter().find(|p| p.state == PullState::Open);
        match decide(entry, &pulls) {
            PrPlan::Skip { reason } => Ok(PrOutcome::Skipped { reason }),
            PrPlan::Nothing => Ok(PrOutcome::Nothing),
            PrPlan::Close { reason, .. } => {
                let pr = open.expect("decide closes only an open PR");
                self.close(pr, &branch, &reason).await?;
                Ok(PrOutcome::Closed { number: pr.number })
            }
            PrPlan::Open | PrPlan::Update { .. } | PrPlan::Keep { .. } => {
                let target = entry
                    .target
                    .as_deref()
                    .ok_or("an update without a target version")?;
                // Even a PR that reads right may sit on an old main: the branch is checked too.
                *pushed = self.push_branch(entry, &branch, target).await?;
                self.ensure_pull(entry, &branch, open).await
            }
        }
    }

    /// Make the bot branch hold exactly one commit on top of origin/main with the bump.
    /// Returns whether anything was pushed.
    async fn push_branch(
        &self,
        entry: &PlanEntry,
        branch: &str,
        target: &str,
    ) -> Result<bool, String> {
        let addon_dir = PathBuf::from(config::BUNDLES_DIR).join(entry.addon.as_str());
        let bundle_file = addon_dir.join(config::BUNDLE_FILE);
        let rendered_file = addon_dir.join(config::RENDERED_FILE);
        let (tree, repo) = (self.main_tree.clone(), self.req.repo.clone());
        let bundle_text = {
            let f = bundle_file.clone();
            tokio::task::spawn_blocking(move || tree.read(&f))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{} is missing on origin/main", bundle_file.display()))?
        };
        let new_bundle = config::set_version(&bundle_text, target)
            .map_err(|e| format!("{}: {e}", bundle_file.display()))?;
        let rendered = entry
            .rendered
            .clone()
            .ok_or("the plan has no render for this update")?;
        let changes = vec![
            FileChange {
                path: bundle_file,
                content: Some(new_bundle.into_bytes()),
            },
            FileChange {
                path: rendered_file,
                content: Some(rendered.into_bytes()),
            },
        ];
        let message = format!(
            "{}\n\nProposed by ake-bot sync.",
            entry.title.as_deref().unwrap_or("chore: bump")
        );
        push_on_base(
            &repo,
            self.remote,
            &self.base.id,
            self.remote_sha.as_deref(),
            branch,
            changes,
            message,
            &self.s.identity,
        )
        .await
    }

    async fn ensure_pull(
        &self,
        entry: &PlanEntry,
        branch: &str,
        open: Option<&PullSummary>,
    ) -> Result<PrOutcome, String> {
        let spec = PrSpec {
            head: branch,
            base: "main",
            title: entry.title.as_deref().unwrap_or_default(),
            body: entry.body.as_deref().unwrap_or_default(),
            labels: &entry.labels,
            draft: false,
        };
        ensure_pr(self.forge, &spec, open).await
    }

    /// Comment once (marker-checked, so a crash between comment and close does not repeat it),
    /// close, and delete the branch if it is still where the PR left it.
    async fn close(&self, pr: &PullSummary, branch: &str, why: &str) -> Result<(), String> {
        let marker = crate::report::marker("close", &[("branch", branch)]);
        let existing = self
            .forge
            .comments(pr.number)
            .await
            .map_err(|e| e.to_string())?;
        if !existing.iter().any(|c| c.contains(&marker)) {
            let text = format!("{marker}\nClosing: {why}. ake-bot will open a new pull request when a newer version is allowed.");
            self.forge
                .comment(pr.number, &text)
                .await
                .map_err(|e| e.to_string())?;
        }
        self.forge
            .close_pull(pr.number)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(sha) = &self.remote_sha {
            self.remote
                .delete(branch, sha)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

fn is_managed_label(l: &str) -> bool {
    matches!(
        l,
        "crd-change"
            | "image-change"
            | "rbac-change"
            | "removed-objects"
            | "backport-conflict"
            | "validation-failed"
            | "removed-api"
    )
}

/// What a PR should be: from `head` to `base`, saying `title` and `body`, carrying `labels`.
pub(crate) struct PrSpec<'a> {
    pub head: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub labels: &'a [String],
    /// Open as a draft (a PR a person must finish). Only applies when opening.
    pub draft: bool,
}

/// Make the PR described by `spec` exist (labels the bot manages that no longer apply are
/// removed), opening it if `open` is `None` and adopting one a concurrent run opened meanwhile.
pub(crate) async fn ensure_pr(
    forge: &GitHub,
    spec: &PrSpec<'_>,
    open: Option<&PullSummary>,
) -> Result<PrOutcome, String> {
    let (branch, title, body, labels) = (spec.head, spec.title, spec.body, spec.labels);
    let (title, body) = (title.to_string(), body.to_string());
    let (pr, opened) = match open {
        Some(pr) => (pr.clone(), false),
        None => {
            let new = NewPull {
                title: title.clone(),
                body: body.clone(),
                head: branch.to_string(),
                base: spec.base.to_string(),
                draft: spec.draft,
            };
            match forge.create_pull(&new).await {
                Ok(pr) => (pr, true),
                // A concurrent run opened it between our read and our write: adopt it.
                Err(ForgeError::Unprocessable { message, .. })
                    if message.contains("already exists") =>
                {
                    let pulls = forge
                        .pulls_for_head(branch)
                        .await
                        .map_err(|e| e.to_string())?;
                    let pr = pulls
                        .into_iter()
                        .find(|p| p.state == PullState::Open)
                        .ok_or("GitHub says a pull request exists, but none is open")?;
                    (pr, false)
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    };
    let mut changed = false;
    if !opened && (pr.title != title || pr.body != body) {
        forge
            .update_pull(pr.number, &title, &body)
            .await
            .map_err(|e| e.to_string())?;
        changed = true;
    }
    let missing: Vec<String> = labels
        .iter()
        .filter(|l| !pr.labels.contains(*l))
        .cloned()
        .collect();
    if !missing.is_empty() {
        forge
            .add_labels(pr.number, &missing)
            .await
            .map_err(|e| e.to_string())?;
        changed = true;
    }
    // Labels the bot manages that no longer apply (the new version has no CRD change, …).
    for stale in pr
        .labels
        .iter()
        .filter(|l| is_managed_label(l) && !labels.contains(l))
    {
        forge
            .remove_label(pr.number, stale)
            .await
            .map_err(|e| e.to_string())?;
        changed = true;
    }
    Ok(if opened {
        PrOutcome::Opened { number: pr.number }
    } else if changed {
        PrOutcome::Updated { number: pr.number }
    } else {
        PrOutcome::Unchanged { number: pr.number }
    })
}

/// Commit `changes` on top of `base` and push it to `branch` (leased on `remote_sha`), unless
/// the branch already holds exactly that tree on that base. Returns whether it pushed.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn push_on_base(
    repo: &std::path::Path,
    remote: &Remote,
    base: &str,
    remote_sha: Option<&str>,
    branch: &str,
    changes: Vec<FileChange>,
    message: String,
    who: &Identity,
) -> Result<bool, String> {
    let (repo_c, base_c, who_c, sha_c) = (
        repo.to_path_buf(),
        base.to_string(),
        who.clone(),
        remote_sha.map(str::to_string),
    );
    let (commit, unchanged) = tokio::task::spawn_blocking(move || {
        let commit = git::commit_on(&repo_c, &base_c, &changes, &message, &who_c)?;
        let unchanged = match &sha_c {
            Some(sha) => git::commit_info(&repo_c, sha)?.is_some_and(|c| {
                c.tree == commit.tree && c.parent.as_deref() == Some(base_c.as_str())
            }),
            None => false,
        };
        Ok::<_, git::WriteError>((commit, unchanged))
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    if unchanged {
        return Ok(false);
    }
    remote
        .push(&commit.id, branch, remote_sha)
        .await
        .map_err(|e| e.to_string())?;
    Ok(true)
}
