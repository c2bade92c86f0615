//! Chart versions and version constraints, decided exactly as Helm decides.
//!
//! Helm uses the Go library Masterminds/semver v3 (`NewVersion`, `NewConstraint`,
//! `Constraints.Check`) for chart `kubeVersion`, dependency ranges and `--version` ranges. Its
//! rules differ from Cargo's (the `semver` crate): partial versions (`1.16`) and wildcards
//! (`5.33.*`), a leading `v`, leading zeros in numbers (`0.46.00`), comma *or* space for AND,
//! `||` for OR, hyphen ranges, and a pre-release rule: a pre-release version only satisfies a
//! comparison whose own version has a pre-release part. That last rule is why charts write
//! `>=1.25.0-0`: it admits provider versions such as `v1.30.2-gke.1587003`.
//!
//! Followed: Masterminds/semver v3 `constraints.go` (parseConstraint with the dirty flags for
//! missing or wildcard parts; one function per operator) and `version.go` (lenient NewVersion).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// Why a version or constraint did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("invalid version {text:?}: {why}")]
    Version { text: String, why: &'static str },
    #[error("invalid constraint {text:?}: {why}")]
    Constraint { text: String, why: String },
}

/// A chart (or Kubernetes) version, parsed leniently like Masterminds' `NewVersion`.
#[derive(Debug, Clone)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    build: String,
    original: String,
}

impl Version {
    pub fn parse(s: &str) -> Result<Version, VersionError> {
        let err = |why| VersionError::Version {
            text: s.to_string(),
            why,
        };
        let body = s.strip_prefix('v').unwrap_or(s);
        let (rest, build) = match body.split_once('+') {
            Some((r, b)) => (r, b),
            None => (body, ""),
        };
        let (nums, pre) = match rest.split_once('-') {
            Some((n, p)) => (n, p),
            None => (rest, ""),
        };
        let parts: Vec<&str> = nums.split('.').collect();
        if parts.len() > 3 {
            return Err(err("more than three numeric parts"));
        }
        let mut n = [0u64; 3];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("expected numbers like 1.2.3"));
            }
            n[i] = p.parse().map_err(|_| err("number too large"))?;
        }
        if rest.contains('-') && pre.is_empty() {
            return Err(err("empty pre-release"));
        }
        if !pre.is_empty() {
            for id in pre.split('.') {
                if !valid_identifier(id) {
                    return Err(err(
                        "pre-release identifiers are [0-9A-Za-z-]+ separated by dots",
                    ));
                }
                if id.len() > 1 && id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err("numeric pre-release identifiers must not start with 0"));
                }
            }
        }
        if body.contains('+') && (build.is_empty() || !build.split('.').all(valid_identifier)) {
            return Err(err(
                "build metadata identifiers are [0-9A-Za-z-]+ separated by dots",
            ));
        }
        Ok(Version {
            major: n[0],
            minor: n[1],
            patch: n[2],
            pre: pre.to_string(),
            build: build.to_string(),
            original: s.to_string(),
        })
    }

    /// A chart version as SemVer 2.0 writes it (a leading `v` allowed, as charts use it):
    /// exactly major.minor.patch, no leading zeros, no empty identifiers. Helm accepts more
    /// (`v1.99`, `v01.17.0`); where Helm's leniency and strict SemVer disagree about an
    /// upstream version, ake-bot takes strictness: such an entry is not chosen.
    pub fn parse_strict(s: &str) -> Result<Version, VersionError> {
        let v = Version::parse(s)?;
        let err = |why| VersionError::Version {
            text: s.to_string(),
            why,
        };
        let body = s.strip_prefix('v').unwrap_or(s);
        let nums = &body[..body.find(['-', '+']).unwrap_or(body.len())];
        let parts: Vec<&str> = nums.split('.').collect();
        if parts.len() != 3 {
            return Err(err(
                "not major.minor.patch (SemVer 2.0); Helm would guess the rest",
            ));
        }
        if parts.iter().any(|p| p.len() > 1 && p.starts_with('0')) {
            return Err(err("a number with a leading zero is not SemVer 2.0"));
        }
        Ok(v)
    }

    pub fn major(&self) -> u64 {
        self.major
    }
    pub fn minor(&self) -> u64 {
        self.minor
    }
    pub fn patch(&self) -> u64 {
        self.patch
    }
    /// The pre-release part without its `-`, or "".
    pub fn prerelease(&self) -> &str {
        &self.pre
    }
    /// Build metadata without its `+`, or "". Ignored for ordering, as SemVer requires.
    pub fn metadata(&self) -> &str {
        &self.build
    }
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
    /// The text as written (`v1.16.5`): what is shown and written back to config.
    pub fn original(&self) -> &str {
        &self.original
    }
}

