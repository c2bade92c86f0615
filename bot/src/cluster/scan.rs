//! Reading a live cluster for `scan`: what every object says about the API versions it was
//! written with. Read-only (discovery, `get` and `list`; never `watch`, never a write), and
//! pure data out: classification against the API table is `jobs::scan`'s.
//!
//! Per object: its `metadata.managedFields` (the apiVersion each field manager wrote with:
//! server-side apply keeps the version it was applied with even when the object is read back at
//! a newer one), and the `kubectl.kubernetes.io/last-applied-configuration` annotation. Helm
//! release secrets (`helm.sh/release.v1`) are decoded as Helm decodes them, and only the latest
//! revision of each release is kept: that is the manifest the next `helm upgrade` diffs against.

use std::collections::BTreeMap;
use std::io::Read;

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::{GroupVersion, Version};
use kube::discovery::{self, verbs, ApiCapabilities, Scope};
use serde::{Deserialize as _, Serialize};
use serde_json::Value;

/// Objects per list request; continue tokens fetch the rest.
pub const PAGE_SIZE: u32 = 250;

/// The annotation `kubectl apply` (client-side) writes.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The Secret type Helm 3 stores releases in.
pub const HELM_RELEASE_TYPE: &str = "helm.sh/release.v1";

/// What a scan read from the cluster.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterScan {
    /// The API server's `gitVersion` (`v1.24.17`).
    pub server_version: String,
    /// Resource types listed (at their most stable served version).
    pub resource_types: usize,
    pub objects: Vec<LiveObject>,
    /// The latest revision of each Helm release; empty when secrets could not be listed.
    pub releases: Vec<HelmRelease>,
    /// False when secrets could not be listed: Helm releases were not checked.
    pub helm_checked: bool,
    /// What could not be read (`could not list secrets: forbidden`); the rest was.
    pub notes: Vec<String>,
}

/// One object, as read back, with what it says about how it was written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LiveObject {
    pub group: String,
    /// The version it was listed at (the most stable one the cluster serves for its kind).
    pub version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: Option<String>,
    pub managers: Vec<ManagedBy>,
    /// The `apiVersion` of the last-applied-configuration annotation.
    pub last_applied: Option<String>,
}

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManagedBy {
    pub manager: String,
    /// `Apply` (server-side apply) or `Update`.
    pub operation: String,
    pub api_version: String,
}

/// A Helm release's latest revision and the objects its manifest holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HelmRelease {
    pub name: String,
    pub namespace: String,
    pub revision: u64,
    pub status: String,
    pub objects: Vec<ManifestObject>,
}

/// An object of a release manifest: how the chart wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestObject {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

/// Read the cluster `client` talks to. Err only when the cluster cannot be reached at all (or
/// discovery fails as a whole); a resource type that cannot be listed is a note.
pub async fn scan(client: &kube::Client) -> Result<ClusterScan, String> {
    let info = client
        .apiserver_version()
        .await
        .map_err(|e| format!("cannot reach the cluster: {}", crate::error_chain(&e)))?;
    let mut out = ClusterScan {
        server_version: info.git_version,
        ..ClusterScan::default()
    };
    let resources = discover(client, &mut out.notes).await?;
    out.resource_types = resources.len();
    // Latest Helm release secret per (namespace, release): (revision, encoded release).
    let mut helm: BTreeMap<(String, String), (u64, String)> = BTreeMap::new();
    let mut secrets_listed = false;
    for (ar, scope) in &resources {
        let is_secrets = ar.group.is_empty() && ar.plural == "secrets";
        let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
        let mut token: Option<String> = None;
        let listed = loop {
            let mut lp = ListParams::default().limit(PAGE_SIZE);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let page = match api.list(&lp).await {
                Ok(p) => p,
                Err(e) => {
                    out.notes
                        .push(format!("could not list {}: {}", resource_name(ar), why(&e)));
                    break false;
                }
            };
            for o in &page.items {
                out.objects.push(live_object(ar, scope, o));
                if is_secrets {
                    helm_secret(o, &mut helm);
                }
            }
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() {
                break true;
            }
        };
        if is_secrets {
            secrets_listed = listed;
        }
    }
    out.helm_checked = secrets_listed;
    if !secrets_listed {
        out.notes.push(
            "Helm releases not checked: their secrets could not be listed (needs list on secrets)"
                .into(),
        );
    }
    for ((namespace, name), (revision, encoded)) in helm {
        match decode_release(&encoded) {
            Ok(release) => out
                .releases
                .push(release_objects(&name, &namespace, revision, &release)),
            Err(e) => out.notes.push(format!(
                "could not read Helm release {namespace}/{name} revision {revision}: {e}"
            )),
        }
    }
    Ok(out)
}

