//! `validate`: would each branch's committed renders install on that branch's Kubernetes
//! minor? Offline checks, per object: the Kubernetes JSON schema of the minor (strict: unknown
//! fields are errors), custom resources against the CRDs the bundles ship, APIs the minor no
//! longer (or not yet) serves and ones about to go, duplicates across bundles, namespaces no
//! bundle creates, and the chart's `kubeVersion`.

mod cache;
mod crd;
mod policy;
mod refs;
mod schemas;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

pub use cache::Schemas;
pub use crd::{CompactCrd, Crds};
pub use policy::{Exemption, Policies, EXEMPT_ANNOTATION};
pub use schemas::{file_name, Lookup, SchemaStore};

use crate::apis;
use crate::config::{LoadedBundle, TrainBranch};
use crate::manifest::{Manifests, Object};
use crate::model::KubeMinor;

/// How many schema errors are reported per object: the first few say what is wrong; a
/// hundred more about the same object say nothing new.
const ERRORS_PER_OBJECT: usize = 5;
/// Namespaces every cluster has.
const CLUSTER_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Which check found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The object does not match its Kubernetes schema.
    Schema,
    /// A custom resource does not match its CRD, or its CRD does not serve that version.
    CustomResource,
    /// No schema and no CRD knows the kind.
    UnknownKind,
    /// The minor does not serve the API (removed, or not yet there).
    RemovedApi,
    /// The API goes away soon.
    DeprecatedApi,
    /// The same object in two bundles.
    Duplicate,
    /// A namespaced object in a namespace nothing creates.
    Namespace,
    /// A workload needs a Secret or ConfigMap that nothing renders, provides or creates.
    Reference,
    /// The chart's `kubeVersion` excludes the branch's minor.
    KubeVersion,
    /// The committed render is missing or unreadable.
    Render,
    /// Schemas for the minor are missing.
    Schemas,
    /// A Gatekeeper constraint under `policies/` rejects the object (or cannot be evaluated).
    Policy,
    /// A breaking change of the object's CRD, between the tag a tenant pins and the one it
    /// moves to, touches a field the object sets (or leaves unset).
    CrdChange,
}

/// One problem, located as precisely as the data allows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub check: Check,
    pub bundle: Option<String>,
    /// The committed render, relative to the repository root.
    pub file: Option<PathBuf>,
    /// 1-based document index in `file`.
    pub doc: Option<usize>,
    /// 1-based line of the object's first line in `file`.
    pub line: Option<usize>,
    /// `Deployment cert-manager/cert-manager`.
    pub object: Option<String>,
    pub message: String,
}

impl Finding {
    pub(crate) fn branch_wide(severity: Severity, check: Check, message: String) -> Finding {
        Finding {
            severity,
            check,
            bundle: None,
            file: None,
            doc: None,
            line: None,
            object: None,
            message,
        }
    }
}

/// One bundle's render, parsed (or why it could not be).
pub struct BundleRender<'a> {
    pub bundle: &'a LoadedBundle,
    pub manifests: Result<&'a Manifests, String>,
    /// The render's CRDs when they are kept apart from `manifests` in compact form (a
    /// [`Sibling`]); empty when `manifests` holds them.
    pub crds: &'a [CompactCrd],
}

/// What a PR body says about validation of one branch, and the labels it earns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub branch: String,
    pub kubernetes: String,
    pub errors: usize,
    pub warnings: usize,
    /// Whether built-in kinds were checked against schemas (a schema directory was given).
    pub schemas: bool,
    /// The findings, one Markdown line each, errors first (at most [`VERDICT_LINES`]).
    pub lines: Vec<String>,
    /// Findings left out of `lines`.
    pub more: usize,
    pub labels: Vec<String>,
    /// Policy violations the team accepted, one Markdown line each.
    pub exemptions: Vec<String>,
    /// Something the checks needed was not at hand this time (schemas could not be fetched):
    /// the verdict is not kept in the render cache.
    #[serde(skip)]
    pub incomplete: bool,
}

/// How many findings a PR body lists.
pub const VERDICT_LINES: usize = 20;