fn valid_identifier(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// SemVer 2.0 pre-release precedence, as Masterminds' `comparePrerelease`.
fn compare_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let mut ai = a.split('.');
    let mut bi = b.split('.');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let xn = x.bytes().all(|c| c.is_ascii_digit());
                let yn = y.bytes().all(|c| c.is_ascii_digit());
                let o = match (xn, yn) {
                    (true, true) => {
                        // Compare by length first so huge numbers need no parsing.
                        let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                        x.len().cmp(&y.len()).then_with(|| x.cmp(y))
                    }
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| compare_pre(&self.pre, &other.pre))
    }
}
impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Version {}
impl Hash for Version {
    // Consistent with Eq: build metadata and the `v` prefix do not count.
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.major, self.minor, self.patch, &self.pre).hash(state);
    }
}
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}
impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, VersionError> {
        Version::parse(s)
    }
}
impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.original)
    }
}
impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Version::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

/// One comparison, with Masterminds' "dirty" flags for missing or wildcard parts.
#[derive(Debug, Clone)]
struct Single {
    op: Op,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

/// A Helm version constraint: OR groups (`||`) of AND-ed comparisons.
#[derive(Debug, Clone)]
pub struct Constraint {
    groups: Vec<Vec<Single>>,
    original: String,
}

impl Constraint {
    pub fn parse(s: &str) -> Result<Constraint, VersionError> {
        let err = |why: String| VersionError::Constraint {
            text: s.to_string(),
            why,
        };
        let mut groups = Vec::new();
        for group in s.split("||") {
            let tokens = tokenize(&rewrite_hyphen_range(group)).map_err(err)?;
            if tokens.is_empty() {
                return Err(err("empty constraint".into()));
            }
            let mut singles = Vec::new();
            for (op, ver) in tokens {
                singles.push(parse_single(&op, &ver).map_err(err)?);
            }
            groups.push(singles);
        }
        Ok(Constraint {
            groups,
            original: s.to_string(),
        })
    }

    /// Whether `v` satisfies the constraint, as Masterminds' `Constraints.Check`.
    pub fn matches(&self, v: &Version) -> bool {
        self.groups.iter().any(|g| g.iter().all(|c| c.check(v)))
    }

    pub fn as_str(&self) -> &str {
        &self.original
    }
}

/// `1.2 - 1.4.5` → `>= 1.2, <= 1.4.5` (Masterminds' rewriteRange).
fn rewrite_hyphen_range(group: &str) -> String {
    let words: Vec<&str> = group.split_whitespace().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if i + 2 < words.len()
            && words[i + 1] == "-"
            && is_version_like(words[i])
            && is_version_like(words[i + 2])
        {
            out.push(format!(
                ">={}, <={}",
                words[i].trim_end_matches(','),
                words[i + 2]
            ));
            i += 3;
        } else {
            out.push(words[i].to_string());
            i += 1;
        }
    }
    out.join(" ")
}

fn is_version_like(w: &str) -> bool {
    let w = w.trim_end_matches(',');
    w.chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || "vxX*".contains(c))
}

/// Split an AND group into (operator, version) pairs. Comparisons are separated by commas or
/// whitespace; whitespace may also stand between an operator and its version.
fn tokenize(group: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = group.chars().collect();
    let mut i = 0;
    let mut need_sep = false;
    let mut pending_comma = false;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            need_sep = false;
            continue;
        }
        if c == ',' {
            if out.is_empty() || pending_comma {
                return Err("a comma with no comparison before it".into());
            }
            i += 1;
            need_sep = false;
            pending_comma = true;
            continue;
        }
        if need_sep {
            return Err(format!("unexpected {c:?}"));
        }
        let start = i;
        while i < chars.len() && "=!<>~^".contains(chars[i]) {
            i += 1;
        }
        let op: String = chars[start..i].iter().collect();
        if !matches!(
            op.as_str(),
            "" | "=" | "!=" | ">" | "<" | ">=" | "=>" | "<=" | "=<" | "~" | "~>" | "^"
        ) {
            return Err(format!("unknown operator {op:?}"));
        }
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let vstart = i;
        while i < chars.len() && !chars[i].is_whitespace() && chars[i] != ',' {
            i += 1;
        }
        let ver: String = chars[vstart..i].iter().collect();
        if ver.is_empty() {
            return Err(format!("operator {op:?} has no version"));
        }
        out.push((op, ver));
        need_sep = true;
        pending_comma = false;
    }
    if pending_comma {
        return Err("a comma with no comparison after it".into());
    }
    Ok(out)
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

