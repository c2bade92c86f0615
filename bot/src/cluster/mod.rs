//! `e2e`: install a branch's rendered bundles on a real cluster with that branch's Kubernetes
//! minor (a kind cluster with the branch's node image), wait until they run, prove each addon
//! works with its smoke checks, and say why when something does not come up.
//!
//! Order, as `helm install` (see [`plan::Phase`], [`plan::hooks`]): CRDs, until Established →
//! namespaces → fixtures (`e2e/<addon>/fixtures.yaml`) → per bundle, concurrently:
//! pre-install hooks by weight, each Job waited for → built-in objects, until rolled out and
//! Jobs complete → admission webhooks and APIServices, until served → custom resources →
//! post-install hooks. `test` hooks are never applied. Then smoke checks for every bundle
//! that came up. One deadline covers the whole install.

mod install;
pub mod kind;
pub mod plan;
pub mod scan;
pub mod smoke;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use tokio::time::Instant;

pub use install::{by_kind, Installer, Target};
use plan::{ca_injected, is_resource, phase_of, waits_for, HookEvent, Phase, Readiness};

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
    /// `e2e/<addon>/fixtures.yaml`: applied right after the namespaces.
    pub fixtures: Vec<Object>,
    /// `e2e/<addon>/smoke.yaml` of the branch's tree, if it has one.
    pub smoke: Option<String>,
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

