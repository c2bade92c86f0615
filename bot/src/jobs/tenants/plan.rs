//! Observing tenants and deciding what to propose: read `tenants.toml`, the platform's tags,
//! each tenant repository (cloned into the run's scratch space) and its bot PRs; plan one
//! proposal per (tenant, kind, target minor).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Serialize;

use crate::config::{self, BranchStatus, Tenant, Tenants, Train, TENANTS_FILE};
use crate::forge::{ForgeError, GitHub};
use crate::git::{self, FileChange, Remote, Tree};
use crate::jobs::diff::TagDiff;
use crate::jobs::pr::{self, PrPlan, PrSpec};
use crate::jobs::JobError;
use crate::manifest::{CrdChange, Manifests};
use crate::model::KubeMinor;
use crate::report;
use crate::tenant::pins::{self, Pin, PlatformRepo, Unpinned};
use crate::tenant::readiness::{self, Readiness};
use crate::validate::Crds;
use crate::workspace::{blocking, View, Workspace};

/// Files larger than this are not read for pins (no pin file is anywhere near it).
const MAX_FILE: u64 = 1024 * 1024;

/// How tenant repositories are reached.
pub struct Access {
    /// GitHub API base URL (`GITHUB_API_URL`).
    pub api_url: String,
    /// Where `owner/repo` tenants are cloned from (`GITHUB_SERVER_URL`).
    pub server_url: String,
    /// A token that reaches the tenant repositories (a GitHub App installation token or a
    /// fine-grained token); the workflow's `GITHUB_TOKEN` reaches only its own repository.
    pub token: Option<SecretString>,
    /// This repository on GitHub (`GITHUB_REPOSITORY`), unless tenants.toml says otherwise.
    pub platform: Option<String>,
    /// Bot branches in tenant repositories are `<prefix>platform/<minor>` and
    /// `<prefix>platform-upgrade/<minor>`.
    pub branch_prefix: String,
}

/// The plan for every tenant.
#[derive(Debug, Serialize)]
pub struct TenantsPlan {
    /// The platform repository tenants pin (`owner/repo`).
    pub platform: String,
    /// The newest tag of each Kubernetes minor.
    pub newest: BTreeMap<String, String>,
    pub tenants: Vec<TenantPlan>,
}

