//! `scan`: which objects on a live cluster were written with APIs the target minor no longer
//! serves (or soon will not). [`classify`] is pure: what `cluster::scan` read, against the
//! API table ([`crate::apis`]), with the deprecation horizon `validate` uses.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::apis;
use crate::cluster::scan::{ClusterScan, HelmRelease, LiveObject, ManifestObject};
use crate::model::KubeMinor;
use crate::validate::DEPRECATION_HORIZON;

/// How bad an API version is for the target minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The target no longer serves it.
    Removed,
    /// The target serves it, but a minor within the horizon does not.
    Deprecated,
}

/// Where an object says which API version it was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A `metadata.managedFields` entry (server-side apply, or any update).
    ManagedFields,
    /// The `kubectl.kubernetes.io/last-applied-configuration` annotation.
    LastApplied,
    /// The manifest of a Helm release's latest revision.
    HelmRelease,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::ManagedFields => "managedFields",
            Source::LastApplied => "last-applied",
            Source::HelmRelease => "helm release",
        }
    }
}

/// One source naming a removed or deprecated API version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub source: Source,
    /// The field manager (managedFields).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// `Apply` or `Update` (managedFields).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// `namespace/name` of the Helm release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    pub api_version: String,
    pub removed_in: KubeMinor,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

impl Finding {
    /// `manager kubectl (Apply)`, `release apps/web revision 3`, `last-applied`.
    pub fn origin(&self) -> String {
        match self.source {
            Source::ManagedFields => format!(
                "managedFields: manager {} ({})",
                self.manager.as_deref().unwrap_or("?"),
                self.operation.as_deref().unwrap_or("?")
            ),
            Source::LastApplied => "last-applied-configuration".into(),
            Source::HelmRelease => format!(
                "Helm release {} revision {}",
                self.release.as_deref().unwrap_or("?"),
                self.revision.unwrap_or_default()
            ),
        }
    }
}

/// An object with every source that names a removed or deprecated API version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectReport {
    pub kind: String,
    /// Its group as the cluster serves it now (`""` for the core group).
    pub group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// The worst of its findings.
    pub severity: Severity,
    /// False when only a Helm release names it: the release's manifest still has it, the
    /// cluster does not (Helm's next upgrade reads the manifest all the same).
    pub live: bool,
    pub findings: Vec<Finding>,
}

impl ObjectReport {
    /// `PodDisruptionBudget default/web`.
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// What `scan` reports.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub server_version: String,
    pub target: KubeMinor,
    /// Minors after the target within which a removal counts as a deprecation.
    pub deprecation_horizon: u32,
    pub resource_types: usize,
    pub objects_scanned: usize,
    /// Helm releases whose latest revision was checked; `null` when they were not checked.
    pub helm_releases: Option<usize>,
    pub removed: usize,
    pub deprecated: usize,
    pub objects: Vec<ObjectReport>,
    pub notes: Vec<String>,
}

impl ScanReport {
    pub fn has_removals(&self) -> bool {
        self.removed > 0
    }
}

/// Whether `api_version` `kind` is removed in `target`, or deprecated (removed within the
/// horizon after it); `None` when the target and its successors serve it (or the table does
/// not know it: custom resources).
pub fn api_status(
    api_version: &str,
    kind: &str,
    target: KubeMinor,
) -> Option<(Severity, KubeMinor, Option<&'static str>)> {
    let api = apis::lookup(api_version, kind)?;
    let removed = api.removed?;
    if removed <= target {
        Some((Severity::Removed, removed, api.replacement))
    } else if removed.major == target.major && removed.minor <= target.minor + DEPRECATION_HORIZON {
        Some((Severity::Deprecated, removed, api.replacement))
    } else {
        None
    }
}

