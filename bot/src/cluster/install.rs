//! Talking to the cluster through the kube crate: server-side apply of rendered objects (the
//! API server merges, reports conflicts, and owns the fields as `ake-bot`), waiting for
//! readiness, and collecting what a person needs when something does not come up.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{self, Scope};
use kube::Client;
use serde_json::Value;

use tokio::time::Instant;

use super::plan::{is_webhook_error, readiness, Readiness};

/// The field manager of every apply: what `kubectl get --show-managed-fields` shows.
pub const FIELD_MANAGER: &str = "ake-bot";

/// One object to apply or wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub api_version: String,
    pub kind: String,
    /// For namespaced kinds; filled in from the bundle's namespace when the render has none.
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// A kube client plus the API resources discovered so far.
pub struct Installer {
    client: Client,
    resources: tokio::sync::Mutex<HashMap<(String, String), (ApiResource, bool)>>,
    /// Time between readiness polls.
    pub poll: Duration,
    /// Jobs read back complete: a later 404 is their TTL, not a failure.
    complete: std::sync::Mutex<HashSet<String>>,
    /// Progress lines so far (also logged as they happen).
    progress: std::sync::Mutex<Vec<String>>,
    started: Instant,
}

impl Installer {
    pub fn new(client: Client) -> Installer {
        Installer {
            client,
            resources: tokio::sync::Mutex::new(HashMap::new()),
            poll: Duration::from_secs(2),
            complete: std::sync::Mutex::new(HashSet::new()),
            progress: std::sync::Mutex::new(Vec::new()),
            started: Instant::now(),
        }
    }

    /// Say what just happened, as it happens (stderr), so a killed run still shows how far
    /// it got.
    pub fn progress(&self, what: String) {
        let line = format!("[{:>4}s] {what}", self.started.elapsed().as_secs());
        tracing::info!("{line}");
        if let Ok(mut p) = self.progress.lock() {
            p.push(what);
        }
    }

    /// The progress lines so far, without their timestamps.
    pub fn progress_lines(&self) -> Vec<String> {
        self.progress.lock().map(|p| p.clone()).unwrap_or_default()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The API resource and whether it is namespaced, by discovery (cached per kind).
    async fn resource(&self, api_version: &str, kind: &str) -> Result<(ApiResource, bool), String> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(r) = self.resources.lock().await.get(&key) {
            return Ok(r.clone());
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| format!("the cluster does not serve {api_version} {kind}: {e}"))?;
        let r = (ar, caps.scope == Scope::Namespaced);
        self.resources.lock().await.insert(key, r.clone());
        Ok(r)
    }

