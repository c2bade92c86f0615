//! Talking to the cluster through the kube crate: server-side apply of rendered objects (the
//! API server merges, reports conflicts, and owns the fields as `ake-bot`), waiting for
//! readiness, and collecting what a person needs when something does not come up.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DynamicObject, ListParams, LogParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{self, Scope};
use kube::Client;
use serde_json::Value;

use super::plan::{readiness, Readiness};

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
}

impl Installer {
    pub fn new(client: Client) -> Installer {
        Installer {
            client,
            resources: tokio::sync::Mutex::new(HashMap::new()),
            poll: Duration::from_secs(2),
        }
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

    /// The object as the API server has it, if it exists.
    pub async fn get(&self, t: &Target) -> Result<Option<Value>, String> {
        let api = self.api(t).await?;
        let o = api
            .get_opt(&t.name)
            .await
            .map_err(|e| format!("reading {t}: {e}"))?;
        Ok(o.map(|o| serde_json::to_value(o).expect("objects serialise")))
    }

    /// Poll until every target is ready, one fails, or `timeout` passes. Returns the targets
    /// that did not become ready, with the last reason seen.
    pub async fn wait_ready(
        &self,
        targets: &[Target],
        timeout: Duration,
        ready: &(dyn Fn(&Target, &Value) -> Readiness + Sync),
    ) -> Result<(), Vec<(Target, String)>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pending: Vec<Target> = targets.to_vec();
        loop {
            let mut still = Vec::new();
            let mut failed = Vec::new();
            for t in pending {
                match self.get(&t).await {
                    Ok(Some(v)) => match ready(&t, &v) {
                        Readiness::Ready => {}
                        Readiness::Pending(why) => still.push((t, why)),
                        Readiness::Failed(why) => failed.push((t, why)),
                    },
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
            if tokio::time::Instant::now() >= deadline {
                return Err(still);
            }
            tracing::debug!(pending = still.len(), "waiting for readiness");
            pending = still.into_iter().map(|(t, _)| t).collect();
            tokio::time::sleep(self.poll.min(deadline - tokio::time::Instant::now())).await;
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
    let group = t.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    readiness(group, &t.kind, v)
}
