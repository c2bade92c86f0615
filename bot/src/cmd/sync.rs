//! `ake-bot sync`: the upgrade plan and PR bodies (`--dry-run`), or the PRs on main.

use serde::Serialize;

use crate::cli::SyncArgs;
use crate::forge::{GitHub, PullSummary};
use crate::jobs::dashboard::{self, Ask, Written};
use crate::jobs::pr::{PrOutcome, PrPlan};
use crate::jobs::sync::{self, Action, AddonResult, Route, Shard, SyncPlan, SyncRequest};
use crate::jobs::{JobError, Problem};
use crate::output::{Reply, Text};
use crate::workspace::{Settings, View, Workspace};

pub async fn run(settings: Settings, args: &SyncArgs) -> Result<Reply, JobError> {
    if let Some(n) = args.shard_matrix {
        return shard_matrix(settings, usize::from(n)).await;
    }
    let mut req = SyncRequest {
        addons: args.addons.clone(),
        branches: args.branches.clone(),
        approved: Default::default(),
        shard: args.shard,
    };
    // The dashboard shows the whole train: only a run over all of it writes it. A shard's leg
    // reads it (the boxes ticked for its addons) and leaves writing to `--dashboard-only`.
    let whole = args.addons.is_empty() && args.branches.is_empty() && args.shard.is_none();
    let reads_dashboard = whole || args.shard.is_some();
    if args.dry_run {
        let ws = super::open(settings, View::Local).await?;
        let (open, asks) = match (ws.forge(), reads_dashboard) {
            (Some(forge), true) => {
                let existing = dashboard::find(forge)
                    .await
                    .map_err(dashboard::forge_error)?;
                read_github(forge, &ws, &mut req, existing.as_ref()).await?
            }
            _ => (Vec::new(), Vec::new()),
        };
        let plan = sync::plan(&ws, &req).await?;
        let dashboard = if whole {
            let branches = ws.select_branches(&[])?;
            let states = dashboard::branch_states(&ws, &branches).await;
            Some(
                dashboard::body(&dashboard::Inputs {
                    branches: &states,
                    plan: &plan,
                    results: None,
                    open: &open,
                    prefix: ws.branch_prefix(),
                    failures: &[],
                    still_ticked: &[],
                })
                .map_err(|e| JobError::Internal(e.to_string()))?,
            )
        } else {
            None
        };
        let text = plan_text(&plan, &asks, dashboard.as_deref());
        let data = DryRun {
            plan: &plan,
            asks: &asks,
            dashboard: dashboard.as_deref(),
        };
        return Ok(Reply::new("plan", &data, text).with_problems(plan.problems.clone()));
    }
    settings.github.require("sync")?;
    let ws = super::open(settings, super::remote_view(false)).await?;
    let forge = ws.require_forge("sync")?;
    // Every branch the run covers is planned from what the remote has now.
    let selected = ws.select_branches(&req.branches)?;
    let names: Vec<String> = selected.iter().map(|b| b.name.to_string()).collect();
    ws.fetch_branches(&names).await?;
    ws.remote()
        .fetch_tags()
        .await
        .map_err(|e| JobError::Git(e.to_string()))?;
    req.branches = names;
    // A dashboard that cannot be read is not written either (that could make a second one);
    // the PRs go on, and the run says so.
    let mut dashboard_problem = None;
    let existing = if reads_dashboard {
        match dashboard::find(forge).await {
            Ok(e) => e,
            Err(e) => {
                dashboard_problem = Some(Problem::new(dashboard::forge_error(e).to_string()));
                None
            }
        }
    } else {
        None
    };
    let (open, asks) = read_github(forge, &ws, &mut req, existing.as_ref()).await?;
    let plan = sync::plan(&ws, &req).await?;
    // After sharded legs, only the dashboard: the legs wrote every branch and PR.
    let results = if args.dashboard_only {
        Vec::new()
    } else {
        sync::execute(&ws, &plan).await?
    };
    let failed: Vec<Problem> = results
        .iter()
        .filter_map(|r| match &r.outcome {
            PrOutcome::Failed { message } => Some(
                Problem::new(message.clone())
                    .addon(&r.addon)
                    .branch(&r.target_branch),
            ),
            _ => None,
        })
        .collect();
    let mut board = None;
    if whole && dashboard_problem.is_none() {
        // (`whole` also holds for `--dashboard-only`, which takes no addon or branch.)
        // Backports and PRs as they are after this run's writes.
        let open = forge.open_pulls().await.unwrap_or(open);
        let branches = ws.select_branches(&[])?;
        let states = dashboard::branch_states(&ws, &branches).await;
        let still = if args.dashboard_only {
            dashboard::unmet_after_legs(&asks, &plan)
        } else {
            dashboard::unmet(&asks, &plan, &results)
        };
        let body = dashboard::body(&dashboard::Inputs {
            branches: &states,
            plan: &plan,
            // Without results, each cell names the PR the plan found (`#12`).
            results: (!args.dashboard_only).then_some(results.as_slice()),
            open: &open,
            prefix: ws.branch_prefix(),
            failures: &failed,
            still_ticked: &still,
        })
        .map_err(|e| JobError::Internal(e.to_string()))?;
        match dashboard::publish(forge, existing.as_ref(), &body).await {
            Ok(w) => board = Some(w),
            Err(e) => dashboard_problem = Some(Problem::new(dashboard::forge_error(e).to_string())),
        }
    }
    let problems: Vec<_> = plan
        .problems
        .iter()
        .cloned()
        .chain(failed)
        .chain(dashboard_problem)
        .collect();
    let text = result_text(&results, &asks, board.as_ref(), whole, args.shard);
    let data = Acted {
        results: &results,
        asks: &asks,
        dashboard: board.as_ref(),
    };
    Ok(Reply::new("result", &data, text).with_problems(problems))
}

