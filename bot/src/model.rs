//! Domain newtypes: the nouns of the release train, validated once at the edge so the rest of
//! the code can trust them.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// Why a name or minor was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not valid: {why}")]
pub struct InvalidName {
    pub what: &'static str,
    pub value: String,
    pub why: &'static str,
}

/// An addon's name: the directory under `bundles/`, a DNS-1123 label (it becomes part of branch
/// names, labels and Helm release names).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AddonName(String);

impl AddonName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AddonName {
    type Err = InvalidName;
    fn from_str(s: &str) -> Result<Self, InvalidName> {
        let bad = |why| InvalidName {
            what: "addon name",
            value: s.to_string(),
            why,
        };
        if s.is_empty() || s.len() > 53 {
            return Err(bad(
                "must be 1 to 53 characters (a Helm release name limit)",
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad("use lowercase letters, digits and '-' only"));
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err(bad("must start and end with a letter or digit"));
        }
        Ok(AddonName(s.to_string()))
    }
}

impl TryFrom<String> for AddonName {
    type Error = InvalidName;
    fn try_from(s: String) -> Result<Self, InvalidName> {
        s.parse()
    }
}

impl From<AddonName> for String {
    fn from(a: AddonName) -> String {
        a.0
    }
}

impl fmt::Display for AddonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The rules of `from_str`, so an editor flags a bad name where it is typed.
impl JsonSchema for AddonName {
    fn schema_name() -> Cow<'static, str> {
        "AddonName".into()
    }
    fn schema_id() -> Cow<'static, str> {
        concat!(module_path!(), "::AddonName").into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An addon: its directory under bundles/. A DNS label of 1 to 53 \
                            characters (a Helm release name limit): lowercase letters, digits \
                            and '-', starting and ending with a letter or digit.",
            "type": "string",
            "pattern": "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$",
            "minLength": 1,
            "maxLength": 53,
        })
    }
}

/// A Kubernetes minor release, `1.NN`. Ordered numerically (1.9 < 1.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KubeMinor {
    pub major: u32,
    pub minor: u32,
}

impl KubeMinor {
    pub const fn new(major: u32, minor: u32) -> Self {
        KubeMinor { major, minor }
    }

    /// The patch version the bot renders for: `1.NN.0`. Charts gate on the minor; pinning
    /// `.0` keeps renders independent of which patch a kind image happens to carry.
    pub fn render_version(&self) -> String {
        format!("{}.{}.0", self.major, self.minor)
    }

    /// The conventional release branch for this minor.
    pub fn release_branch(&self) -> BranchName {
        BranchName(format!("release-{self}"))
    }
}

impl FromStr for KubeMinor {
    type Err = InvalidName;
    fn from_str(s: &str) -> Result<Self, InvalidName> {
        let bad = |why| InvalidName {
            what: "Kubernetes minor",
            value: s.to_string(),
            why,
        };
        let t = s.strip_prefix('v').unwrap_or(s);
        let (maj, min) = t
            .split_once('.')
            .ok_or_else(|| bad("write it as 1.NN, e.g. \"1.30\""))?;
        let num = |p: &str| -> Result<u32, InvalidName> {
            if p.is_empty()
                || !p.bytes().all(|b| b.is_ascii_digit())
                || (p.len() > 1 && p.starts_with('0'))
            {
                return Err(bad("write it as 1.NN, e.g. \"1.30\""));
            }
            p.parse().map_err(|_| bad("number out of range"))
        };
        let (major, minor) = (num(maj)?, num(min)?);
        if major != 1 {
            return Err(bad("only Kubernetes 1.x exists"));
        }
        Ok(KubeMinor { major, minor })
    }
}

impl TryFrom<String> for KubeMinor {
    type Error = InvalidName;
    fn try_from(s: String) -> Result<Self, InvalidName> {
        s.parse()
    }
}

impl From<KubeMinor> for String {
    fn from(k: KubeMinor) -> String {
        k.to_string()
    }
}

impl fmt::Display for KubeMinor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The rules of `from_str`. A string, never a number: an unquoted `1.30` is the float 1.3.
impl JsonSchema for KubeMinor {
    fn schema_name() -> Cow<'static, str> {
        "KubeMinor".into()
    }
    fn schema_id() -> Cow<'static, str> {
        concat!(module_path!(), "::KubeMinor").into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A Kubernetes minor as a quoted string, \"1.NN\" (a leading v is \
                            accepted). Unquoted, 1.30 would be the number 1.3.",
            "type": "string",
            "pattern": r"^v?1\.(0|[1-9][0-9]*)$",
        })
    }
}

/// A git branch of the train: `main` or `release-1.NN`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BranchName(String);

impl BranchName {
    pub fn main() -> Self {
        BranchName("main".to_string())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The minor a `release-1.NN` name encodes, if it follows the convention.
    pub fn release_minor(&self) -> Option<KubeMinor> {
        self.0.strip_prefix("release-")?.parse().ok()
    }
}

impl FromStr for BranchName {
    type Err = InvalidName;
    fn from_str(s: &str) -> Result<Self, InvalidName> {
        let bad = |why| InvalidName {
            what: "branch name",
            value: s.to_string(),
            why,
        };
        // The subset of git's check-ref-format rules that matter for names we create.
        if s.is_empty()
            || s.starts_with(['-', '/', '.'])
            || s.ends_with(['/', '.'])
            || s.ends_with(".lock")
            || s.contains("..")
            || s.contains("//")
            || s.contains("@{")
            || s.chars()
                .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c))
        {
            return Err(bad("not a valid git branch name"));
        }
        Ok(BranchName(s.to_string()))
    }
}

impl TryFrom<String> for BranchName {
    type Error = InvalidName;
    fn try_from(s: String) -> Result<Self, InvalidName> {
        s.parse()
    }
}

