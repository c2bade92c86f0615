//! `e2e`: install a branch's rendered bundles on a real cluster with that branch's Kubernetes
//! minor (a kind cluster with the branch's node image), wait until they run, prove each addon
//! works with its smoke checks, and say why when something does not come up.
//!
//! Order (see [`plan::Phase`]): CRDs, until Established → namespaces → built-in objects, until
//! Deployments, StatefulSets and DaemonSets are rolled out → admission webhooks and
//! APIServices → custom resources → Jobs complete and APIServices available → smoke checks.

mod install;
mod kind;
pub mod plan;
pub mod smoke;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

pub use install::{by_kind, Installer, Target};
pub use kind::cluster_name;
use plan::{phase_of, waits_for, Phase, Readiness};

use crate::config::{self, BranchStatus};
use crate::manifest::{Manifests, Object};
use crate::train::JobError;

/// Namespaces a cluster has before anything is applied.
const CLUSTER_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

#[derive(Debug, Clone)]
pub struct E2eRequest {
    pub repo: PathBuf,
    /// The train branch; `None`: the checked-out one, else main.
    pub branch: Option<String>,
    /// Keep the kind cluster afterwards (to look at it).
    pub keep: bool,
    /// How long each bundle may take to become ready.
    pub bundle_timeout: Duration,
    /// Use this cluster instead of creating a kind cluster.
    pub kubeconfig: Option<PathBuf>,
    /// The kind binary.
    pub kind: PathBuf,
}

/// One bundle's installation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BundleOutcome {
    pub bundle: String,
    pub namespace: String,
    pub applied: usize,
    /// Problems: apply failures, objects not ready (with the last reason seen).
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SmokeOutcome {
    pub addon: String,
    pub check: String,
    pub ok: bool,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct E2eReport {
    pub branch: String,
    pub kubernetes: String,
    pub image: String,
    /// The kind cluster, when this run made one.
    pub cluster: Option<String>,
    pub bundles: Vec<BundleOutcome>,
    pub smoke: Vec<SmokeOutcome>,
    /// Events, pod states and logs from the namespaces of bundles that did not come up.
    pub diagnostics: Vec<String>,
    /// Whether the cluster was deleted (false with `--keep`, or when deleting failed).
    pub deleted: bool,
    pub ok: bool,
}

/// A bundle's objects, ready to apply.
pub struct BundleObjects {
    pub bundle: String,
    pub namespace: String,
    pub objects: Vec<Object>,
}

pub async fn e2e(req: &E2eRequest) -> Result<E2eReport, JobError> {
    let repo = req.repo.clone();
    let train = tokio::task::spawn_blocking(move || config::load_train(&repo))
        .await
        .expect("config loading does not panic")?;
    let name = match &req.branch {
        Some(b) => b.clone(),
        None => crate::git::current_branch(&req.repo)
            .filter(|b| train.branch(b).is_some())
            .unwrap_or_else(|| "main".into()),
    };
    let branch = train
        .branch(&name)
        .cloned()
        .ok_or_else(|| JobError::UnknownBranch {
            name: name.clone(),
            known: crate::train::branch_names(&train),
        })?;
    if branch.status == BranchStatus::Eol {
        tracing::warn!(branch = %name, "the branch is eol; testing it anyway");
    }
    let (repo, n) = (req.repo.clone(), name.clone());
    let (_, bundles) = tokio::task::spawn_blocking(move || config::load_branch(&repo, &n))
        .await
        .expect("loading bundles does not panic")?
        .ok_or_else(|| {
            JobError::Git(format!("{name} is not cut yet: no local or origin branch"))
        })?;
    if let Some(p) = bundles.problems.first() {
        return Err(JobError::Config(config::ConfigErrors(p.errors.clone())));
    }
    let mut sets = Vec::new();
    for lb in &bundles.loaded {
        let file = lb.bundle.rendered_file();
        let text = lb.rendered.as_deref().ok_or_else(|| {
            JobError::Git(format!(
                "{}: no committed render; run `ake-bot render`",
                file.display()
            ))
        })?;
        let m = Manifests::parse(text)
            .map_err(|e| JobError::Git(format!("{}: {e}", file.display())))?;
        sets.push(BundleObjects {
            bundle: lb.bundle.name.to_string(),
            namespace: lb.bundle.namespace.clone(),
            objects: m.objects().to_vec(),
        });
    }

    let work = tempfile::Builder::new()
        .prefix("ake-bot-e2e-")
        .tempdir()
        .map_err(|e| JobError::Git(format!("cannot make a temp dir: {e}")))?;
    let (cluster, kubeconfig) = match &req.kubeconfig {
        Some(k) => (None, k.clone()),
        None => {
            kind::preflight(&req.kind)
                .await
                .map_err(JobError::Unavailable)?;
            let kubeconfig = work.path().join("kubeconfig");
            let config = req.repo.join("e2e").join(&name).join("kind.yaml");
            let c = kind::create(
                &req.kind,
                &cluster_name(&name),
                &branch.kind_image,
                config.exists().then_some(config.as_path()),
                &kubeconfig,
            )
            .await
            .map_err(JobError::Git)?;
            (Some(c), kubeconfig)
        }
    };

    let run = async {
        let client = client_for(&kubeconfig).await?;
        let installer = Installer::new(client);
        let mut outcomes = install(&installer, &sets, req.bundle_timeout).await;
        let installed = outcomes.iter().all(|o| o.problems.is_empty());
        let smoke = if installed {
            run_smoke(&installer, &req.repo, &sets).await
        } else {
            Vec::new()
        };
        let mut diagnostics = Vec::new();
        let failing: BTreeSet<String> = outcomes
            .iter()
            .filter(|o| !o.problems.is_empty())
            .map(|o| o.namespace.clone())
            .chain(
                smoke
                    .iter()
                    .filter(|s| !s.ok)
                    .filter_map(|s| sets.iter().find(|b| b.bundle == s.addon))
                    .map(|b| b.namespace.clone()),
            )
            .collect();
        for ns in failing {
            diagnostics.extend(installer.diagnostics(&ns).await);
        }
        outcomes.sort_by(|a, b| a.bundle.cmp(&b.bundle));
        Ok::<_, String>((outcomes, smoke, diagnostics))
    }
    .await;

    // Always clean up, whatever happened above (unless asked to keep it).
    let mut deleted = false;
    if let Some(c) = &cluster {
        if req.keep {
            tracing::info!(cluster = %c.name, "keeping the cluster (--keep); delete it with `kind delete cluster --name {}`", c.name);
        } else {
            match c.delete().await {
                Ok(()) => deleted = true,
                Err(e) => tracing::error!("{e}"),
            }
        }
    }
    let (bundles_out, smoke, diagnostics) = run.map_err(JobError::Git)?;
    let ok = bundles_out.iter().all(|b| b.problems.is_empty()) && smoke.iter().all(|s| s.ok);
    Ok(E2eReport {
        branch: name,
        kubernetes: branch.kubernetes.to_string(),
        image: branch.kind_image.clone(),
        cluster: cluster.map(|c| c.name.clone()),
        bundles: bundles_out,
        smoke,
        diagnostics,
        deleted,
        ok,
    })
}

async fn client_for(kubeconfig: &Path) -> Result<kube::Client, String> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
    kube::Client::try_from(config).map_err(|e| format!("cannot build a Kubernetes client: {e}"))
}

