//! Kubernetes JSON schemas per minor, from a directory in the layout kubeconform and
//! kubernetes-validate use: `<root>/v1.32.0-local-strict/<kind>-<group>-<version>.json`
//! (`-standalone-strict` works too), where `<group>` is the group's first label (`apps`,
//! `rbac`, `networking`) and is left out for the core group (`service-v1.json`). Local sets
//! share `_definitions.json`; it is loaded once per minor. Each (minor, kind) schema is read and
//! compiled on first use and kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::model::KubeMinor;

/// Where schema sets live, and the validators compiled so far.
pub struct SchemaStore {
    root: PathBuf,
    sets: Mutex<HashMap<KubeMinor, Arc<Result<SchemaSet, String>>>>,
}

/// The schemas of one minor.
pub struct SchemaSet {
    pub dir: PathBuf,
    registry: jsonschema::Registry<'static>,
    /// (apiVersion, kind) → compiled schema.
    validators: Mutex<HashMap<(String, String), Arc<jsonschema::Validator>>>,
}

/// What the store says about one object's kind.
pub enum Lookup {
    /// Validate with this.
    Found(Arc<jsonschema::Validator>),
    /// The set has no schema for this apiVersion/kind.
    Missing,
}

impl SchemaStore {
    pub fn new(root: PathBuf) -> SchemaStore {
        SchemaStore {
            root,
            sets: Mutex::new(HashMap::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The set for `minor`, loaded on first use; the error says which minors the root has.
    pub fn set(&self, minor: KubeMinor) -> Arc<Result<SchemaSet, String>> {
        let mut sets = self.sets.lock().expect("schema cache lock");
        sets.entry(minor)
            .or_insert_with(|| Arc::new(SchemaSet::load(&self.root, minor)))
            .clone()
    }
}

/// `v1.32.0-local-strict` → (1.32, patch 0). Only strict sets: unknown fields are errors.
fn parse_dir(name: &str) -> Option<(KubeMinor, u32)> {
    let v = name
        .strip_suffix("-local-strict")
        .or_else(|| name.strip_suffix("-standalone-strict"))?;
    let mut parts = v.strip_prefix('v')?.split('.');
    let (major, minor, patch) = (parts.next()?, parts.next()?, parts.next()?);
    Some((
        KubeMinor::new(major.parse().ok()?, minor.parse().ok()?),
        patch.parse().ok()?,
    ))
}

impl SchemaSet {
    fn load(root: &Path, minor: KubeMinor) -> Result<SchemaSet, String> {
        let entries = std::fs::read_dir(root)
            .map_err(|e| format!("cannot read the schema directory {}: {e}", root.display()))?;
        let mut found: Vec<(KubeMinor, u32, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                parse_dir(&name).map(|(m, p)| (m, p, e.path()))
            })
            .collect();
        found.sort();
        let Some((_, _, dir)) = found.iter().rev().find(|(m, _, _)| *m == minor) else {
            let have = match (found.first(), found.last()) {
                (Some(a), Some(b)) => format!("it has {}–{}", a.0, b.0),
                _ => "it has no vX.Y.Z-local-strict or -standalone-strict directories".into(),
            };
            return Err(format!(
                "no Kubernetes {minor} schemas in {} ({have}); point --schemas at a set that has {minor}",
                root.display()
            ));
        };
        let defs_path = dir.join("_definitions.json");
        let mut builder = jsonschema::Registry::new();
        if defs_path.exists() {
            let defs = read_json(&defs_path)?;
            let id = defs
                .get("$id")
                .and_then(Value::as_str)
                .unwrap_or("https://kubernetes.io/api/_definitions.json")
                .to_string();
            builder = builder
                .add(id, defs)
                .map_err(|e| format!("{}: {e}", defs_path.display()))?;
        }
        let registry = builder
            .prepare()
            .map_err(|e| format!("{}: {e}", defs_path.display()))?;
        Ok(SchemaSet {
            dir: dir.clone(),
            registry,
            validators: Mutex::new(HashMap::new()),
        })
    }

    /// The compiled schema for `api_version` + `kind`; an error when the file exists but is
    /// unreadable or does not compile.
    pub fn lookup(&self, api_version: &str, kind: &str) -> Result<Lookup, String> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(v) = self.validators.lock().expect("lock").get(&key) {
            return Ok(Lookup::Found(v.clone()));
        }
        let path = self.dir.join(file_name(api_version, kind));
        if !path.exists() {
            return Ok(Lookup::Missing);
        }
        let schema = read_json(&path)?;
        let compiled = jsonschema::options()
            .with_registry(&self.registry)
            .should_validate_formats(false)
            .build(&schema)
            .map_err(|e| format!("{} does not compile: {e}", path.display()))?;
        let v = Arc::new(compiled);
        self.validators.lock().expect("lock").insert(key, v.clone());
        Ok(Lookup::Found(v))
    }
}

/// `apps/v1` + `Deployment` → `deployment-apps-v1.json`; `v1` + `Service` → `service-v1.json`;
/// `rbac.authorization.k8s.io/v1` → `...-rbac-v1.json`.
pub fn file_name(api_version: &str, kind: &str) -> String {
    let kind = kind.to_lowercase();
    match api_version.split_once('/') {
        Some((group, version)) => {
            let first = group.split('.').next().unwrap_or(group);
            format!("{kind}-{first}-{version}.json")
        }
        None => format!("{kind}-{api_version}.json"),
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_the_kubeconform_layout() {
        assert_eq!(
            file_name("apps/v1", "Deployment"),
            "deployment-apps-v1.json"
        );
        assert_eq!(file_name("v1", "Service"), "service-v1.json");
        assert_eq!(
            file_name("rbac.authorization.k8s.io/v1", "ClusterRole"),
            "clusterrole-rbac-v1.json"
        );
        assert_eq!(
            parse_dir("v1.32.0-local-strict"),
            Some((KubeMinor::new(1, 32), 0))
        );
        assert_eq!(
            parse_dir("v1.30.4-standalone-strict"),
            Some((KubeMinor::new(1, 30), 4))
        );
        assert_eq!(parse_dir("v1.32.0-local"), None);
    }
}
