//! Schemas fetched by URL template into the cache, on first need: only the files the branch's
//! objects use, each once (a missing one is remembered as missing). Mirrors apply, so an
//! air-gapped cloud points the template's host at a local copy.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::SchemaStore;
use crate::config::Train;
use crate::manifest::Manifests;
use crate::model::KubeMinor;
use crate::upstream::Fetcher;

/// The Kubernetes schemas of a run: a store, and where to fetch the files it lacks.
pub struct Schemas {
    store: SchemaStore,
    /// `schema_url`: fill the store's directory (in the cache) on first need.
    fill_from: Option<String>,
}

impl Schemas {
    /// `--schemas`, else branches.toml's `schemas`, else `schema_url` fetched into
    /// `<cache>/schemas`; `None` when nothing is configured.
    pub fn resolve(flag: Option<PathBuf>, train: &Train, cache_dir: &Path) -> Option<Schemas> {
        if let Some(dir) = flag.or_else(|| train.schemas.clone()) {
            return Some(Schemas {
                store: SchemaStore::new(dir),
                fill_from: None,
            });
        }
        train.schema_url.as_ref().map(|t| Schemas {
            store: SchemaStore::new(cache_dir.join("schemas")),
            fill_from: Some(t.clone()),
        })
    }

    /// What the schemas are, for cache keys: the directory, or the URL template that fills it.
    pub fn identity(&self) -> String {
        format!(
            "{}\0{}",
            self.store.root().display(),
            self.fill_from.as_deref().unwrap_or_default()
        )
    }

    pub fn store(&self) -> &SchemaStore {
        &self.store
    }

    /// Make sure every schema the objects of `renders` need for `minor` is at hand: with
    /// `schema_url`, fetch the missing files into the cache (a no-op for a directory).
    pub async fn prepare<'a>(
        &self,
        fetcher: &Fetcher,
        minor: KubeMinor,
        renders: impl IntoIterator<Item = &'a Manifests>,
    ) -> Result<(), String> {
        let Some(template) = &self.fill_from else {
            return Ok(());
        };
        let kinds: BTreeSet<(String, String)> = renders
            .into_iter()
            .flat_map(|m| m.objects())
            .map(|o| (o.api_version.clone(), o.key.kind.clone()))
            .collect();
        fill(fetcher, template, self.store.root(), minor, &kinds).await
    }
}

/// Schema files are small; anything larger is not a schema.
const SCHEMA_LIMIT: u64 = 8 * 1024 * 1024;

/// Make `<root>/v<minor>.0-local-strict/` hold the schema of every (apiVersion, kind) in
/// `kinds` that `template` has, plus `_definitions.json` when it has one.
async fn fill(
    fetcher: &Fetcher,
    template: &str,
    root: &Path,
    minor: KubeMinor,
    kinds: &BTreeSet<(String, String)>,
) -> Result<(), String> {
    let version = format!("v{minor}.0");
    let dir = root.join(format!("{version}-local-strict"));
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| format!("cannot create the schema cache {}: {e}", dir.display()))?;
    let mut files: BTreeSet<String> = kinds
        .iter()
        .map(|(gv, kind)| super::file_name(gv, kind))
        .collect();
    files.insert("_definitions.json".into());
    for file in files {
        let (path, missing) = (dir.join(&file), dir.join(format!("{file}.missing")));
        if path.exists() || missing.exists() {
            continue;
        }
        let url = template
            .replace("{version}", &version)
            .replace("{minor}", &minor.to_string())
            .replace("{file}", &file);
        match fetcher
            .fetch_optional(&url, SCHEMA_LIMIT)
            .await
            .map_err(|e| format!("fetching schema {file} for Kubernetes {minor}: {e}"))?
        {
            Some(bytes) => {
                // Hostile or broken data never reaches the cache.
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .map_err(|e| format!("{url} is not a JSON schema: {e}"))?;
                crate::fs::write_atomically_async(&path, bytes)
                    .await
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            None => {
                crate::fs::write_atomically_async(&missing, Vec::new())
                    .await
                    .map_err(|e| format!("cannot write {}: {e}", missing.display()))?;
            }
        }
    }
    Ok(())
}
