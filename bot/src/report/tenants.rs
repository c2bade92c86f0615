//! The PRs `tenants` opens in tenant repositories: a bump to the newest tag of the pinned
//! minor, or an upgrade to the next minor with the readiness of the tenant's manifests.

use serde::Serialize;

use super::templates::{render, TemplateError};
use super::{fit, marker, BODY_LIMIT};
use crate::jobs::tenants::ProposalKind;
use crate::tenant::pins::Pin;
use crate::tenant::readiness::{Fix, Readiness};
use crate::validate::Severity;

/// What a tenant PR body says.
pub struct TenantBody<'a> {
    pub kind: ProposalKind,
    pub platform: &'a str,
    pub tenant: &'a str,
    pub to: &'a str,
    pub to_kubernetes: &'a str,
    pub pins: &'a [Pin],
    /// Upgrades: why the tenant should move.
    pub why: Option<&'a str>,
    pub readiness: Option<&'a Readiness>,
    /// The tag-to-tag diff from each pinned tag, as Markdown.
    pub diffs: &'a [String],
    /// Whether built-in kinds were checked against Kubernetes schemas.
    pub schemas: bool,
}

/// `Upgrade to Kubernetes 1.31: platform v1.24.0 → v1.31.1` or `Platform v1.31.0 → v1.31.1`.
pub fn title(kind: ProposalKind, from: &[String], to: &str, to_kubernetes: &str) -> String {
    let from = from.join(", ");
    match kind {
        ProposalKind::Bump => format!("Platform {from} → {to}"),
        ProposalKind::Upgrade => {
            format!("Upgrade to Kubernetes {to_kubernetes}: platform {from} → {to}")
        }
    }
}

pub fn body(b: &TenantBody<'_>) -> Result<String, TemplateError> {
    #[derive(Serialize)]
    struct PinRow<'a> {
        #[serde(flatten)]
        pin: &'a Pin,
        kind_label: String,
    }
    let kind = match b.kind {
        ProposalKind::Bump => "bump",
        ProposalKind::Upgrade => "upgrade",
    };
    let pins: Vec<PinRow<'_>> = b
        .pins
        .iter()
        .map(|p| PinRow {
            pin: p,
            kind_label: p.kind.to_string(),
        })
        .collect();
    let mut from: Vec<&str> = b.pins.iter().map(|p| p.revision.as_str()).collect();
    from.sort();
    from.dedup();
    let from_list = from
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let suggestions: Vec<_> = b
        .readiness
        .map(|r| {
            r.items
                .iter()
                .filter(|i| matches!(i.fix, Fix::Suggested { .. }))
                .collect()
        })
        .unwrap_or_default();
    let errors = b.readiness.map_or(0, |r| {
        r.items
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .count()
    });
    let warnings = b.readiness.map_or(0, |r| r.items.len()) - errors;
    let ctx = serde_json::json!({
        "marker": marker("tenant", &[("tenant", b.tenant), ("kind", kind), ("target", b.to)]),
        "kind": kind,
        "platform": b.platform,
        "to": b.to,
        "to_kubernetes": b.to_kubernetes,
        "from_list": from_list,
        "pins": pins,
        "why": b.why.unwrap_or_default(),
        "readiness": b.readiness,
        "suggestions": suggestions,
        "errors": errors,
        "warnings": warnings,
        "blocking": b.readiness.is_some_and(Readiness::blocking),
        "schemas": b.schemas,
        "diffs": b.diffs,
    });
    Ok(fit(render("tenant-pr.md", &ctx)?, BODY_LIMIT))
}