/// `deployments.apps`, `secrets`: as `kubectl` names a resource type.
fn resource_name(ar: &ApiResource) -> String {
    if ar.group.is_empty() {
        ar.plural.clone()
    } else {
        format!("{}.{}", ar.plural, ar.group)
    }
}

/// Why a request failed, briefly: `forbidden` for a 403, else the server's reason.
fn why(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => "forbidden".into(),
        kube::Error::Api(s) if !s.message.is_empty() => {
            format!("{} ({})", s.message, s.code)
        }
        e => crate::error_chain(e),
    }
}

/// Every listable resource type, each once at its most stable served version (an object is
/// stored once whichever version it is read at). A group version whose discovery fails (an
/// aggregated API that is down) is a note; the root discovery documents must be there.
async fn discover(
    client: &kube::Client,
    notes: &mut Vec<String>,
) -> Result<Vec<(ApiResource, Scope)>, String> {
    let unreachable = |e: kube::Error| format!("cannot discover the cluster's APIs: {}", why(&e));
    let core = client.list_core_api_versions().await.map_err(unreachable)?;
    let groups = client.list_api_groups().await.map_err(unreachable)?;
    let mut gvs: Vec<GroupVersion> = core
        .versions
        .iter()
        .map(|v| GroupVersion::gv("", v))
        .collect();
    for g in &groups.groups {
        gvs.extend(
            g.versions
                .iter()
                .map(|v| GroupVersion::gv(&g.name, &v.version)),
        );
    }
    // (group, kind) → the most stable version's resource.
    let mut best: BTreeMap<(String, String), (ApiResource, ApiCapabilities)> = BTreeMap::new();
    for gv in gvs {
        let group = match discovery::pinned_group(client, &gv).await {
            Ok(g) => g,
            Err(e) => {
                notes.push(format!(
                    "could not discover {}: {}",
                    gv.api_version(),
                    why(&e)
                ));
                continue;
            }
        };
        for (ar, caps) in group.versioned_resources(&gv.version) {
            if !caps.supports_operation(verbs::LIST) {
                continue;
            }
            let key = (ar.group.clone(), ar.kind.clone());
            let better = best.get(&key).is_none_or(|(b, _)| {
                Version::parse(&ar.version).priority() > Version::parse(&b.version).priority()
            });
            if better {
                best.insert(key, (ar, caps));
            }
        }
    }
    Ok(best
        .into_values()
        .map(|(ar, caps)| (ar, caps.scope))
        .collect())
}

fn live_object(ar: &ApiResource, scope: &Scope, o: &DynamicObject) -> LiveObject {
    let m = &o.metadata;
    let managers = m
        .managed_fields
        .iter()
        .flatten()
        .map(|f| ManagedBy {
            manager: f.manager.clone().unwrap_or_default(),
            operation: f.operation.clone().unwrap_or_default(),
            api_version: f.api_version.clone().unwrap_or_default(),
        })
        .collect();
    let last_applied = m
        .annotations
        .as_ref()
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(|j| serde_json::from_str::<Value>(j).ok())
        .and_then(|v| v["apiVersion"].as_str().map(String::from));
    LiveObject {
        group: ar.group.clone(),
        version: ar.version.clone(),
        kind: ar.kind.clone(),
        namespace: match scope {
            Scope::Namespaced => m.namespace.clone(),
            Scope::Cluster => None,
        },
        name: m.name.clone().unwrap_or_default(),
        uid: m.uid.clone(),
        managers,
        last_applied,
    }
}

