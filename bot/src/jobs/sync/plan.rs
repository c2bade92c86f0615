//! The sync plan: per (addon, branch), what should change and the PR that says so. Reads the
//! repository, upstream and (when a token is set) GitHub; writes nothing but caches.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use crate::config::{LoadedBundle, TrainBranch};
use crate::forge::PullSummary;
use crate::jobs::pr::{self, PrPlan, PrSpec};
use crate::jobs::{check_addons, wanted, JobError, Problem};
use crate::manifest::{self, Manifests};
use crate::model::{AddonName, BranchName};
use crate::render::ReleaseError;
use crate::render::Rendered;
use crate::report::{self, PrBody};
use crate::upstream::{self, ChartReleases, Release, Skip, SkipReason, Unusable};
use crate::validate::ParsedRenders;
use crate::workspace::{blocking, Origin, Workspace};

/// What `sync` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    /// Only these addons (all when empty).
    pub addons: Vec<String>,
    /// Only these branches (all non-eol when empty).
    pub branches: Vec<String>,
    /// (addon, branch) pairs a person approved on the dashboard (or by labelling the PR
    /// `dashboard-approved`): the branch's `updates` policy is lifted for them, and a PR a
    /// person closed is proposed again.
    pub approved: BTreeSet<(String, String)>,
}

/// The label that marks a PR (and so its update) as approved by a person.
pub const APPROVED_LABEL: &str = "dashboard-approved";

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
    /// The digest the bundle pins with the target (`sha256:…`), for OCI and GitHub release
    /// sources; the executor writes it to bundle.yaml with the version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_digest: Option<String>,
    /// Newer versions passed over, and why.
    pub skipped: Vec<Skip>,
    /// The newest version the branch's `updates` policy holds back (a person may approve it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// A person approved this update: the `updates` policy was lifted for it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub approved: bool,
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    /// Labels the PR carries.
    pub labels: Vec<String>,
    /// PR title and body, for `Update` entries.
    pub title: Option<String>,
    pub body: Option<String>,
    /// How an update on a release branch reaches it (`None` on main, or with no update).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    /// What should happen to the addon's PR on this branch (when GitHub can be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr: Option<PrPlan>,
    /// The PRs that exist for the addon's bot branch (what `pr` was decided from).
    #[serde(skip)]
    pub pulls: Vec<PullSummary>,
    /// The new committed render, for `Update` entries (not printed; the executor writes it).
    #[serde(skip)]
    pub rendered: Option<String>,
}

/// How an update on a release branch reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Route {
    /// A PR of its own onto the branch: caps, the chart's `kubeVersion` or the branch's
    /// `updates` make the branch's choice differ from main's.
    Direct,
    /// Main moves to (or already runs) the same version, and the backport carries it to this
    /// maintained branch once main's change merges: no PR of its own, never two.
    ViaMain,
}

impl PlanEntry {
    /// The bot branch that carries this entry's update: `ake-bot/<addon>` for main,
    /// `ake-bot/<branch>/<addon>` for a release branch.
    pub fn head(&self, prefix: &str) -> String {
        if self.branch == BranchName::main() {
            format!("{prefix}{}", self.addon)
        } else {
            format!("{prefix}{}/{}", self.branch, self.addon)
        }
    }

    /// The PR this entry wants, when it proposes an update of its own.
    pub fn wanted_pr(&self, prefix: &str) -> Option<PrSpec> {
        let target = self
            .target
            .as_ref()
            .filter(|_| self.action == Action::Update)?;
        if self.route == Some(Route::ViaMain) {
            return None;
        }
        Some(PrSpec {
            head: self.head(prefix),
            base: self.branch.to_string(),
            title: self.title.clone().unwrap_or_default(),
            body: self.body.clone().unwrap_or_default(),
            labels: self.labels.clone(),
            draft: false,
            target: Some(target.clone()),
        })
    }

    /// Why an open PR is no longer needed.
    fn close_reason(&self) -> String {
        if self.route == Some(Route::ViaMain) {
            return format!(
                "main's update carries {} {} to `{}` through the backport",
                self.addon,
                self.target.as_deref().unwrap_or_default(),
                self.branch
            );
        }
        match &self.action {
            Action::Blocked { reason } => format!("the update is blocked: {reason}"),
            _ => format!(
                "`{}` already runs {} {}, the newest allowed version",
                self.branch, self.addon, self.current
            ),
        }
    }
}

/// The whole plan.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SyncPlan {
    pub entries: Vec<PlanEntry>,
    /// Whether `pr` was decided (GitHub was read).
    pub prs_looked_up: bool,
    #[serde(skip)]
    pub problems: Vec<Problem>,
}

