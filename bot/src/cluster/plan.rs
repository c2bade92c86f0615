//! Pure decisions of the e2e install: in which order objects are applied, and whether an
//! object the API server returned is ready. No I/O here, so every rule is unit-tested on real
//! object shapes without a cluster.

use serde_json::Value;

use crate::manifest::Object;

/// Apply phases, in order. Each phase waits for what the next one needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// CustomResourceDefinitions; then wait until each is Established (its API is served).
    Crds,
    /// Namespaces (the bundles' own, and Namespace objects).
    Namespaces,
    /// Built-in objects: workloads, RBAC, config, services. Then wait for readiness.
    Workloads,
    /// Admission webhooks and APIServices: only once the workloads that serve them run, or
    /// they would reject everything applied after them.
    Admission,
    /// Objects of the bundles' own CRDs (ServiceMonitors, …), last: their controllers and
    /// webhooks are up by now.
    CustomResources,
}

/// The phase `o` belongs to.
pub fn phase_of(o: &Object) -> Phase {
    match (o.key.group.as_str(), o.key.kind.as_str()) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Phase::Crds,
        ("", "Namespace") => Phase::Namespaces,
        ("admissionregistration.k8s.io", _) | ("apiregistration.k8s.io", "APIService") => {
            Phase::Admission
        }
        (g, _) if is_builtin_group(g) => Phase::Workloads,
        _ => Phase::CustomResources,
    }
}

fn is_builtin_group(group: &str) -> bool {
    group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io")
}

/// A `helm install` lifecycle event this install runs hooks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookEvent {
    PreInstall,
    PostInstall,
}

impl HookEvent {
    /// As written in `helm.sh/hook`.
    pub fn name(self) -> &'static str {
        match self {
            HookEvent::PreInstall => "pre-install",
            HookEvent::PostInstall => "post-install",
        }
    }
}

/// What an object's `helm.sh/hook*` annotations say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// `helm.sh/hook`, split on commas.
    pub events: Vec<String>,
    /// `helm.sh/hook-weight`; default 0.
    pub weight: i64,
    /// `helm.sh/hook-delete-policy`; Helm's default is `before-hook-creation`.
    pub delete: Vec<String>,
}

impl Hook {
    pub fn deletes(&self, policy: &str) -> bool {
        self.delete.iter().any(|d| d == policy)
    }
}

fn annotation<'a>(o: &'a Object, key: &str) -> Option<&'a str> {
    o.value["metadata"]["annotations"][key].as_str()
}

fn split(list: &str) -> Vec<String> {
    list.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The object's hook annotations, when it is a Helm hook (`helm template` keeps them).
pub fn hook_of(o: &Object) -> Option<Hook> {
    let events = split(annotation(o, "helm.sh/hook")?);
    let weight = annotation(o, "helm.sh/hook-weight")
        .and_then(|w| w.trim().parse().ok())
        .unwrap_or(0);
    let delete = annotation(o, "helm.sh/hook-delete-policy")
        .map(split)
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| vec!["before-hook-creation".into()]);
    Some(Hook {
        events,
        weight,
        delete,
    })
}

/// Whether `helm install` creates `o` as a plain resource (not a hook of any event).
pub fn is_resource(o: &Object) -> bool {
    hook_of(o).is_none()
}

/// The hooks `helm install` runs for `event`, in its order: by weight, then kind (so a hook's
/// ServiceAccount and RBAC come before its Job at equal weight), then name. `test` hooks are
/// never part of an install.
pub fn hooks(objects: &[Object], event: HookEvent) -> Vec<(&Object, Hook)> {
    let mut out: Vec<(&Object, Hook)> = objects
        .iter()
        .filter_map(|o| hook_of(o).map(|h| (o, h)))
        .filter(|(_, h)| h.events.iter().any(|e| e == event.name()))
        .collect();
    out.sort_by(|(a, ha), (b, hb)| {
        (ha.weight, kind_rank(&a.key.kind), &a.key.name).cmp(&(
            hb.weight,
            kind_rank(&b.key.kind),
            &b.key.name,
        ))
    });
    out
}

