//! `ake-bot tenants`: the plan per tenant repository (`--dry-run`), or the PRs made so.

use crate::cli::TenantsArgs;
use crate::jobs::pr::PrPlan;
use crate::jobs::tenants::{self, Access, ProposalKind, TenantPlan, TenantResult, TenantsPlan};
use crate::jobs::{JobError, Problem};
use crate::output::{Reply, Text};
use crate::workspace::Settings;

pub async fn run(settings: Settings, args: &TenantsArgs) -> Result<Reply, JobError> {
    let token = args
        .tenants_token
        .clone()
        .or_else(|| settings.github.token.clone());
    if !args.dry_run && token.is_none() {
        return Err(JobError::Unavailable(
            "tenants needs a token that reaches the tenant repositories: set AKE_BOT_TENANTS_TOKEN (a GitHub App installation token or a fine-grained token; README: \"Tenants\")\nto only see the plan, pass --dry-run".into(),
        ));
    }
    let access = Access {
        api_url: settings.github.api_url.clone(),
        server_url: args.github_server_url.clone(),
        token: token.clone(),
        platform: settings.github.repository.clone(),
        branch_prefix: settings.github.branch_prefix.clone(),
    };
    let identity = settings.github.identity.clone();
    let ws = super::open(settings, super::remote_view(args.dry_run)).await?;
    // Tenant clones live as long as the run (and go with the run's directory).
    let scratch = tempfile::Builder::new()
        .prefix("tenants-")
        .tempdir()
        .map_err(|e| JobError::Internal(format!("cannot create a scratch directory: {e}")))?;
    let plan = tenants::plan(&ws, &access, &args.tenants, scratch.path()).await?;
    if args.dry_run {
        let problems = plan_problems(&plan);
        return Ok(Reply::new("plan", &plan, plan_text(&plan)).with_problems(problems));
    }
    let Some(token) = token else {
        return Err(JobError::Internal("checked above".into()));
    };
    let results = tenants::execute(&plan, &access.api_url, &token, &identity).await;
    let mut problems = Vec::new();
    for r in &results {
        if let Some(e) = &r.error {
            problems.push(tenant_problem(&r.tenant, e));
        }
        for p in &r.proposals {
            if let crate::jobs::pr::PrOutcome::Failed { message } = &p.outcome {
                problems.push(tenant_problem(&r.tenant, &format!("{}: {message}", p.head)));
            }
        }
    }
    Ok(Reply::new("result", &results, result_text(&plan, &results)).with_problems(problems))
}

fn tenant_problem(tenant: &str, cause: &str) -> Problem {
    Problem::new(format!("tenant {tenant}: {cause}"))
}

fn plan_problems(plan: &TenantsPlan) -> Vec<Problem> {
    plan.tenants
        .iter()
        .filter_map(|t| t.error.as_ref().map(|e| tenant_problem(&t.tenant, e)))
        .collect()
}

fn kind(k: ProposalKind) -> &'static str {
    match k {
        ProposalKind::Bump => "bump",
        ProposalKind::Upgrade => "upgrade",
    }
}

fn pr_plan(p: Option<&PrPlan>) -> String {
    match p {
        None => "PR not looked up (no token)".into(),
        Some(PrPlan::Open) => "would open a PR".into(),
        Some(PrPlan::Update { number }) => format!("would update PR #{number}"),
        Some(PrPlan::Keep { number }) => format!("PR #{number} is up to date"),
        Some(PrPlan::Close { number, reason }) => format!("would close PR #{number}: {reason}"),
        Some(PrPlan::Skip { reason }) => format!("skipped: {reason}"),
        Some(PrPlan::Nothing) => "nothing".into(),
    }
}

fn header(out: &mut Text, t: &TenantPlan) {
    let at = match (&t.base, &t.base_sha) {
        (Some(b), Some(s)) => format!(" ({b} at {s:.12})"),
        _ => String::new(),
    };
    out.line(format!("━━━━ {}{at} ━━━━", t.tenant));
    if let Some(e) = &t.error {
        out.line(format!("  error: {e}"));
        return;
    }
    if t.pins.is_empty() {
        out.line("  no pin of the platform found");
    }
    for p in &t.pins {
        out.line(format!(
            "  pin      {}:{}  {}{}  {}",
            p.file.display(),
            p.line,
            p.kind,
            p.object
                .as_deref()
                .map_or(String::new(), |o| format!(" {o}")),
            p.revision
        ));
    }
    for u in &t.unpinned {
        out.line(format!(
            "  not moved {}{}: {}",
            u.file.display(),
            u.line.map_or(String::new(), |l| format!(":{l}")),
            u.reason
        ));
    }
}

fn plan_text(plan: &TenantsPlan) -> String {
    let mut out = Text::default();
    out.line(format!(
        "platform {}; newest tags: {}",
        plan.platform,
        plan.newest
            .iter()
            .map(|(m, t)| format!("{m} {t}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if plan.tenants.is_empty() {
        out.line("no tenants in tenants.toml");
    }
    for t in &plan.tenants {
        header(&mut out, t);
        for p in &t.proposals {
            out.line(format!(
                "  {:<8} {} → {} on {}: {}",
                kind(p.kind),
                p.from.join(", "),
                p.to,
                p.head,
                pr_plan(p.pr.as_ref())
            ));
            if let Some(r) = &p.readiness {
                out.line(format!(
                    "           readiness on Kubernetes {}: {} object(s), {} finding(s){}",
                    r.target,
                    r.objects,
                    r.items.len(),
                    if r.blocking() {
                        ", some need a person"
                    } else {
                        ""
                    }
                ));
            }
        }
        for s in &t.stale {
            out.line(format!(
                "  close    PR #{} ({}): {}",
                s.number, s.head, s.reason
            ));
        }
        if t.error.is_none() && t.proposals.is_empty() && t.stale.is_empty() {
            out.line("  nothing to propose: every pin is at the newest tag of a supported branch");
        }
        for p in &t.proposals {
            out.line("");
            out.line(format!("  ──── {} ────", p.spec.title));
            out.line(&p.spec.body);
        }
    }
    out.line(super::DRY_RUN_NOTE);
    out.into_string()
}

fn result_text(plan: &TenantsPlan, results: &[TenantResult]) -> String {
    let mut out = Text::default();
    for (t, r) in plan.tenants.iter().zip(results) {
        header(&mut out, t);
        if let Some(e) = r.error.as_ref().filter(|_| t.error.is_none()) {
            out.line(format!("  error: {e}"));
        }
        for p in &r.proposals {
            out.line(format!(
                "  {:<8} {}{}: {:?}{}",
                p.kind,
                p.head,
                p.target
                    .as_deref()
                    .map_or(String::new(), |t| format!(" → {t}")),
                p.outcome,
                if p.pushed { " (pushed)" } else { "" }
            ));
        }
        if t.error.is_none() && r.proposals.is_empty() {
            out.line("  nothing to do: every pin is at the newest tag of a supported branch");
        }
    }
    out.into_string()
}