/// Install every bundle as `helm install` would, under one deadline. CRDs, namespaces and
/// fixtures go first for all bundles (a bundle's custom resources may use another's CRDs);
/// then each bundle runs its own steps, all bundles concurrently (see [`install_bundle`]).
/// Problems are recorded per bundle; the install goes on so one report shows everything.
pub async fn install(
    installer: &Installer,
    sets: &[BundleObjects],
    timeout: Duration,
) -> Vec<BundleOutcome> {
    let deadline = Instant::now() + timeout;
    let mut outcomes: Vec<BundleOutcome> = sets
        .iter()
        .map(|s| BundleOutcome {
            bundle: s.bundle.clone(),
            namespace: s.namespace.clone(),
            ..BundleOutcome::default()
        })
        .collect();

    // CRDs, until Established.
    let mut crds: Vec<Vec<Target>> = vec![Vec::new(); sets.len()];
    for (i, s) in sets.iter().enumerate() {
        for o in s.objects.iter().filter(|o| is_resource(o)) {
            if phase_of(o) == Phase::Crds {
                let t = target(o, &s.namespace);
                if apply_into(installer, &t, o, deadline, &mut outcomes[i]).await {
                    crds[i].push(t);
                }
            }
        }
    }
    let waits = crds
        .iter()
        .map(|targets| installer.wait_ready(targets, deadline, &by_kind));
    for (i, r) in join_all(waits).await.into_iter().enumerate() {
        record(&mut outcomes[i], r);
    }

    // Namespaces (shipped, and the bundles' own), then the fixtures that live in them.
    let shipped: BTreeSet<&str> = sets
        .iter()
        .flat_map(|s| s.objects.iter())
        .filter(|o| phase_of(o) == Phase::Namespaces)
        .map(|o| o.key.name.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    for (i, s) in sets.iter().enumerate() {
        let mut namespaces: Vec<Object> = s
            .objects
            .iter()
            .filter(|o| is_resource(o) && phase_of(o) == Phase::Namespaces)
            .cloned()
            .collect();
        if !CLUSTER_NAMESPACES.contains(&s.namespace.as_str())
            && !shipped.contains(s.namespace.as_str())
            && seen.insert(s.namespace.clone())
        {
            namespaces.push(namespace_object(&s.namespace));
        }
        for o in namespaces.iter().chain(&s.fixtures) {
            let t = target(o, &s.namespace);
            apply_into(installer, &t, o, deadline, &mut outcomes[i]).await;
        }
    }

    let runs = sets
        .iter()
        .zip(outcomes)
        .map(|(s, out)| install_bundle(installer, s, out, deadline));
    join_all(runs).await
}

/// One bundle's steps after CRDs and namespaces, as `helm install` runs them: pre-install
/// hooks (each Job waited for); resources, with Deployments, StatefulSets, DaemonSets and Jobs
/// waited for right after they are applied (a Job's TTL may delete it soon after it
/// finishes); admission webhooks and APIServices, until served; custom resources (retried
/// while their webhooks start); post-install hooks.
async fn install_bundle(
    installer: &Installer,
    s: &BundleObjects,
    mut out: BundleOutcome,
    deadline: Instant,
) -> BundleOutcome {
    // Goes on after a CRD problem: the report should show everything that does not come up.
    if !run_hooks(installer, s, HookEvent::PreInstall, deadline, &mut out).await {
        return out;
    }
    for phase in [Phase::Workloads, Phase::Admission, Phase::CustomResources] {
        let mut waits = Vec::new();
        let mut webhooks = Vec::new();
        for o in s
            .objects
            .iter()
            .filter(|o| is_resource(o) && phase_of(o) == phase)
        {
            let t = target(o, &s.namespace);
            if apply_into(installer, &t, o, deadline, &mut out).await {
                if o.key.group == "admissionregistration.k8s.io" {
                    webhooks.push(t);
                } else if waits_for(&o.key.group, &o.key.kind) {
                    waits.push(t);
                }
            }
        }
        let ready = installer.wait_ready(&waits, deadline, &by_kind).await;
        record(&mut out, ready);
        let served = installer
            .wait_ready(&webhooks, deadline, &|_, v| ca_injected(v))
            .await;
        record(&mut out, served);
    }
    // Helm stops at the first error; post-install Jobs would only add noise then.
    if out.problems.is_empty() {
        run_hooks(installer, s, HookEvent::PostInstall, deadline, &mut out).await;
    }
    if out.problems.is_empty() {
        installer.progress(format!("{} installed", s.bundle));
    } else {
        // Streamed now, not only in the final report: a CI job killed at its timeout still
        // shows what failed.
        for p in &out.problems {
            installer.progress(format!("{} NOT READY: {p}", s.bundle));
        }
    }
    out
}

/// Run one event's hooks in Helm's order, honouring `helm.sh/hook-delete-policy`; each Job
/// is waited for before the next hook. False when a hook failed (Helm stops there).
async fn run_hooks(
    installer: &Installer,
    s: &BundleObjects,
    event: HookEvent,
    deadline: Instant,
    out: &mut BundleOutcome,
) -> bool {
    let hooks = plan::hooks(&s.objects, event);
    let mut ok = true;
    for (o, h) in &hooks {
        let t = target(o, &s.namespace);
        if h.deletes("before-hook-creation") {
            if let Err(e) = installer.delete(&t, deadline).await {
                out.problems.push(e);
            }
        }
        if !apply_into(installer, &t, o, deadline, out).await {
            ok = false;
            break;
        }
        if waits_for(&o.key.group, &o.key.kind) {
            if let Err(not_ready) = installer.wait_ready(&[t], deadline, &by_kind).await {
                for (t, why) in not_ready {
                    out.problems
                        .push(format!("{t} ({} hook) not ready: {why}", event.name()));
                }
                ok = false;
                break;
            }
        }
    }
    let policy = if ok { "hook-succeeded" } else { "hook-failed" };
    for (o, _) in hooks.iter().filter(|(_, h)| h.deletes(policy)) {
        if let Err(e) = installer.delete(&target(o, &s.namespace), deadline).await {
            out.problems.push(e);
        }
    }
    ok
}

async fn apply_into(
    installer: &Installer,
    t: &Target,
    o: &Object,
    deadline: Instant,
    out: &mut BundleOutcome,
) -> bool {
    match installer.apply_until(t, &o.value, deadline).await {
        Ok(()) => {
            out.applied += 1;
            true
        }
        Err(e) => {
            out.problems.push(e);
            false
        }
    }
}

fn record(out: &mut BundleOutcome, r: Result<(), Vec<(Target, String)>>) {
    if let Err(not_ready) = r {
        for (t, why) in not_ready {
            out.problems.push(format!("{t} not ready: {why}"));
        }
    }
}

/// Poll every future to completion, concurrently on this task (they borrow the installer,
/// so spawned tasks would not do).
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (f, d) in futures.iter_mut().zip(done.iter_mut()) {
            if d.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *d = Some(v),
                    Poll::Pending => all = false,
                }
            }
        }
        if all {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

/// An addon's fixtures (`e2e/<addon>/fixtures.yaml` of the branch's tree, `text`): objects a
/// real platform provides beside the addon (a Secret its values name), with throwaway values.
pub fn parse_fixtures(addon: &str, text: Option<&str>) -> Result<Vec<Object>, String> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    Manifests::parse(text)
        .map(|m| m.objects().to_vec())
        .map_err(|e| format!("{}: {e}", crate::config::fixtures_file(addon).display()))
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

/// Run the smoke checks (`e2e/<addon>/smoke.yaml` under `repo`) of every bundle that came up,
/// whatever happened to the others.
pub async fn run_smoke(
    installer: &Installer,
    sets: &[BundleObjects],
    outcomes: &[BundleOutcome],
) -> Vec<SmokeOutcome> {
    let mut out = Vec::new();
    let up = |s: &&BundleObjects| {
        outcomes
            .iter()
            .any(|o| o.bundle == s.bundle && o.problems.is_empty())
    };
    for s in sets.iter().filter(up) {
        let Some(text) = &s.smoke else {
            continue;
        };
        let file = crate::config::smoke_file(&s.bundle);
        let checks = match smoke::parse(&file, text) {
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
            let state = if result.is_ok() { "passed" } else { "FAILED" };
            installer.progress(format!("smoke {} {state}: {}", s.bundle, c.name));
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
    let deadline = Instant::now() + Duration::from_secs(c.timeout_seconds);
    if let Some(docs) = &c.apply {
        let m = Manifests::parse(docs).map_err(|e| format!("apply: {e}"))?;
        for o in m.objects() {
            installer
                .apply_until(&target(o, ns), &o.value, deadline)
                .await?;
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
        .wait_ready(&targets, deadline, &ready)
        .await
        .map_err(|v| {
            v.iter()
                .map(|(t, why)| format!("{t}: {why}"))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
    if let Some(path) = &c.get {
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