/// Helm's install order of kinds (`releaseutil.InstallOrder`); unknown kinds go last.
pub fn kind_rank(kind: &str) -> usize {
    const ORDER: &[&str] = &[
        "PriorityClass",
        "Namespace",
        "NetworkPolicy",
        "ResourceQuota",
        "LimitRange",
        "PodSecurityPolicy",
        "PodDisruptionBudget",
        "ServiceAccount",
        "Secret",
        "ConfigMap",
        "StorageClass",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "DaemonSet",
        "Pod",
        "ReplicationController",
        "ReplicaSet",
        "Deployment",
        "HorizontalPodAutoscaler",
        "StatefulSet",
        "Job",
        "CronJob",
        "IngressClass",
        "Ingress",
        "APIService",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ];
    ORDER.iter().position(|k| *k == kind).unwrap_or(ORDER.len())
}

/// Whether an apply failed because an admission webhook did not answer yet (its pods are
/// starting, or its CA is not injected): worth retrying until the deadline.
pub fn is_webhook_error(message: &str) -> bool {
    [
        "failed calling webhook",
        "connection refused",
        "no endpoints available for service",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// Whether a webhook configuration is served yet: cert-manager's cainjector fills `caBundle`
/// of configurations annotated `cert-manager.io/inject-ca-from*`; until then calls fail TLS.
pub fn ca_injected(v: &Value) -> Readiness {
    let injected = v["metadata"]["annotations"].as_object().is_some_and(|a| {
        a.keys()
            .any(|k| k.starts_with("cert-manager.io/inject-ca-from"))
    });
    if !injected {
        return Readiness::Ready;
    }
    let empty: Vec<&str> = v["webhooks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| {
            w["clientConfig"]["caBundle"]
                .as_str()
                .is_none_or(str::is_empty)
        })
        .filter_map(|w| w["name"].as_str())
        .collect();
    if empty.is_empty() {
        Readiness::Ready
    } else {
        Readiness::Pending(format!(
            "caBundle not injected yet for {}",
            empty.join(", ")
        ))
    }
}

/// What the API server says about one object's readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Not yet, and why (shown when the wait times out).
    Pending(String),
    /// Will not become ready by waiting (a failed Job).
    Failed(String),
}

