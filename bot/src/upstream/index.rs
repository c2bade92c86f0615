//! Helm repository `index.yaml`: parsed for the charts a run asks about (the others' entries
//! are skipped unbuilt, their names kept), entries decoded per chart on demand.
//!
//! Real indexes are large (grafana's is 4 MB, 3,591 versions) and quirky (duplicate versions,
//! `v` prefixes, non-semver `0.46.00`, entries without `appVersion`), and an index is upstream
//! data: nothing in it is trusted beyond what can be checked. An entry that cannot be used
//! (not strict SemVer, no URL, no digest, listed twice with different digests) is set apart
//! with the reason, never fatal for the chart's other versions.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::version::Version;

/// A decoded `index.yaml`.
#[derive(Debug)]
pub struct Index {
    /// Where it was read from, for messages and for resolving relative chart URLs.
    pub location: String,
    /// Every chart the index lists (cheap: names only).
    names: BTreeSet<String>,
    /// The entries of the charts asked for (every chart's, from [`Index::parse`]). Charts not
    /// asked for have none here, so [`Index::releases`] finds none for them.
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
    /// Parse index text, keeping every chart's entries. `location` is the index URL or path
    /// (for messages).
    pub fn parse(location: &str, text: &str) -> Result<Index, IndexError> {
        Index::parse_with(location, text, None)
    }

    /// Parse index text keeping only the entries of `charts`: the others are skipped as they
    /// are read, never built, so a lookup costs memory near the index text rather than many
    /// times it. Every chart name is kept ([`Index::has_chart`], [`Index::chart_names`]).
    pub fn parse_charts(location: &str, text: &str, charts: &[&str]) -> Result<Index, IndexError> {
        Index::parse_with(location, text, Some(charts))
    }

    fn parse_with(
        location: &str,
        text: &str,
        wanted: Option<&[&str]>,
    ) -> Result<Index, IndexError> {
        let raw = crate::yaml::from_str_seed(text, RawSeed { wanted }).map_err(|e| {
            let at = e.line.map(|l| format!(" at line {l}")).unwrap_or_default();
            IndexError(format!(
                "{location} is not a Helm repository index{at}: {}",
                e.message
            ))
        })?;
        let Some((names, entries)) = raw else {
            return Err(IndexError(format!(
                "{location} has no `entries`: not a Helm repository index"
            )));
        };
        Ok(Index {
            location: location.to_string(),
            names,
            entries,
        })
    }

    /// Whether the index lists `chart`, whether or not its entries were kept.
    pub fn has_chart(&self, chart: &str) -> bool {
        self.names.contains(chart)
    }

    /// Every chart the index lists, whether or not its entries were kept.
    pub fn chart_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
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

/// Chart names and the kept entries, or `None` when there is no `entries` (or it is null).
type Parsed = Option<(BTreeSet<String>, BTreeMap<String, Vec<serde_json::Value>>)>;

/// The top-level mapping: only `entries` is read, every other key is skipped unbuilt.
struct RawSeed<'a> {
    wanted: Option<&'a [&'a str]>,
}

