//! Which version a branch should run: the newest one inside the bundle's range, under the
//! branch's cap, whose chart `kubeVersion` admits the branch's minor (checked the way Helm
//! checks it, so the choice never picks a chart `helm template` would refuse).

use serde::Serialize;

use super::index::{Release, Unusable};
use crate::config::{Bundle, TrainBranch, Updates};
use crate::version::{Constraint, Version};

/// Why a version newer than the choice was passed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum SkipReason {
    /// Outside the bundle's `allowed` range.
    NotAllowed { allowed: String },
    /// A pre-release, and the bundle does not take them.
    Prerelease,
    /// Excluded by the branch's cap.
    Cap { cap: String },
    /// The chart's `kubeVersion` does not admit the branch's Kubernetes version.
    KubeVersion {
        constraint: String,
        kubernetes: String,
    },
    /// The chart's `kubeVersion` is not a constraint Helm could parse either.
    BadKubeVersion { constraint: String },
    /// Marked `deprecated: true` upstream.
    Deprecated,
    /// The index entry cannot be used (not strict SemVer, no URL, no digest, conflicting
    /// duplicates, an archive that is not what the entry says).
    Unusable { why: String },
    /// The pinned version is not (or no longer) in the index.
    NotInIndex,
    /// Further than the branch's `updates` policy goes from the pin.
    Updates { updates: String },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::NotAllowed { allowed } => write!(f, "outside allowed range {allowed:?}"),
            SkipReason::Prerelease => f.write_str("pre-release"),
            SkipReason::Cap { cap } => write!(f, "branch cap {cap:?}"),
            SkipReason::KubeVersion {
                constraint,
                kubernetes,
            } => write!(
                f,
                "chart requires kubeVersion {constraint}, branch runs {kubernetes}"
            ),
            SkipReason::BadKubeVersion { constraint } => {
                write!(
                    f,
                    "chart kubeVersion {constraint:?} is not a valid constraint"
                )
            }
            SkipReason::Deprecated => f.write_str("deprecated upstream"),
            SkipReason::Unusable { why } => write!(f, "unusable index entry: {why}"),
            SkipReason::NotInIndex => f.write_str("not in the index"),
            SkipReason::Updates { updates } if updates == "none" => {
                f.write_str("the branch takes no updates (updates = \"none\")")
            }
            SkipReason::Updates { updates } => write!(
                f,
                "the branch takes {updates} updates only (updates = \"{updates}\")"
            ),
        }
    }
}

/// A version passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    pub version: String,
    #[serde(flatten)]
    pub reason: SkipReason,
}

/// The outcome of choosing for one (bundle, branch).
#[derive(Debug, Clone)]
pub struct Choice {
    /// The newest admissible release, if any.
    pub target: Option<Release>,
    /// Whether the currently pinned version is itself admissible on this branch.
    pub current_admissible: Result<(), SkipReason>,
    /// Versions newer than the target (and newer than the pin) that were passed over, newest
    /// first: what a reviewer wants to know ("why not 73.2.3?").
    pub skipped_newer: Vec<Skip>,
}

/// Choose among `releases` (newest first) for `bundle` on `branch`, given the pinned `current`.
pub fn choose(
    releases: &[Release],
    bundle: &Bundle,
    branch: &TrainBranch,
    current: &Version,
) -> Choice {
    let kube = Version::parse(&format!("v{}", branch.kubernetes.render_version()))
        .expect("a rendered Kubernetes version is always valid semver");
    let cap = branch.cap(&bundle.name);
    let mut target = None;
    let mut skipped_newer = Vec::new();
    // Until the pin is found among the releases, that it is missing is the truth.
    let mut current_admissible = Err(SkipReason::NotInIndex);
    for r in releases {
        let verdict = admit(r, bundle, cap, &kube).and_then(|()| {
            if &r.version > current && !within(&r.version, current, branch.updates) {
                Err(SkipReason::Updates {
                    updates: branch.updates.to_string(),
                })
            } else {
                Ok(())
            }
        });
        if &r.version == current {
            current_admissible = verdict.clone();
        }
        match verdict {
            Ok(()) => {
                if target.is_none() {
                    target = Some(r.clone());
                }
            }
            Err(reason) => {
                // Only explain versions a reviewer might have expected: newer than both the
                // pin and the choice, and inside the range the bundle asked for.
                let newer = &r.version > current && target.is_none();
                let interesting = !matches!(
                    reason,
                    SkipReason::NotAllowed { .. } | SkipReason::Prerelease
                );
                if newer && interesting {
                    skipped_newer.push(Skip {
                        version: r.version.to_string(),
                        reason,
                    });
                }
            }
        }
    }
    Choice {
        target,
        current_admissible,
        skipped_newer,
    }
}