/// Whether the kinds the e2e install waits for are ready, from the object as the API server
/// returns it. Kinds without a notion of readiness are ready once they exist.
pub fn readiness(group: &str, kind: &str, v: &Value) -> Readiness {
    let status = &v["status"];
    let int = |p: &str| status.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let generation = v.pointer("/metadata/generation").and_then(Value::as_i64);
    let observed = status.get("observedGeneration").and_then(Value::as_i64);
    let stale = matches!((generation, observed), (Some(g), Some(o)) if o < g)
        || (generation.is_some() && observed.is_none() && kind != "Job");
    match (group, kind) {
        ("apps", "Deployment") => {
            let want = v
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            if stale {
                return Readiness::Pending("the controller has not seen the latest spec".into());
            }
            if let Some(c) = condition(status, "Progressing") {
                if c.status == "False" && c.reason == "ProgressDeadlineExceeded" {
                    return Readiness::Failed(format!("rollout stuck: {}", c.message));
                }
            }
            let (updated, available, total) = (
                int("/updatedReplicas"),
                int("/availableReplicas"),
                int("/replicas"),
            );
            if updated < want {
                Readiness::Pending(format!("{updated} of {want} replicas updated"))
            } else if total > updated {
                Readiness::Pending(format!(
                    "{} old replicas pending termination",
                    total - updated
                ))
            } else if available < want {
                Readiness::Pending(format!("{available} of {want} replicas available"))
            } else {
                Readiness::Ready
            }
        }
        ("apps", "StatefulSet") => {
            let want = v
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let ready = int("/readyReplicas");
            let (cur, upd) = (
                status["currentRevision"].as_str(),
                status["updateRevision"].as_str(),
            );
            if stale {
                Readiness::Pending("the controller has not seen the latest spec".into())
            } else if ready < want {
                Readiness::Pending(format!("{ready} of {want} replicas ready"))
            } else if upd.is_some() && cur != upd {
                Readiness::Pending("rolling update in progress".into())
            } else {
                Readiness::Ready
            }
        }
        ("apps", "DaemonSet") => {
            let desired = int("/desiredNumberScheduled");
            let (ready, updated) = (int("/numberReady"), int("/updatedNumberScheduled"));
            if stale {
                Readiness::Pending("the controller has not seen the latest spec".into())
            } else if updated < desired {
                Readiness::Pending(format!("{updated} of {desired} pods updated"))
            } else if ready < desired {
                Readiness::Pending(format!("{ready} of {desired} pods ready"))
            } else {
                Readiness::Ready
            }
        }
        ("batch", "Job") => {
            if let Some(c) = condition(status, "Failed").filter(|c| c.status == "True") {
                return Readiness::Failed(format!("job failed: {} {}", c.reason, c.message));
            }
            match condition(status, "Complete") {
                Some(c) if c.status == "True" => Readiness::Ready,
                _ => Readiness::Pending(format!(
                    "{} succeeded, {} active, {} failed",
                    int("/succeeded"),
                    int("/active"),
                    int("/failed")
                )),
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            conditioned(status, "Established", "not Established yet")
        }
        ("apiregistration.k8s.io", "APIService")
        | ("monitoring.coreos.com", "Prometheus" | "Alertmanager") => {
            conditioned(status, "Available", "not Available yet")
        }
        _ => Readiness::Ready,
    }
}

/// Whether `kind` is one [`readiness`] waits for.
pub fn waits_for(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet")
            | ("batch", "Job")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("apiregistration.k8s.io", "APIService")
            | ("monitoring.coreos.com", "Prometheus" | "Alertmanager")
    )
}

/// Ready once condition `type_` is True (for smoke checks' `condition:` too).
pub fn conditioned(status: &Value, type_: &str, pending: &str) -> Readiness {
    match condition(status, type_) {
        Some(c) if c.status == "True" => Readiness::Ready,
        Some(c) if !c.message.is_empty() => {
            Readiness::Pending(format!("{type_}={}: {} {}", c.status, c.reason, c.message))
        }
        _ => Readiness::Pending(pending.into()),
    }
}

struct Condition {
    status: String,
    reason: String,
    message: String,
}