/// Keep `o` if it is the latest revision seen of a Helm release (labels `name`, `version`).
fn helm_secret(o: &DynamicObject, helm: &mut BTreeMap<(String, String), (u64, String)>) {
    if o.data["type"] != HELM_RELEASE_TYPE {
        return;
    }
    let labels = o.metadata.labels.clone().unwrap_or_default();
    let (Some(name), Some(revision), Some(release)) = (
        labels.get("name"),
        labels.get("version").and_then(|v| v.parse::<u64>().ok()),
        o.data["data"]["release"].as_str(),
    ) else {
        return;
    };
    let ns = o.metadata.namespace.clone().unwrap_or_default();
    let slot = helm.entry((ns, name.clone())).or_insert((0, String::new()));
    if revision >= slot.0 {
        *slot = (revision, release.to_string());
    }
}

/// A release as Helm 3 stores it in a Secret: the Secret's base64 of Helm's own base64 of the
/// gzipped release JSON (Helm reads plain JSON too, when the gzip magic is absent).
pub fn decode_release(secret_data: &str) -> Result<Value, String> {
    let helm_b64 = base64(secret_data).map_err(|e| format!("secret data: {e}"))?;
    let helm_b64 = String::from_utf8(helm_b64).map_err(|_| "not Helm's base64 text")?;
    let bytes = base64(&helm_b64).map_err(|e| format!("release: {e}"))?;
    let json = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| format!("gzip: {e}"))?;
        out
    } else {
        bytes
    };
    serde_json::from_slice(&json).map_err(|e| format!("release JSON: {e}"))
}

/// Standard base64, as Kubernetes and Helm write it (k8s-openapi's `ByteString` decodes it).
fn base64(s: &str) -> Result<Vec<u8>, String> {
    serde_json::from_value::<k8s_openapi::ByteString>(Value::String(s.trim().to_string()))
        .map(|b| b.0)
        .map_err(|e| e.to_string())
}

/// The objects of a release's `manifest` (multi-document YAML, as Helm rendered it).
fn release_objects(name: &str, namespace: &str, revision: u64, release: &Value) -> HelmRelease {
    let manifest = release["manifest"].as_str().unwrap_or_default();
    let mut objects = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(manifest) {
        let Ok(v) = Value::deserialize(doc) else {
            continue;
        };
        let (Some(av), Some(kind), Some(n)) = (
            v["apiVersion"].as_str(),
            v["kind"].as_str(),
            v["metadata"]["name"].as_str(),
        ) else {
            continue;
        };
        objects.push(ManifestObject {
            api_version: av.into(),
            kind: kind.into(),
            namespace: v["metadata"]["namespace"].as_str().map(String::from),
            name: n.into(),
        });
    }
    HelmRelease {
        name: name.into(),
        namespace: namespace.into(),
        revision,
        status: release["info"]["status"]
            .as_str()
            .unwrap_or_default()
            .into(),
        objects,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_decodes_through_both_base64_layers_and_gzip() {
        let json = br#"{"name":"web","manifest":"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"}"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, json).unwrap();
        let enc = |b: &[u8]| {
            serde_json::to_value(k8s_openapi::ByteString(b.to_vec()))
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        };
        let data = enc(enc(&gz.finish().unwrap()).as_bytes());
        let v = decode_release(&data).unwrap();
        assert_eq!(v["name"], "web");
        let r = release_objects("web", "apps", 3, &v);
        assert_eq!(r.objects.len(), 1);
        assert_eq!(r.objects[0].kind, "ConfigMap");
        assert!(decode_release("not base64!").is_err());
    }
}
