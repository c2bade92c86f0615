//! Which built-in API versions each Kubernetes minor serves.
//!
//! A reviewed table, not a guess: entries follow the Kubernetes "Deprecated API Migration
//! Guide" (kubernetes.io/docs/reference/using-api/deprecation-guide/) and the release notes of
//! each minor. It feeds `helm template --api-versions` (so charts that branch on
//! `.Capabilities.APIVersions` render as they would on that cluster) and, later, removed-API
//! checks. Stable APIs that were never removed are listed with the minor they reached GA in, or
//! 1.0 when they predate every minor the bot supports.

use crate::model::KubeMinor;

/// One served `group/version` + kind, with the minors it is served in: `[since, removed)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiKind {
    pub group_version: &'static str,
    pub kind: &'static str,
    pub since: KubeMinor,
    /// The first minor that no longer serves it.
    pub removed: Option<KubeMinor>,
    /// What to use instead, once removed.
    pub replacement: Option<&'static str>,
}

const fn m(minor: u32) -> KubeMinor {
    KubeMinor::new(1, minor)
}

const fn ga(group_version: &'static str, kind: &'static str, since: u32) -> ApiKind {
    ApiKind {
        group_version,
        kind,
        since: m(since),
        removed: None,
        replacement: None,
    }
}

const fn gone(
    group_version: &'static str,
    kind: &'static str,
    since: u32,
    removed: u32,
    replacement: &'static str,
) -> ApiKind {
    ApiKind {
        group_version,
        kind,
        since: m(since),
        removed: Some(m(removed)),
        replacement: Some(replacement),
    }
}

/// The table. Removals per the migration guide; `since` for GA versions per release notes.
pub const API_KINDS: &[ApiKind] = &[
    ga("v1", "ConfigMap", 0),
    ga("v1", "Secret", 0),
    ga("v1", "Service", 0),
    ga("v1", "ServiceAccount", 0),
    ga("v1", "Namespace", 0),
    ga("v1", "Pod", 0),
    ga("v1", "PersistentVolumeClaim", 0),
    ga("v1", "Endpoints", 0),
    ga("v1", "LimitRange", 0),
    ga("v1", "ResourceQuota", 0),
    ga("apps/v1", "Deployment", 9),
    ga("apps/v1", "StatefulSet", 9),
    ga("apps/v1", "DaemonSet", 9),
    ga("apps/v1", "ReplicaSet", 9),
    ga("batch/v1", "Job", 0),
    ga("batch/v1", "CronJob", 21),
    gone("batch/v1beta1", "CronJob", 8, 25, "batch/v1 CronJob"),
    ga("policy/v1", "PodDisruptionBudget", 21),
    gone(
        "policy/v1beta1",
        "PodDisruptionBudget",
        5,
        25,
        "policy/v1 PodDisruptionBudget",
    ),
    gone(
        "policy/v1beta1",
        "PodSecurityPolicy",
        10,
        25,
        "Pod Security Admission (no replacement object)",
    ),
    ga("autoscaling/v1", "HorizontalPodAutoscaler", 0),
    ga("autoscaling/v2", "HorizontalPodAutoscaler", 23),
    gone(
        "autoscaling/v2beta1",
        "HorizontalPodAutoscaler",
        8,
        25,
        "autoscaling/v2 HorizontalPodAutoscaler",
    ),
    gone(
        "autoscaling/v2beta2",
        "HorizontalPodAutoscaler",
        12,
        26,
        "autoscaling/v2 HorizontalPodAutoscaler",
    ),
    ga("networking.k8s.io/v1", "NetworkPolicy", 7),
    ga("networking.k8s.io/v1", "Ingress", 19),
    ga("networking.k8s.io/v1", "IngressClass", 19),
    gone(
        "networking.k8s.io/v1beta1",
        "Ingress",
        14,
        22,
        "networking.k8s.io/v1 Ingress",
    ),
    gone(
        "networking.k8s.io/v1beta1",
        "IngressClass",
        18,
        22,
        "networking.k8s.io/v1 IngressClass",
    ),
    gone(
        "extensions/v1beta1",
        "Ingress",
        1,
        22,
        "networking.k8s.io/v1 Ingress",
    ),
    ga("rbac.authorization.k8s.io/v1", "Role", 8),
    ga("rbac.authorization.k8s.io/v1", "RoleBinding", 8),
    ga("rbac.authorization.k8s.io/v1", "ClusterRole", 8),
    ga("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", 8),
    gone(
        "rbac.authorization.k8s.io/v1beta1",
        "ClusterRole",
        6,
        22,
        "rbac.authorization.k8s.io/v1 ClusterRole",
    ),
    gone(
        "rbac.authorization.k8s.io/v1beta1",
        "Role",
        6,
        22,
        "rbac.authorization.k8s.io/v1 Role",
    ),
    ga("apiextensions.k8s.io/v1", "CustomResourceDefinition", 16),
    gone(
        "apiextensions.k8s.io/v1beta1",
        "CustomResourceDefinition",
        7,
        22,
        "apiextensions.k8s.io/v1 CustomResourceDefinition",
    ),
    ga(
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
        16,
    ),
    ga(
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
        16,
    ),
    ga(
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicy",
        30,
    ),
    ga(
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
        30,
    ),
    gone(
        "admissionregistration.k8s.io/v1beta1",
        "MutatingWebhookConfiguration",
        9,
        22,
        "admissionregistration.k8s.io/v1 MutatingWebhookConfiguration",
    ),
    gone(
        "admissionregistration.k8s.io/v1beta1",
        "ValidatingWebhookConfiguration",
        9,
        22,
        "admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration",
    ),
    ga("apiregistration.k8s.io/v1", "APIService", 10),
    gone(
        "apiregistration.k8s.io/v1beta1",
        "APIService",
        7,
        22,
        "apiregistration.k8s.io/v1 APIService",
    ),
    ga("scheduling.k8s.io/v1", "PriorityClass", 14),
    gone(
        "scheduling.k8s.io/v1beta1",
        "PriorityClass",
        11,
        22,
        "scheduling.k8s.io/v1 PriorityClass",
    ),
    ga("storage.k8s.io/v1", "StorageClass", 6),
    ga("storage.k8s.io/v1", "CSIDriver", 18),
    ga("storage.k8s.io/v1", "CSIStorageCapacity", 24),
    gone(
        "storage.k8s.io/v1beta1",
        "CSIStorageCapacity",
        21,
        27,
        "storage.k8s.io/v1 CSIStorageCapacity",
    ),
    ga("coordination.k8s.io/v1", "Lease", 14),
    ga("discovery.k8s.io/v1", "EndpointSlice", 21),
    gone(
        "discovery.k8s.io/v1beta1",
        "EndpointSlice",
        17,
        25,
        "discovery.k8s.io/v1 EndpointSlice",
    ),
    ga("events.k8s.io/v1", "Event", 19),
    gone(
        "events.k8s.io/v1beta1",
        "Event",
        8,
        25,
        "events.k8s.io/v1 Event",
    ),
    ga("node.k8s.io/v1", "RuntimeClass", 20),
    gone(
        "node.k8s.io/v1beta1",
        "RuntimeClass",
        14,
        25,
        "node.k8s.io/v1 RuntimeClass",
    ),
    ga("certificates.k8s.io/v1", "CertificateSigningRequest", 19),
    ga("flowcontrol.apiserver.k8s.io/v1", "FlowSchema", 29),
    ga(
        "flowcontrol.apiserver.k8s.io/v1",
        "PriorityLevelConfiguration",
        29,
    ),
    gone(
        "flowcontrol.apiserver.k8s.io/v1beta1",
        "FlowSchema",
        20,
        26,
        "flowcontrol.apiserver.k8s.io/v1 FlowSchema",
    ),
    gone(
        "flowcontrol.apiserver.k8s.io/v1beta2",
        "FlowSchema",
        23,
        29,
        "flowcontrol.apiserver.k8s.io/v1 FlowSchema",
    ),
    gone(
        "flowcontrol.apiserver.k8s.io/v1beta3",
        "FlowSchema",
        26,
        32,
        "flowcontrol.apiserver.k8s.io/v1 FlowSchema",
    ),
    gone(
        "flowcontrol.apiserver.k8s.io/v1beta3",
        "PriorityLevelConfiguration",
        26,
        32,
        "flowcontrol.apiserver.k8s.io/v1 PriorityLevelConfiguration",
    ),
];

