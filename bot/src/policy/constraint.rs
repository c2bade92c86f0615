//! Constraints: a template's kind, its parameters, what it matches and what it does.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::matching::Match;
use super::review::{Inventory, Review};

/// `constraints.gatekeeper.sh/v1beta1` (and v1alpha1, v1).
pub(super) const GROUP: &str = "constraints.gatekeeper.sh";

/// Gatekeeper's enforcement points whose action `scoped` takes: the admission webhook and
/// audit (what `validate` stands in for).
const ENFORCEMENT_POINTS: &[&str] = &["validation.gatekeeper.sh", "audit.gatekeeper.sh", "*"];

/// What a violation does: deny the request, warn about it, or only record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnforcementAction {
    Deny,
    Warn,
    Dryrun,
}

impl EnforcementAction {
    fn parse(s: &str) -> Option<EnforcementAction> {
        match s.to_ascii_lowercase().as_str() {
            "deny" => Some(EnforcementAction::Deny),
            "warn" => Some(EnforcementAction::Warn),
            "dryrun" => Some(EnforcementAction::Dryrun),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EnforcementAction::Deny => "deny",
            EnforcementAction::Warn => "warn",
            EnforcementAction::Dryrun => "dryrun",
        }
    }
}

impl std::fmt::Display for EnforcementAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Constraint {
    pub kind: String,
    pub name: String,
    pub file: PathBuf,
    /// `spec.parameters`, `{}` when absent (as Gatekeeper stores it).
    pub parameters: Value,
    pub matcher: Option<Match>,
    pub action: EnforcementAction,
    /// How `scoped` was read.
    pub action_note: Option<String>,
}

impl Constraint {
    pub fn load(file: &Path, doc: &Value) -> Result<Constraint, String> {
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .ok_or("constraint: no kind")?;
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("{kind}: no metadata.name"))?;
        let err = |m: String| format!("{kind} {name}: {m}");
        let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
        let parameters = match spec.get("parameters") {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(p) => p.clone(),
        };
        let matcher = match spec.get("match") {
            None | Some(Value::Null) => None,
            Some(m) => Some(Match::parse(m).map_err(|e| err(format!("spec.match: {e}")))?),
        };
        let (action, action_note) = enforcement_action(&spec).map_err(err)?;
        Ok(Constraint {
            kind: kind.to_string(),
            name: name.to_string(),
            file: file.to_path_buf(),
            parameters,
            matcher,
            action,
            action_note,
        })
    }

    /// Whether the constraint applies to the review: its match against `object` or
    /// `oldObject`, with the Namespace of the request from `inventory`.
    pub fn matches(&self, review: &Review, inventory: &Inventory) -> Result<bool, String> {
        let Some(m) = &self.matcher else {
            return Ok(true);
        };
        let namespace = review
            .input
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let ns = inventory.namespace(namespace);
        let mut any = false;
        for object in review.objects() {
            any = true;
            if m.matches(object, ns)? {
                return Ok(true);
            }
        }
        if !any {
            return Err("neither object nor old object are defined".into());
        }
        Ok(false)
    }
}

/// `spec.enforcementAction`: deny (the default), warn, dryrun; `scoped` takes the strictest
/// action of `scopedEnforcementActions` whose enforcement points include the webhook
/// (`validation.gatekeeper.sh`), audit or `*`, and deny when none does.
fn enforcement_action(spec: &Value) -> Result<(EnforcementAction, Option<String>), String> {
    let raw = spec
        .get("enforcementAction")
        .and_then(Value::as_str)
        .unwrap_or("deny");
    if raw.is_empty() {
        return Ok((EnforcementAction::Deny, None));
    }
    if let Some(a) = EnforcementAction::parse(raw) {
        return Ok((a, None));
    }
    if !raw.eq_ignore_ascii_case("scoped") {
        return Err(format!(
            "spec.enforcementAction {raw:?} is not deny, warn, dryrun or scoped"
        ));
    }
    let mut chosen: Option<EnforcementAction> = None;
    for entry in spec
        .get("scopedEnforcementActions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(action) = entry
            .get("action")
            .and_then(Value::as_str)
            .and_then(EnforcementAction::parse)
        else {
            continue;
        };
        let applies = entry
            .get("enforcementPoints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("name").and_then(Value::as_str))
            .any(|p| ENFORCEMENT_POINTS.contains(&p));
        if applies {
            chosen = Some(chosen.map_or(action, |c| c.min(action)));
        }
    }
    Ok(match chosen {
        Some(a) => (
            a,
            Some(format!(
                "scoped: {a}, the strictest action for the webhook and audit enforcement points"
            )),
        ),
        None => (
            EnforcementAction::Deny,
            Some(
                "scoped: no action for the webhook or audit enforcement points; taken as deny"
                    .into(),
            ),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enforcement_actions() {
        let action = |spec: Value| enforcement_action(&spec).unwrap().0;
        assert_eq!(action(json!({})), EnforcementAction::Deny);
        assert_eq!(
            action(json!({"enforcementAction": "dryrun"})),
            EnforcementAction::Dryrun
        );
        assert_eq!(
            action(json!({"enforcementAction": "warn"})),
            EnforcementAction::Warn
        );
        assert_eq!(
            action(
                json!({"enforcementAction": "scoped", "scopedEnforcementActions": [
                    {"action": "warn", "enforcementPoints": [{"name": "audit.gatekeeper.sh"}]},
                    {"action": "deny", "enforcementPoints": [{"name": "gator.gatekeeper.sh"}]},
                ]})
            ),
            EnforcementAction::Warn
        );
        assert_eq!(
            action(json!({"enforcementAction": "scoped", "scopedEnforcementActions": []})),
            EnforcementAction::Deny
        );
        assert!(enforcement_action(&json!({"enforcementAction": "block"})).is_err());
    }
}