impl From<BranchName> for String {
    fn from(b: BranchName) -> String {
        b.0
    }
}

impl fmt::Display for BranchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The character and first/last-character rules of `from_str`. The rules about sequences
/// (`..`, `//`, `@{`, a `.lock` end) need look-arounds, which the regex engines behind editors'
/// validators do not all support; the loader checks those.
impl JsonSchema for BranchName {
    fn schema_name() -> Cow<'static, str> {
        "BranchName".into()
    }
    fn schema_id() -> Cow<'static, str> {
        concat!(module_path!(), "::BranchName").into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A git branch name, e.g. release-1.31. No spaces, control characters \
                            or any of ~ ^ : ? * [ \\; it does not start with - / . or end with \
                            / . and has no .., //, @{ and no .lock ending.",
            "type": "string",
            "pattern": concat!(
                r"^[^-/.\x00-\x20\x7F~^:?*\[\\]",
                r"([^\x00-\x20\x7F~^:?*\[\\]*[^/.\x00-\x20\x7F~^:?*\[\\])?$"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_minor_parses_and_orders_numerically() {
        let a: KubeMinor = "1.9".parse().unwrap();
        let b: KubeMinor = "1.30".parse().unwrap();
        assert!(a < b);
        assert_eq!(b.to_string(), "1.30");
        assert_eq!(b.render_version(), "1.30.0");
        assert_eq!(b.release_branch().as_str(), "release-1.30");
        for bad in ["1", "1.", "1.x", "2.1", "1.030", "1.30.1", ""] {
            assert!(bad.parse::<KubeMinor>().is_err(), "{bad} must be rejected");
        }
    }

    #[test]
    fn addon_names_are_dns_labels() {
        assert!("kube-prometheus-stack".parse::<AddonName>().is_ok());
        for bad in ["", "Cert-Manager", "-x", "x-", "a_b", "a.b"] {
            assert!(bad.parse::<AddonName>().is_err(), "{bad} must be rejected");
        }
    }

    #[test]
    fn branch_names_follow_git_rules() {
        assert_eq!(
            "release-1.31"
                .parse::<BranchName>()
                .unwrap()
                .release_minor(),
            Some(KubeMinor::new(1, 31))
        );
        assert_eq!(BranchName::main().release_minor(), None);
        for bad in ["", "a..b", "a b", "x.lock", "-x", "a~1"] {
            assert!(bad.parse::<BranchName>().is_err(), "{bad} must be rejected");
        }
    }
}

/// An OCI repository reference without tag or digest: `oci://quay.io/jetstack/charts/cert-manager`
/// (registry `quay.io`, repository `jetstack/charts/cert-manager`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OciReference {
    /// `host` or `host:port`.
    pub registry: String,
    /// The repository path inside the registry, its last segment the chart's name.
    pub repository: String,
}

impl OciReference {
    /// Parse `oci://registry/repository`, checked the way the distribution spec names
    /// repositories (lower-case path components). A tag or digest is refused: the bot chooses
    /// the version, and the bundle pins it.
    pub fn parse(s: &str) -> Result<OciReference, String> {
        let rest = s
            .strip_prefix("oci://")
            .ok_or("an OCI reference starts with oci://")?;
        let rest = rest.trim_end_matches('/');
        if rest.contains('@') {
            return Err(
                "a digest does not belong in the reference: the bundle's `digest:` pins it".into(),
            );
        }
        let (registry, repository) = rest
            .split_once('/')
            .ok_or("no repository after the registry host")?;
        if registry.is_empty()
            || !registry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        {
            return Err(format!("{registry:?} is not a registry host"));
        }
        let last = repository.rsplit('/').next().unwrap_or(repository);
        if last.contains(':') {
            return Err(
                "a tag does not belong in the reference: the bundle's `version:` pins it".into(),
            );
        }
        for part in repository.split('/') {
            let ok = !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && part.as_bytes()[0].is_ascii_alphanumeric()
                && part.as_bytes()[part.len() - 1].is_ascii_alphanumeric();
            if !ok {
                return Err(format!(
                    "repository path component {part:?} is not valid (lower-case letters, digits, and . _ - between them)"
                ));
            }
        }
        Ok(OciReference {
            registry: registry.to_ascii_lowercase(),
            repository: repository.to_string(),
        })
    }

    /// The chart's name: the repository's last path segment.
    pub fn name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// Whether the registry is this machine (plain HTTP, as Docker and Helm allow for
    /// localhost registries).
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => &self.registry,
        };
        matches!(host, "localhost" | "127.0.0.1" | "[::1]")
    }
}

impl fmt::Display for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci://{}/{}", self.registry, self.repository)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod oci_reference_tests {
    use super::OciReference;

    #[test]
    fn references_parse_and_refuse_tags_digests_and_bad_paths() {
        let r = OciReference::parse("oci://quay.io/jetstack/charts/cert-manager").unwrap();
        assert_eq!(r.registry, "quay.io");
        assert_eq!(r.repository, "jetstack/charts/cert-manager");
        assert_eq!(r.name(), "cert-manager");
        assert_eq!(r.to_string(), "oci://quay.io/jetstack/charts/cert-manager");
        assert!(!r.is_loopback());
        assert!(OciReference::parse("oci://127.0.0.1:5000/charts/x")
            .unwrap()
            .is_loopback());
        for bad in [
            "https://quay.io/x",
            "oci://quay.io",
            "oci://quay.io/x:v1",
            "oci://quay.io/x@sha256:00",
            "oci://quay.io/Upper/x",
            "oci://quay.io/a//b",
        ] {
            assert!(OciReference::parse(bad).is_err(), "{bad}");
        }
    }
}
