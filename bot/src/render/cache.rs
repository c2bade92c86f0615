//! The render cache: what a tick computed, kept in the cache directory so the next tick with
//! nothing new upstream does no `helm template`, no diff and no validation.
//!
//! Two stores, both content-addressed by a SHA-256 of everything their value depends on:
//! - `renders/<key>.yaml`: a normalised render (header + canonical YAML). The key covers the
//!   chart archive's digest, the rendered values, the Kubernetes version and API versions, the
//!   helm version, release, namespace, `include_crds` and the provenance header.
//! - `entries/<key>.json`: a planned update's counts, labels, title and PR body. The key covers
//!   the render's key, the baseline's bytes, the branch's other renders and policies (validation
//!   in context), the schemas, and the entry's inputs.
//!
//! Every key also covers this build's source digest (`build.rs`): a new bot never reuses what
//! an older one computed. A hit returns exactly the bytes stored, so a PR body from the cache is
//! byte-identical to the one computed cold. The stores are bounded in size; the least recently
//! used files go first (a hit refreshes a file's modification time).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// This build's source digest: part of every key.
pub const BUILD_DIGEST: &str = env!("AKE_BOT_SOURCE_DIGEST");

/// A SHA-256 key, hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(String);

impl Key {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Build a key from named parts: each part is length-prefixed, so no two different part lists
/// hash the same bytes.
#[derive(Clone)]
pub struct KeyBuilder(Sha256);

impl KeyBuilder {
    pub fn new(kind: &str) -> KeyBuilder {
        let mut k = KeyBuilder(Sha256::new());
        k.part(kind).part(BUILD_DIGEST);
        k
    }

    pub fn part(&mut self, bytes: impl AsRef<[u8]>) -> &mut KeyBuilder {
        let b = bytes.as_ref();
        self.0.update((b.len() as u64).to_le_bytes());
        self.0.update(b);
        self
    }

    pub fn finish(&self) -> Key {
        Key(hex::encode(self.0.clone().finalize()))
    }

    /// Everything validating a branch reads from its files: every bundle's definition,
    /// committed render and e2e fixtures, and the policies.
    pub fn branch_files(
        &mut self,
        loaded: &[crate::config::LoadedBundle],
        policies: &[(PathBuf, String)],
    ) -> &mut KeyBuilder {
        for lb in loaded {
            self.part(format!("{:?}", lb.bundle))
                .part(digest(lb.rendered.as_deref().unwrap_or("\0")))
                .part(digest(lb.fixtures.as_deref().unwrap_or("\0")));
        }
        for (path, text) in policies {
            self.part(path.to_string_lossy().as_bytes()).part(text);
        }
        self
    }
}

/// SHA-256 of `bytes`, hex.
pub fn digest(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(bytes.as_ref()))
}

/// What a planned update needs once its render is known, without the render itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryOutcome {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub labels: Vec<String>,
    pub title: String,
    pub body: String,
    /// SHA-256 of the render the body describes: what is written is checked against it.
    pub render_digest: String,
}

/// The cache directory's render and entry stores.
#[derive(Debug, Clone)]
pub struct RenderCache {
    root: PathBuf,
    max_bytes: u64,
}

impl RenderCache {
    /// The stores under `cache_dir`, bounded to `max_bytes` together.
    pub fn new(cache_dir: &Path, max_bytes: u64) -> RenderCache {
        RenderCache {
            root: cache_dir.to_path_buf(),
            max_bytes,
        }
    }

    fn render_path(&self, key: &Key) -> PathBuf {
        self.root.join("renders").join(format!("{}.yaml", key.0))
    }

    fn entry_path(&self, key: &Key) -> PathBuf {
        self.root.join("entries").join(format!("{}.json", key.0))
    }

    /// The stored render of `key`, if any. Blocking.
    pub fn render(&self, key: &Key) -> Option<String> {
        read_touch(&self.render_path(key))
    }

    /// Where the render of `key` is, when it is stored. Blocking.
    pub fn render_file(&self, key: &Key) -> Option<PathBuf> {
        let p = self.render_path(key);
        touch(&p).then_some(p)
    }

    /// Store the render of `key`; returns its file. A cache that cannot be written is not an
    /// error of the run (it only makes the next run slower): the caller keeps the text. Blocking.
    pub fn put_render(&self, key: &Key, text: &str) -> Option<PathBuf> {
        let p = self.render_path(key);
        match crate::fs::write_atomically(&p, text.as_bytes()) {
            Ok(()) => Some(p),
            Err(e) => {
                tracing::warn!(path = %p.display(), "render cache not written: {e}");
                None
            }
        }
    }

    /// The stored outcome of the entry `key`, if any (an unreadable one is a miss). Blocking.
    pub fn entry(&self, key: &Key) -> Option<EntryOutcome> {
        let text = read_touch(&self.entry_path(key))?;
        serde_json::from_str(&text).ok()
    }

    /// A stored short text (a dashboard cell), if any. Blocking.
    pub fn note(&self, key: &Key) -> Option<String> {
        read_touch(&self.root.join("entries").join(format!("{}.txt", key.0)))
    }