/// Build the plan: every selected branch as the workspace reads it (`main` from the remote
/// when acting), and, when GitHub can be read, what should happen to each PR on `main`.
pub async fn plan(ws: &Arc<Workspace>, req: &SyncRequest) -> Result<SyncPlan, JobError> {
    let branches = ws.select_branches(&req.branches)?;
    ws.remove_stale_temps().await;
    let main = ws.branch_files(ws.train.main()).await?;
    check_addons(&req.addons, &main.bundles.names())?;
    ws.helm()?;
    // A branch git does not have yet is planned from the work tree's bundles, with the
    // current pin rendered for its minor as the baseline.
    let worktree = ws.worktree_bundles().await?;

    let mut out = SyncPlan::default();
    let mut tasks = tokio::task::JoinSet::new();
    for branch in &branches {
        let mut files = if branch.is_main() {
            main.clone()
        } else {
            ws.branch_files(branch).await?
        };
        if files.origin == Origin::NotCut {
            files.bundles = worktree.clone();
        }
        for p in files
            .bundles
            .problems
            .iter()
            .filter(|p| wanted(&req.addons, &p.dir))
        {
            for e in &p.errors {
                out.problems
                    .push(Problem::from_config(e).addon(&p.dir).branch(&branch.name));
            }
        }
        // Parsed once per branch, by whichever job needs it first, while others still render.
        let siblings = Arc::new(Siblings {
            loaded: files.bundles.loaded.clone(),
            policy_files: files.bundles.policies.clone(),
            parsed: tokio::sync::OnceCell::new(),
            policies: tokio::sync::OnceCell::new(),
        });
        for lb in files
            .bundles
            .loaded
            .iter()
            .filter(|b| wanted(&req.addons, b.bundle.name.as_str()))
        {
            let approved = req
                .approved
                .contains(&(lb.bundle.name.to_string(), branch.name.to_string()));
            let job = Job {
                approved,
                ws: ws.clone(),
                bundle: lb.clone(),
                branch: branch.clone(),
                origin: files.origin.clone(),
                siblings: siblings.clone(),
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
        let (addon, branch, res) =
            joined.map_err(|e| JobError::Internal(format!("a planning task failed: {e}")))?;
        match res {
            Ok(entry) => out.entries.push(entry),
            Err(cause) => out
                .problems
                .push(Problem::new(cause).addon(addon).branch(branch)),
        }
    }
    // Stable order: branches as in branches.toml, addons by name.
    let order: BTreeMap<BranchName, usize> = ws
        .train
        .branches
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.clone(), i))
        .collect();
    out.entries
        .sort_by_key(|e| (order.get(&e.branch).copied(), e.addon.clone()));
    route(ws, &mut out);
    decide_prs(ws, &mut out).await;
    out.problems
        .sort_by(|a, b| (&a.addon, &a.branch).cmp(&(&b.addon, &b.branch)));
    Ok(out)
}

/// What should happen to each addon's PR on `main`, from the PRs its bot branch has. Reads
/// GitHub; a lookup that fails is a problem for that addon.
async fn decide_prs(ws: &Workspace, plan: &mut SyncPlan) {
    let Some(forge) = ws.forge() else {
        return;
    };
    plan.prs_looked_up = true;
    // A branch the remote does not have yet gets no PR (it is planned from the work tree).
    for entry in plan
        .entries
        .iter_mut()
        .filter(|e| e.origin != Origin::NotCut)
    {
        let head = entry.head(ws.branch_prefix());
        match forge.pulls_for_head(&head).await {
            Ok(pulls) => {
                let pulls: Vec<PullSummary> = pulls
                    .into_iter()
                    .filter(|p| p.base == entry.branch.as_str())
                    .collect();
                let wanted = entry.wanted_pr(ws.branch_prefix());
                let mut decided = pr::decide(wanted.as_ref(), &pulls, &entry.close_reason());
                // A person asked for it again: a PR they closed earlier does not hold it back.
                if entry.approved && matches!(decided, PrPlan::Skip { .. }) {
                    decided = PrPlan::Open;
                }
                entry.pr = Some(decided);
                entry.pulls = pulls;
            }
            Err(e) => plan.problems.push(
                Problem::new(e.to_string())
                    .addon(&entry.addon)
                    .branch(&entry.branch),
            ),
        }
    }
}