/// Sum up `findings` (already limited to what a PR changes) for a PR body.
pub fn verdict(branch: &TrainBranch, findings: &[Finding], schemas: bool) -> Verdict {
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let mut labels = Vec::new();
    if errors > 0 {
        labels.push("validation-failed".to_string());
    }
    if findings.iter().any(|f| f.check == Check::RemovedApi) {
        labels.push("removed-api".to_string());
    }
    // Constraints that deny: warn and dryrun ones are listed, not labelled.
    if findings
        .iter()
        .any(|f| f.check == Check::Policy && f.severity == Severity::Error)
    {
        labels.push("policy-violation".to_string());
    }
    let lines: Vec<String> = findings
        .iter()
        .take(VERDICT_LINES)
        .map(|f| {
            let sev = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let at = match (&f.object, f.doc, f.line) {
                (Some(o), Some(d), Some(l)) => format!("`{o}` (document {d}, line {l}): "),
                (Some(o), _, _) => format!("`{o}`: "),
                _ => String::new(),
            };
            format!("**{sev}** {at}{}", f.message.replace('\n', " "))
        })
        .collect();
    Verdict {
        branch: branch.name.to_string(),
        kubernetes: branch.kubernetes.to_string(),
        errors,
        warnings: findings.len() - errors,
        schemas,
        more: findings.len().saturating_sub(lines.len()),
        lines,
        labels,
        exemptions: Vec::new(),
        incomplete: false,
    }
}

/// An exemption as a PR body lists it.
fn exemption_line(e: &Exemption) -> String {
    format!(
        "`{}` is exempt from `{}` ({}): {} — _{}_",
        e.object,
        e.constraint,
        e.by,
        e.reason.replace('\n', " "),
        e.message.replace('\n', " ")
    )
}

/// Validate `branch` with `addon`'s render replaced by `new` (what a PR proposes), keeping
/// only the findings about `addon`: the PR is answerable for those.
pub fn check_change(
    branch: &TrainBranch,
    siblings: &SiblingRenders,
    addon: &str,
    new: &Manifests,
    schemas: Option<&SchemaStore>,
    policies: Option<&Policies>,
) -> Verdict {
    let renders = in_context(siblings, addon, Ok(new));
    // The change's own findings, and whether schemas could be used at all (a missing schema
    // set is the branch's problem, not this PR's: a warning here, an error in `validate`).
    let mut findings: Vec<Finding> = check_branch_for(branch, &renders, schemas, Some(addon))
        .into_iter()
        .filter(|f| {
            f.bundle.as_deref() == Some(addon)
                || (schemas.is_some() && f.bundle.is_none() && f.check == Check::Schemas)
        })
        .map(|mut f| {
            if f.bundle.is_none() {
                f.severity = Severity::Warning;
            }
            f
        })
        .collect();
    // The policies' verdict on the change (policy files that do not load are the branch's
    // problem, reported by `validate`).
    let (policy_findings, exemptions) = match policies {
        Some(p) => policy::check(p, &renders, Some(addon)),
        None => (Vec::new(), Vec::new()),
    };
    findings.extend(
        policy_findings
            .into_iter()
            .filter(|f| f.bundle.as_deref() == Some(addon)),
    );
    findings.sort();
    let with_schemas = schemas.is_some_and(|s| s.set(branch.kubernetes).is_ok());
    let mut v = verdict(branch, &findings, with_schemas);
    v.exemptions = exemptions.iter().map(exemption_line).collect();
    v
}

/// The branch's renders with `addon`'s replaced by `own` (whole, CRDs and all); the others as
/// their [`Sibling`]s hold them.
fn in_context<'a>(
    siblings: &'a SiblingRenders,
    addon: &str,
    own: Result<&'a Manifests, String>,
) -> Vec<BundleRender<'a>> {
    let mut own = Some(own);
    siblings
        .iter()
        .map(|(b, s)| {
            if b.bundle.name.as_str() == addon {
                if let Some(own) = own.take() {
                    return BundleRender {
                        bundle: b,
                        manifests: own,
                        crds: &[],
                    };
                }
            }
            BundleRender {
                bundle: b,
                manifests: s.as_ref().map(|s| &s.objects).map_err(Clone::clone),
                crds: s.as_ref().map_or(&[], |s| &s.crds),
            }
        })
        .collect()
}