/// The group an object written as `api_version` `kind` is served in now: a removed API's
/// replacement group (`extensions/v1beta1` Ingress → `networking.k8s.io`), else its own.
fn canonical_group(api_version: &str, kind: &str) -> String {
    let replaced = apis::lookup(api_version, kind)
        .and_then(|a| a.replacement)
        .and_then(|r| r.split_once(' '))
        .filter(|(_, k)| *k == kind)
        .map(|(gv, _)| gv);
    crate::manifest::api_group(replaced.unwrap_or(api_version)).to_string()
}

type Key = (String, String, Option<String>, String);

fn key(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Key {
    (
        group.to_string(),
        kind.to_string(),
        namespace.map(String::from),
        name.to_string(),
    )
}

/// Classify what a scan read against `target`: each object once, with every source that names
/// a removed or deprecated API version.
pub fn classify(scan: &ClusterScan, target: KubeMinor) -> ScanReport {
    let mut objects: BTreeMap<Key, ObjectReport> = BTreeMap::new();
    let mut uids = BTreeSet::new();
    let mut scanned = 0;
    let finding = |source, api_version: &str, kind: &str| {
        api_status(api_version, kind, target).map(|(severity, removed_in, replacement)| Finding {
            severity,
            source,
            manager: None,
            operation: None,
            release: None,
            revision: None,
            api_version: api_version.to_string(),
            removed_in,
            replacement: replacement.map(String::from),
        })
    };
    for o in &scan.objects {
        // The same object served in two groups (core and events.k8s.io Events) counts once.
        if let Some(uid) = &o.uid {
            if !uids.insert(uid.clone()) {
                continue;
            }
        }
        scanned += 1;
        let found = live_findings(o, &finding);
        let entry = objects
            .entry(key(&o.group, &o.kind, o.namespace.as_deref(), &o.name))
            .or_insert_with(|| report_for(&o.group, &o.kind, o.namespace.clone(), &o.name));
        entry.live = true;
        entry.findings.extend(found);
    }
    for r in &scan.releases {
        for m in &r.objects {
            let Some(mut f) = finding(Source::HelmRelease, &m.api_version, &m.kind) else {
                continue;
            };
            f.release = Some(format!("{}/{}", r.namespace, r.name));
            f.revision = Some(r.revision);
            let group = canonical_group(&m.api_version, &m.kind);
            let ns = manifest_namespace(r, m, &group);
            objects
                .entry(key(&group, &m.kind, ns.as_deref(), &m.name))
                .or_insert_with(|| report_for(&group, &m.kind, ns.clone(), &m.name))
                .findings
                .push(f);
        }
    }
    let mut out: Vec<ObjectReport> = objects
        .into_values()
        .filter_map(|mut o| {
            o.findings.sort();
            o.findings.dedup();
            o.severity = o.findings.iter().map(|f| f.severity).min()?;
            Some(o)
        })
        .collect();
    out.sort_by(|a, b| {
        (a.severity, &a.kind, &a.namespace, &a.name).cmp(&(
            b.severity,
            &b.kind,
            &b.namespace,
            &b.name,
        ))
    });
    let count = |s| out.iter().filter(|o| o.severity == s).count();
    ScanReport {
        server_version: scan.server_version.clone(),
        target,
        deprecation_horizon: DEPRECATION_HORIZON,
        resource_types: scan.resource_types,
        objects_scanned: scanned,
        helm_releases: scan.helm_checked.then_some(scan.releases.len()),
        removed: count(Severity::Removed),
        deprecated: count(Severity::Deprecated),
        objects: out,
        notes: scan.notes.clone(),
    }
}

fn report_for(group: &str, kind: &str, namespace: Option<String>, name: &str) -> ObjectReport {
    ObjectReport {
        kind: kind.into(),
        group: group.into(),
        namespace,
        name: name.into(),
        severity: Severity::Deprecated,
        live: false,
        findings: Vec::new(),
    }
}

fn live_findings(
    o: &LiveObject,
    finding: &dyn Fn(Source, &str, &str) -> Option<Finding>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for m in &o.managers {
        if let Some(mut f) = finding(Source::ManagedFields, &m.api_version, &o.kind) {
            f.manager = Some(m.manager.clone());
            f.operation = Some(m.operation.clone());
            out.push(f);
        }
    }
    if let Some(av) = &o.last_applied {
        out.extend(finding(Source::LastApplied, av, &o.kind));
    }
    out
}

/// Where a release's object lives: its own namespace, else the release's (as Helm installs
/// it); none for cluster-scoped kinds.
fn manifest_namespace(r: &HelmRelease, m: &ManifestObject, group: &str) -> Option<String> {
    if apis::is_cluster_scoped(group, &m.kind) {
        None
    } else {
        Some(m.namespace.clone().unwrap_or_else(|| r.namespace.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::scan::ManagedBy;

    fn minor(m: u32) -> KubeMinor {
        KubeMinor::new(1, m)
    }

    fn pdb(managers: &[(&str, &str, &str)], last_applied: Option<&str>) -> LiveObject {
        LiveObject {
            group: "policy".into(),
            version: "v1".into(),
            kind: "PodDisruptionBudget".into(),
            namespace: Some("shop".into()),
            name: "web".into(),
            uid: Some("u1".into()),
            managers: managers
                .iter()
                .map(|(m, op, av)| ManagedBy {
                    manager: m.to_string(),
                    operation: op.to_string(),
                    api_version: av.to_string(),
                })
                .collect(),
            last_applied: last_applied.map(String::from),
        }
    }

    #[test]
    fn removed_deprecated_and_fine_follow_the_table_and_the_horizon() {
        let s = |av, k, m| api_status(av, k, minor(m)).map(|(s, r, _)| (s, r.minor));
        assert_eq!(
            s("policy/v1beta1", "PodDisruptionBudget", 25),
            Some((Severity::Removed, 25))
        );
        assert_eq!(
            s("policy/v1beta1", "PodDisruptionBudget", 22),
            Some((Severity::Deprecated, 25))
        );
        assert_eq!(s("policy/v1beta1", "PodDisruptionBudget", 21), None);
        assert_eq!(s("policy/v1", "PodDisruptionBudget", 33), None);
        assert_eq!(s("example.com/v1alpha1", "Widget", 33), None);
    }

    #[test]
    fn an_object_is_reported_once_with_every_source() {
        let scan = ClusterScan {
            server_version: "v1.24.17".into(),
            resource_types: 3,
            objects: vec![pdb(
                &[
                    ("kubectl", "Apply", "policy/v1beta1"),
                    ("kube-controller-manager", "Update", "policy/v1"),
                ],
                Some("policy/v1beta1"),
            )],
            releases: vec![HelmRelease {
                name: "web".into(),
                namespace: "shop".into(),
                revision: 4,
                status: "deployed".into(),
                objects: vec![ManifestObject {
                    api_version: "policy/v1beta1".into(),
                    kind: "PodDisruptionBudget".into(),
                    namespace: None,
                    name: "web".into(),
                }],
            }],
            helm_checked: true,
            notes: vec![],
        };
        let r = classify(&scan, minor(25));
        assert_eq!(r.objects.len(), 1, "{r:#?}");
        let o = &r.objects[0];
        assert_eq!(o.display(), "PodDisruptionBudget shop/web");
        assert_eq!(o.severity, Severity::Removed);
        let sources: Vec<Source> = o.findings.iter().map(|f| f.source).collect();
        assert_eq!(
            sources,
            [
                Source::ManagedFields,
                Source::LastApplied,
                Source::HelmRelease
            ]
        );
        assert_eq!(o.findings[0].manager.as_deref(), Some("kubectl"));
        assert_eq!(r.removed, 1);
        assert_eq!(r.helm_releases, Some(1));
    }

    #[test]
    fn a_removed_group_maps_to_its_replacement_for_matching() {
        assert_eq!(
            canonical_group("extensions/v1beta1", "Ingress"),
            "networking.k8s.io"
        );
        assert_eq!(canonical_group("apps/v1", "Deployment"), "apps");
        assert_eq!(canonical_group("v1", "ConfigMap"), "");
    }
}
