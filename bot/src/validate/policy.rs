//! Policies in `validate`: every Gatekeeper Constraint under the branch's `policies/` against
//! the branch's rendered objects ([`crate::policy`] evaluates), with the exemptions the team
//! accepted: a bundle's `policy_exemptions` (constraint → reason), or an object's annotation
//! `policy.ake-bot.io/exempt-<constraint>: <reason>`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{json, Value};

use super::{BundleRender, Check, Finding, Severity};
use crate::policy::{EnforcementAction, LoadProblem, PolicySet};

/// The annotation prefix a single object opts out of a constraint with.
pub const EXEMPT_ANNOTATION: &str = "policy.ake-bot.io/exempt-";

/// A branch's policies, loaded (and their Rego compiled) once.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    set: PolicySet,
    problems: Vec<LoadProblem>,
}

impl Policies {
    /// From the YAML files under `policies/` (`config::Bundles::policies`).
    pub fn load(files: &[(PathBuf, String)]) -> Policies {
        let (set, problems) = PolicySet::load(files);
        Policies { set, problems }
    }

    pub fn is_empty(&self) -> bool {
        self.set.constraints().is_empty() && self.problems.is_empty()
    }
}

/// A violation the team accepted, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Exemption {
    pub bundle: String,
    /// `K8sRequiredProbes/must-have-probes`.
    pub constraint: String,
    pub object: String,
    pub reason: String,
    /// `bundle.yaml` or the annotation.
    pub by: String,
    /// The template's message, as it would have been reported.
    pub message: String,
}

/// Findings and exemptions of the constraints against the renders (of bundle `only`, when
/// given: the other bundles still make up the inventory).
pub fn check(
    policies: &Policies,
    renders: &[BundleRender<'_>],
    only: Option<&str>,
) -> (Vec<Finding>, Vec<Exemption>) {
    let mut findings: Vec<Finding> = policies
        .problems
        .iter()
        .map(|p| Finding {
            file: Some(p.file.clone()),
            ..Finding::branch_wide(Severity::Error, Check::Policy, p.message.clone())
        })
        .collect();
    let constraints = policies.set.constraints();
    if constraints.is_empty() {
        return (findings, Vec::new());
    }
    for c in constraints.iter().filter(|c| !c.evaluated) {
        findings.push(Finding {
            file: Some(c.file.clone()),
            ..Finding::branch_wide(
                Severity::Warning,
                Check::Policy,
                format!(
                    "{} {} not evaluated: {}",
                    c.kind,
                    c.name,
                    c.not_evaluated.as_deref().unwrap_or("unsupported")
                ),
            )
        });
    }
    // Every object as the cluster would hold it: namespaced objects in their release's
    // namespace when the chart does not say, so namespace matching sees what admission sees.
    let mut objects = Vec::new();
    let mut at: Vec<(usize, usize, bool)> = Vec::new();
    let mut namespaces: Vec<Value> = Vec::new();
    let mut named: BTreeSet<String> = BTreeSet::new();
    let parsed: Vec<_> = renders
        .iter()
        .filter_map(|r| r.manifests.as_ref().ok().map(|m| (r.bundle, *m)))
        .collect();
    for (bi, (b, m)) in parsed.iter().enumerate() {
        for (oi, o) in m.objects().iter().enumerate() {
            let mut v = o.value.clone();
            let namespaced = !crate::apis::is_cluster_scoped(&o.key.group, &o.key.kind);
            if namespaced && o.key.namespace.is_none() {
                if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert("namespace".into(), json!(b.bundle.namespace));
                }
            }
            if o.key.group.is_empty() && o.key.kind == "Namespace" {
                named.insert(o.key.name.clone());
                namespaces.push(v.clone());
            }
            // Admission sees the Pods a workload creates, not only the workload: expand them
            // as Gatekeeper's ExpansionTemplates do, so Pod constraints judge the charts.
            let pod = expand_pod(&v);
            objects.push(v);
            at.push((bi, oi, false));
            if let Some(pod) = pod {
                objects.push(pod);
                at.push((bi, oi, true));
            }
        }
    }
    // The release namespaces Helm creates, with no labels.
    for (b, _) in &parsed {
        if named.insert(b.bundle.namespace.clone()) {
            namespaces.push(json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": { "name": b.bundle.namespace }
            }));
        }
    }
    // Only the objects of the addon being checked are reviewed; the branch is the inventory.
    let reviewed = |i: usize| only.is_none_or(|a| parsed[at[i].0].0.bundle.name.as_str() == a);
    let evaluation = policies
        .set
        .evaluate_where(&objects, &namespaces, &reviewed);
    let mut exemptions = Vec::new();
    let mut used: BTreeSet<(String, String)> = BTreeSet::new();
    let finding_at = |bi: usize, oi: usize, severity, message: String| {
        let (b, m) = parsed[bi];
        let o = &m.objects()[oi];
        Finding {
            severity,
            check: Check::Policy,
            bundle: Some(b.bundle.name.to_string()),
            file: Some(b.bundle.rendered_file()),
            doc: Some(o.doc),
            line: Some(o.line),
            object: Some(o.key.to_string()),
            message,
        }
    };
    for v in &evaluation.violations {
        let (bi, oi, expanded) = at[v.object_index];
        let b = parsed[bi].0;
        let bundle = b.bundle.name.as_str();
        if only.is_some_and(|a| a != bundle) {
            continue;
        }
        let o = &parsed[bi].1.objects()[oi];
        let annotated = o
            .value
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(format!("{EXEMPT_ANNOTATION}{}", v.constraint)))
            .and_then(Value::as_str);
        let exempt = match (b.bundle.policy_exemptions.get(&v.constraint), annotated) {
            (Some(reason), _) => Some((reason.clone(), "bundle.yaml".to_string())),
            (None, Some(reason)) => Some((
                reason.to_string(),
                format!("annotation {EXEMPT_ANNOTATION}{}", v.constraint),
            )),
            (None, None) => None,
        };
        let constraint = format!("{}/{}", v.constraint_kind, v.constraint);
        if let Some((reason, by)) = exempt {
            used.insert((bundle.to_string(), v.constraint.clone()));
            exemptions.push(Exemption {
                bundle: bundle.to_string(),
                constraint,
                object: o.key.to_string(),
                reason,
                by,
                message: v.message.clone(),
            });
            continue;
        }
        let severity = match v.action {
            EnforcementAction::Deny => Severity::Error,
            EnforcementAction::Warn | EnforcementAction::Dryrun => Severity::Warning,
        };
        findings.push(finding_at(
            bi,
            oi,
            severity,
            format!(
                "{}violates {constraint} (template {}{}): {}",
                if expanded { "its Pods: " } else { "" },
                v.template,
                match v.action {
                    EnforcementAction::Deny => "",
                    EnforcementAction::Warn => ", enforcementAction warn",
                    EnforcementAction::Dryrun => ", enforcementAction dryrun",
                },
                v.message
            ),
        ));
    }
    for p in &evaluation.problems {
        let (bi, oi, _) = at[p.object_index];
        if only.is_some_and(|a| a != parsed[bi].0.bundle.name.as_str()) {
            continue;
        }
        findings.push(finding_at(
            bi,
            oi,
            Severity::Error,
            format!(
                "{}/{} (template {}) could not be evaluated, so admission would deny it: {}",
                p.constraint_kind, p.constraint, p.template, p.message
            ),
        ));
    }
    // An exemption that no longer exempts anything is a stale promise: say so.
    let names: BTreeSet<&str> = constraints.iter().map(|c| c.name.as_str()).collect();
    for (b, _) in &parsed {
        let bundle = b.bundle.name.as_str();
        if only.is_some_and(|a| a != bundle) {
            continue;
        }
        for name in b.bundle.policy_exemptions.keys() {
            if used.contains(&(bundle.to_string(), name.clone())) {
                continue;
            }
            let why = if names.contains(name.as_str()) {
                "nothing of this addon violates it any more: remove the exemption"
            } else {
                "no constraint of that name under policies/"
            };
            findings.push(Finding {
                bundle: Some(bundle.to_string()),
                file: Some(b.bundle.file()),
                ..Finding::branch_wide(
                    Severity::Warning,
                    Check::Policy,
                    format!("policy_exemptions: `{name}`: {why}"),
                )
            });
        }
    }
    exemptions.sort();
    exemptions.dedup();
    (findings, exemptions)
}