/// What `validate` finds about bundle `addon` of a branch held as [`SiblingRenders`], given
/// its whole render `own` (read again), with the policies' exemptions for it; with
/// `branch_wide`, also the findings about the branch as a whole (the same in every bundle's
/// pass, so taken from one). Run once per bundle, a branch never holds more than one render
/// with its CRDs parsed. The policies' inventory holds the other bundles without their CRDs.
pub fn check_bundle(
    branch: &TrainBranch,
    siblings: &SiblingRenders,
    addon: &str,
    own: Result<&Manifests, String>,
    schemas: Option<&SchemaStore>,
    policies: &Policies,
    branch_wide: bool,
) -> (Vec<Finding>, Vec<Exemption>) {
    let renders = in_context(siblings, addon, own);
    let keep =
        |f: &Finding| f.bundle.as_deref() == Some(addon) || (branch_wide && f.bundle.is_none());
    let mut findings: Vec<Finding> = check_branch_for(branch, &renders, schemas, Some(addon))
        .into_iter()
        .filter(keep)
        .collect();
    let (policy_findings, exemptions) = policy::check(policies, &renders, Some(addon));
    findings.extend(policy_findings.into_iter().filter(keep));
    let exemptions = exemptions
        .into_iter()
        .filter(|e| e.bundle == addon)
        .collect();
    (findings, exemptions)
}

