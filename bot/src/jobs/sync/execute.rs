//! Carrying out the sync plan on GitHub, for `main`: per addon, one bot branch holding one
//! commit on top of the remote's main, and at most one open PR, opened, updated or closed as
//! the plan says. Pushes are leased and skipped when the branch already holds the same tree,
//! so a second run with nothing new writes nothing.

use std::path::PathBuf;

use serde::Serialize;

use super::plan::{PlanEntry, SyncPlan};
use crate::config;
use crate::forge::{GitHub, PullState};
use crate::git::{FileChange, Tree};
use crate::jobs::pr::{self, PrOutcome, PrPlan, Push};
use crate::jobs::JobError;
use crate::report;
use crate::workspace::{blocking, Workspace};

/// What happened to one addon's PR.
#[derive(Debug, Clone, Serialize)]
pub struct AddonResult {
    pub addon: String,
    /// The train branch the PR goes to.
    pub target_branch: String,
    /// The bot branch.
    pub branch: String,
    pub target: Option<String>,
    pub pushed: bool,
    pub outcome: PrOutcome,
}

/// Make GitHub match `plan` on every branch it covers. The workspace must read the remote,
/// fetched ([`View::Remote`](crate::workspace::View)), and the plan must have its PR
/// decisions. Errors that stop the whole job (cannot list branches) are returned; per-addon
/// failures are in the results.
pub async fn execute(ws: &Workspace, plan: &SyncPlan) -> Result<Vec<AddonResult>, JobError> {
    let forge = ws.require_forge("sync")?;
    let bot_branches = ws
        .remote()
        .branches(ws.branch_prefix())
        .await
        .map_err(|e| JobError::Git(e.to_string()))?;
    if !bot_branches.is_empty() {
        let names: Vec<&str> = bot_branches.iter().map(|(b, _)| b.as_str()).collect();
        ws.remote()
            .fetch(&names)
            .await
            .map_err(|e| JobError::Git(e.to_string()))?;
    }
    let ctx = Ctx { ws, forge };
    let mut results = Vec::new();
    for entry in plan.entries.iter().filter(|e| e.pr.is_some()) {
        let head = entry.head(ws.branch_prefix());
        let remote_sha = bot_branches
            .iter()
            .find(|(b, _)| *b == head)
            .map(|(_, sha)| sha.clone());
        let span = tracing::info_span!("publish", addon = %entry.addon, branch = %entry.branch);
        let mut pushed = false;
        let outcome = tracing::Instrument::instrument(
            ctx.reconcile(entry, &head, remote_sha.as_deref(), &mut pushed),
            span,
        )
        .await
        .unwrap_or_else(|message| PrOutcome::Failed { message });
        if pushed || outcome.number().is_some() {
            crate::jobs::progress::finished(format!(
                "{} on {}: {outcome:?}",
                entry.addon, entry.branch
            ));
        }
        results.push(AddonResult {
            addon: entry.addon.to_string(),
            target_branch: entry.branch.to_string(),
            branch: head,
            target: entry.target.clone(),
            pushed,
            outcome,
        });
    }
    Ok(results)
}

struct Ctx<'a> {
    ws: &'a Workspace,
    forge: &'a GitHub,
}

impl Ctx<'_> {
    async fn reconcile(
        &self,
        entry: &PlanEntry,
        head: &str,
        remote_sha: Option<&str>,
        pushed: &mut bool,
    ) -> Result<PrOutcome, String> {
        let open = entry.pulls.iter().find(|p| p.state == PullState::Open);
        match entry
            .pr
            .as_ref()
            .ok_or("the plan has no pull request decision for this addon")?
        {
            PrPlan::Skip { reason } => Ok(PrOutcome::Skipped {
                reason: reason.clone(),
            }),
            PrPlan::Nothing => Ok(PrOutcome::Nothing),
            PrPlan::Close { reason, number } => {
                let pr = open.ok_or("the plan closes a PR that is not open")?;
                let marker = report::marker("close", &[("branch", head)]);
                let comment = report::close_comment(&marker, reason).map_err(|e| e.to_string())?;
                pr::close(
                    self.forge,
                    self.ws.remote(),
                    pr,
                    remote_sha,
                    &comment,
                    &marker,
                )
                .await?;
                Ok(PrOutcome::Closed { number: *number })
            }
            PrPlan::Open | PrPlan::Update { .. } | PrPlan::Keep { .. } => {
                let spec = entry
                    .wanted_pr(self.ws.branch_prefix())
                    .ok_or("an update without a target version")?;
                // Even a PR that reads right may sit on an old main: the branch is checked too.
                *pushed = self.push_branch(entry, head, remote_sha, &spec).await?;
                pr::ensure_pr(self.forge, &spec, open).await
            }
        }
    }

    /// Make the bot branch hold exactly one commit on top of the remote's train branch with the
    /// bump. Returns whether anything was pushed.
    async fn push_branch(
        &self,
        entry: &PlanEntry,
        head: &str,
        remote_sha: Option<&str>,
        spec: &pr::PrSpec,
    ) -> Result<bool, String> {
        let target = spec.target.as_deref().ok_or("an update without a target")?;
        let addon_dir = PathBuf::from(config::BUNDLES_DIR).join(entry.addon.as_str());
        let bundle_file = addon_dir.join(config::BUNDLE_FILE);
        let rendered_file = addon_dir.join(config::RENDERED_FILE);
        let base_ref = self.ws.remote_ref(entry.branch.as_str());
        let base = self
            .ws
            .commit(&base_ref)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{base_ref} is missing after fetch"))?
            .id;
        let bundle_text = {
            let tree = Tree::Commit {
                repo: self.ws.repo().to_path_buf(),
                commit: base.clone(),
                label: base_ref.clone(),
            };
            let f = bundle_file.clone();
            blocking(move || Ok(tree.read(&f)?))
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{} is missing on {base_ref}", bundle_file.display()))?
        };
        let new_bundle = config::set_version(&bundle_text, target)
            .and_then(|t| match &entry.target_digest {
                Some(d) => config::set_digest(&t, Some(d)),
                None => Ok(t),
            })
            .map_err(|e| format!("{}: {e}", bundle_file.display()))?;
        let rendered = entry
            .rendered
            .clone()
            .ok_or("the plan has no render for this update")?;
        let rendered = blocking(move || rendered.text().map_err(JobError::Internal))
            .await
            .map_err(|e| e.to_string())?;
        pr::push_on_base(Push {
            repo: self.ws.repo(),
            remote: self.ws.remote(),
            base: &base,
            remote_sha,
            branch: head,
            changes: vec![
                FileChange {
                    path: bundle_file,
                    content: Some(new_bundle.into_bytes()),
                },
                FileChange {
                    path: rendered_file,
                    content: Some(rendered.into_bytes()),
                },
            ],
            message: format!("{}\n\nProposed by ake-bot sync.", spec.title),
            who: self.ws.identity(),
        })
        .await
    }
}
