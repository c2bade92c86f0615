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
use crate::render::cache::EntryOutcome;
use crate::render::{self, ReleaseError};
use crate::report::{self, PrBody};
use crate::upstream::{self, ChartReleases, Release, Skip, SkipReason, Unusable};
use crate::validate::SiblingRenders;
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
    /// Only the addons of this shard.
    pub shard: Option<super::Shard>,
}

impl SyncRequest {
    /// Whether the run covers `addon`: asked for (or none asked for) and in the shard.
    pub fn takes(&self, addon: &str) -> bool {
        wanted(&self.addons, addon) && self.shard.is_none_or(|s| s.contains(addon))
    }
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
    pub rendered: Option<NewRender>,
}

/// Where an update's new render is between planning and writing: in the render cache (a
/// plan keeps only what its PR needs, so a hundred addons do not hold a hundred renders), or
/// held here when the cache could not be written.
#[derive(Debug, Clone)]
pub enum NewRender {
    Cached {
        path: std::path::PathBuf,
        /// SHA-256 of the text the PR body was computed from.
        digest: String,
    },
    Held(String),
}

impl NewRender {
    /// The render's text, checked against what the plan saw. Blocking.
    pub fn text(&self) -> Result<String, String> {
        match self {
            NewRender::Held(t) => Ok(t.clone()),
            NewRender::Cached { path, digest } => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!(
                        "the planned render {} is gone from the render cache ({e}); run sync again",
                        path.display()
                    )
                })?;
                if &render::cache::digest(&text) != digest {
                    return Err(format!(
                        "the planned render {} changed in the render cache since it was planned; run sync again",
                        path.display()
                    ));
                }
                Ok(text)
            }
        }
    }
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

    let mut out = SyncPlan::default();
    {
        let cache = ws.render_cache().clone();
        let evicted = blocking(move || Ok(cache.evict())).await?;
        if evicted > 0 {
            tracing::info!(
                files = evicted,
                "render cache: least recently used files evicted"
            );
        }
    }
    // At most one job per core at a time, one branch after another: a branch's files and
    // parsed renders are read when its first job starts and dropped when its last job ends, so
    // memory does not grow with the number of branches or plan entries.
    let slots = Arc::new(tokio::sync::Semaphore::new(
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    ));
    let mut main = Some(main);
    // Not-cut branches all plan from the same work tree: read, parsed and identified once,
    // shared, never copied (its renders are megabytes per addon).
    let mut worktree: Option<Arc<Siblings>> = None;
    let mut tasks = tokio::task::JoinSet::new();
    for branch in &branches {
        // One branch at a time: the previous branch's parsed renders (validation in context)
        // are gone before this one's are read. Costs the tail of a branch, halves peak memory.
        while let Some(joined) = tasks.join_next().await {
            collect(&mut out, joined)?;
        }
        let files = match main.take() {
            Some(m) if branch.is_main() => m,
            other => {
                main = other;
                ws.branch_files(branch).await?
            }
        };
        let siblings = if files.origin == Origin::NotCut {
            // A branch git does not have yet is planned from the work tree's bundles, with the
            // current pin rendered for its minor as the baseline.
            match &worktree {
                Some(w) => w.clone(),
                None => worktree
                    .insert(Siblings::new(ws.worktree_bundles().await?))
                    .clone(),
            }
        } else {
            // Not held while a cut branch holds its own (read again if another comes).
            worktree = None;
            Siblings::new(files.bundles)
        };
        let bundles = &siblings.bundles;
        for p in bundles.problems.iter().filter(|p| req.takes(&p.dir)) {
            for e in &p.errors {
                out.problems
                    .push(Problem::from_config(e).addon(&p.dir).branch(&branch.name));
            }
        }
        let picked: Vec<usize> = (0..bundles.loaded.len())
            .filter(|&i| req.takes(bundles.loaded[i].bundle.name.as_str()))
            .collect();
        for index in picked {
            let lb = &siblings.bundles.loaded[index];
            let approved = req
                .approved
                .contains(&(lb.bundle.name.to_string(), branch.name.to_string()));
            let slot = slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let job = Job {
                approved,
                ws: ws.clone(),
                index,
                branch: branch.clone(),
                origin: files.origin.clone(),
                siblings: siblings.clone(),
            };
            tasks.spawn(async move {
                let (addon, branch) = (job.bundle().bundle.name.clone(), job.branch.name.clone());
                let span = tracing::info_span!("plan", addon = %addon, branch = %branch);
                let res = tracing::Instrument::instrument(job.run(), span).await;
                drop(slot);
                (addon, branch, res)
            });
            // Collect what finished meanwhile: results are small, jobs are not.
            while let Some(joined) = tasks.try_join_next() {
                collect(&mut out, joined)?;
            }
        }
    }
    drop(main);
    while let Some(joined) = tasks.join_next().await {
        collect(&mut out, joined)?;
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

type Joined = Result<(AddonName, BranchName, Result<PlanEntry, String>), tokio::task::JoinError>;

/// A planned update's outcome into its entry.
fn apply(entry: &mut PlanEntry, o: EntryOutcome) {
    entry.added = o.added;
    entry.removed = o.removed;
    entry.changed = o.changed;
    entry.labels = o.labels;
    entry.title = Some(o.title);
    entry.body = Some(o.body);
}

/// A finished planning job into the plan: its entry, or a problem naming addon and branch.
fn collect(out: &mut SyncPlan, joined: Joined) -> Result<(), JobError> {
    let (addon, branch, res) =
        joined.map_err(|e| JobError::Internal(format!("a planning task failed: {e}")))?;
    match res {
        Ok(entry) => out.entries.push(entry),
        Err(cause) => out
            .problems
            .push(Problem::new(cause).addon(addon).branch(branch)),
    }
    Ok(())
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
    bundles: crate::config::Bundles,
    parsed: tokio::sync::OnceCell<Arc<SiblingRenders>>,
    policies: tokio::sync::OnceCell<Arc<crate::validate::Policies>>,
    identity: tokio::sync::OnceCell<String>,
}

impl Siblings {
    /// Parsed once, by whichever job needs it first, while others still render.
    fn new(bundles: crate::config::Bundles) -> Arc<Siblings> {
        Arc::new(Siblings {
            bundles,
            parsed: tokio::sync::OnceCell::new(),
            policies: tokio::sync::OnceCell::new(),
            identity: tokio::sync::OnceCell::new(),
        })
    }

    /// A digest of everything validation in context reads from the branch: every bundle's
    /// definition, committed render and e2e fixtures, and the policies.
    async fn identity(&self) -> Result<String, String> {
        self.identity
            .get_or_try_init(|| async {
                let mut k = render::cache::KeyBuilder::new("siblings");
                k.branch_files(&self.bundles.loaded, &self.bundles.policies);
                Ok::<_, String>(k.finish().as_str().to_string())
            })
            .await
            .cloned()
    }

    async fn parsed(self: &Arc<Self>) -> Result<Arc<SiblingRenders>, String> {
        self.parsed
            .get_or_try_init(|| async {
                let me = self.clone();
                blocking(move || Ok(crate::validate::parse_siblings(&me.bundles.loaded)))
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
                let files = self.bundles.policies.clone();
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
    /// The bundle's place in `siblings`.
    index: usize,
    branch: TrainBranch,
    origin: Origin,
    /// The branch's bundles, for validating the change in context.
    siblings: Arc<Siblings>,
}

/// What the branch runs today, before an update.
enum Baseline {
    /// Its committed render.
    Committed,
    /// Not cut (or never rendered): the current pin rendered for the branch.
    Render(Box<render::RenderPlan>),
    /// Nothing: the pin is not in the index.
    Empty,
}

impl Job {
    fn bundle(&self) -> &LoadedBundle {
        &self.siblings.bundles.loaded[self.index]
    }

    async fn run(self) -> Result<PlanEntry, String> {
        let lb = self.bundle();
        let b = &lb.bundle;
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
        let (mut entry, target, plan) = loop {
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
            match self.ws.render_plan(lb, &self.branch, &target).await {
                Ok(plan) => break (entry, target, plan),
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
        let baseline = self.baseline(current.as_ref()).await?;
        // Everything the entry's counts, labels and body depend on. An unchanged entry (the
        // usual tick) is answered from the cache: no helm, no diff, no validation.
        let key = {
            let committed = match &baseline {
                Baseline::Committed => {
                    render::cache::digest(lb.rendered.as_deref().unwrap_or_default())
                }
                Baseline::Render(p) => format!("render {}", p.key.as_str()),
                Baseline::Empty => "empty".into(),
            };
            let mut k = render::cache::KeyBuilder::new("entry");
            k.part(plan.key.as_str())
                .part(committed)
                .part(self.siblings.identity().await?)
                .part(self.ws.schemas().map(|s| s.identity()).unwrap_or_default())
                .part(format!(
                    "{:?}",
                    (
                        b,
                        &self.branch,
                        &current,
                        &target,
                        &entry.skipped,
                        self.origin == Origin::NotCut,
                        self.approved
                    )
                ));
            k.finish()
        };
        let cache = self.ws.render_cache().clone();
        let cached = {
            let (cache, key, render_key) = (cache.clone(), key.clone(), plan.key.clone());
            blocking(move || {
                Ok(cache
                    .entry(&key)
                    .and_then(|o| Some((cache.render_file(&render_key)?, o))))
            })
            .await
            .map_err(|e| e.to_string())?
        };
        if let Some((path, outcome)) = cached {
            tracing::debug!("render cache: entry and render reused");
            entry.rendered = Some(NewRender::Cached {
                path,
                digest: outcome.render_digest.clone(),
            });
            apply(&mut entry, outcome);
            return Ok(entry);
        }
        let new = self
            .ws
            .render_planned(&plan)
            .await
            .map_err(|e| e.to_string())?;
        let parsed = self.siblings.parsed().await?;
        let new_objects = Arc::new(new.manifests);
        let verdict = self
            .ws
            .check_change(
                &self.branch,
                parsed.clone(),
                b.name.as_str(),
                new_objects.clone(),
                self.siblings.policies().await?,
            )
            .await
            .map_err(|e| e.to_string())?;
        let old = match baseline {
            // Read again: the branch's parsed renders keep CRDs in compact form only, and the
            // diff needs them whole.
            Baseline::Committed => {
                let (siblings, index) = (self.siblings.clone(), self.index);
                blocking(move || {
                    let lb = &siblings.bundles.loaded[index];
                    crate::validate::parse_committed(lb).map_err(|e| {
                        JobError::Internal(format!(
                            "committed render {} is unreadable: {e}",
                            lb.bundle.rendered_file().display()
                        ))
                    })
                })
                .await
                .map_err(|e| e.to_string())?
            }
            Baseline::Render(p) => {
                self.ws
                    .render_planned(&p)
                    .await
                    .map_err(|e| e.to_string())?
                    .manifests
            }
            Baseline::Empty => Manifests::default(),
        };
        let diff = {
            let (parsed, index) = (parsed.clone(), self.index);
            blocking(move || {
                let diff = manifest::diff(&old, &new_objects);
                drop(old);
                // The branch's custom resources as they would be with this change.
                let others = parsed
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != index)
                    .filter_map(|(_, (_, s))| s.as_ref().ok());
                let objects = others
                    .flat_map(|s| s.objects.objects())
                    .chain(new_objects.objects());
                let touched = manifest::crd::touched(&diff.summary.crds, objects);
                Ok((diff, touched))
            })
            .await
            .map_err(|e| e.to_string())?
        };
        let (diff, touched) = diff;
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
            crd_objects: &touched,
        };
        let mut labels = report::labels(b, &diff);
        labels.extend(verdict.labels.iter().cloned());
        // The label keeps the approval for the next runs, as long as the PR is open.
        if self.approved {
            labels.push(APPROVED_LABEL.into());
        }
        let outcome = EntryOutcome {
            added: diff.added.len(),
            removed: diff.removed.len(),
            changed: diff.changed.len(),
            labels,
            title: report::title(b, &self.branch, &b.version, &target.version),
            body: report::pr_body(&body).map_err(|e| format!("cannot render the PR body: {e}"))?,
            render_digest: render::cache::digest(&new.text),
        };
        let (text, complete) = (new.text, !verdict.incomplete);
        let stored = blocking(move || {
            // A verdict missing what it needed (schemas not fetched) is not kept.
            if complete {
                cache.put_entry(&key, &outcome);
            }
            Ok((cache.render_file(&plan.key), outcome))
        })
        .await
        .map_err(|e| e.to_string())?;
        let (file, outcome) = stored;
        entry.rendered = Some(match file {
            Some(path) => NewRender::Cached {
                path,
                digest: outcome.render_digest.clone(),
            },
            None => NewRender::Held(text),
        });
        apply(&mut entry, outcome);
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
        let b = &self.bundle().bundle;
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
    async fn baseline(&self, current: Option<&Release>) -> Result<Baseline, String> {
        if self.origin != Origin::NotCut && self.bundle().rendered.is_some() {
            return Ok(Baseline::Committed);
        }
        match current {
            Some(r) => self
                .ws
                .render_plan(self.bundle(), &self.branch, r)
                .await
                .map(|p| Baseline::Render(Box::new(p)))
                .map_err(|e| e.to_string()),
            None => Ok(Baseline::Empty),
        }
    }
}