fn target(o: &Object, default_ns: &str) -> Target {
    let namespaced =
        !crate::apis::is_cluster_scoped(&o.key.group, &o.key.kind) && phase_of(o) != Phase::Crds;
    Target {
        api_version: o.api_version.clone(),
        kind: o.key.kind.clone(),
        namespace: o
            .key
            .namespace
            .clone()
            .or_else(|| namespaced.then(|| default_ns.to_string())),
        name: o.key.name.clone(),
    }
}

/// Apply every bundle phase by phase, waiting where the next phase needs it. Problems are
/// recorded per bundle; the install goes on so one report shows everything.
pub async fn install(
    installer: &Installer,
    sets: &[BundleObjects],
    bundle_timeout: Duration,
) -> Vec<BundleOutcome> {
    let mut outcomes: Vec<BundleOutcome> = sets
        .iter()
        .map(|s| BundleOutcome {
            bundle: s.bundle.clone(),
            namespace: s.namespace.clone(),
            ..BundleOutcome::default()
        })
        .collect();
    // Namespaces the bundles need that no bundle ships as an object.
    let shipped: BTreeSet<&str> = sets
        .iter()
        .flat_map(|s| s.objects.iter())
        .filter(|o| phase_of(o) == Phase::Namespaces)
        .map(|o| o.key.name.as_str())
        .collect();
    let mut extra_namespaces: Vec<(usize, Object)> = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, s) in sets.iter().enumerate() {
        if CLUSTER_NAMESPACES.contains(&s.namespace.as_str())
            || shipped.contains(s.namespace.as_str())
            || !seen.insert(s.namespace.clone())
        {
            continue;
        }
        extra_namespaces.push((i, namespace_object(&s.namespace)));
    }

    for phase in [
        Phase::Crds,
        Phase::Namespaces,
        Phase::Workloads,
        Phase::Admission,
        Phase::CustomResources,
    ] {
        let span = tracing::info_span!("phase", phase = ?phase);
        let _enter = span.enter();
        let mut waits: Vec<Vec<Target>> = vec![Vec::new(); sets.len()];
        let mut batch: Vec<(usize, &Object)> = sets
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.objects.iter().map(move |o| (i, o)))
            .filter(|(_, o)| phase_of(o) == phase && !is_test_hook(o))
            .collect();
        if phase == Phase::Namespaces {
            batch.extend(extra_namespaces.iter().map(|(i, o)| (*i, o)));
        }
        for (i, o) in batch {
            let t = target(o, &sets[i].namespace);
            match installer.apply(&t, &o.value).await {
                Ok(()) => outcomes[i].applied += 1,
                Err(e) => outcomes[i].problems.push(e),
            }
            let group = o.key.group.as_str();
            // Jobs wait until admission is up (cert-manager's startupapicheck needs its webhook).
            let wait_now = match phase {
                Phase::Crds => true,
                Phase::Workloads => waits_for(group, &o.key.kind) && o.key.kind != "Job",
                _ => false,
            };
            if wait_now {
                waits[i].push(t);
            }
        }
        if phase == Phase::CustomResources {
            // Last: Jobs complete and APIServices available.
            for (i, s) in sets.iter().enumerate() {
                for o in &s.objects {
                    let late = (o.key.group == "batch" && o.key.kind == "Job")
                        || (o.key.group == "apiregistration.k8s.io" && o.key.kind == "APIService");
                    if late {
                        waits[i].push(target(o, &s.namespace));
                    }
                }
            }
        }
        for (i, targets) in waits.into_iter().enumerate() {
            if targets.is_empty() {
                continue;
            }
            if let Err(not_ready) = installer
                .wait_ready(&targets, bundle_timeout, &by_kind)
                .await
            {
                for (t, why) in not_ready {
                    outcomes[i].problems.push(format!("{t} not ready: {why}"));
                }
            }
        }
    }
    outcomes
}

