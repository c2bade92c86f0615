//! Helm repository `index.yaml`: parsed once per run, entries decoded per chart on demand.
//!
//! Real indexes are large (grafana's is 4 MB, 3,591 versions) and quirky (duplicate versions,
//! `v` prefixes, non-semver `0.46.00`, entries without `appVersion`). An entry that does not
//! decode is skipped with a count, never fatal for the chart's other versions.

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
    /// Parsed releases, newest first. Where upstream lists a version twice (grafana does), the
    /// first listed wins, as in Helm.
    pub releases: Vec<Release>,
    /// Entries skipped because they did not decode or their version is not semver.
    pub skipped: Vec<String>,
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

    /// Every version of `chart`, newest first.
    pub fn releases(&self, chart: &str) -> ChartReleases {
        let mut out = ChartReleases::default();
        let mut seen = std::collections::HashSet::new();
        for raw in self.entries.get(chart).into_iter().flatten() {
            let entry: ChartEntry = match serde_json::from_value(raw.clone()) {
                Ok(e) => e,
                Err(e) => {
                    let v = raw
                        .get("version")
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "?".into());
                    out.skipped.push(format!("{chart} {v}: {e}"));
                    continue;
                }
            };
            match Version::parse(&entry.version) {
                Ok(version) => {
                    if seen.insert(version.clone()) {
                        out.releases.push(Release { version, entry });
                    } else {
                        out.skipped.push(format!(
                            "{chart} {}: listed twice, first entry used",
                            entry.version
                        ));
                    }
                }
                Err(e) => out.skipped.push(format!("{chart} {}: {e}", entry.version)),
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