/// Whether moving from `pin` to `v` stays within `updates`.
fn within(v: &Version, pin: &Version, updates: Updates) -> bool {
    match updates {
        Updates::All => true,
        Updates::Minor => v.major() == pin.major(),
        Updates::Patch => v.major() == pin.major() && v.minor() == pin.minor(),
        Updates::None => v <= pin,
    }
}

/// Unusable index entries a reviewer would have expected to be considered: inside the
/// bundle's range (read the lenient way Helm reads versions) and newer than `than`; newest
/// first.
pub fn unusable_newer(unusable: &[Unusable], bundle: &Bundle, than: &Version) -> Vec<Skip> {
    let mut out: Vec<(Version, Skip)> = unusable
        .iter()
        .filter_map(|u| {
            let v = u.lenient_version()?;
            (v > *than && bundle.allowed.matches(&v)).then(|| {
                (
                    v,
                    Skip {
                        version: u.version.clone(),
                        reason: SkipReason::Unusable {
                            why: u.reason.clone(),
                        },
                    },
                )
            })
        })
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0));
    out.into_iter().map(|(_, s)| s).collect()
}

/// Whether `branch` may run `release` of `bundle`: the same rules [`choose`] applies (range,
/// pre-release, the branch's cap, chart `kubeVersion`), for one given version. Backports ask
/// this before carrying a bump to a release branch.
pub fn admissible(
    release: &Release,
    bundle: &Bundle,
    branch: &TrainBranch,
) -> Result<(), SkipReason> {
    let kube = Version::parse(&format!("v{}", branch.kubernetes.render_version()))
        .expect("a rendered Kubernetes version is always valid semver");
    admit(release, bundle, branch.cap(&bundle.name), &kube)
}

fn admit(
    r: &Release,
    bundle: &Bundle,
    cap: Option<&Constraint>,
    kube: &Version,
) -> Result<(), SkipReason> {
    if r.version.is_prerelease() && !bundle.prerelease {
        return Err(SkipReason::Prerelease);
    }
    // Helm-style constraints never match pre-releases unless they name one; when the bundle
    // opts in to pre-releases, judge them by their release part.
    let judged = if r.version.is_prerelease() {
        Version::parse(&format!(
            "{}.{}.{}",
            r.version.major(),
            r.version.minor(),
            r.version.patch()
        ))
        .expect("major.minor.patch is always a valid version")
    } else {
        r.version.clone()
    };
    if !bundle.allowed.matches(&judged) {
        return Err(SkipReason::NotAllowed {
            allowed: bundle.allowed.to_string(),
        });
    }
    if let Some(cap) = cap {
        if !cap.matches(&judged) {
            return Err(SkipReason::Cap {
                cap: cap.to_string(),
            });
        }
    }
    if r.entry.deprecated && r.version != bundle.version {
        return Err(SkipReason::Deprecated);
    }
    if let Some(kv) = r.entry.kube_version.as_deref() {
        match Constraint::parse(kv) {
            Ok(c) if c.matches(kube) => {}
            Ok(_) => {
                return Err(SkipReason::KubeVersion {
                    constraint: kv.to_string(),
                    kubernetes: kube.to_string(),
                })
            }
            Err(_) => {
                return Err(SkipReason::BadKubeVersion {
                    constraint: kv.to_string(),
                })
            }
        }
    }
    Ok(())
}