/// `helm test` pods: `helm install` does not run them, so neither does the e2e install.
fn is_test_hook(o: &Object) -> bool {
    o.value
        .pointer("/metadata/annotations/helm.sh~1hook")
        .and_then(Value::as_str)
        .is_some_and(|h| h.split(',').any(|h| h.trim().starts_with("test")))
}

fn namespace_object(name: &str) -> Object {
    Object {
        key: crate::manifest::ObjectRef {
            group: String::new(),
            kind: "Namespace".into(),
            namespace: None,
            name: name.to_string(),
        },
        api_version: "v1".into(),
        value: json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        source: None,
        doc: 0,
        line: 0,
    }
}

async fn run_smoke(
    installer: &Installer,
    repo: &Path,
    sets: &[BundleObjects],
) -> Vec<SmokeOutcome> {
    let mut out = Vec::new();
    for s in sets {
        let file = repo.join("e2e").join(&s.bundle).join("smoke.yaml");
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let checks = match smoke::parse(&file, &text) {
            Ok(c) => c.checks,
            Err(e) => {
                out.push(SmokeOutcome {
                    addon: s.bundle.clone(),
                    check: "smoke.yaml".into(),
                    ok: false,
                    message: e,
                });
                continue;
            }
        };
        for c in checks {
            let result = smoke_check(installer, &s.namespace, &c).await;
            out.push(SmokeOutcome {
                addon: s.bundle.clone(),
                check: c.name.clone(),
                ok: result.is_ok(),
                message: result.err().unwrap_or_default(),
            });
        }
    }
    out
}

async fn smoke_check(installer: &Installer, ns: &str, c: &smoke::SmokeCheck) -> Result<(), String> {
    let timeout = Duration::from_secs(c.timeout_seconds);
    if let Some(docs) = &c.apply {
        let m = Manifests::parse(docs).map_err(|e| format!("apply: {e}"))?;
        for o in m.objects() {
            installer.apply(&target(o, ns), &o.value).await?;
        }
    }
    let targets: Vec<Target> = c
        .wait
        .iter()
        .map(|w| Target {
            api_version: w.api_version.clone(),
            kind: w.kind.clone(),
            namespace: w.namespace.clone(),
            name: w.name.clone(),
        })
        .collect();
    let conditions: Vec<(Target, String)> = targets
        .iter()
        .cloned()
        .zip(c.wait.iter().map(|w| w.condition.clone()))
        .collect();
    let ready = |t: &Target, v: &Value| -> Readiness {
        let cond = conditions
            .iter()
            .find(|(x, _)| x == t)
            .map_or("Ready", |(_, c)| c.as_str());
        plan::conditioned(&v["status"], cond, &format!("{cond} is not True yet"))
    };
    installer
        .wait_ready(&targets, timeout, &ready)
        .await
        .map_err(|v| {
            v.iter()
                .map(|(t, why)| format!("{t}: {why}"))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
    if let Some(path) = &c.get {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let r = installer.get_path(path).await;
            match (&r, &c.expect) {
                (Ok(body), Some(want)) if body.contains(want.as_str()) => break,
                (Ok(_), None) => break,
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(match r {
                        Ok(body) => format!(
                            "GET {path}: the response does not contain {:?}: {}",
                            c.expect.as_deref().unwrap_or_default(),
                            body.chars().take(300).collect::<String>()
                        ),
                        Err(e) => e,
                    })
                }
                _ => tokio::time::sleep(installer.poll).await,
            }
        }
    }
    Ok(())
}