/// `--shard-matrix N`: the legs of a sharded sync, from main's bundles (those with config
/// problems too: their leg reports them). Reads the repository only.
async fn shard_matrix(settings: Settings, count: usize) -> Result<Reply, JobError> {
    let ws = super::open(settings, View::Local).await?;
    let main = ws.branch_files(ws.train.main()).await?;
    let mut addons = main.bundles.names();
    addons.extend(main.bundles.problems.iter().map(|p| p.dir.clone()));
    let legs = sync::shard::matrix(&addons, count);
    let mut text = Text::default();
    for l in &legs {
        text.line(format!("{:<8} {}", l.shard, l.addons.join(", ")));
    }
    #[derive(Serialize)]
    struct Matrix<'a> {
        shards: &'a [sync::shard::Leg],
    }
    Ok(Reply::new(
        "matrix",
        &Matrix { shards: &legs },
        text.into_string(),
    ))
}

/// What `--dry-run` prints as JSON: the plan, the boxes ticked on the dashboard, and the
/// dashboard's body as the next run would write it.
#[derive(Serialize)]
struct DryRun<'a> {
    #[serde(flatten)]
    plan: &'a SyncPlan,
    asks: &'a [Ask],
    #[serde(skip_serializing_if = "Option::is_none")]
    dashboard: Option<&'a str>,
}

/// What an acting run prints as JSON.
#[derive(Serialize)]
struct Acted<'a> {
    results: &'a [AddonResult],
    asks: &'a [Ask],
    #[serde(skip_serializing_if = "Option::is_none")]
    dashboard: Option<&'a Written>,
}

/// Read what people asked for: the dashboard's ticked boxes, and open PRs labelled
/// `dashboard-approved`. Approvals go into `req`; every open PR is returned for the
/// dashboard.
async fn read_github(
    forge: &GitHub,
    ws: &Workspace,
    req: &mut SyncRequest,
    existing: Option<&dashboard::Existing>,
) -> Result<(Vec<PullSummary>, Vec<Ask>), JobError> {
    let open = forge
        .open_pulls()
        .await
        .map_err(|e| JobError::Forge(e.to_string()))?;
    req.approved.extend(dashboard::approved_by_label(
        &ws.train.branches,
        ws.branch_prefix(),
        &open,
    ));
    let asks = existing.map_or_else(Vec::new, |e| dashboard::ticked(&e.body));
    for a in &asks {
        if let Ask::Approve { addon, branch } = a {
            req.approved.insert((addon.clone(), branch.clone()));
        }
    }
    Ok((open, asks))
}