/// Built-in kinds that are not namespaced (by group and kind; the version does not matter).
/// From `kubectl api-resources --namespaced=false` on Kubernetes 1.33, plus removed kinds.
pub const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("authentication.k8s.io", "SelfSubjectReview"),
    ("authentication.k8s.io", "TokenReview"),
    ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"),
    ("authorization.k8s.io", "SubjectAccessReview"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("node.k8s.io", "RuntimeClass"),
    ("policy", "PodSecurityPolicy"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "ResourceSlice"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
];

/// The table's entry for `group_version` + `kind`, if it lists one.
pub fn lookup(group_version: &str, kind: &str) -> Option<&'static ApiKind> {
    API_KINDS
        .iter()
        .find(|a| a.group_version == group_version && a.kind == kind)
}

/// Whether a built-in kind is cluster-scoped.
pub fn is_cluster_scoped(group: &str, kind: &str) -> bool {
    CLUSTER_SCOPED
        .iter()
        .any(|(g, k)| *g == group && *k == kind)
}

impl ApiKind {
    pub fn served_in(&self, minor: KubeMinor) -> bool {
        self.since <= minor && self.removed.is_none_or(|r| minor < r)
    }
}

/// `--api-versions` arguments for `minor`: each served `group/version` once, then each
/// `group/version/Kind`, the two forms charts test with `.Capabilities.APIVersions.Has`.
pub fn api_versions(minor: KubeMinor) -> Vec<String> {
    let served: Vec<&ApiKind> = API_KINDS.iter().filter(|a| a.served_in(minor)).collect();
    let mut gvs: Vec<String> = served.iter().map(|a| a.group_version.to_string()).collect();
    gvs.sort();
    gvs.dedup();
    let mut kinds: Vec<String> = served
        .iter()
        .map(|a| format!("{}/{}", a.group_version, a.kind))
        .collect();
    kinds.sort();
    gvs.extend(kinds);
    gvs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_apis_are_not_served_from_their_removal_minor() {
        let has = |minor, gvk: &str| api_versions(m(minor)).iter().any(|v| v == gvk);
        assert!(has(24, "policy/v1beta1/PodSecurityPolicy"));
        assert!(!has(25, "policy/v1beta1/PodSecurityPolicy"));
        assert!(has(31, "flowcontrol.apiserver.k8s.io/v1beta3"));
        assert!(!has(32, "flowcontrol.apiserver.k8s.io/v1beta3"));
        assert!(has(32, "flowcontrol.apiserver.k8s.io/v1/FlowSchema"));
        assert!(!has(
            29,
            "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"
        ));
        assert!(has(
            30,
            "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"
        ));
    }
}