fn condition(status: &Value, type_: &str) -> Option<Condition> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| Condition {
            status: c["status"].as_str().unwrap_or_default().to_string(),
            reason: c["reason"].as_str().unwrap_or_default().to_string(),
            message: c["message"].as_str().unwrap_or_default().to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rollout_in_progress_is_pending_with_the_reason() {
        let d = json!({
            "metadata": {"generation": 2},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2,
                       "availableReplicas": 1, "readyReplicas": 1}
        });
        assert_eq!(
            readiness("apps", "Deployment", &d),
            Readiness::Pending("1 old replicas pending termination".into())
        );
        let done = json!({
            "metadata": {"generation": 2},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
                       "availableReplicas": 2}
        });
        assert_eq!(readiness("apps", "Deployment", &done), Readiness::Ready);
        let unseen = json!({"metadata": {"generation": 3}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}});
        assert!(matches!(
            readiness("apps", "Deployment", &unseen),
            Readiness::Pending(_)
        ));
    }

    #[test]
    fn a_stuck_rollout_and_a_failed_job_fail_at_once() {
        let stuck = json!({
            "metadata": {"generation": 1}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "conditions": [{"type": "Progressing",
                "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet \"web-5d4\" has timed out progressing."}]}
        });
        assert!(
            matches!(readiness("apps", "Deployment", &stuck), Readiness::Failed(m) if m.contains("timed out"))
        );
        let job = json!({"status": {"failed": 6, "conditions": [{"type": "Failed", "status": "True",
            "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}});
        assert!(
            matches!(readiness("batch", "Job", &job), Readiness::Failed(m) if m.contains("BackoffLimitExceeded"))
        );
    }

    #[test]
    fn a_crd_is_ready_only_once_established() {
        let names_accepted = json!({"status": {"conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "False", "reason": "Installing", "message": "the initial names have been accepted"}]}});
        assert!(matches!(
            readiness("apiextensions.k8s.io", "CustomResourceDefinition", &names_accepted),
            Readiness::Pending(m) if m.contains("Installing")
        ));
        let established =
            json!({"status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert_eq!(
            readiness(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                &established
            ),
            Readiness::Ready
        );
        let fresh = json!({});
        assert!(matches!(
            readiness("apiregistration.k8s.io", "APIService", &fresh),
            Readiness::Pending(_)
        ));
    }

    #[test]
    fn daemonsets_and_statefulsets_count_ready_pods() {
        let ds = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1,
            "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberReady": 2}});
        assert_eq!(
            readiness("apps", "DaemonSet", &ds),
            Readiness::Pending("2 of 3 pods ready".into())
        );
        let sts = json!({"metadata": {"generation": 1}, "spec": {"replicas": 1}, "status": {
            "observedGeneration": 1, "readyReplicas": 1, "currentRevision": "a", "updateRevision": "b"}});
        assert_eq!(
            readiness("apps", "StatefulSet", &sts),
            Readiness::Pending("rolling update in progress".into())
        );
    }

    fn objects(yaml: &str) -> Vec<Object> {
        crate::manifest::Manifests::parse(yaml)
            .unwrap()
            .objects()
            .to_vec()
    }

    #[test]
    fn hooks_are_ordered_by_weight_then_kind_then_name() {
        let o = objects(
            r#"
apiVersion: batch/v1
kind: Job
metadata: {name: a-job, annotations: {helm.sh/hook: "pre-install,pre-upgrade"}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: z-sa, annotations: {helm.sh/hook: pre-install}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: early, annotations: {helm.sh/hook: pre-install, helm.sh/hook-weight: "-5", helm.sh/hook-delete-policy: "hook-succeeded, hook-failed"}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: later, annotations: {helm.sh/hook: "post-install"}}
---
apiVersion: v1
kind: Pod
metadata: {name: t, annotations: {helm.sh/hook: test}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: plain}
"#,
        );
        let names = |e| {
            hooks(&o, e)
                .iter()
                .map(|(o, _)| o.key.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(HookEvent::PreInstall), ["early", "z-sa", "a-job"]);
        assert_eq!(names(HookEvent::PostInstall), ["later"]);
        let by = |n: &str| o.iter().find(|o| o.key.name == n).unwrap();
        let early = hook_of(by("early")).unwrap();
        assert_eq!(early.weight, -5);
        assert!(early.deletes("hook-failed") && !early.deletes("before-hook-creation"));
        assert!(
            hook_of(by("a-job"))
                .unwrap()
                .deletes("before-hook-creation"),
            "Helm's default policy"
        );
        assert!(!is_resource(by("t")) && is_resource(by("plain")));
    }

    #[test]
    fn a_cainjector_webhook_serves_once_its_ca_bundle_is_filled() {
        let empty = json!({"metadata": {"annotations": {"cert-manager.io/inject-ca-from-secret": "cm/ca"}},
            "webhooks": [{"name": "webhook.cert-manager.io", "clientConfig": {"service": {}}}]});
        assert!(
            matches!(ca_injected(&empty), Readiness::Pending(m) if m.contains("webhook.cert-manager.io"))
        );
        let mut filled = empty.clone();
        filled["webhooks"][0]["clientConfig"]["caBundle"] = json!("Q0E=");
        assert_eq!(ca_injected(&filled), Readiness::Ready);
        // Not cainjector's: someone else (a post-install certgen patch) fills it later.
        assert_eq!(
            ca_injected(&json!({"webhooks": [{"name": "x", "clientConfig": {}}]})),
            Readiness::Ready
        );
        assert!(is_webhook_error(
            "applying Issuer cm/x: ApiError: Internal error occurred: failed calling webhook \"webhook.cert-manager.io\""
        ));
    }
}
