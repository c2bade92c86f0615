//! Carrying out the tenants plan: per proposal, one commit on the tenant's base pushed to the
//! bot branch (leased, skipped when the branch already holds that tree), and the PR opened,
//! updated or kept; stale bot PRs closed with one comment. A tenant that fails is reported
//! and the others go on.

use serde::Serialize;

use super::plan::{Proposal, ProposalKind, TenantPlan, TenantsPlan};
use crate::forge::GitHub;
use crate::git::{Identity, Remote};
use crate::jobs::pr::{self, PrOutcome, PrPlan, Push};
use crate::report;

/// What happened in one tenant repository.
#[derive(Debug, Clone, Serialize)]
pub struct TenantResult {
    pub tenant: String,
    pub proposals: Vec<ProposalResult>,
    /// Why nothing could be done in this repository.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProposalResult {
    /// `bump`, `upgrade`, or `stale` (a PR closed).
    pub kind: String,
    pub head: String,
    pub target: Option<String>,
    pub pushed: bool,
    pub outcome: PrOutcome,
}

/// Make each tenant repository match the plan. `token` writes to the tenants' remotes.
pub async fn execute(
    plan: &TenantsPlan,
    api_url: &str,
    token: &secrecy::SecretString,
    who: &Identity,
) -> Vec<TenantResult> {
    let mut out = Vec::new();
    for t in &plan.tenants {
        out.push(tenant(t, api_url, token, who).await);
    }
    out
}

async fn tenant(
    t: &TenantPlan,
    api_url: &str,
    token: &secrecy::SecretString,
    who: &Identity,
) -> TenantResult {
    let mut result = TenantResult {
        tenant: t.tenant.clone(),
        proposals: Vec::new(),
        error: t.error.clone(),
    };
    if t.error.is_some() {
        return result;
    }
    let (Some(github), Some(scratch), Some(url), Some(base_sha)) =
        (&t.github, &t.scratch, &t.url, &t.base_sha)
    else {
        if !t.proposals.is_empty() {
            result.error = Some(
                "not a GitHub repository: no pull request can be opened (set `github` for this tenant in tenants.toml)".into(),
            );
        }
        return result;
    };
    let forge = match GitHub::new(api_url, github, token) {
        Ok(f) => f,
        Err(e) => {
            result.error = Some(e.to_string());
            return result;
        }
    };
    let remote = Remote::new(scratch, url, Some(token.clone()));
    for p in &t.proposals {
        let kind = match p.kind {
            ProposalKind::Bump => "bump",
            ProposalKind::Upgrade => "upgrade",
        };
        let mut pushed = false;
        let outcome = proposal(&forge, &remote, scratch, base_sha, p, who, &mut pushed)
            .await
            .unwrap_or_else(|message| PrOutcome::Failed { message });
        if pushed || outcome.number().is_some() {
            crate::jobs::progress::finished(format!("{} {}: {outcome:?}", t.tenant, p.head));
        }
        result.proposals.push(ProposalResult {
            kind: kind.into(),
            head: p.head.clone(),
            target: Some(p.to.clone()),
            pushed,
            outcome,
        });
    }
    for s in &t.stale {
        let Some(pull) = &s.pull else { continue };
        let marker = report::marker("tenant-close", &[("head", &s.head)]);
        let comment = format!("{marker}\nClosing: {}. ake-bot opens a new pull request when there is a newer release to move to.", s.reason);
        let outcome = match pr::close(
            &forge,
            &remote,
            pull,
            s.remote_sha.as_deref(),
            &comment,
            &marker,
        )
        .await
        {
            Ok(()) => PrOutcome::Closed { number: s.number },
            Err(message) => PrOutcome::Failed { message },
        };
        result.proposals.push(ProposalResult {
            kind: "stale".into(),
            head: s.head.clone(),
            target: None,
            pushed: false,
            outcome,
        });
    }
    result
}

async fn proposal(
    forge: &GitHub,
    remote: &Remote,
    scratch: &std::path::Path,
    base_sha: &str,
    p: &Proposal,
    who: &Identity,
    pushed: &mut bool,
) -> Result<PrOutcome, String> {
    let open = match &p.pr {
        Some(PrPlan::Skip { reason }) => {
            return Ok(PrOutcome::Skipped {
                reason: reason.clone(),
            })
        }
        Some(PrPlan::Update { number } | PrPlan::Keep { number }) => {
            Some(forge.pull(*number).await.map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    let message = format!(
        "{}\n\nMoved by ake-bot: {} pin(s) from {} to {}.",
        p.spec.title,
        p.pins.len(),
        p.from.join(", "),
        p.to
    );
    *pushed = pr::push_on_base(Push {
        repo: scratch,
        remote,
        base: base_sha,
        remote_sha: p.remote_sha.as_deref(),
        branch: &p.head,
        changes: p.changes.clone(),
        message,
        who,
    })
    .await?;
    let outcome = pr::ensure_pr(forge, &p.spec, open.as_ref()).await?;
    Ok(match outcome {
        PrOutcome::Unchanged { number } if *pushed => PrOutcome::Updated { number },
        o => o,
    })
}
