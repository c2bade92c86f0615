//! Schemas fetched by URL template into the cache, on first need: only the files the branch's
//! objects use, each once (a missing one is remembered as missing). Mirrors apply, so an
//! air-gapped cloud points the template's host at a local copy.

use std::collections::BTreeSet;
use std::path::Path;

use crate::model::KubeMinor;
use crate::upstream::Fetcher;

/// Schema files are small; anything larger is not a schema.
const SCHEMA_LIMIT: u64 = 8 * 1024 * 1024;

/// Make `<root>/v<minor>.0-local-strict/` hold the schema of every (apiVersion, kind) in
/// `kinds` that `template` has, plus `_definitions.json` when it has one.
pub async fn fill(
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