fn plan_text(plan: &SyncPlan, asks: &[Ask], dashboard: Option<&str>) -> String {
    let mut out = Text::default();
    out.line("Plan (dry run: nothing is pushed, no pull request is opened)");
    if !plan.prs_looked_up {
        out.line("(pull requests not looked up: set GITHUB_REPOSITORY and GITHUB_TOKEN to see what would happen to them)");
    }
    for a in asks {
        out.line(format!("asked on the dashboard: {}", ask_text(a)));
    }
    out.line("");
    for e in &plan.entries {
        let what = match &e.action {
            Action::Update => format!(
                "update {} → {}  (+{} −{} ~{} objects)",
                e.current,
                e.target.as_deref().unwrap_or("?"),
                e.added,
                e.removed,
                e.changed
            ),
            Action::UpToDate => format!("up to date at {}", e.current),
            Action::Blocked { reason } => format!("blocked: {reason}"),
        };
        out.line(format!(
            "  {:<24} {:<14} k8s {:<5} {what}",
            e.addon.as_str(),
            e.branch.as_str(),
            e.kubernetes
        ));
        for s in &e.skipped {
            out.line(format!(
                "  {:<24} {:<14} {:<9} skipped {}: {}",
                "", "", "", s.version, s.reason
            ));
        }
        if e.approved {
            out.line(format!(
                "  {:<24} {:<14} {:<9} approved by a person: the branch's updates policy is lifted",
                "", "", ""
            ));
        }
        match e.route {
            Some(Route::ViaMain) => out.line(format!(
                "  {:<24} {:<14} {:<9} → {} carries it (backport once it merges)",
                "",
                "",
                "",
                main_pr(plan, e)
            )),
            Some(Route::Direct) => out.line(format!(
                "  {:<24} {:<14} {:<9} → a pull request onto {} (main's update does not fit it)",
                "", "", "", e.branch
            )),
            None => {}
        }
        if let Some(pr) = &e.pr {
            let what = match pr {
                PrPlan::Open => "would open a pull request".to_string(),
                PrPlan::Update { number } => format!("would update #{number}"),
                PrPlan::Keep { number } => format!("#{number} already says this"),
                PrPlan::Close { number, reason } => format!("would close #{number}: {reason}"),
                PrPlan::Skip { reason } => format!("no pull request: {reason}"),
                PrPlan::Nothing => "no pull request".to_string(),
            };
            out.line(format!("  {:<24} {:<14} {:<9} → {what}", "", "", ""));
        }
    }
    let updates: Vec<_> = plan
        .entries
        .iter()
        .filter(|e| e.action == Action::Update)
        .collect();
    let blocked = plan
        .entries
        .iter()
        .filter(|e| matches!(e.action, Action::Blocked { .. }))
        .count();
    let via_main = updates
        .iter()
        .filter(|e| e.route == Some(Route::ViaMain))
        .count();
    out.line("");
    out.line(format!(
        "{} update(s) ({} pull request(s), {via_main} carried by main's), {} up to date, {} blocked, {} problem(s)",
        updates.len(),
        updates.len() - via_main,
        plan.entries.len() - updates.len() - blocked,
        blocked,
        plan.problems.len()
    ));
    for e in updates.iter().filter(|e| e.route != Some(Route::ViaMain)) {
        out.line("");
        out.line(format!(
            "━━━━ Pull request for {} on {} ━━━━",
            e.addon, e.branch
        ));
        out.line(format!(
            "title:  {}",
            e.title.as_deref().unwrap_or_default()
        ));
        out.line(format!("labels: {}", e.labels.join(", ")));
        out.line("");
        out.line(e.body.as_deref().unwrap_or_default());
    }
    if let Some(body) = dashboard {
        out.line("");
        out.line(format!("━━━━ Dashboard issue ({}) ━━━━", dashboard::TITLE));
        out.line(body);
    }
    out.into_string()
}

/// Which of main's PRs serves a branch whose update main's carries.
fn main_pr(plan: &SyncPlan, e: &crate::jobs::sync::PlanEntry) -> String {
    let main = plan
        .entries
        .iter()
        .find(|m| m.addon == e.addon && m.branch.as_str() == "main");
    match main.and_then(|m| m.pr.as_ref()) {
        Some(PrPlan::Keep { number } | PrPlan::Update { number }) => {
            format!("main's #{number}")
        }
        Some(PrPlan::Open) => "main's new pull request".into(),
        _ if main.is_some_and(|m| m.action != Action::Update) => {
            "main's merged change (backport)".into()
        }
        _ => "main's update".into(),
    }
}

fn ask_text(a: &Ask) -> String {
    match a {
        Ask::Approve { addon, branch } => {
            format!("open the held-back update of {addon} on {branch}")
        }
        Ask::Retry { addon, branch } => format!("retry {addon} on {branch}"),
    }
}

fn result_text(
    results: &[AddonResult],
    asks: &[Ask],
    board: Option<&Written>,
    whole: bool,
    shard: Option<Shard>,
) -> String {
    let mut out = Text::default();
    for a in asks {
        out.line(format!("asked on the dashboard: {}", ask_text(a)));
    }
    for r in results {
        let what = match &r.outcome {
            PrOutcome::Opened { number } => format!("opened #{number}"),
            PrOutcome::Updated { number } => format!("updated #{number}"),
            PrOutcome::Unchanged { number } => format!("#{number} is up to date"),
            PrOutcome::Closed { number } => format!("closed #{number}"),
            PrOutcome::Nothing => "nothing to do".into(),
            PrOutcome::Skipped { reason } => format!("skipped: {reason}"),
            PrOutcome::Failed { .. } => "failed".into(),
        };
        let pushed = if r.pushed {
            format!(", pushed {}", r.branch)
        } else {
            String::new()
        };
        out.line(format!(
            "{:<24} {:<14} {what}{pushed}",
            r.addon, r.target_branch
        ));
    }
    match board {
        Some(Written::Created { number }) => out.line(format!("dashboard: opened #{number}")),
        Some(Written::Updated { number }) => out.line(format!("dashboard: updated #{number}")),
        Some(Written::Unchanged { number }) => {
            out.line(format!("dashboard: #{number} is up to date"))
        }
        None if whole => out.line("dashboard: not written (GitHub failed; see the problems)"),
        None if shard.is_some() => out.line(format!(
            "dashboard: not written (shard {} leaves it to `sync --dashboard-only`)",
            shard.map(|s| s.to_string()).unwrap_or_default()
        )),
        None => out
            .line("dashboard: not written (a run limited by --addon or --branch leaves it alone)"),
    }
    out.into_string()
}
