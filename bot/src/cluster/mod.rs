//! `e2e`: install a branch's rendered bundles on a real cluster with that branch's Kubernetes
//! minor (a kind cluster with the branch's node image), wait until they run, prove each addon
//! works with its smoke checks, and say why when something does not come up.
//!
//! Order (see [`plan::Phase`]): CRDs, until Established → namespaces → built-in objects, until
//! Deployments, StatefulSets and DaemonSets are rolled out → admission webhooks and
//! APIServices → custom resources → Jobs complete and APIServices available → smoke checks.

mod install;
pub mod kind;
pub mod plan;
pub mod smoke;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

pub use install::{by_kind, Installer, Target};
use plan::{phase_of, waits_for, Phase, Readiness};

use crate::manifest::{Manifests, Object};

/// Namespaces a cluster has before anything is applied.
const CLUSTER_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

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

/// A bundle's objects, ready to apply.
pub struct BundleObjects {
    pub bundle: String,
    pub namespace: String,
    pub objects: Vec<Object>,
}

/// A Kubernetes client for the cluster `kubeconfig` names.
pub async fn client_for(kubeconfig: &Path) -> Result<kube::Client, String> {
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

/// Run each addon's smoke checks (`e2e/<addon>/smoke.yaml` under `repo`).
pub async fn run_smoke(
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