/// Decide how each release branch's update reaches it: through main's (a maintained branch
/// that takes exactly the version main moves to, or already runs, gets it by backport), or by
/// a PR of its own.
fn route(ws: &Workspace, plan: &mut SyncPlan) {
    let main_version = |addon: &AddonName| -> Vec<String> {
        plan.entries
            .iter()
            .filter(|e| e.branch == BranchName::main() && &e.addon == addon)
            .flat_map(|e| [Some(e.current.clone()), e.target.clone()])
            .flatten()
            .collect()
    };
    let routes: Vec<Option<Route>> = plan
        .entries
        .iter()
        .map(|e| {
            let target = e.target.as_ref().filter(|_| e.action == Action::Update)?;
            if e.branch == BranchName::main() {
                return None;
            }
            let maintained = ws
                .train
                .branch(e.branch.as_str())
                .is_some_and(|b| b.status == crate::config::BranchStatus::Maintained);
            Some(if maintained && main_version(&e.addon).contains(target) {
                Route::ViaMain
            } else {
                Route::Direct
            })
        })
        .collect();
    for (e, r) in plan.entries.iter_mut().zip(routes) {
        e.route = r;
    }
}

/// A branch's bundles and, once a job asks, their parsed renders.
struct Siblings {
    loaded: Vec<LoadedBundle>,
    policy_files: Vec<(std::path::PathBuf, String)>,
    parsed: tokio::sync::OnceCell<Arc<ParsedRenders>>,
    policies: tokio::sync::OnceCell<Arc<crate::validate::Policies>>,
}