fn parse_single(op: &str, ver: &str) -> Result<Single, String> {
    let op = match op {
        "" | "=" => Op::TildeOrEqual,
        "!=" => Op::NotEqual,
        ">" => Op::Greater,
        "<" => Op::Less,
        ">=" | "=>" => Op::GreaterEqual,
        "<=" | "=<" => Op::LessEqual,
        "~" | "~>" => Op::Tilde,
        "^" => Op::Caret,
        other => return Err(format!("unknown operator {other:?}")),
    };
    let body = ver.strip_prefix('v').unwrap_or(ver);
    // Split off "-pre" / "+build" after the numeric (or wildcard) part.
    let cut = body.find(['-', '+']).unwrap_or(body.len());
    let (nums, extra) = body.split_at(cut);
    let parts: Vec<&str> = nums.split('.').collect();
    if parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !(is_x(p) || p.bytes().all(|b| b.is_ascii_digit())))
    {
        return Err(format!("{ver:?} is not a version"));
    }
    let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
    let normal = if is_x(parts[0]) {
        dirty = true;
        format!("0.0.0{extra}")
    } else if parts.len() < 2 || is_x(parts[1]) {
        dirty = true;
        minor_dirty = true;
        format!("{}.0.0{extra}", parts[0])
    } else if parts.len() < 3 || is_x(parts[2]) {
        dirty = true;
        patch_dirty = true;
        format!("{}.{}.0{extra}", parts[0], parts[1])
    } else {
        body.to_string()
    };
    let con = Version::parse(&normal).map_err(|e| e.to_string())?;
    Ok(Single {
        op,
        con,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

impl Single {
    fn check(&self, v: &Version) -> bool {
        let c = &self.con;
        // Masterminds issue 21: a pre-release only matches constraints that name one.
        if v.is_prerelease() && !c.is_prerelease() {
            return false;
        }
        match self.op {
            Op::TildeOrEqual => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    v == c
                }
            }
            Op::NotEqual => {
                if self.dirty {
                    if c.major != v.major {
                        return true;
                    }
                    if c.minor != v.minor && !self.minor_dirty {
                        return true;
                    }
                    if self.minor_dirty {
                        return false;
                    }
                    if c.patch != v.patch && !self.patch_dirty {
                        return true;
                    }
                    if self.patch_dirty {
                        return (v.is_prerelease() || c.is_prerelease())
                            && compare_pre(&v.pre, &c.pre) != Ordering::Equal;
                    }
                }
                v != c
            }
            Op::Greater => {
                if !self.dirty {
                    return v > c;
                }
                if v.major != c.major {
                    return v.major > c.major;
                }
                if self.minor_dirty {
                    return false;
                }
                if self.patch_dirty {
                    return v.minor > c.minor;
                }
                v > c
            }
            Op::Less => v < c,
            Op::GreaterEqual => v >= c,
            Op::LessEqual => {
                if !self.dirty {
                    return v <= c;
                }
                if v.major > c.major {
                    return false;
                }
                !(v.major == c.major && v.minor > c.minor && !self.minor_dirty)
            }
            Op::Tilde => self.tilde(v),
            Op::Caret => {
                if v < c {
                    return false;
                }
                if c.major > 0 || self.minor_dirty {
                    return v.major == c.major;
                }
                if v.major > 0 {
                    return false;
                }
                if c.minor > 0 || self.patch_dirty {
                    return v.minor == c.minor;
                }
                if v.minor > 0 {
                    return false;
                }
                v.patch == c.patch
            }
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v < c {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        v.minor == c.minor || self.minor_dirty
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}
impl PartialEq for Constraint {
    fn eq(&self, other: &Self) -> bool {
        self.original == other.original
    }
}
impl Eq for Constraint {}
impl FromStr for Constraint {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, VersionError> {
        Constraint::parse(s)
    }
}
impl serde::Serialize for Constraint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.original)
    }
}
impl<'de> serde::Deserialize<'de> for Constraint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Constraint::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn strict_versions_are_semver_with_an_optional_v() {
        for ok in [
            "1.2.3",
            "v1.16.5",
            "0.0.0",
            "1.2.3-rc.1",
            "1.2.3+build.5",
            "v10.20.30-0",
        ] {
            assert!(super::Version::parse_strict(ok).is_ok(), "{ok}");
        }
        for bad in [
            "v1.99", "1", "v01.17.0", "1.02.3", "1.2.3.4", "1.2.3-", "1.2.3-01", "",
        ] {
            assert!(super::Version::parse_strict(bad).is_err(), "{bad}");
        }
        // Helm itself accepts the partial and zero-padded ones.
        assert!(super::Version::parse("v1.99").is_ok());
        assert!(super::Version::parse("v01.17.0").is_ok());
    }

    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    /// (constraint, version, expected): rows from real charts, then Masterminds'
    /// constraints_test.go (TestConstraintCheck) rows that pin down the edge rules.
    #[test]
    fn constraints_match_as_helm_decides() {
        let rows: &[(&str, &str, bool)] = &[
            // kubeVersion constraints in real charts, against the versions the bot renders for
            (">= 1.22.0-0", "v1.30.0", true),
            (">=1.25.0-0", "v1.24.0", false),
            (">=1.25.0-0", "v1.25.0", true),
            (">=1.25.0-0", "v1.24.9", false),
            ("^1.8.0-0", "v1.33.0", true),
            (">=1.19.0-0", "v1.22.0", true),
            (">= 1.13.0 < 1.30.0", "v1.29.9", true),
            (">= 1.13.0 < 1.30.0", "v1.30.0", false),
            (">=1.16.0-0 <1.29.0-0", "v1.28.3", true),
            // provider versions are pre-releases in semver terms
            (">=1.25.0-0", "v1.30.2-gke.1587003", true),
            (">=1.25.0", "v1.30.2-gke.1587003", false),
            (">=1.25.0-0", "v1.29.4-eks-036c24b", true),
            // bundle ranges and caps against chart versions
            (">=1.14.0, <2.0.0", "v1.16.5", true),
            ("<1.16", "v1.16.5", false),
            ("<1.16", "v1.15.5", true),
            ("~1.16", "v1.16.5", true),
            ("~1.16", "v1.17.0", false),
            ("^7.8", "7.9.1", true),
            ("^7.8", "8.0.0", false),
            ("5.33.*", "5.33.2", true),
            ("5.33.*", "5.36.0", false),
            (">= 72.0.0, < 90", "88.5.3", true),
            (">= 72.0.0, < 90", "90.0.0", false),
            (">=0.46.0", "0.46.00", true),
            // Masterminds TestConstraintCheck
            ("=2.0.0", "1.2.3", false),
            ("=2.0.0", "2.0.0", true),
            ("=2.0", "2.0.5", true),
            ("4.1", "4.1.0", true),
            ("!=4.1", "4.1.0", false),
            ("!=4.1", "5.1.0", true),
            ("!=4.x", "5.1.0", true),
            ("!=4.x", "4.1.0", false),
            ("!=4.1.x", "4.2.0", true),
            ("!=4.2.x", "4.2.3", false),
            (">1.1", "4.1.0", true),
            (">1.1", "1.1.0", false),
            ("<1.1", "0.1.0", true),
            ("<1.1", "1.1.0", false),
            ("<1.1", "1.1.1", false),
            ("<1.x", "1.1.1", false),
            ("<1.x", "0.1.1", true),
            ("<1.x", "2.0.0", false),
            ("<1.1.x", "1.2.1", false),
            ("<1.1.x", "1.1.500", false),
            ("<1.1.x", "1.0.500", true),
            ("<1.2.x", "1.1.1", true),
            (">=1.1", "4.1.0", true),
            (">=1.1", "1.1.0", true),
            (">=1.1", "0.0.9", false),
            ("<=1.1", "0.1.0", true),
            ("<=1.1", "1.1.0", true),
            ("<=1.x", "1.1.0", true),
            ("<=2.x", "3.0.0", false),
            ("<=1.1", "1.1.1", true),
            ("<=1.1.x", "1.2.500", false),
            ("<=4.5", "3.4.0", true),
            ("<=4.5", "3.7.0", true),
            ("<=4.5", "4.6.3", false),
            // `>1.1` is patch-dirty: Masterminds wants a greater *minor* ("11.1.1 is not
            // greater than 11.1"), so 1.1.1 does not match.
            (">1.1, <2", "1.1.1", false),
            (">1.1, <2", "1.2.1", true),
            (">1.1, <3", "4.3.2", false),
            (">=1.1, <2, !=1.2.3", "1.2.3", false),
            (">=1.1, <2, !=1.2.3 || > 3", "4.1.2", true),
            (">=1.1, <2, !=1.2.3 || > 3", "1.2.3", false),
            (">=1.1, <2, !=1.2.3 || >= 3", "3.0.0", true),
            (">1.1 || <1.3", "1.3.4", true),
            ("1.1 - 2", "1.1.1", true),
            ("1.1 - 2", "2.0.0", true),
            ("1.1 - 2", "2.1.0", true), // "<= 2" is dirty: any 2.x
            ("1.1 - 3", "4.3.2", false),
            ("^1.1", "1.1.1", true),
            ("^1.1", "1.2.1", true),
            ("^1.1", "4.3.2", false),
            ("^1.x", "1.1.1", true),
            ("^2.x", "1.1.1", false),
            ("^1.x", "2.1.1", false),
            ("^0.0.1", "0.1.3", false),
            ("^0.0.1", "0.0.1", true),
            ("^0.0.1", "0.0.2", false),
            ("^0.2.3", "0.2.5", true),
            ("^0.2.3", "0.3.0", false),
            ("^0", "0.9.9", true),
            ("^0", "1.0.0", false),
            ("^0.0", "0.0.9", true),
            ("^0.0", "0.1.0", false),
            ("~*", "2.1.1", true),
            ("~1", "1.9.9", true),
            ("~1", "2.0.0", false),
            ("~1.x", "2.1.1", false),
            ("~1.x", "1.3.5", true),
            ("~1.3.6-alpha", "1.3.5-beta", false),
            ("~1.3.5-alpha", "1.3.5-beta", true),
            ("~1.3.5-beta", "1.3.5-alpha", false),
            ("~1.x", "1.4", true),
            ("~1.1", "1.1.1", true),
            ("~1.2.3", "1.2.5", true),
            ("~1.2.3", "1.2.2", false),
            ("~1.2.3", "1.3.2", false),
            ("~1.1", "1.2.3", false),
            ("~1.3", "2.4.5", false),
            ("*", "1.2.3", true),
            ("x", "0.0.1", true),
            ("2.*", "2.3.4", true),
            ("2.*", "3.0.0", false),
            (">1.2.3-alpha", "1.2.3", true),
            (">1.2.3-alpha", "1.2.3-beta", true),
            (">=1.2.3", "1.2.4-beta", false),
        ];
        for (c, ver, want) in rows {
            let con = Constraint::parse(c).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(con.matches(&v(ver)), *want, "{c:?} vs {ver:?}");
        }
    }

    #[test]
    fn versions_order_by_semver_precedence() {
        let ordered = [
            "0.46.00",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "v1.16.4",
            "v1.16.5",
            "73.2.3",
            "88.5.3",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(
            v("v1.2.3"),
            v("1.2.3+build.7"),
            "prefix and build metadata do not count"
        );
        assert_eq!(v("1.2"), v("1.2.0"));
        assert_eq!(v("v1.16.5").original(), "v1.16.5");
        assert_eq!(v("5.6.0-weekly.314").prerelease(), "weekly.314");
    }

    #[test]
    fn bad_input_is_named_in_the_error() {
        for bad in [
            "",
            "1.2.3.4",
            "a.b.c",
            "1.2.3-",
            "1.2.3-01",
            "1..2",
            "1.2.3+",
            "1.2.3-a_b",
        ] {
            let e = Version::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("invalid version {bad:?}")), "{e}");
        }
        for bad in [
            ">=> 1.2",
            ">=",
            "1.2 1.3 ,",
            "abc",
            ">=1.2.3.4",
            "",
            " || 1",
        ] {
            let e = Constraint::parse(bad).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("invalid constraint {bad:?}")),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn serde_round_trips_keep_the_original_text() {
        let ver: Version = serde_json::from_str("\"v1.16.5\"").unwrap();
        assert_eq!(serde_json::to_string(&ver).unwrap(), "\"v1.16.5\"");
        let c: Constraint = serde_json::from_str("\">=1.14.0, <2.0.0\"").unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), "\">=1.14.0, <2.0.0\"");
        assert!(serde_json::from_str::<Version>("\"nope\"").is_err());
    }
}