    /// Store a short text under `key`. Blocking.
    pub fn put_note(&self, key: &Key, text: &str) {
        let p = self.root.join("entries").join(format!("{}.txt", key.0));
        if let Err(e) = crate::fs::write_atomically(&p, text.as_bytes()) {
            tracing::warn!(path = %p.display(), "render cache not written: {e}");
        }
    }

    /// Store the outcome of the entry `key`. Blocking.
    pub fn put_entry(&self, key: &Key, outcome: &EntryOutcome) {
        let p = self.entry_path(key);
        let json = serde_json::to_vec(outcome).expect("an outcome always serialises");
        if let Err(e) = crate::fs::write_atomically(&p, &json) {
            tracing::warn!(path = %p.display(), "entry cache not written: {e}");
        }
    }

    /// Remove the least recently used files until both stores fit the bound. Run before a
    /// plan, so nothing a run has just written (and will read back) is evicted under it.
    /// Returns how many files went. Blocking.
    pub fn evict(&self) -> usize {
        let mut files: Vec<(SystemTime, u64, PathBuf)> = ["renders", "entries"]
            .iter()
            .flat_map(|d| std::fs::read_dir(self.root.join(d)).into_iter().flatten())
            .flatten()
            .filter_map(|e| {
                let m = e.metadata().ok().filter(|m| m.is_file())?;
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        if total <= self.max_bytes {
            return 0;
        }
        files.sort();
        let mut removed = 0;
        for (_, len, path) in files {
            if total <= self.max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
                removed += 1;
            }
        }
        removed
    }
}

fn read_touch(p: &Path) -> Option<String> {
    let text = std::fs::read_to_string(p).ok()?;
    touch(p);
    Some(text)
}

/// Mark `p` used now (eviction goes by modification time); whether it exists.
fn touch(p: &Path) -> bool {
    match std::fs::File::options().append(true).open(p) {
        Ok(f) => {
            let _ = f.set_modified(SystemTime::now());
            true
        }
        Err(_) => false,
    }
}

/// `helm version --short` of `helm`, remembered in the cache by the binary's path, size and
/// modification time: part of every render key, and a warm run must not start helm at all.
pub async fn helm_version(cache_dir: &Path, helm: &super::Helm) -> Result<String, String> {
    let bin = helm.path().to_path_buf();
    let stamp = std::fs::metadata(&bin)
        .ok()
        .map(|m| {
            let t = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .unwrap_or_default();
            format!("{}\0{}\0{}", bin.display(), m.len(), t.as_nanos())
        })
        .unwrap_or_else(|| bin.display().to_string());
    let file = cache_dir
        .join("tools")
        .join(format!("helm-{}.txt", &digest(&stamp)[..32]));
    if let Ok(v) = std::fs::read_to_string(&file) {
        if !v.trim().is_empty() {
            return Ok(v.trim().to_string());
        }
    }
    let v = helm.version().await?;
    if let Err(e) = crate::fs::write_atomically(&file, v.as_bytes()) {
        tracing::debug!(path = %file.display(), "helm version not cached: {e}");
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(parts: &[&str]) -> Key {
        let mut k = KeyBuilder::new("test");
        for p in parts {
            k.part(p);
        }
        k.finish()
    }

    #[test]
    fn keys_tell_part_boundaries_apart() {
        assert_ne!(key(&["ab", "c"]), key(&["a", "bc"]));
        assert_eq!(key(&["a", "bc"]), key(&["a", "bc"]));
        assert_ne!(KeyBuilder::new("x").finish(), KeyBuilder::new("y").finish());
    }

    #[test]
    fn stores_return_exactly_what_was_put_and_evict_least_recently_used() {
        let dir = tempfile::tempdir().expect("tmp");
        let (a, b) = (key(&["a"]), key(&["b"]));
        let cache = RenderCache::new(dir.path(), u64::MAX);
        assert_eq!(cache.render(&a), None);
        cache.put_render(&a, "0123456789");
        cache.put_render(&b, "abcdefghij");
        assert_eq!(cache.render(&a).as_deref(), Some("0123456789"));
        let outcome = EntryOutcome {
            added: 1,
            removed: 2,
            changed: 3,
            labels: vec!["l".into()],
            title: "t".into(),
            body: "body\n".into(),
            render_digest: "d".into(),
        };
        let e = key(&["e"]);
        cache.put_entry(&e, &outcome);
        assert_eq!(cache.entry(&e), Some(outcome));
        // Make `b` the oldest, then `a`; the entry (used last) stays.
        let old = |p: PathBuf, secs: u64| {
            std::fs::File::options()
                .append(true)
                .open(p)
                .expect("open")
                .set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
                .expect("mtime");
        };
        old(cache.render_path(&b), 10);
        old(cache.render_path(&a), 20);
        assert_eq!(cache.evict(), 0, "within the bound, nothing goes");
        // Room for the entry and one render.
        let entry_len = std::fs::metadata(cache.entry_path(&e))
            .expect("entry")
            .len();
        let cache = RenderCache::new(dir.path(), entry_len + 10);
        assert_eq!(cache.evict(), 1);
        assert_eq!(cache.render(&b), None, "the least recently used goes first");
        assert_eq!(cache.render(&a).as_deref(), Some("0123456789"));
        assert!(cache.entry(&e).is_some());
    }
}