impl Siblings {
    async fn parsed(&self) -> Result<Arc<ParsedRenders>, String> {
        self.parsed
            .get_or_try_init(|| async {
                let loaded = self.loaded.clone();
                blocking(move || Ok(crate::validate::parse_renders(&loaded)))
                    .await
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .await
            .cloned()
    }

    /// The branch's policies, loaded and compiled once.
    async fn policies(&self) -> Result<Arc<crate::validate::Policies>, String> {
        self.policies
            .get_or_try_init(|| async {
                let files = self.policy_files.clone();
                blocking(move || Ok(crate::validate::Policies::load(&files)))
                    .await
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .await
            .cloned()
    }
}

struct Job {
    /// Lift the branch's `updates` policy (a person approved the held-back update).
    approved: bool,
    ws: Arc<Workspace>,
    bundle: LoadedBundle,
    branch: TrainBranch,
    origin: Origin,
    /// The branch's bundles, for validating the change in context.
    siblings: Arc<Siblings>,
}

impl Job {
    async fn run(self) -> Result<PlanEntry, String> {
        let b = &self.bundle.bundle;
        let upstream::SourceReleases {
            location,
            releases:
                ChartReleases {
                    releases: mut usable,
                    mut unusable,
                },
        } = upstream::releases(self.ws.fetcher(), b)
            .await
            .map_err(|e| e.to_string())?;
        for u in &unusable {
            self.ws.warn_unusable(b.chart(), u);
        }
        let current = usable.iter().find(|r| r.version == b.version).cloned();
        // The pin must still name the bytes the bundle recorded (OCI, GitHub release sources).
        if let Some(c) = &current {
            upstream::check_pinned_digest(b, c).map_err(|e| e.to_string())?;
        }
        // Choose; an archive that turns out not to be what its entry says is set apart like
        // any other unusable entry, and the next newest is chosen instead.
        let (entry, target, new) = loop {
            let choice = upstream::choose(&usable, b, &self.policy_branch(), &b.version);
            let mut entry = self.entry(&choice, current.as_ref(), &unusable, &location);
            let target = match choice.target {
                Some(t) if t.version > b.version => t,
                _ => return Ok(entry),
            };
            entry.target = Some(target.version.to_string());
            entry.target_app_version = target.entry.app_version.clone();
            if !matches!(b.source, crate::config::UpstreamSource::Helm(_)) {
                entry.target_digest =
                    upstream::sha256_digest(&target.entry).map(|d| format!("sha256:{d}"));
            }
            entry.action = Action::Update;
            match self.ws.render(&self.bundle, &self.branch, &target).await {
                Ok(new) => break (entry, target, new),
                Err(ReleaseError::Fetch(e)) if e.is_unusable_entry() => {
                    let u = Unusable {
                        version: target.entry.version.clone(),
                        reason: e.to_string(),
                    };
                    self.ws.warn_unusable(b.chart(), &u);
                    usable.retain(|r| r.version != target.version);
                    unusable.push(u);
                }
                Err(e) => return Err(e.to_string()),
            }
        };
        let mut entry = entry;
        let verdict = self
            .ws
            .check_change(
                &self.branch,
                self.siblings.parsed().await?,
                b.name.as_str(),
                new.manifests.clone(),
                self.siblings.policies().await?,
            )
            .await
            .map_err(|e| e.to_string())?;
        let old = match self.baseline(current.as_ref()).await? {
            Some(m) => m,
            None => Manifests::parse("").map_err(|e| e.to_string())?,
        };
        let diff = {
            let new = new.manifests;
            blocking(move || Ok(manifest::diff(&old, &new)))
                .await
                .map_err(|e| e.to_string())?
        };
        entry.added = diff.added.len();
        entry.removed = diff.removed.len();
        entry.changed = diff.changed.len();
        let body = PrBody {
            addon: b,
            branch: &self.branch,
            current: current.as_ref(),
            current_version: &b.version,
            target: &target,
            skipped: &entry.skipped,
            diff: &diff,
            baseline_note: (self.origin == Origin::NotCut).then_some(
                "This branch is not cut in this repository yet: the baseline is the current pin rendered for its minor.",
            ),
            validation: Some(&verdict),
        };
        entry.labels = report::labels(b, &diff);
        entry.labels.extend(verdict.labels.iter().cloned());
        // The label keeps the approval for the next runs, as long as the PR is open.
        if self.approved {
            entry.labels.push(APPROVED_LABEL.into());
        }
        entry.title = Some(report::title(b, &self.branch, &b.version, &target.version));
        entry.body =
            Some(report::pr_body(&body).map_err(|e| format!("cannot render the PR body: {e}"))?);
        entry.rendered = Some(new.text);
        Ok(entry)
    }

    /// The branch as choosing sees it: an approved update lifts its `updates` policy.
    fn policy_branch(&self) -> TrainBranch {
        let mut b = self.branch.clone();
        if self.approved {
            b.updates = crate::config::Updates::All;
        }
        b
    }

    /// The entry for `choice` before anything is rendered: up to date, or blocked and why,
    /// with the newer versions passed over (unusable entries among them).
    fn entry(
        &self,
        choice: &upstream::Choice,
        current: Option<&Release>,
        unusable: &[Unusable],
        index: &str,
    ) -> PlanEntry {
        let b = &self.bundle.bundle;
        let newest_considered = match &choice.target {
            Some(t) if t.version > b.version => &t.version,
            _ => &b.version,
        };
        let mut skipped = choice.skipped_newer.clone();
        skipped.extend(upstream::unusable_newer(unusable, b, newest_considered));
        let held = skipped
            .iter()
            .filter(|s| matches!(s.reason, SkipReason::Updates { .. }))
            .map(|s| s.version.clone())
            .next();
        let mut entry = PlanEntry {
            addon: b.name.clone(),
            branch: self.branch.name.clone(),
            kubernetes: self.branch.kubernetes.to_string(),
            origin: self.origin.clone(),
            action: Action::UpToDate,
            current: b.version.to_string(),
            current_app_version: current.and_then(|r| r.entry.app_version.clone()),
            target: None,
            target_app_version: None,
            target_digest: None,
            skipped,
            held,
            approved: self.approved,
            added: 0,
            removed: 0,
            changed: 0,
            labels: Vec::new(),
            title: None,
            body: None,
            route: None,
            pr: None,
            pulls: Vec::new(),
            rendered: None,
        };
        let newer = choice
            .target
            .as_ref()
            .is_some_and(|t| t.version > b.version);
        if let (false, Err(reason)) = (newer, &choice.current_admissible) {
            // Nothing newer is admissible, and the pin itself is not either: a human must
            // decide (never downgrade silently). Say the true cause.
            let pin = match reason {
                SkipReason::NotInIndex => {
                    format!("pinned {} is not in the index of {index}", b.version)
                }
                other => format!("pinned {}: {other}", b.version),
            };
            entry.action = Action::Blocked {
                reason: match &choice.target {
                    Some(t) => format!(
                        "{pin}; newest admissible is {}, which would be a downgrade",
                        t.version
                    ),
                    None => format!(
                        "no version of {} is admissible on {} ({pin})",
                        b.chart(),
                        self.branch.name
                    ),
                },
            };
        }
        entry
    }

    /// What the branch runs today: its committed render, or (not cut yet, or never rendered)
    /// the current pin rendered for this branch.
    async fn baseline(&self, current: Option<&Release>) -> Result<Option<Manifests>, String> {
        if self.origin != Origin::NotCut {
            if let Some(text) = self.bundle.rendered.clone() {
                let file = self.bundle.bundle.rendered_file();
                return blocking(move || {
                    Manifests::parse(&text).map_err(|e| {
                        JobError::Git(format!(
                            "committed render {} is unreadable: {e}",
                            file.display()
                        ))
                    })
                })
                .await
                .map(Some)
                .map_err(|e| e.to_string());
            }
        }
        match current {
            Some(r) => Ok(Some(self.render(r).await?.manifests)),
            None => Ok(None),
        }
    }

    async fn render(&self, release: &Release) -> Result<Rendered, String> {
        self.ws
            .render(&self.bundle, &self.branch, release)
            .await
            .map_err(|e| e.to_string())
    }
}