    async fn api(&self, t: &Target) -> Result<Api<DynamicObject>, String> {
        let (ar, namespaced) = self.resource(&t.api_version, &t.kind).await?;
        Ok(match (namespaced, &t.namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &ar),
            (true, None) => Api::default_namespaced_with(self.client.clone(), &ar),
            (false, _) => Api::all_with(self.client.clone(), &ar),
        })
    }

    /// Server-side apply `object` (forcing ownership: the bot's render is the truth).
    pub async fn apply(&self, t: &Target, object: &Value) -> Result<(), String> {
        let api = self.api(t).await?;
        let (_, namespaced) = self.resource(&t.api_version, &t.kind).await?;
        let mut object = object.clone();
        if let Some(meta) = object["metadata"].as_object_mut() {
            match (&t.namespace, namespaced) {
                // Rendered without one: it goes where the bundle goes (helm --namespace).
                (Some(ns), true) => {
                    meta.insert("namespace".into(), Value::String(ns.clone()));
                }
                // Discovery decides scope, not our table: a cluster-scoped custom resource
                // carries no namespace.
                (_, false) => {
                    meta.remove("namespace");
                }
                (None, true) => {}
            }
        }
        api.patch(
            &t.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await
        .map(|_| ())
        .map_err(|e| format!("applying {t}: {e}"))
    }

    /// Apply, retrying while an admission webhook does not answer yet (its pods are starting
    /// or its CA is not injected), until `deadline`.
    pub async fn apply_until(
        &self,
        t: &Target,
        object: &Value,
        deadline: Instant,
    ) -> Result<(), String> {
        loop {
            match self.apply(t, object).await {
                Err(e) if is_webhook_error(&e) && Instant::now() < deadline => {
                    tracing::debug!("{e}; retrying");
                    tokio::time::sleep(self.poll.min(deadline - Instant::now())).await;
                }
                r => return r,
            }
        }
    }

    /// Delete an object (Helm's hook delete policies) and wait until it is gone, as Helm does,
    /// so a re-created hook is not an apply to an object still terminating. Gone already is
    /// fine.
    pub async fn delete(&self, t: &Target, deadline: Instant) -> Result<(), String> {
        let api = self.api(t).await?;
        match api.delete(&t.name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
            Err(e) => return Err(format!("deleting {t}: {e}")),
        }
        while self.get(t).await?.is_some() {
            if Instant::now() >= deadline {
                return Err(format!("deleting {t}: still there at the deadline"));
            }
            tokio::time::sleep(self.poll.min(deadline - Instant::now())).await;
        }
        Ok(())
    }

    /// What the Job's events say about a Job that is gone: complete, failed, or nothing.
    async fn job_events(&self, t: &Target) -> Option<Readiness> {
        let ns = t.namespace.as_deref()?;
        let events: Api<Event> = Api::namespaced(self.client.clone(), ns);
        let lp = ListParams::default().fields(&format!(
            "involvedObject.kind=Job,involvedObject.name={}",
            t.name
        ));
        let list = events.list(&lp).await.ok()?;
        let mine = list.items.into_iter().filter(|e| {
            e.involved_object.kind.as_deref() == Some("Job")
                && e.involved_object.name.as_deref() == Some(t.name.as_str())
        });
        let mut found = None;
        for e in mine {
            match e.reason.as_deref() {
                Some("Completed") => found = Some(Readiness::Ready),
                Some(r @ ("BackoffLimitExceeded" | "DeadlineExceeded" | "PodFailurePolicy")) => {
                    return Some(Readiness::Failed(format!(
                        "job failed: {r} {}",
                        e.message.unwrap_or_default()
                    )))
                }
                _ => {}
            }
        }
        found
    }

    /// The object as the API server has it, if it exists.
    pub async fn get(&self, t: &Target) -> Result<Option<Value>, String> {
        let api = self.api(t).await?;
        let o = api
            .get_opt(&t.name)
            .await
            .map_err(|e| format!("reading {t}: {e}"))?;
        Ok(o.map(|o| serde_json::to_value(o).expect("objects serialise")))
    }

    /// Poll until every target is ready, one fails, or `deadline` passes. Returns the targets
    /// that did not become ready, with the last reason seen. A progress line is printed as
    /// each target becomes ready.
    ///
    /// A Job that is gone counts as complete when it was read back complete before or its
    /// events say so: the TTL controller deletes finished Jobs (`ttlSecondsAfterFinished`).
    /// Otherwise a Job that vanished after its apply is an error, not something to wait for.
    pub async fn wait_ready(
        &self,
        targets: &[Target],
        deadline: Instant,
        ready: &(dyn Fn(&Target, &Value) -> Readiness + Sync),
    ) -> Result<(), Vec<(Target, String)>> {
        let mut pending: Vec<Target> = targets.to_vec();
        let mut missing: HashMap<String, u32> = HashMap::new();
        loop {
            let mut still = Vec::new();
            let mut failed = Vec::new();
            for t in pending {
                let is_job = t.kind == "Job" && t.api_version.starts_with("batch/");
                match self.get(&t).await {
                    Ok(Some(v)) => match ready(&t, &v) {
                        Readiness::Ready => {
                            if is_job {
                                if let Ok(mut c) = self.complete.lock() {
                                    c.insert(t.to_string());
                                }
                            }
                            self.progress(format!("{t} ready"));
                        }
                        Readiness::Pending(why) => still.push((t, why)),
                        Readiness::Failed(why) => failed.push((t, why)),
                    },
                    Ok(None) if is_job => {
                        let seen = self
                            .complete
                            .lock()
                            .is_ok_and(|c| c.contains(&t.to_string()));
                        match (seen, self.job_events(&t).await) {
                            (true, _) | (false, Some(Readiness::Ready)) => self
                                .progress(format!("{t} ready (complete, then deleted by its TTL)")),
                            (false, Some(Readiness::Failed(why))) => failed.push((t, why)),
                            _ => {
                                // One poll of grace: events are recorded asynchronously.
                                let n = missing.entry(t.to_string()).or_default();
                                *n += 1;
                                let why = "does not exist: deleted before it was seen complete, \
                                           and no Completed event"
                                    .to_string();
                                if *n > 1 {
                                    failed.push((t, why));
                                } else {
                                    still.push((t, why));
                                }
                            }
                        }
                    }
                    Ok(None) => still.push((t, "does not exist".into())),
                    Err(e) => still.push((t, e)),
                }
            }
            if !failed.is_empty() {
                failed.extend(still);
                return Err(failed);
            }
            if still.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(still);
            }
            tracing::debug!(pending = still.len(), "waiting for readiness");
            pending = still.into_iter().map(|(t, _)| t).collect();
            tokio::time::sleep(self.poll.min(deadline - Instant::now())).await;
        }
    }

    /// What a person needs to see when `namespace` did not come up: warning events, pods that
    /// are not ready with their container states, and the tail of those containers' logs.
    pub async fn diagnostics(&self, namespace: &str) -> Vec<String> {
        let mut out = Vec::new();
        let events: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        match events.list(&ListParams::default()).await {
            Ok(list) => {
                for e in list
                    .items
                    .iter()
                    .filter(|e| e.type_.as_deref() == Some("Warning"))
                {
                    out.push(format!(
                        "event {ns}/{kind}/{name}: {reason}: {message}",
                        ns = namespace,
                        kind = e.involved_object.kind.as_deref().unwrap_or("?"),
                        name = e.involved_object.name.as_deref().unwrap_or("?"),
                        reason = e.reason.as_deref().unwrap_or(""),
                        message = e.message.as_deref().unwrap_or("").trim()
                    ));
                }
            }
            Err(e) => out.push(format!("cannot list events in {namespace}: {e}")),
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let list = match pods.list(&ListParams::default()).await {
            Ok(l) => l,
            Err(e) => {
                out.push(format!("cannot list pods in {namespace}: {e}"));
                return out;
            }
        };
        for p in &list.items {
            let name = p.metadata.name.clone().unwrap_or_default();
            let status = p.status.clone().unwrap_or_default();
            let statuses = status.container_statuses.clone().unwrap_or_default();
            let phase = status.phase.clone().unwrap_or_default();
            if phase == "Succeeded" || (phase == "Running" && statuses.iter().all(|c| c.ready)) {
                continue;
            }
            out.push(format!("pod {namespace}/{name}: phase {phase}"));
            for c in &statuses {
                let state = c.state.clone().unwrap_or_default();
                let what = if let Some(w) = &state.waiting {
                    format!(
                        "waiting: {} {}",
                        w.reason.as_deref().unwrap_or(""),
                        w.message.as_deref().unwrap_or("")
                    )
                } else if let Some(t) = &state.terminated {
                    format!(
                        "terminated: {} (exit {})",
                        t.reason.as_deref().unwrap_or(""),
                        t.exit_code
                    )
                } else {
                    format!("running, ready={}", c.ready)
                };
                out.push(format!(
                    "  container {}: {} (restarts {})",
                    c.name,
                    what.trim(),
                    c.restart_count
                ));
                let lp = LogParams {
                    container: Some(c.name.clone()),
                    tail_lines: Some(40),
                    ..LogParams::default()
                };
                match pods.logs(&name, &lp).await {
                    Ok(logs) if !logs.trim().is_empty() => {
                        out.push(format!("  logs of {name}/{} (last 40 lines):", c.name));
                        out.extend(logs.lines().map(|l| format!("    {l}")));
                    }
                    Ok(_) => {}
                    Err(e) => out.push(format!("  no logs for {}: {e}", c.name)),
                }
            }
        }
        out
    }

    /// GET `path` on the API server (a service proxy URL in smoke checks): status and body.
    pub async fn get_path(&self, path: &str) -> Result<String, String> {
        let req = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| format!("bad path {path}: {e}"))?;
        self.client
            .request_text(req)
            .await
            .map_err(|e| format!("GET {path}: {e}"))
    }
}

/// The readiness rule for targets: by kind (see [`readiness`]).
pub fn by_kind(t: &Target, v: &Value) -> Readiness {
    let group = crate::manifest::api_group(&t.api_version);
    readiness(group, &t.kind, v)
}