impl<'de> DeserializeSeed<'de> for RawSeed<'_> {
    type Value = Parsed;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Parsed, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RawSeed<'_> {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping with `entries`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        let mut out = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "entries" {
                out = map.next_value_seed(EntriesSeed {
                    wanted: self.wanted,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// `entries`: chart name → list of entries. Charts not wanted are skipped with
/// [`IgnoredAny`], so their entries are never materialised; their names are kept.
struct EntriesSeed<'a> {
    wanted: Option<&'a [&'a str]>,
}

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = Parsed;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Parsed, D::Error> {
        // `entries:` with no value is no `entries` at all.
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping of chart names to lists of entries")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Parsed, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Parsed, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Parsed, D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        let mut names = BTreeSet::new();
        let mut entries = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            let wanted = self.wanted.is_none_or(|w| w.contains(&name.as_str()));
            if wanted {
                // A chart listed with no entries (`name:` alone) has none.
                let list: Option<Vec<serde_json::Value>> = map.next_value()?;
                entries.insert(name.clone(), list.unwrap_or_default());
            } else {
                map.next_value::<IgnoredAny>()?;
            }
            names.insert(name);
        }
        Ok(Some((names, entries)))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use super::*;

    const D: &str = "1111111111111111111111111111111111111111111111111111111111111111";

    fn text() -> String {
        format!(
            r#"apiVersion: v1
entries:
  loki:
  - {{name: loki, version: 6.0.0, digest: "{D}", urls: [loki.tgz]}}
  grafana:
  - {{name: grafana, version: 9.4.5, digest: "{D}", urls: [g-945.tgz]}}
  - {{name: grafana, version: 1.10, digest: "{D}", urls: [g-110.tgz]}}
  - {{name: grafana, version: 9.4.4, digest: "{D}"}}
  empty:
  tempo:
  - {{name: tempo, version: 1.0.0, anything: [goes, {{here: 1}}]}}
generated: "2025-01-01T00:00:00Z"
"#
        )
    }

    #[test]
    fn filtered_parse_keeps_only_the_wanted_charts_entries_and_every_name() {
        let idx = Index::parse_charts("repo", &text(), &["grafana"]).unwrap();
        // Only grafana's entries were built.
        assert_eq!(idx.entries.keys().collect::<Vec<_>>(), ["grafana"]);
        assert_eq!(idx.entries["grafana"].len(), 3);
        // Every name is still known, for "not in the index" and did-you-mean.
        assert_eq!(
            idx.chart_names().collect::<Vec<_>>(),
            ["empty", "grafana", "loki", "tempo"]
        );
        assert!(idx.has_chart("loki") && idx.has_chart("empty"));
        assert!(!idx.has_chart("mimir"));
        // The kept chart reads as from a full parse, lenient fields and unusable entries alike.
        let full = Index::parse("repo", &text()).unwrap();
        let (a, b) = (idx.releases("grafana"), full.releases("grafana"));
        let versions = |r: &ChartReleases| {
            r.releases
                .iter()
                .map(|r| r.entry.version.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(versions(&a), ["9.4.5"]);
        assert_eq!(versions(&a), versions(&b));
        assert_eq!(a.unusable, b.unusable);
        assert_eq!(
            a.unusable
                .iter()
                .map(|u| u.version.as_str())
                .collect::<Vec<_>>(),
            // YAML reads `1.10` as a number; it is still reported, as Helm would read it.
            ["1.1", "9.4.4"]
        );
        // A chart not asked about has no entries here (it is asked about on its own).
        assert!(idx.releases("loki").releases.is_empty());
        assert_eq!(full.releases("loki").releases.len(), 1);
        // A chart listed with no entries is known, with none.
        let empty = Index::parse_charts("repo", &text(), &["empty"]).unwrap();
        assert!(empty.has_chart("empty") && empty.releases("empty").releases.is_empty());
    }

    #[test]
    fn errors_name_the_location() {
        let err = |t: &str| {
            Index::parse_charts("https://x/index.yaml", t, &["a"])
                .unwrap_err()
                .0
        };
        let bad = err("apiVersion: v1\nentries:\n  a: [1, 2\n");
        assert!(
            bad.starts_with("https://x/index.yaml is not a Helm repository index at line "),
            "{bad}"
        );
        assert!(!bad.contains('\n'), "{bad}");
        for no_entries in ["apiVersion: v1\n", "entries:\n", "entries: ~\n"] {
            assert_eq!(
                err(no_entries),
                "https://x/index.yaml has no `entries`: not a Helm repository index",
                "{no_entries:?}"
            );
        }
        let list = err("entries: [a, b]\n");
        assert!(
            list.starts_with("https://x/index.yaml is not a Helm repository index"),
            "{list}"
        );
        let scalar = err("just text\n");
        assert!(
            scalar.starts_with("https://x/index.yaml is not a Helm repository index"),
            "{scalar}"
        );
    }
}