/// One tenant repository.
#[derive(Debug, Serialize)]
pub struct TenantPlan {
    pub tenant: String,
    pub github: Option<String>,
    /// The branch PRs target, and its commit.
    pub base: Option<String>,
    pub base_sha: Option<String>,
    pub pins: Vec<Pin>,
    /// References to the platform the bot does not move, and why.
    pub unpinned: Vec<Unpinned>,
    pub proposals: Vec<Proposal>,
    /// Bot PRs with nothing left to propose.
    pub stale: Vec<Stale>,
    /// Why the tenant could not be planned (no access, no such branch, …): one problem line.
    pub error: Option<String>,
    /// Whether GitHub was read (PR decisions are known).
    pub github_read: bool,
    /// The scratch repository holding the tenant's base commit.
    #[serde(skip)]
    pub(crate) scratch: Option<PathBuf>,
    /// The tenant's clone URL (never with credentials).
    #[serde(skip)]
    pub(crate) url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProposalKind {
    /// The newest tag of the pinned minor.
    Bump,
    /// The next minor's newest tag.
    Upgrade,
}

/// One PR to propose in a tenant repository.
#[derive(Debug, Serialize)]
pub struct Proposal {
    pub kind: ProposalKind,
    /// The tags pinned now.
    pub from: Vec<String>,
    pub to: String,
    pub to_kubernetes: String,
    /// The bot branch.
    pub head: String,
    /// The pins the PR moves.
    pub pins: Vec<Pin>,
    /// Upgrades: why the tenant should move, and the readiness of its manifests.
    pub why: Option<String>,
    pub readiness: Option<Readiness>,
    pub spec: PrSpec,
    /// `None`: GitHub was not read.
    pub pr: Option<PrPlan>,
    /// Where the bot branch is on the tenant remote now.
    #[serde(skip)]
    pub(crate) remote_sha: Option<String>,
    #[serde(skip)]
    pub(crate) changes: Vec<FileChange>,
}

/// An open bot PR in a tenant repository with nothing left to propose.
#[derive(Debug, Clone, Serialize)]
pub struct Stale {
    pub head: String,
    pub number: u64,
    pub reason: String,
    #[serde(skip)]
    pub(crate) remote_sha: Option<String>,
    #[serde(skip)]
    pub(crate) pull: Option<crate::forge::PullSummary>,
}

/// The platform's tags, by minor: (n, tag), highest n last.
type Tags = BTreeMap<KubeMinor, Vec<(u64, String)>>;

pub async fn plan(
    ws: &Workspace,
    access: &Access,
    only: &[String],
    scratch: &Path,
) -> Result<TenantsPlan, JobError> {
    let tenants = load_tenants(ws)?;
    if let Some(name) = only
        .iter()
        .find(|n| !tenants.tenants.iter().any(|t| &t.name == *n))
    {
        return Err(JobError::Usage(format!(
            "unknown tenant {name:?}: {TENANTS_FILE} has {}",
            tenants
                .tenants
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let platform = tenants
        .platform_repository
        .clone()
        .or_else(|| access.platform.clone())
        .ok_or_else(|| {
            JobError::Usage(format!(
                "which repository do tenants pin? set [platform] repository in {TENANTS_FILE}, or GITHUB_REPOSITORY"
            ))
        })?;
    if ws.view() == (View::Remote { fetched: true }) {
        ws.remote()
            .fetch_tags()
            .await
            .map_err(|e| JobError::Git(e.to_string()))?;
    }
    let (repo, train) = (ws.repo().to_path_buf(), ws.train.clone());
    let tags = blocking(move || platform_tags(&repo, &train)).await?;
    let newest = tags
        .iter()
        .filter_map(|(m, t)| t.last().map(|(_, name)| (m.to_string(), name.clone())))
        .collect();
    let ctx = Ctx {
        ws,
        access,
        tags: &tags,
        platform: PlatformRepo::new(&platform, &tenants.platform_urls),
        platform_name: &platform,
        crds: tokio::sync::Mutex::new(BTreeMap::new()),
    };
    let mut out = Vec::new();
    for (i, tenant) in tenants
        .tenants
        .iter()
        .enumerate()
        .filter(|(_, t)| only.is_empty() || only.contains(&t.name))
    {
        let dir = scratch.join(format!("tenant-{i}"));
        let span = tracing::info_span!("tenant", tenant = %tenant.name);
        let planned = tracing::Instrument::instrument(ctx.tenant(tenant, &dir), span).await;
        out.push(planned);
    }
    Ok(TenantsPlan {
        platform,
        newest,
        tenants: out,
    })
}

/// `tenants.toml` from `main` as the workspace reads it.
fn load_tenants(ws: &Workspace) -> Result<Tenants, JobError> {
    let (_, tree) = ws.locate("main")?;
    let tree = tree.ok_or_else(|| JobError::Git("main is not in the repository".into()))?;
    let path = PathBuf::from(TENANTS_FILE);
    let text = tree.read(&path)?.ok_or_else(|| {
        JobError::Config(config::ConfigErrors(vec![config::ConfigError::new(
            &path,
            format!("no {TENANTS_FILE} in {}", tree.label()),
        )
        .hint(
            "list the tenant repositories in tenants.toml on main (README: \"Tenants\")",
        )]))
    })?;
    config::parse_tenants(&path, &text).map_err(|e| JobError::Config(config::ConfigErrors(e)))
}

/// Every tag of the train's format in the repository, by minor.
fn platform_tags(repo: &Path, train: &Train) -> Result<Tags, JobError> {
    let r = git2::Repository::open(repo).map_err(|e| JobError::Git(e.to_string()))?;
    let names = r
        .tag_names(None)
        .map_err(|e| JobError::Git(e.to_string()))?;
    let mut tags: Tags = BTreeMap::new();
    for name in names.iter().filter_map(|t| t.ok().flatten()) {
        if let Some((minor, n)) = train.parse_tag(name) {
            tags.entry(minor).or_default().push((n, name.to_string()));
        }
    }
    for list in tags.values_mut() {
        list.sort();
    }
    Ok(tags)
}

struct Ctx<'a> {
    ws: &'a Workspace,
    access: &'a Access,
    tags: &'a Tags,
    platform: PlatformRepo,
    platform_name: &'a str,
    /// The CRDs the bundles of a tag ship, by tag (tenant custom resources are checked
    /// against the platform they will run on).
    crds: tokio::sync::Mutex<BTreeMap<String, std::sync::Arc<Crds<'static>>>>,
}

/// What the tenant's checkout holds.
struct Checkout {
    forge: Option<GitHub>,
    remote: Remote,
    base: String,
    base_sha: String,
    /// The exported tree.
    tree: PathBuf,
    files: Vec<(PathBuf, String)>,
}

impl Ctx<'_> {
    async fn tenant(&self, tenant: &Tenant, dir: &Path) -> TenantPlan {
        let mut plan = TenantPlan {
            tenant: tenant.name.clone(),
            github: tenant.github.clone(),
            base: None,
            base_sha: None,
            pins: Vec::new(),
            unpinned: Vec::new(),
            proposals: Vec::new(),
            stale: Vec::new(),
            error: None,
            github_read: false,
            scratch: None,
            url: tenant.clone_url(&self.access.server_url),
        };
        let checkout = match self.checkout(tenant, dir).await {
            Ok(c) => c,
            Err(e) => {
                plan.error = Some(e);
                return plan;
            }
        };
        plan.base = Some(checkout.base.clone());
        plan.base_sha = Some(checkout.base_sha.clone());
        plan.scratch = Some(dir.join("repo.git"));
        plan.github_read = checkout.forge.is_some();
        if let Err(e) = self.propose(tenant, &checkout, &mut plan).await {
            plan.error = Some(e);
        }
        plan
    }

    /// Reach the tenant: GitHub (access and default branch), then its base branch fetched
    /// into a scratch repository and exported for the tools that need files.
    async fn checkout(&self, tenant: &Tenant, dir: &Path) -> Result<Checkout, String> {
        let url = tenant
            .clone_url(&self.access.server_url)
            .ok_or("no repository URL")?;
        let forge = match (&tenant.github, &self.access.token) {
            (Some(g), Some(token)) => {
                Some(GitHub::new(&self.access.api_url, g, token).map_err(|e| e.to_string())?)
            }
            _ => None,
        };
        let github_base = match (&forge, &tenant.github) {
            (Some(f), Some(g)) => match f.default_branch().await {
                Ok(b) => Some(b),
                Err(ForgeError::NotFound { .. }) => {
                    return Err(format!(
                        "the token cannot reach {g} on GitHub (404: no such repository, or no access to it); give the GitHub App installation or the fine-grained token access to it (README: \"Tenants\")"
                    ))
                }
                Err(ForgeError::Status { status: 401, .. }) => {
                    return Err(format!(
                        "GitHub rejected the token for {g} (401): set AKE_BOT_TENANTS_TOKEN to a token for the tenant repositories"
                    ))
                }
                Err(e) => return Err(format!("cannot read {g} on GitHub: {e}")),
            },
            _ => None,
        };
        let repo_dir = dir.join("repo.git");
        let tree_dir = dir.join("tree");
        {
            let repo_dir = repo_dir.clone();
            blocking(move || {
                git2::Repository::init_bare(&repo_dir)
                    .map(|_| ())
                    .map_err(|e| JobError::Git(format!("cannot create a scratch repository: {e}")))
            })
            .await
            .map_err(|e| e.to_string())?;
        }
        let remote = Remote::new(&repo_dir, &url, self.access.token.clone());
        let base = match (&tenant.branch, github_base) {
            (Some(b), _) => b.clone(),
            (None, Some(b)) => b,
            (None, None) => remote
                .default_branch()
                .await
                .map_err(|e| format!("cannot read {}: {e}", shown_url(&url)))?
                .ok_or_else(|| {
                    format!(
                        "{} names no default branch; set `branch` for this tenant in {TENANTS_FILE}",
                        shown_url(&url)
                    )
                })?,
        };
        let base_sha = remote
            .fetch_branch_as(&base, &format!("refs/heads/{base}"))
            .await
            .map_err(|e| format!("cannot fetch branch {base} of {}: {e}", shown_url(&url)))?;
        let (repo, sha, dest) = (repo_dir.clone(), base_sha.clone(), tree_dir.clone());
        let paths = tenant.paths.clone();
        let files = blocking(move || {
            let exported = git::export(&repo, &sha, &dest)?;
            Ok(read_candidates(&dest, &exported, &paths))
        })
        .await
        .map_err(|e| e.to_string())?;
        Ok(Checkout {
            forge,
            remote,
            base,
            base_sha,
            tree: tree_dir,
            files,
        })
    }

    async fn propose(
        &self,
        tenant: &Tenant,
        c: &Checkout,
        plan: &mut TenantPlan,
    ) -> Result<(), String> {
        let (pins, mut unpinned) = pins::detect(&c.files, &self.platform);
        let train = &self.ws.train;
        // Pins on a platform tag, by minor; other revisions are reported, not moved.
        let mut by_minor: BTreeMap<KubeMinor, Vec<(u64, Pin)>> = BTreeMap::new();
        for pin in &pins {
            match train.parse_tag(&pin.revision) {
                Some((minor, n))
                    if self
                        .tags
                        .get(&minor)
                        .is_some_and(|t| t.iter().any(|(_, name)| name == &pin.revision)) =>
                {
                    by_minor.entry(minor).or_default().push((n, pin.clone()));
                }
                Some(_) => unpinned.push(Unpinned {
                    file: pin.file.clone(),
                    line: Some(pin.line),
                    reason: format!(
                        "pins {}, which is not a tag of {}",
                        pin.revision, self.platform_name
                    ),
                }),
                None => unpinned.push(Unpinned {
                    file: pin.file.clone(),
                    line: Some(pin.line),
                    reason: format!(
                        "follows {:?}, not a release tag ({}): not moved by ake-bot",
                        pin.revision, train.tag_format
                    ),
                }),
            }
        }
        plan.pins = pins;
        plan.unpinned = unpinned;

        let prefix = &self.access.branch_prefix;
        let mut wanted: Vec<Proposal> = Vec::new();
        let mut upgrades: BTreeMap<KubeMinor, (Vec<Pin>, Vec<String>)> = BTreeMap::new();
        for (minor, pinned) in &by_minor {
            let Some((newest_n, newest)) = self.tags.get(minor).and_then(|t| t.last()) else {
                continue;
            };
            let behind: Vec<Pin> = pinned
                .iter()
                .filter(|(n, _)| n < newest_n)
                .map(|(_, p)| p.clone())
                .collect();
            if !behind.is_empty() {
                wanted.push(self.proposal(
                    ProposalKind::Bump,
                    format!("{prefix}platform/{minor}"),
                    behind,
                    newest.clone(),
                    *minor,
                    None,
                ));
            }
            if let Some((target, why)) = leaving(&self.ws.train, self.tags, *minor) {
                let entry = upgrades.entry(target).or_default();
                entry.0.extend(pinned.iter().map(|(_, p)| p.clone()));
                entry.1.push(why);
            }
        }
        for (target, (moved, whys)) in upgrades {
            let Some((_, to)) = self.tags.get(&target).and_then(|t| t.last()) else {
                continue;
            };
            wanted.push(self.proposal(
                ProposalKind::Upgrade,
                format!("{prefix}platform-upgrade/{target}"),
                moved,
                to.clone(),
                target,
                Some(whys.join("; ")),
            ));
        }

        let heads = c
            .remote
            .branches(&format!("{prefix}platform"))
            .await
            .map_err(|e| e.to_string())?;
        // The bot branches' commits, so a push that would not change their tree is skipped.
        for (head, _) in &heads {
            c.remote
                .fetch_branch_as(head, &format!("refs/bot/{head}"))
                .await
                .map_err(|e| e.to_string())?;
        }
        for p in &mut wanted {
            p.remote_sha = heads
                .iter()
                .find(|(b, _)| *b == p.head)
                .map(|(_, s)| s.clone());
            // What moving from each pinned tag brings: the PR body, its label and (for an
            // upgrade) how the CRDs changed under the tenant's custom resources.
            let (repo, from, to) = (self.ws.repo().to_path_buf(), p.from.clone(), p.to.clone());
            let diffs = blocking(move || {
                from.iter()
                    .map(|f| crate::jobs::diff::tag_diff(&repo, f, &to))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            .map_err(|e| e.to_string())?;
            if p.kind == ProposalKind::Upgrade {
                let minor: KubeMinor = p
                    .to_kubernetes
                    .parse()
                    .map_err(|e: crate::model::InvalidName| e.to_string())?;
                p.readiness = Some(self.readiness(tenant, c, minor, &diffs, &p.to).await?);
            }
            p.changes = changes(c, p)?;
            p.spec = self.spec(tenant, c, p, &diffs)?;
            if let Some(forge) = &c.forge {
                let pulls = forge
                    .pulls_for_head(&p.head)
                    .await
                    .map_err(|e| e.to_string())?;
                p.pr = Some(pr::decide(Some(&p.spec), &pulls, ""));
            }
        }
        // Bot branches whose proposal is gone: close their PR (the tenant moved on).
        if let Some(forge) = &c.forge {
            for (head, sha) in &heads {
                if wanted.iter().any(|p| &p.head == head) {
                    continue;
                }
                let pulls = forge
                    .pulls_for_head(head)
                    .await
                    .map_err(|e| e.to_string())?;
                if let Some(open) = pulls
                    .into_iter()
                    .find(|p| p.state == crate::forge::PullState::Open)
                {
                    plan.stale.push(Stale {
                        head: head.clone(),
                        number: open.number,
                        reason: "the pins it moved are at the newest tag now, or gone".into(),
                        remote_sha: Some(sha.clone()),
                        pull: Some(open),
                    });
                }
            }
        }
        plan.proposals = wanted;
        Ok(())
    }

    fn proposal(
        &self,
        kind: ProposalKind,
        head: String,
        pins: Vec<Pin>,
        to: String,
        to_minor: KubeMinor,
        why: Option<String>,
    ) -> Proposal {
        let from: BTreeSet<String> = pins.iter().map(|p| p.revision.clone()).collect();
        Proposal {
            kind,
            from: from.into_iter().collect(),
            to,
            to_kubernetes: to_minor.to_string(),
            head,
            pins,
            why,
            readiness: None,
            spec: PrSpec {
                head: String::new(),
                base: String::new(),
                title: String::new(),
                body: String::new(),
                labels: Vec::new(),
                draft: false,
                target: None,
            },
            pr: None,
            remote_sha: None,
            changes: Vec::new(),
        }
    }

    /// The readiness of the tenant's manifests for `target`, against the CRDs of tag `to` and
    /// how they changed in `diffs` (from each tag the tenant pins).
    async fn readiness(
        &self,
        tenant: &Tenant,
        c: &Checkout,
        target: KubeMinor,
        diffs: &[TagDiff],
        to: &str,
    ) -> Result<Readiness, String> {
        let crds = self.crds_of(to).await?;
        let crd_changes: Vec<CrdChange> = diffs
            .iter()
            .flat_map(|d| d.crds().map(|(_, c)| c.clone()))
            .collect();
        let helm = self.ws.helm().ok();
        let kubectl = crate::render::Kubectl::locate().ok();
        let schemas = self.ws.schemas().map(|s| s.store());
        Ok(readiness::check(readiness::Inputs {
            dir: &c.tree,
            paths: &tenant.paths,
            target,
            schemas,
            crds: &crds,
            crd_changes: &crd_changes,
            helm: helm.as_deref(),
            kubectl: kubectl.as_ref().map(|k| k.path()),
        })
        .await)
    }

    async fn crds_of(&self, tag: &str) -> Result<std::sync::Arc<Crds<'static>>, String> {
        let mut cache = self.crds.lock().await;
        if let Some(c) = cache.get(tag) {
            return Ok(c.clone());
        }
        let (repo, rev) = (self.ws.repo().to_path_buf(), tag.to_string());
        let crds = blocking(move || {
            let commit = git::commit_info(&repo, &rev)
                .map_err(|e| JobError::Git(e.to_string()))?
                .ok_or_else(|| JobError::Git(format!("tag {rev} is not in the repository")))?;
            let tree = Tree::Commit {
                repo,
                commit: commit.id,
                label: rev.clone(),
            };
            let bundles = config::load_bundles(&tree)?;
            let parsed: Vec<(String, Manifests)> = bundles
                .loaded
                .iter()
                .filter_map(|b| {
                    let m = Manifests::parse(b.rendered.as_deref()?).ok()?;
                    Some((b.bundle.name.to_string(), m))
                })
                .collect();
            Ok(Crds::collect(
                parsed
                    .iter()
                    .flat_map(|(b, m)| m.objects().iter().map(move |o| (b.as_str(), o))),
            )
            .into_owned())
        })
        .await
        .map_err(|e| e.to_string())?;
        let crds = std::sync::Arc::new(crds);
        cache.insert(tag.to_string(), crds.clone());
        Ok(crds)
    }

    /// What the PR should say.
    fn spec(
        &self,
        tenant: &Tenant,
        c: &Checkout,
        p: &Proposal,
        tag_diffs: &[TagDiff],
    ) -> Result<PrSpec, String> {
        let diffs: Vec<String> = tag_diffs.iter().map(report::diff::markdown).collect();
        let crd_breaking = tag_diffs.iter().any(breaks_crds);
        let body = report::tenants::body(&report::tenants::TenantBody {
            kind: p.kind,
            platform: self.platform_name,
            tenant: &tenant.name,
            to: &p.to,
            to_kubernetes: &p.to_kubernetes,
            pins: &p.pins,
            why: p.why.as_deref(),
            readiness: p.readiness.as_ref(),
            diffs: &diffs,
            schemas: self.ws.schemas().is_some(),
        })
        .map_err(|e| e.to_string())?;
        let mut labels = vec!["ake-platform".to_string()];
        let blocked = p.readiness.as_ref().is_some_and(Readiness::blocking);
        if p.kind == ProposalKind::Upgrade {
            labels.push("kubernetes-upgrade".into());
        }
        if blocked {
            labels.push("readiness-blocked".into());
        }
        // As on the platform's own PRs: a tenant filters on it before merging.
        if crd_breaking {
            labels.push("crd-breaking".into());
        }
        Ok(PrSpec {
            head: p.head.clone(),
            base: c.base.clone(),
            title: report::tenants::title(p.kind, &p.from, &p.to, &p.to_kubernetes),
            body,
            labels,
            // A person must finish an upgrade the bot could not fix.
            draft: blocked,
            target: Some(p.to.clone()),
        })
    }
}

/// Whether moving between the two tags changes a CRD in a way that may break custom resources
/// that exist.
fn breaks_crds(d: &TagDiff) -> bool {
    d.crds().any(|(_, c)| c.is_breaking())
}

/// Whether a tenant on `minor` should move on, to which minor, and why: its branch is
/// frozen or eol, gone from the train, or the oldest inside the support window (the next
/// branch cut ends it). The target is the next maintained minor up that has a tag.
fn leaving(train: &Train, tags: &Tags, minor: KubeMinor) -> Option<(KubeMinor, String)> {
    let releases: Vec<_> = train.branches.iter().filter(|b| !b.is_main()).collect();
    let branch = train.branches.iter().find(|b| b.kubernetes == minor);
    let why = match branch {
        None => format!("Kubernetes {minor} is no longer on the release train"),
        Some(b) if b.status == BranchStatus::Frozen => {
            format!("{} is frozen: it gets only hand-picked fixes", b.name)
        }
        Some(b) if b.status == BranchStatus::Eol => {
            format!("{} is end of life: it gets nothing", b.name)
        }
        Some(b) => {
            let window = train.support_window? as usize;
            let pos = releases.iter().position(|r| r.name == b.name)?;
            if pos + 1 < window {
                return None;
            }
            format!(
                "{} is the oldest branch of the support window ({window}): the next branch cut ends its support",
                b.name
            )
        }
    };
    let target = train
        .branches
        .iter()
        .filter(|b| b.kubernetes > minor && b.status == BranchStatus::Maintained)
        .filter(|b| tags.get(&b.kubernetes).is_some_and(|t| !t.is_empty()))
        .map(|b| b.kubernetes)
        .min()?;
    Some((target, why))
}

/// The file rewrites of a proposal: readiness fixes first, then each pin moved in place.
fn changes(c: &Checkout, p: &Proposal) -> Result<Vec<FileChange>, String> {
    let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
    if let Some(r) = &p.readiness {
        for f in &r.fixes {
            if let Some(content) = &f.content {
                files.insert(
                    f.path.clone(),
                    String::from_utf8_lossy(content).into_owned(),
                );
            }
        }
    }
    let mut by_file: BTreeMap<&Path, Vec<&Pin>> = BTreeMap::new();
    for pin in &p.pins {
        by_file.entry(pin.file.as_path()).or_default().push(pin);
    }
    for (file, pins) in by_file {
        let text = match files.get(file) {
            Some(t) => t.clone(),
            None => c
                .files
                .iter()
                .find(|(f, _)| f == file)
                .map(|(_, t)| t.clone())
                .ok_or_else(|| format!("{} is not in the checkout", file.display()))?,
        };
        let moved = pins::rewrite(&text, &pins, &p.to)
            .map_err(|e| format!("{}: cannot move the pin: {e}", file.display()))?;
        files.insert(file.to_path_buf(), moved);
    }
    Ok(files
        .into_iter()
        .map(|(path, text)| FileChange {
            path,
            content: Some(text.into_bytes()),
        })
        .collect())
}

/// The text files under `paths` (all when empty) that may hold pins. A Helm chart's
/// templates are not YAML until rendered (readiness renders them), so they are left out.
fn read_candidates(root: &Path, files: &[PathBuf], paths: &[PathBuf]) -> Vec<(PathBuf, String)> {
    let templates: Vec<PathBuf> = files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "Chart.yaml"))
        .map(|f| f.with_file_name("templates"))
        .collect();
    files
        .iter()
        .filter(|f| paths.is_empty() || paths.iter().any(|p| f.starts_with(p)))
        .filter(|f| !templates.iter().any(|t| f.starts_with(t)))
        .filter(|f| std::fs::metadata(root.join(f)).is_ok_and(|m| m.len() <= MAX_FILE))
        .filter_map(|f| {
            let text = std::fs::read_to_string(root.join(f)).ok()?;
            Some((f.clone(), text))
        })
        .collect()
}

/// A URL as it may be shown: no userinfo.
pub(crate) fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_diff_breaks_crds_only_when_a_change_is_breaking() {
        use crate::jobs::diff::AddonDiff;
        use crate::manifest::{crd::CrdDelta, Impact, SchemaChange, Summary};
        let diff = |impact: Impact| TagDiff {
            from: "v1.31.0".into(),
            to: "v1.31.1".into(),
            from_commit: "a".into(),
            to_commit: "b".into(),
            addons: vec![AddonDiff {
                addon: "kube-prometheus-stack".into(),
                from: Some("72.9.1".into()),
                to: Some("88.5.3".into()),
                added: 0,
                removed: 0,
                changed: 1,
                diff: None,
                summary: Some(Summary {
                    crds: vec![CrdChange {
                        crd: "probes.monitoring.coreos.com".into(),
                        group: "monitoring.coreos.com".into(),
                        kind: "Probe".into(),
                        change: CrdDelta::Changed,
                        changes: vec![SchemaChange {
                            impact,
                            version: Some("v1".into()),
                            path: "spec.prober.url".into(),
                            what: "minLength tightened: none → 1".into(),
                            which: String::new(),
                            when_unset: false,
                        }],
                    }],
                    ..Summary::default()
                }),
            }],
        };
        assert!(breaks_crds(&diff(Impact::Breaking)));
        assert!(!breaks_crds(&diff(Impact::Additive)));
    }

    fn train(support_window: Option<u32>) -> Train {
        let mut text = String::from("tag_format = \"v{minor}.{n}\"\n");
        if let Some(w) = support_window {
            text.push_str(&format!("support_window = {w}\n"));
        }
        text.push_str(
            "[main]\nkubernetes = \"1.33\"\nkind_image = \"kindest/node:v1.33.1\"\n\
             [[release]]\nkubernetes = \"1.32\"\nkind_image = \"kindest/node:v1.32.5\"\n\
             [[release]]\nkubernetes = \"1.31\"\nkind_image = \"kindest/node:v1.31.9\"\n\
             [[release]]\nkubernetes = \"1.24\"\nkind_image = \"kindest/node:v1.24.17\"\nstatus = \"frozen\"\n\
             [[release]]\nkubernetes = \"1.23\"\nkind_image = \"kindest/node:v1.23.17\"\nstatus = \"eol\"\n",
        );
        crate::config::branches_for_tests(&text)
    }

    fn tags(minors: &[&str]) -> Tags {
        minors
            .iter()
            .map(|m| (m.parse().unwrap(), vec![(0, format!("v{m}.0"))]))
            .collect()
    }

    fn m(s: &str) -> KubeMinor {
        s.parse().unwrap()
    }

    #[test]
    fn tenants_on_frozen_eol_or_vanished_minors_move_to_the_next_maintained_one_with_a_tag() {
        let t = train(None);
        let all = tags(&["1.33", "1.32", "1.31", "1.24", "1.23"]);
        let (to, why) = leaving(&t, &all, m("1.24")).unwrap();
        assert_eq!(to, m("1.31"));
        assert_eq!(
            why,
            "release-1.24 is frozen: it gets only hand-picked fixes"
        );
        assert_eq!(leaving(&t, &all, m("1.23")).unwrap().0, m("1.31"));
        let (to, why) = leaving(&t, &all, m("1.20")).unwrap();
        assert_eq!(
            (to, why.as_str()),
            (
                m("1.31"),
                "Kubernetes 1.20 is no longer on the release train"
            )
        );
        // No tag on 1.31 yet: the next one up that has one.
        assert_eq!(
            leaving(&t, &tags(&["1.33", "1.32", "1.24"]), m("1.24"))
                .unwrap()
                .0,
            m("1.32")
        );
        assert_eq!(
            leaving(&t, &tags(&["1.24"]), m("1.24")),
            None,
            "nowhere to go"
        );
        assert_eq!(leaving(&t, &all, m("1.31")), None, "maintained, no window");
        assert_eq!(leaving(&t, &all, m("1.33")), None);
    }

    #[test]
    fn the_oldest_branch_of_the_support_window_is_told_before_the_next_cut_ends_it() {
        let t = train(Some(2));
        let all = tags(&["1.33", "1.32", "1.31"]);
        let (to, why) = leaving(&t, &all, m("1.31")).unwrap();
        assert_eq!(to, m("1.32"));
        assert!(
            why.contains("oldest branch of the support window (2)"),
            "{why}"
        );
        assert_eq!(leaving(&t, &all, m("1.32")), None);
    }
    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            super::shown_url("https://x-access-token:s3cret@github.com/acme/a.git"),
            "https://github.com/acme/a.git"
        );
        assert_eq!(
            super::shown_url("git@github.com:acme/a.git"),
            "git@github.com:acme/a.git"
        );
    }
}