/// The Pod a workload's template makes (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,
/// CronJob), as Gatekeeper's `expand-deployments`-style ExpansionTemplates generate it: the
/// template's metadata and spec, in the workload's namespace, under the workload's name.
fn expand_pod(workload: &Value) -> Option<Value> {
    let kind = workload.get("kind")?.as_str()?;
    let api = workload.get("apiVersion")?.as_str()?;
    let template = match (api, kind) {
        ("apps/v1", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch/v1", "Job") => workload.pointer("/spec/template")?,
        ("batch/v1", "CronJob") => workload.pointer("/spec/jobTemplate/spec/template")?,
        _ => return None,
    };
    let mut metadata = template
        .get("metadata")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let meta = metadata.as_object_mut()?;
    if let Some(ns) = workload.pointer("/metadata/namespace") {
        meta.insert("namespace".into(), ns.clone());
    }
    if let Some(name) = workload.pointer("/metadata/name") {
        meta.insert("name".into(), name.clone());
    }
    Some(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_expand_to_the_pod_their_template_makes() {
        let d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "payments", "labels": {"a": "b"}},
            "spec": {"template": {"metadata": {"labels": {"app": "api"}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}}}
        });
        assert_eq!(
            expand_pod(&d),
            Some(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"labels": {"app": "api"}, "namespace": "payments", "name": "api"},
                "spec": {"containers": [{"name": "c", "image": "x"}]}
            }))
        );
        let cj = json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "nightly", "namespace": "ops"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}
        });
        assert_eq!(
            expand_pod(&cj).and_then(|p| p.pointer("/metadata/name").cloned()),
            Some(json!("nightly"))
        );
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}});
        assert_eq!(expand_pod(&svc), None);
    }
}
