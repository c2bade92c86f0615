//! Helm repository `index.yaml`: parsed once per run, entries decoded per chart on demand.
//!
//! Real indexes are large (grafana's is 4 MB, 3,591 versions) and quirky (duplicate versions,
//! `v` prefixes, non-semver `0.46.00`, entries without `appVersion`), and an index is upstream
//! data: nothing in it is trusted beyond what can be checked. An entry that cannot be used
//! (not strict SemVer, no URL, no digest, listed twice with different digests) is set apart
//! with the reason, never fatal for the chart's other versions.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::version::Version;

/// A decoded `index.yaml`.
#[derive(Debug)]
pub struct Index {
    /// Where it was read from, for messages and for resolving relative chart URLs.
    pub location: String,
    entries: BTreeMap<String, Vec<serde_json::Value>>,
}

/// One chart version as the index describes it.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartEntry {
    #[serde(deserialize_with = "lenient_string")]
    pub name: String,
    #[serde(deserialize_with = "lenient_string")]
    pub version: String,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub app_version: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub kube_version: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub digest: Option<String>,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default, deserialize_with = "lenient_map")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub created: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub home: Option<String>,
}

impl ChartEntry {
    /// The `artifacthub.io/changes` annotation, if present.
    pub fn changes(&self) -> Option<&str> {
        self.annotations
            .get("artifacthub.io/changes")
            .map(String::as_str)
    }
}

/// A chart version that parsed, with its entry.
#[derive(Debug, Clone)]
pub struct Release {
    pub version: Version,
    pub entry: ChartEntry,
}

/// What [`Index::releases`] found for one chart.
#[derive(Debug, Clone, Default)]
pub struct ChartReleases {
    /// Usable releases, newest first: a strict SemVer version, a download URL and a sha256
    /// digest, listed once (or more than once with the same digest).
    pub releases: Vec<Release>,
    /// Entries that cannot be used, and why. They are never chosen, whatever their version.
    pub unusable: Vec<Unusable>,
}

/// An index entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unusable {
    /// The version as the index writes it.
    pub version: String,
    pub reason: String,
}

impl Unusable {
    /// The version, read the lenient way Helm reads it (to say where it stands among the
    /// usable ones), if it reads at all.
    pub fn lenient_version(&self) -> Option<Version> {
        Version::parse(&self.version).ok()
    }
}

/// A well-formed sha256 digest (64 hex digits), lower-cased.
pub fn sha256_digest(entry: &ChartEntry) -> Option<String> {
    entry
        .digest
        .as_deref()
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct IndexError(pub String);

impl Index {
    /// Parse index text. `location` is the index URL or path (for messages).
    pub fn parse(location: &str, text: &str) -> Result<Index, IndexError> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            entries: Option<BTreeMap<String, Option<Vec<serde_json::Value>>>>,
        }
        let raw: Raw = crate::yaml::from_str(text).map_err(|e| {
            let at = e.line.map(|l| format!(" at line {l}")).unwrap_or_default();
            IndexError(format!(
                "{location} is not a Helm repository index{at}: {}",
                e.message
            ))
        })?;
        let entries = raw
            .entries
            .ok_or_else(|| {
                IndexError(format!(
                    "{location} has no `entries`: not a Helm repository index"
                ))
            })?
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
        Ok(Index {
            location: location.to_string(),
            entries,
        })
    }

    pub fn has_chart(&self, chart: &str) -> bool {
        self.entries.contains_key(chart)
    }

    pub fn chart_names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Every version of `chart`, newest first, with the entries that cannot be used set
    /// apart (see [`ChartReleases`]). One bad entry never hides the others.
    pub fn releases(&self, chart: &str) -> ChartReleases {
        let mut out = ChartReleases::default();
        // Version → (first usable entry, every distinct digest listed for it).
        let mut by_version: Vec<(Release, Vec<String>)> = Vec::new();
        for raw in self.entries.get(chart).into_iter().flatten() {
            let listed = raw
                .get("version")
                .and_then(|v| scalar_to_string(v.clone()))
                .unwrap_or_else(|| "?".into());
            let mut unusable = |reason: String| {
                out.unusable.push(Unusable {
                    version: listed.clone(),
                    reason,
                })
            };
            let entry: ChartEntry = match serde_json::from_value(raw.clone()) {
                Ok(e) => e,
                Err(e) => {
                    unusable(format!("the entry does not decode: {e}"));
                    continue;
                }
            };
            // The archive is checked against the entry's name, so the entry must be this chart.
            if entry.name != chart {
                unusable(format!(
                    "the entry is for chart {:?}, listed under {chart:?}",
                    entry.name
                ));
                continue;
            }
            let version = match Version::parse_strict(&entry.version) {
                Ok(v) => v,
                Err(e) => {
                    unusable(e.to_string());
                    continue;
                }
            };
            if entry.urls.iter().all(|u| u.trim().is_empty()) {
                unusable("no download URL".into());
                continue;
            }
            let Some(digest) = sha256_digest(&entry) else {
                unusable(match entry.digest.as_deref() {
                    None => "no sha256 digest, so its archive cannot be verified".into(),
                    Some(d) => format!("digest {d:?} is not a sha256 digest"),
                });
                continue;
            };
            match by_version.iter_mut().find(|(r, _)| r.version == version) {
                Some((_, digests)) => {
                    if !digests.contains(&digest) {
                        digests.push(digest);
                    }
                }
                None => by_version.push((Release { version, entry }, vec![digest])),
            }
        }
        for (release, digests) in by_version {
            if digests.len() > 1 {
                out.unusable.push(Unusable {
                    version: release.entry.version.clone(),
                    reason: format!(
                        "listed more than once with different digests (sha256 {}): which archive is {} cannot be told",
                        digests.join(" and "),
                        release.entry.version
                    ),
                });
            } else {
                out.releases.push(release);
            }
        }
        out.releases.sort_by(|a, b| b.version.cmp(&a.version));
        out
    }
}

fn scalar_to_string(v: serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

// YAML turns unquoted `version: 1.10` into a number; Helm reads such fields as strings.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar_to_string(serde_json::Value::deserialize(d)?)
        .ok_or_else(|| serde::de::Error::custom("expected a string"))
}

fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(scalar_to_string(serde_json::Value::deserialize(d)?).filter(|s| !s.is_empty()))
}

fn lenient_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Object(m) => m
            .into_iter()
            .filter_map(|(k, v)| scalar_to_string(v).map(|s| (k, s)))
            .collect(),
        _ => BTreeMap::new(),
    })
}