/// The policies' findings and the accepted exemptions for a whole branch (`validate`).
pub fn check_policies(
    policies: &Policies,
    renders: &[BundleRender<'_>],
) -> (Vec<Finding>, Vec<Exemption>) {
    policy::check(policies, renders, None)
}

/// A branch's bundles with their parsed renders (or why a render could not be read).
pub type ParsedRenders = Vec<(LoadedBundle, Result<Manifests, String>)>;

/// Parse each bundle's committed render (once; every check of a branch shares them). The
/// bundles are kept without their render's text: the parsed objects replace it.
pub fn parse_renders(bundles: &[LoadedBundle]) -> ParsedRenders {
    bundles
        .iter()
        .map(|b| (without_render(b), parse_committed(b)))
        .collect()
}

/// A bundle's committed render as checking one of the *other* bundles of its branch needs it:
/// every object but the CRDs, which are kept in compact form (most of a branch's bytes are
/// CRD schemas, and most are never used by another bundle's objects).
pub struct Sibling {
    /// The render's objects, without its CRDs.
    pub objects: Manifests,
    pub crds: Vec<CompactCrd>,
}

/// A branch's bundles as checking a change to one of them needs the others.
pub type SiblingRenders = Vec<(LoadedBundle, Result<Sibling, String>)>;

/// [`parse_renders`] for [`check_change`]: each render parsed in turn and kept as a
/// [`Sibling`], so a branch of many addons never holds all its CRDs parsed at once.
pub fn parse_siblings(bundles: &[LoadedBundle]) -> SiblingRenders {
    bundles
        .iter()
        .map(|b| {
            let s = parse_committed(b).map(|mut objects| {
                let crds = objects
                    .extract(crd::is_crd)
                    .iter()
                    .filter_map(CompactCrd::of)
                    .collect();
                Sibling { objects, crds }
            });
            (without_render(b), s)
        })
        .collect()
}

/// `b`'s committed render, parsed.
pub fn parse_committed(b: &LoadedBundle) -> Result<Manifests, String> {
    parse_render(b, b.rendered.as_deref())
}

/// `text`, `b`'s committed render read from its tree, parsed.
pub fn parse_render(b: &LoadedBundle, text: Option<&str>) -> Result<Manifests, String> {
    match text {
        Some(text) => Manifests::parse(text).map_err(|e| e.to_string()),
        None => Err(format!(
            "no committed render at {}; run `ake-bot render`",
            b.bundle.rendered_file().display()
        )),
    }
}

fn without_render(b: &LoadedBundle) -> LoadedBundle {
    LoadedBundle {
        bundle: b.bundle.clone(),
        values_template: b.values_template.clone(),
        rendered: None,
        fixtures: b.fixtures.clone(),
        smoke: b.smoke.clone(),
    }
}

/// Check every bundle of `branch`. `schemas`: `None` skips schema validation of built-in
/// kinds (with a warning saying so).
pub fn check_branch(
    branch: &TrainBranch,
    renders: &[BundleRender<'_>],
    schemas: Option<&SchemaStore>,
) -> Vec<Finding> {
    check_branch_for(branch, renders, schemas, None)
}

/// [`check_branch`], checking only the objects of bundle `only` (the others still provide
/// CRDs, namespaces and duplicates): what a PR that changes one bundle answers for.
pub fn check_branch_for(
    branch: &TrainBranch,
    renders: &[BundleRender<'_>],
    schemas: Option<&SchemaStore>,
    only: Option<&str>,
) -> Vec<Finding> {
    let minor = branch.kubernetes;
    let mut findings = Vec::new();
    let set = schemas.map(|s| s.set(minor));
    match (&set, schemas) {
        (Some(set), _) => {
            if let Err(e) = set.as_ref() {
                findings.push(Finding::branch_wide(Severity::Error, Check::Schemas, e.clone()));
            }
        }
        (None, _) => findings.push(Finding::branch_wide(
            Severity::Warning,
            Check::Schemas,
            "built-in kinds were not checked against Kubernetes schemas: no schema directory (pass --schemas DIR or set AKE_BOT_SCHEMAS)".into(),
        )),
    }
    let set = set.as_ref().and_then(|s| s.as_ref().as_ref().ok());

    let parsed: Vec<(&LoadedBundle, &Manifests)> = renders
        .iter()
        .filter_map(|r| r.manifests.as_ref().ok().map(|m| (r.bundle, *m)))
        .collect();
    for r in renders {
        if let Err(e) = &r.manifests {
            findings.push(Finding {
                bundle: Some(r.bundle.bundle.name.to_string()),
                file: Some(r.bundle.bundle.rendered_file()),
                ..Finding::branch_wide(Severity::Error, Check::Render, e.clone())
            });
        }
    }
    // In bundle order, each render's own CRDs and its compact ones: a later bundle's
    // definition of a version wins, however it is held.
    let mut crds = Crds::default();
    for r in renders {
        let bundle = r.bundle.bundle.name.as_str();
        if let Ok(m) = &r.manifests {
            crds.add(m.objects().iter().map(|o| (bundle, o)));
        }
        crds.add_compact(bundle, r.crds);
    }
    // Namespaces that exist once the bundles are applied.
    let mut namespaces: BTreeSet<String> =
        CLUSTER_NAMESPACES.iter().map(|s| s.to_string()).collect();
    for (b, m) in &parsed {
        namespaces.insert(b.bundle.namespace.clone());
        for o in m.objects() {
            if o.key.group.is_empty() && o.key.kind == "Namespace" {
                namespaces.insert(o.key.name.clone());
            }
        }
    }

    // Where each object lives, across bundles: the duplicate check needs every bundle even
    // when only one is being checked.
    let effective_ns = |b: &LoadedBundle, o: &Object| {
        is_namespaced(o, &crds).then(|| {
            o.key
                .namespace
                .clone()
                .unwrap_or_else(|| b.bundle.namespace.clone())
        })
    };
    let mut owners: BTreeMap<(String, String, Option<String>, String), Vec<&str>> = BTreeMap::new();
    for (b, m) in &parsed {
        for o in m.objects() {
            let key = (
                o.key.group.clone(),
                o.key.kind.clone(),
                effective_ns(b, o),
                o.key.name.clone(),
            );
            owners.entry(key).or_default().push(b.bundle.name.as_str());
        }
    }
    for r in renders {
        for c in r.crds {
            let key = (
                "apiextensions.k8s.io".to_string(),
                "CustomResourceDefinition".to_string(),
                None,
                c.name.clone(),
            );
            owners
                .entry(key)
                .or_default()
                .push(r.bundle.bundle.name.as_str());
        }
    }
    // What the branch's bundles and their e2e fixtures provide.
    let fixtures: Vec<(&LoadedBundle, Manifests)> = parsed
        .iter()
        .filter_map(|(b, _)| {
            let text = b.fixtures.as_deref()?;
            match Manifests::parse(text) {
                Ok(m) => Some((*b, m)),
                Err(e) => {
                    findings.push(Finding {
                        bundle: Some(b.bundle.name.to_string()),
                        file: Some(crate::config::fixtures_file(b.bundle.name.as_str())),
                        ..Finding::branch_wide(Severity::Error, Check::Reference, e.to_string())
                    });
                    None
                }
            }
        })
        .collect();
    let provided = refs::Provided::collect(
        parsed
            .iter()
            .map(|(b, m)| (*b, *m))
            .chain(fixtures.iter().map(|(b, m)| (*b, m)))
            .flat_map(|(b, m)| m.objects().iter().map(move |o| (o, effective_ns(b, o)))),
    );
    for (b, m) in &parsed {
        let bundle = b.bundle.name.as_str();
        if only.is_some_and(|a| a != bundle) {
            continue;
        }
        for o in m.objects() {
            let at = |severity, check, message: String| Finding {
                severity,
                check,
                bundle: Some(bundle.to_string()),
                file: Some(b.bundle.rendered_file()),
                doc: Some(o.doc),
                line: Some(o.line),
                object: Some(o.key.to_string()),
                message,
            };
            check_object(o, minor, set, &crds, &mut |s, c, msg| {
                findings.push(at(s, c, msg))
            });
            let ns = effective_ns(b, o);
            if let Some(ns) = &ns {
                for (kind, name) in provided.missing(o, ns) {
                    findings.push(at(
                        Severity::Error,
                        Check::Reference,
                        format!(
                            "needs {kind} {ns}/{name}, which no bundle of {} renders, no hook creates and no e2e fixture provides ({}): its pods would not start",
                            branch.name,
                            crate::config::fixtures_file(bundle).display()
                        ),
                    ));
                }
                if !namespaces.contains(ns) {
                    findings.push(at(
                        Severity::Error,
                        Check::Namespace,
                        format!("namespace {ns:?} is created by no bundle of {} and is not one every cluster has", branch.name),
                    ));
                }
            }
            let key = (
                o.key.group.clone(),
                o.key.kind.clone(),
                ns,
                o.key.name.clone(),
            );
            let others: Vec<&str> = owners
                .get(&key)
                .into_iter()
                .flatten()
                .copied()
                .filter(|x| *x != bundle)
                .collect();
            if !others.is_empty() {
                findings.push(at(
                    Severity::Error,
                    Check::Duplicate,
                    format!(
                        "also defined by bundle {}: the two would overwrite each other",
                        others.join(", ")
                    ),
                ));
            }
        }
    }
    findings.sort();
    findings
}

/// The per-object checks of [`check_branch`] (removed and deprecated APIs, the minor's strict
/// schema, custom resources against `crds`) for objects that are not a bundle's: a tenant's own
/// manifests, or an object converted to another API. Each finding comes with the index of its
/// object in `objects`. A schema set that cannot be loaded counts as no schemas (built-in kinds
/// unchecked); callers that need to say why look at [`SchemaStore::set`] themselves.
pub fn check_objects(
    minor: KubeMinor,
    schemas: Option<&SchemaStore>,
    crds: &Crds,
    objects: &[Object],
) -> Vec<(usize, Severity, Check, String)> {
    let set = schemas.map(|s| s.set(minor));
    let set = set.as_ref().and_then(|s| s.as_ref().as_ref().ok());
    let mut out = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        check_object(o, minor, set, crds, &mut |s, c, m| out.push((i, s, c, m)));
    }
    out
}

/// Whether `o` lives in a namespace: its CRD's scope, else the built-in scope table.
fn is_namespaced(o: &Object, crds: &Crds) -> bool {
    match crds.get(&o.api_version, &o.key.kind) {
        Some(c) => c.namespaced,
        None => !apis::is_cluster_scoped(&o.key.group, &o.key.kind),
    }
}

/// Check one object; report through `report`.
fn check_object(
    o: &Object,
    minor: KubeMinor,
    set: Option<&schemas::SchemaSet>,
    crds: &Crds,
    report: &mut dyn FnMut(Severity, Check, String),
) {
    let (gv, kind) = (o.api_version.as_str(), o.key.kind.as_str());
    if let Some(api) = apis::lookup(gv, kind) {
        if !api.served_in(minor) {
            let message = match api.removed {
                Some(r) if r <= minor => format!(
                    "{gv} {kind} was removed in Kubernetes {r}{}",
                    api.replacement
                        .map_or(String::new(), |x| format!("; use {x}"))
                ),
                _ => format!("{gv} {kind} is not served before Kubernetes {}", api.since),
            };
            report(Severity::Error, Check::RemovedApi, message);
            return;
        }
        if let Some(r) = api.removed {
            if r.minor <= minor.minor + DEPRECATION_HORIZON {
                report(
                    Severity::Warning,
                    Check::DeprecatedApi,
                    format!(
                        "{gv} {kind} is deprecated and goes away in Kubernetes {r}{}",
                        api.replacement
                            .map_or(String::new(), |x| format!("; move to {x}"))
                    ),
                );
            }
        }
    }
    if let Some(set) = set {
        match set.lookup(gv, kind) {
            Ok(Lookup::Found(v)) => {
                schema_errors(&v, &o.value, &mut |m| {
                    report(Severity::Error, Check::Schema, m)
                });
                return;
            }
            Ok(Lookup::Missing) => {}
            Err(e) => {
                report(Severity::Error, Check::Schemas, e);
                return;
            }
        }
    } else if is_builtin_group(&o.key.group) && crds.defines_kind(&o.key.group, kind).is_none() {
        return;
    }
    match crds.get(gv, kind) {
        Some(c) if !c.served => {
            report(
                Severity::Error,
                Check::CustomResource,
                format!("CRD {} (bundle {}) does not serve {gv}", c.crd, c.bundle),
            );
        }
        Some(c) => match c.validator() {
            Ok(v) => schema_errors(v, &o.value, &mut |m| {
                report(
                    Severity::Error,
                    Check::CustomResource,
                    format!("{m} (CRD {})", c.crd),
                )
            }),
            Err(e) => report(
                Severity::Error,
                Check::CustomResource,
                format!("CRD {} (bundle {}): {e}", c.crd, c.bundle),
            ),
        },
        None => {
            let message = match crds.defines_kind(&o.key.group, kind) {
                Some(other) => format!(
                    "CRD {} (bundle {}) does not define version {gv}",
                    other.crd, other.bundle
                ),
                None if set.is_some() => format!(
                    "no Kubernetes {minor} schema for {gv} {kind}, and no bundle of the branch ships a CustomResourceDefinition for {kind} in group {:?}",
                    o.key.group
                ),
                None => format!(
                    "no bundle of the branch ships a CustomResourceDefinition for {kind} in group {:?}",
                    o.key.group
                ),
            };
            report(Severity::Error, Check::UnknownKind, message);
        }
    }
}

/// An API removed within this many minors after the branch's is reported as deprecated: by
/// Kubernetes' deprecation policy a beta API is deprecated at least three releases before it
/// goes, so this is the window in which the branch's successors stop serving it.
pub(crate) const DEPRECATION_HORIZON: u32 = 3;

/// Groups the API server serves itself (`""`, `apps`, `*.k8s.io`, …), as opposed to CRDs.
fn is_builtin_group(group: &str) -> bool {
    group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io")
}

fn schema_errors(
    v: &jsonschema::Validator,
    value: &serde_json::Value,
    report: &mut dyn FnMut(String),
) {
    let errors: Vec<String> = v
        .iter_errors(value)
        .map(|e| {
            let path = e.instance_path().to_string();
            if path.is_empty() {
                e.to_string()
            } else {
                format!("{path}: {e}")
            }
        })
        .collect();
    let more = errors.len().saturating_sub(ERRORS_PER_OBJECT);
    for e in errors.into_iter().take(ERRORS_PER_OBJECT) {
        report(e);
    }
    if more > 0 {
        report(format!("… and {more} more schema error(s) in this object"));
    }
}
