//! How a tenant repository pins the platform, and moving a pin.
//!
//! A tenant names a platform revision (normally a tag such as `v1.31.0`) in one of six places:
//! Argo CD Applications and ApplicationSets, Kustomize remote resources, Terraform/OpenTofu
//! module sources, Flux GitRepositories and a plain `.ake-version` file. [`detect`] finds them
//! all with the exact line and column of the revision text, so [`rewrite`] can change those
//! bytes and nothing else: a tenant's PR then shows a one-token diff per pin, and comments,
//! quoting and layout stay as the tenant wrote them.
//!
//! The meaning comes from a real YAML parser; the position comes from a scan of the
//! document's lines that follows the block structure (indentation, `key:` and `- ` items)
//! along the path the parser found. What the scan cannot follow (flow style, anchors, escapes)
//! is reported as [`Unpinned`] rather than guessed.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

/// How this platform's repository is recognised in URLs.
///
/// Each known URL of the repository is kept in normalised form (see [`normalise`]), so the
/// many spellings tools accept (`git::`, `ssh://`, `git@host:owner/repo.git`, upper case)
/// compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformRepo {
    /// Normalised, lower-case `host/path` of each URL of the repository, without `.git`.
    bases: Vec<String>,
}

impl PlatformRepo {
    /// `github`: owner/repo on GitHub; `extra`: other URLs of the same repository.
    ///
    /// `github` may also be a full URL (`https://github.com/acme/platform-config`).
    pub fn new(github: &str, extra: &[String]) -> PlatformRepo {
        let gh = github.trim().trim_matches('/');
        // A GitHub owner cannot contain a dot, so a dot in the first segment means a host.
        let is_url = gh.contains("://")
            || gh.contains('@')
            || gh.split('/').next().is_some_and(|s| s.contains('.'));
        let github_url = if is_url {
            gh.to_string()
        } else {
            format!("github.com/{gh}")
        };
        let mut bases: Vec<String> = Vec::new();
        for url in std::iter::once(github_url.as_str()).chain(extra.iter().map(String::as_str)) {
            let mut base = normalise(url).to_ascii_lowercase();
            loop {
                let before = base.len();
                base = base.trim_end_matches('/').to_string();
                if let Some(b) = base.strip_suffix(".git") {
                    base = b.to_string();
                }
                if base.len() == before {
                    break;
                }
            }
            // A base without a path (`github.com`) would match every repository on the host.
            if base.contains('/') && !bases.contains(&base) {
                bases.push(base);
            }
        }
        PlatformRepo { bases }
    }

    /// Whether `url` points into this repository (any path, ref or query inside it).
    pub fn matches(&self, url: &str) -> bool {
        let n = normalise(url);
        self.bases.iter().any(|base| continues_base(&n, base))
    }
}

/// `url` without the parts that vary between tools: `git::`/`git+` prefixes, the scheme,
/// user info, an `ssh://` port; an scp-like `host:owner/repo` becomes `host/owner/repo`, and
/// the host is lower-cased (the path is compared case-insensitively by [`continues_base`]).
fn normalise(url: &str) -> String {
    let mut s = url.trim();
    for prefix in ["git::", "git+"] {
        if let Some(rest) = strip_prefix_ci(s, prefix) {
            s = rest;
        }
    }
    let mut had_scheme = false;
    if let Some(i) = s.find("://") {
        if s[..i]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        {
            s = &s[i + 3..];
            had_scheme = true;
        }
    }
    let host_end = s.find('/').unwrap_or(s.len());
    if let Some(at) = s[..host_end].rfind('@') {
        s = &s[at + 1..];
    }
    let host_end = s.find('/').unwrap_or(s.len());
    let (host, rest) = s.split_at(host_end);
    let host = host.to_ascii_lowercase();
    match host.split_once(':') {
        // `ssh://git@github.com:22/owner/repo`: a port, not part of the path.
        Some((h, port)) if had_scheme && port.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{h}{rest}")
        }
        // scp-like `github.com:owner/repo`.
        Some((h, path)) => format!("{h}/{path}{rest}"),
        None => format!("{host}{rest}"),
    }
}

/// Whether normalised `n` is `base` or a path/query inside it: `acme/platform-config-old`
/// must not match `acme/platform-config`.
fn continues_base(n: &str, base: &str) -> bool {
    let Some(head) = n.get(..base.len()) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(base) {
        return false;
    }
    let mut rest = &n[base.len()..];
    if let Some(r) = strip_prefix_ci(rest, ".git") {
        if r.is_empty() || r.starts_with(['/', '?']) {
            rest = r;
        }
    }
    rest.is_empty() || rest.starts_with(['/', '?'])
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Where a pin was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinKind {
    ArgoApplication,
    ArgoApplicationSet,
    Kustomize,
    Terraform,
    Flux,
    AkeVersion,
}

impl fmt::Display for PinKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PinKind::ArgoApplication => "Argo CD Application",
            PinKind::ArgoApplicationSet => "Argo CD ApplicationSet",
            PinKind::Kustomize => "Kustomize",
            PinKind::Terraform => "Terraform/OpenTofu module",
            PinKind::Flux => "Flux GitRepository",
            PinKind::AkeVersion => ".ake-version",
        })
    }
}

/// One place a tenant file pins the platform.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pin {
    pub kind: PinKind,
    /// Relative to the tenant repository root, as given to [`detect`].
    pub file: PathBuf,
    /// 1-based line of the revision text.
    pub line: usize,
    /// 1-based byte column where the revision text starts in that line (inside any quotes,
    /// after `?ref=` in a URL).
    pub column: usize,
    /// Exactly the text at `line`/`column`, e.g. `v1.31.0` (or `HEAD`, a branch: the job
    /// decides by the tag format whether it is a platform tag).
    pub revision: String,
    /// The object holding the pin for people: `Application argocd/payments`,
    /// `module "platform"`; `None` where there is no such name.
    pub object: Option<String>,
}

/// Something that refers to the platform but is not a pin the bot can move.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unpinned {
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// A sentence for people, e.g. `Flux GitRepository flux-system/p follows branch main`.
    pub reason: String,
}

/// Every pin of `platform` in `files` (path relative to the repository root, content).
///
/// Files are chosen by name: `.ake-version`, `kustomization.yaml`/`.yml`/`Kustomization`,
/// other `*.yaml`/`*.yml` (Argo CD and Flux objects), `*.tf`/`*.tofu`; others are ignored. A
/// file that cannot be parsed is one [`Unpinned`] entry and does not stop the others.
pub fn detect(files: &[(PathBuf, String)], platform: &PlatformRepo) -> (Vec<Pin>, Vec<Unpinned>) {
    let mut out = Found::default();
    for (path, text) in files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if name == ".ake-version" {
            ake_version(path, text, &mut out);
        } else if matches!(
            name,
            "kustomization.yaml" | "kustomization.yml" | "Kustomization"
        ) {
            yaml_file(path, text, platform, true, &mut out);
        } else if matches!(ext, "yaml" | "yml") {
            yaml_file(path, text, platform, false, &mut out);
        } else if matches!(ext, "tf" | "tofu") {
            terraform(path, text, platform, &mut out);
        }
    }
    (out.pins, out.unpinned)
}

/// `text` with each pin in `pins` (all of the same file) rewritten to `to`: only the revision
/// text at (line, column) changes; every other byte (comments, quoting, indentation) is kept.
/// Err if the text at a pin's position is not its revision any more.
///
/// `to` must be a plain token (no whitespace, quotes, `#`, `&` or `?`): anything else could
/// change how YAML, HCL or a URL query reads the surrounding bytes.
pub fn rewrite(text: &str, pins: &[&Pin], to: &str) -> Result<String, String> {
    if to.is_empty()
        || to
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'#&?".contains(c))
    {
        return Err(format!(
            "{to:?} cannot be written as a revision (empty, or holds whitespace, quotes, '#', '&' or '?')"
        ));
    }
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let mut edits: Vec<(usize, usize)> = Vec::new();
    for pin in pins {
        let stale = |why: &str| {
            format!(
                "{}:{}:{}: {why}; expected {:?} there (the file changed since it was read?)",
                pin.file.display(),
                pin.line,
                pin.column,
                pin.revision
            )
        };
        let start = pin
            .line
            .checked_sub(1)
            .and_then(|l| line_starts.get(l))
            .ok_or_else(|| stale("no such line"))?;
        let line_end = text[*start..].find('\n').map_or(text.len(), |e| start + e);
        let line = &text[*start..line_end];
        let col = pin.column.checked_sub(1).ok_or_else(|| stale("column 0"))?;
        let found = line.get(col..).unwrap_or("");
        if pin.revision.is_empty() || !found.starts_with(&pin.revision) {
            return Err(stale("the revision is not at this position"));
        }
        if !ends_token(&found[pin.revision.len()..]) {
            return Err(stale("the text there continues past the revision"));
        }
        edits.push((start + col, pin.revision.len()));
    }
    edits.sort_unstable();
    edits.dedup();
    if edits.windows(2).any(|w| w[0].0 + w[0].1 > w[1].0) {
        return Err("two pins overlap in the same text".to_string());
    }
    let mut out = text.to_string();
    for (at, len) in edits.into_iter().rev() {
        out.replace_range(at..at + len, to);
    }
    Ok(out)
}

/// Whether a revision followed by `rest` ends where a revision token may end (so `v1.31.0`
/// is not found at the start of `v1.31.0-rc.1`).
fn ends_token(rest: &str) -> bool {
    rest.chars()
        .next()
        .is_none_or(|c| c.is_whitespace() || "\"'#&,]}".contains(c))
}

#[derive(Default)]
struct Found {
    pins: Vec<Pin>,
    unpinned: Vec<Unpinned>,
}

impl Found {
    fn unpinned(&mut self, file: &Path, line: Option<usize>, reason: String) {
        self.unpinned.push(Unpinned {
            file: file.to_path_buf(),
            line,
            reason,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// .ake-version

fn ake_version(file: &Path, text: &str, out: &mut Found) {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .collect();
    match lines.as_slice() {
        [] => out.unpinned(file, None, ".ake-version names no revision".to_string()),
        [(no, line)] => {
            let revision = line.trim();
            if revision.contains(char::is_whitespace) {
                out.unpinned(
                    file,
                    Some(no + 1),
                    format!(".ake-version line {revision:?} is not a single revision"),
                );
                return;
            }
            let column = line.len() - line.trim_start().len() + 1;
            out.pins.push(Pin {
                kind: PinKind::AkeVersion,
                file: file.to_path_buf(),
                line: no + 1,
                column,
                revision: revision.to_string(),
                object: None,
            });
        }
        [_, (no, _), ..] => out.unpinned(
            file,
            Some(no + 1),
            format!(
                ".ake-version has {} revision lines; expected exactly one",
                lines.len()
            ),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Terraform / OpenTofu

/// A line scan of `source = "…"` attributes: module sources are single-line string literals,
/// so no HCL parser is needed to find them.
fn terraform(file: &Path, text: &str, platform: &PlatformRepo, out: &mut Found) {
    let mut module: Option<String> = None;
    let mut in_comment = false;
    for (no, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if in_comment {
            in_comment = !line.contains("*/");
            continue;
        }
        if t.starts_with("/*") {
            in_comment = !t.contains("*/");
            continue;
        }
        if t.starts_with('#') || t.starts_with("//") {
            continue;
        }
        // A block header at column 0 starts a new top-level block: a module or something else.
        if line.starts_with(|c: char| c.is_ascii_alphabetic()) {
            module = module_header(line);
        }
        let Some((at, url)) = source_attr(line) else {
            continue;
        };
        if !platform.matches(url) {
            continue;
        }
        let object = module.as_ref().map(|m| format!("module {m:?}"));
        match query_param(url, &["ref"]) {
            Some((offset, revision)) => out.pins.push(Pin {
                kind: PinKind::Terraform,
                file: file.to_path_buf(),
                line: no + 1,
                column: at + offset + 1,
                revision: revision.to_string(),
                object,
            }),
            None => out.unpinned(
                file,
                Some(no + 1),
                format!(
                    "Terraform/OpenTofu {} takes {url} without ?ref=, so it follows the default branch",
                    object.as_deref().unwrap_or("module")
                ),
            ),
        }
    }
}

/// `module "name" {` → `name`.
fn module_header(line: &str) -> Option<String> {
    let rest = line.strip_prefix("module")?;
    let rest = rest.trim_start().strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].to_string())
}

/// The byte offset and text of the string in a `source = "…"` attribute on this line.
fn source_attr(line: &str) -> Option<(usize, &str)> {
    for (i, _) in line.match_indices("source") {
        let before_ok = line[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        if !before_ok {
            continue;
        }
        let after = &line[i + "source".len()..];
        let Some(value) = after.trim_start().strip_prefix('=') else {
            continue;
        };
        if value.starts_with('=') {
            continue;
        }
        let Some(quoted) = value.trim_start().strip_prefix('"') else {
            continue;
        };
        let start = line.len() - quoted.len();
        let end = quoted.find('"')?;
        return Some((start, &quoted[..end]));
    }
    None
}

/// The byte offset in `url` and the value of the first of `names` found in its query.
fn query_param<'u>(url: &'u str, names: &[&str]) -> Option<(usize, &'u str)> {
    let q = url.find('?')?;
    for name in names {
        let mut pos = q + 1;
        for part in url[q + 1..].split('&') {
            if let Some((k, v)) = part.split_once('=') {
                if k == *name && !v.is_empty() {
                    return Some((pos + k.len() + 1, v));
                }
            }
            pos += part.len() + 1;
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// YAML: Argo CD, Flux, Kustomize

fn yaml_file(file: &Path, text: &str, platform: &PlatformRepo, kustomize: bool, out: &mut Found) {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut starts = Vec::with_capacity(lines.len());
    let mut at = 0;
    for l in text.split('\n') {
        starts.push(at);
        at += l.len() + 1;
    }
    // A broken file reports only its error: pins from the documents before it are dropped,
    // as the tools reading the file would reject all of it.
    let mut found = Found::default();
    for (first, end) in document_ranges(&lines) {
        let region = content_lines(&lines, first, end);
        if region.is_empty() {
            continue;
        }
        let chunk_end = starts
            .get(end)
            .copied()
            .unwrap_or(text.len())
            .min(text.len());
        let chunk = &text[starts[first]..chunk_end];
        // libyaml reads a byte-order mark as content; the lines already skip it.
        let chunk = chunk.strip_prefix('\u{feff}').unwrap_or(chunk);
        let value = match crate::yaml::from_str::<Value>(chunk) {
            Ok(v) => v,
            Err(e) => {
                out.unpinned(
                    file,
                    e.line.map(|l| first + l),
                    format!("a file that cannot be parsed: {}", e.message),
                );
                return;
            }
        };
        let doc = Doc {
            file,
            region: &region,
            value: &value,
            platform,
        };
        if kustomize {
            doc.kustomization(&mut found);
        } else {
            doc.argo(&mut found);
            doc.flux(&mut found);
        }
    }
    out.pins.append(&mut found.pins);
    out.unpinned.append(&mut found.unpinned);
}

/// 0-based line ranges `[first, end)` of the documents of a stream: a `---` line starts one
/// (and belongs to it), a `...` line ends one.
fn document_ranges(lines: &[&str]) -> Vec<(usize, usize)> {
    let marker = |l: &str, m: &str| {
        l.strip_prefix(m)
            .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t']))
    };
    let mut out = Vec::new();
    let mut start = 0;
    for (i, l) in lines.iter().enumerate() {
        if marker(l, "---") {
            if i > start {
                out.push((start, i));
            }
            start = i;
        } else if marker(l, "...") {
            out.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < lines.len() {
        out.push((start, lines.len()));
    }
    out
}

/// One non-blank, non-comment line of a YAML document, as the block structure sees it.
#[derive(Debug, Clone, Copy)]
struct Ln<'a> {
    /// 0-based line in the file.
    no: usize,
    /// Indentation for the block structure (a sequence item's content counts from after
    /// its `- `; a byte-order mark counts as nothing).
    indent: usize,
    /// The whole line, without its line break.
    line: &'a str,
    /// Byte offset in `line` where this logical line's content starts.
    start: usize,
}

impl<'a> Ln<'a> {
    fn content(&self) -> &'a str {
        &self.line[self.start..]
    }
}

fn content_lines<'a>(lines: &[&'a str], first: usize, end: usize) -> Vec<Ln<'a>> {
    let mut out = Vec::new();
    for (no, line) in lines.iter().enumerate().take(end).skip(first) {
        let bom = if no == 0 && line.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        let body = &line[bom..];
        let t = body.trim_start_matches(' ');
        let indent = body.len() - t.len();
        let directive =
            indent == 0 && (t.starts_with('%') || t.starts_with("---") || t.starts_with("..."));
        if t.trim().is_empty() || t.starts_with('#') || directive {
            continue;
        }
        out.push(Ln {
            no,
            indent,
            line,
            start: bom + indent,
        });
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum Seg {
    Key(&'static str),
    Idx(usize),
}

/// The line and byte column of the scalar at `path` in a block-style document, inside any
/// quotes. `None` where the text does not follow the block structure the scan knows (flow
/// style, block scalars, aliases).
fn locate(region: &[Ln<'_>], path: &[Seg]) -> Option<(usize, usize)> {
    let (seg, rest) = path.split_first()?;
    let indent = region.first()?.indent;
    match *seg {
        Seg::Key(key) => {
            let (i, ln, after) = region.iter().enumerate().find_map(|(i, ln)| {
                (ln.indent == indent)
                    .then(|| key_value_offset(ln.content(), key))
                    .flatten()
                    .map(|after| (i, ln, after))
            })?;
            let value_at = ln.start + after;
            if rest.is_empty() {
                return scalar_start(ln.line, value_at).map(|c| (ln.no, c));
            }
            if !is_empty_value(&ln.line[value_at..]) {
                return None;
            }
            // The value: deeper lines, and `- ` items at the key's own indentation
            // (Kubernetes style sequences).
            let end = region[i + 1..]
                .iter()
                .position(|l| l.indent < indent || (l.indent == indent && !is_dash(l.content())))
                .map_or(region.len(), |p| i + 1 + p);
            locate(&region[i + 1..end], rest)
        }
        Seg::Idx(n) => {
            let items: Vec<usize> = region
                .iter()
                .enumerate()
                .filter(|(_, l)| l.indent == indent && is_dash(l.content()))
                .map(|(i, _)| i)
                .collect();
            if items.first() != Some(&0) {
                return None;
            }
            let i = *items.get(n)?;
            let end = items.get(n + 1).copied().unwrap_or(region.len());
            let dash = region[i];
            let after_dash = dash.start + 1;
            let inner = &dash.line[after_dash..];
            let inner_at = after_dash + (inner.len() - inner.trim_start_matches(' ').len());
            if rest.is_empty() {
                return scalar_start(dash.line, inner_at).map(|c| (dash.no, c));
            }
            let mut sub = Vec::with_capacity(end - i);
            if !is_empty_value(&dash.line[inner_at..]) {
                sub.push(Ln {
                    no: dash.no,
                    indent: dash.indent + (inner_at - dash.start),
                    line: dash.line,
                    start: inner_at,
                });
            }
            sub.extend_from_slice(&region[i + 1..end]);
            locate(&sub, rest)
        }
    }
}

/// For a line whose content is `key: value` (key plain or quoted), the offset of `value`.
fn key_value_offset(content: &str, key: &str) -> Option<usize> {
    let key_len = if content.starts_with(key) {
        key.len()
    } else if [('"', '"'), ('\'', '\'')].iter().any(|(o, c)| {
        content
            .strip_prefix(*o)
            .and_then(|r| r.strip_prefix(key))
            .is_some_and(|r| r.starts_with(*c))
    }) {
        key.len() + 2
    } else {
        return None;
    };
    let r = &content[key_len..];
    let colon = key_len + (r.len() - r.trim_start_matches(' ').len());
    let after = content[colon..].strip_prefix(':')?;
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    Some(colon + 1 + (after.len() - after.trim_start_matches([' ', '\t']).len()))
}

fn is_dash(content: &str) -> bool {
    content == "-" || content.starts_with("- ") || content.starts_with("-\t")
}

fn is_empty_value(s: &str) -> bool {
    let t = s.trim();
    t.is_empty() || t.starts_with('#')
}

/// Where a scalar's text starts at `at`: past a tag or anchor and an opening quote.
fn scalar_start(line: &str, mut at: usize) -> Option<usize> {
    while line[at..].starts_with(['!', '&']) {
        let token = line[at..].find([' ', '\t'])?;
        let r = &line[at + token..];
        at += token + (r.len() - r.trim_start().len());
    }
    let r = &line[at..];
    if r.starts_with(['"', '\'']) {
        return Some(at + 1);
    }
    if r.is_empty() || r.starts_with(['#', '|', '>', '{', '[', '*']) {
        return None;
    }
    Some(at)
}

/// A scalar as text, for revisions a YAML reader took for a number.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn get<'v>(v: &'v Value, path: &[Seg]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, seg| match *seg {
        Seg::Key(k) => v.get(k),
        Seg::Idx(i) => v.get(i),
    })
}

/// A pin found by meaning, before its place in the text is known.
struct Wanted<'p> {
    kind: PinKind,
    /// Where the scalar holding the revision is in the document.
    path: &'p [Seg],
    /// That scalar's value (the revision, or a URL holding it).
    scalar: &'p str,
    /// Byte offset of the revision in `scalar`.
    offset: usize,
    revision: &'p str,
    object: Option<String>,
    /// The holder, for an [`Unpinned`] message.
    what: String,
}

/// One parsed YAML document with its lines.
struct Doc<'a> {
    file: &'a Path,
    region: &'a [Ln<'a>],
    value: &'a Value,
    platform: &'a PlatformRepo,
}

impl Doc<'_> {
    fn str_at(&self, path: &[Seg]) -> Option<&str> {
        get(self.value, path).and_then(Value::as_str)
    }

    /// 1-based line of the value at `path`, best effort (for [`Unpinned`]).
    fn line_of(&self, path: &[Seg]) -> Option<usize> {
        locate(self.region, path).map(|(no, _)| no + 1)
    }

    /// `kind namespace/name` (or `kind name`) of a Kubernetes object.
    fn object(&self) -> String {
        let kind = self.str_at(&[Seg::Key("kind")]).unwrap_or("object");
        let name = self
            .str_at(&[Seg::Key("metadata"), Seg::Key("name")])
            .unwrap_or("(unnamed)");
        match self.str_at(&[Seg::Key("metadata"), Seg::Key("namespace")]) {
            Some(ns) => format!("{kind} {ns}/{name}"),
            None => format!("{kind} {name}"),
        }
    }

    /// `want` placed in the text; or, if the text at its path is not its scalar, an
    /// [`Unpinned`] saying so (a pin the bot cannot point at is one it must not rewrite).
    fn pin(&self, out: &mut Found, want: Wanted<'_>) {
        let Wanted {
            kind,
            path,
            scalar,
            offset,
            revision,
            object,
            what,
        } = want;
        let located = locate(self.region, path).filter(|&(no, col)| {
            let text = self.region.iter().find(|l| l.no == no).map(|l| l.line);
            text.and_then(|t| t.get(col..))
                .is_some_and(|t| t.starts_with(scalar) && ends_token(&t[scalar.len()..]))
        });
        match located {
            Some((no, col)) => out.pins.push(Pin {
                kind,
                file: self.file.to_path_buf(),
                line: no + 1,
                column: col + offset + 1,
                revision: revision.to_string(),
                object,
            }),
            None => out.unpinned(
                self.file,
                self.line_of(path),
                format!(
                    "{what} pins {revision}, but its text could not be found in the file \
                     (flow style, anchors and escapes are not followed)"
                ),
            ),
        }
    }

    fn argo(&self, out: &mut Found) {
        let api = self.str_at(&[Seg::Key("apiVersion")]).unwrap_or("");
        if !api.starts_with("argoproj.io/") {
            return;
        }
        let (kind, spec): (PinKind, &[Seg]) = match self.str_at(&[Seg::Key("kind")]) {
            Some("Application") => (PinKind::ArgoApplication, &[Seg::Key("spec")]),
            Some("ApplicationSet") => (
                PinKind::ArgoApplicationSet,
                &[Seg::Key("spec"), Seg::Key("template"), Seg::Key("spec")],
            ),
            _ => return,
        };
        let object = self.object();
        let mut sources: Vec<Vec<Seg>> = Vec::new();
        let mut single = spec.to_vec();
        single.push(Seg::Key("source"));
        if get(self.value, &single).is_some() {
            sources.push(single);
        }
        let mut multi = spec.to_vec();
        multi.push(Seg::Key("sources"));
        if let Some(Value::Sequence(items)) = get(self.value, &multi) {
            for i in 0..items.len() {
                let mut p = multi.clone();
                p.push(Seg::Idx(i));
                sources.push(p);
            }
        }
        for source in sources {
            let mut url_path = source.clone();
            url_path.push(Seg::Key("repoURL"));
            let Some(url) = self.str_at(&url_path) else {
                continue;
            };
            if !self.platform.matches(url) {
                continue;
            }
            let mut rev_path = source;
            rev_path.push(Seg::Key("targetRevision"));
            let revision = get(self.value, &rev_path)
                .and_then(scalar)
                .filter(|r| !r.is_empty());
            let what = format!("Argo CD {object}");
            match revision {
                Some(rev) => self.pin(
                    out,
                    Wanted {
                        kind,
                        path: &rev_path,
                        scalar: &rev,
                        offset: 0,
                        revision: &rev,
                        object: Some(object.clone()),
                        what,
                    },
                ),
                // Argo CD reads a missing or empty targetRevision as HEAD.
                None => out.unpinned(
                    self.file,
                    self.line_of(&url_path),
                    format!("{what} sets no targetRevision, so it follows HEAD, not a tag"),
                ),
            }
        }
    }

    fn flux(&self, out: &mut Found) {
        let api = self.str_at(&[Seg::Key("apiVersion")]).unwrap_or("");
        if !api.starts_with("source.toolkit.fluxcd.io/")
            || self.str_at(&[Seg::Key("kind")]) != Some("GitRepository")
        {
            return;
        }
        let url_path = [Seg::Key("spec"), Seg::Key("url")];
        if !self
            .str_at(&url_path)
            .is_some_and(|u| self.platform.matches(u))
        {
            return;
        }
        let what = format!("Flux {}", self.object());
        let field = |f: &'static str| {
            let path = [Seg::Key("spec"), Seg::Key("ref"), Seg::Key(f)];
            get(self.value, &path)
                .and_then(scalar)
                .filter(|v| !v.is_empty())
                .map(|v| (path, v))
        };
        // Flux's own precedence: commit, then name, then semver, then tag, then branch.
        let not_a_tag = |path: &[Seg], reason: String, out: &mut Found| {
            out.unpinned(self.file, self.line_of(path), reason);
        };
        if let Some((p, v)) = field("commit") {
            not_a_tag(&p, format!("{what} is fixed at commit {v}, not a tag"), out);
        } else if let Some((p, v)) = field("name") {
            not_a_tag(&p, format!("{what} follows ref {v}, not a tag"), out);
        } else if let Some((p, v)) = field("semver") {
            not_a_tag(
                &p,
                format!("{what} follows semver range {v}, not a tag"),
                out,
            );
        } else if let Some((p, v)) = field("tag") {
            self.pin(
                out,
                Wanted {
                    kind: PinKind::Flux,
                    path: &p,
                    scalar: &v,
                    offset: 0,
                    revision: &v,
                    object: Some(self.object()),
                    what,
                },
            );
        } else if let Some((p, v)) = field("branch") {
            not_a_tag(&p, format!("{what} follows branch {v}"), out);
        } else {
            not_a_tag(
                &url_path,
                format!("{what} sets no ref, so it follows the default branch"),
                out,
            );
        }
    }

    fn kustomization(&self, out: &mut Found) {
        for key in ["resources", "components", "bases"] {
            let Some(Value::Sequence(items)) = self.value.get(key) else {
                continue;
            };
            for (i, item) in items.iter().enumerate() {
                let Some(url) = item.as_str() else {
                    continue;
                };
                if !self.platform.matches(url) {
                    continue;
                }
                let path = [Seg::Key(key), Seg::Idx(i)];
                let what = format!("{} {key} entry {url}", PinKind::Kustomize);
                // `version=` is the old spelling of `ref=`; kustomize still reads it.
                match query_param(url, &["ref", "version"]) {
                    Some((offset, revision)) => self.pin(
                        out,
                        Wanted {
                            kind: PinKind::Kustomize,
                            path: &path,
                            scalar: url,
                            offset,
                            revision,
                            object: None,
                            what,
                        },
                    ),
                    None => out.unpinned(
                        self.file,
                        self.line_of(&path),
                        format!("{what} has no ?ref=, so it follows the default branch"),
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> PlatformRepo {
        PlatformRepo::new("acme/platform-config", &[])
    }

    fn files(list: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
        list.iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect()
    }

    /// The text a pin points at, read back from the file by its line and column.
    fn text_at<'t>(text: &'t str, pin: &Pin) -> &'t str {
        let line = text
            .lines()
            .nth(pin.line - 1)
            .expect("the pin's line exists");
        let rest = &line[pin.column - 1..];
        &rest[..pin.revision.len().min(rest.len())]
    }

    fn assert_points_at_revision(list: &[(PathBuf, String)], pins: &[Pin]) {
        for pin in pins {
            let text = &list
                .iter()
                .find(|(p, _)| p == &pin.file)
                .expect("pin of a given file")
                .1;
            assert_eq!(text_at(text, pin), pin.revision, "{pin:?}");
        }
    }

    const APPLICATION: &str = "\
# The platform for the payments team: bumped by ake-bot.
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: payments
  namespace: argocd
  # Keep the finalizer so a delete cleans up.
  finalizers:
    - resources-finalizer.argocd.argoproj.io
spec:
  project: payments
  source:
    # platform bundles, pinned to a release
    repoURL: https://github.com/acme/platform-config.git
    path: bundles/payments
    targetRevision: v1.31.0 # pinned by ake-bot
  destination:
    server: https://kubernetes.default.svc
    namespace: payments
  syncPolicy:
    automated:
      prune: true
";

    #[test]
    fn argo_application_with_comments_pins_its_target_revision() {
        let list = files(&[("apps/payments.yaml", APPLICATION)]);
        let (pins, unpinned) = detect(&list, &platform());
        assert!(unpinned.is_empty(), "{unpinned:?}");
        assert_eq!(
            pins,
            vec![Pin {
                kind: PinKind::ArgoApplication,
                file: PathBuf::from("apps/payments.yaml"),
                line: 16,
                column: 21,
                revision: "v1.31.0".into(),
                object: Some("Application argocd/payments".into()),
            }]
        );
        assert_points_at_revision(&list, &pins);
    }

    #[test]
    fn multi_source_application_pins_each_platform_source() {
        let text = "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: observability
  namespace: argocd
spec:
  sources:
  - repoURL: https://prometheus-community.github.io/helm-charts
    chart: kube-prometheus-stack
    targetRevision: 65.1.0
    helm:
      valueFiles:
      - $values/values/prometheus.yaml
  - repoURL: git@github.com:acme/platform-config.git
    targetRevision: v1.31.0
    ref: values
  -   path: bundles/loki
      targetRevision: \"v1.30.2\"
      repoURL: https://github.com/Acme/Platform-Config
";
        let list = files(&[("argocd/observability.yaml", text)]);
        let (pins, unpinned) = detect(&list, &platform());
        assert!(unpinned.is_empty(), "{unpinned:?}");
        let found: Vec<_> = pins
            .iter()
            .map(|p| (p.line, p.column, p.revision.as_str()))
            .collect();
        assert_eq!(found, vec![(15, 21, "v1.31.0"), (18, 24, "v1.30.2")]);
        assert!(pins.iter().all(|p| p.kind == PinKind::ArgoApplication));
        assert_points_at_revision(&list, &pins);
    }

    #[test]
    fn application_set_template_pins_the_platform() {
        let text = "\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: platform-addons
  namespace: argocd
spec:
  goTemplate: true
  generators:
  - list:
      elements:
      - addon: cert-manager
      - addon: external-dns
  template:
    metadata:
      name: '{{.addon}}'
    spec:
      project: platform
      source:
        repoURL: ssh://git@github.com/acme/platform-config.git
        targetRevision: 'v1.31.0'
        path: 'bundles/{{.addon}}'
      destination:
        server: https://kubernetes.default.svc
";
        let list = files(&[("appsets/addons.yml", text)]);
        let (pins, unpinned) = detect(&list, &platform());
        assert!(unpinned.is_empty(), "{unpinned:?}");
        assert_eq!(pins.len(), 1);
        assert_eq!(pins[0].kind, PinKind::ArgoApplicationSet);
        assert_eq!((pins[0].line, pins[0].column), (20, 26));
        assert_eq!(
            pins[0].object.as_deref(),
            Some("ApplicationSet argocd/platform-addons")
        );
        assert_points_at_revision(&list, &pins);
    }

    #[test]
    fn argo_application_without_target_revision_follows_head() {
        let text = "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: x
  namespace: argocd
spec:
  source:
    repoURL: https://github.com/acme/platform-config
    path: bundles/x
";
        let (pins, unpinned) = detect(&files(&[("x.yaml", text)]), &platform());
        assert!(pins.is_empty());
        assert_eq!(
            unpinned,
            vec![Unpinned {
                file: "x.yaml".into(),
                line: Some(8),
                reason: "Argo CD Application argocd/x sets no targetRevision, so it follows HEAD, not a tag".into(),
            }]
        );
    }

    #[test]
    fn kustomization_pins_remote_resources_of_the_platform_only() {
        let text = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: payments
resources:
  - namespace.yaml
  - https://github.com/acme/platform-config//bundles/cert-manager?ref=v1.31.0
  # another repository: not ours to move
  - https://github.com/acme/tenant-lib//base?ref=v2.0.0
  - github.com/acme/platform-config/bundles/ingress?timeout=120s&ref=v1.31.0
components:
- git@github.com:acme/platform-config.git//components/netpol?version=v1.30.0
";
        let list = files(&[("overlays/prod/kustomization.yaml", text)]);
        let (pins, unpinned) = detect(&list, &platform());
        assert!(unpinned.is_empty(), "{unpinned:?}");
        let found: Vec<_> = pins
            .iter()
            .map(|p| (p.kind, p.line, p.column, p.revision.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                (PinKind::Kustomize, 6, 71, "v1.31.0"),
                (PinKind::Kustomize, 9, 70, "v1.31.0"),
                (PinKind::Kustomize, 11, 70, "v1.30.0"),
            ]
        );
        assert_points_at_revision(&list, &pins);
    }

    #[test]
    fn kustomize_remote_resource_without_ref_is_reported() {
        let text = "resources:\n- https://github.com/acme/platform-config//bundles/x\n";
        let (pins, unpinned) = detect(&files(&[("Kustomization", text)]), &platform());
        assert!(pins.is_empty());
        assert_eq!(unpinned.len(), 1);
        assert_eq!(unpinned[0].line, Some(2));
        assert!(
            unpinned[0].reason.contains("follows the default branch"),
            "{unpinned:?}"
        );
    }

    #[test]
    fn terraform_file_with_two_platform_modules() {
        let text = r#"terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

# The tenant's namespace and quotas, from the platform.
module "platform" {
  source = "git::https://github.com/acme/platform-config.git//modules/tenant?ref=v1.31.0"
  name   = "payments"
}

module "dns" {
  source = "github.com/acme/platform-config//modules/dns?ref=v1.30.1"
}

module "vpc" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "5.1.0"
}
"#;
        let list = files(&[("infra/main.tf", text)]);
        let (pins, unpinned) = detect(&list, &platform());
        assert!(unpinned.is_empty(), "{unpinned:?}");
        let found: Vec<_> = pins
            .iter()
            .map(|p| (p.line, p.column, p.revision.as_str(), p.object.as_deref()))
            .collect();
        assert_eq!(
            found,
            vec![
                (12, 82, "v1.31.0", Some("module \"platform\"")),
                (17, 62, "v1.30.1", Some("module \"dns\"")),
            ]
        );
        assert!(pins.iter().all(|p| p.kind == PinKind::Terraform));
        assert_points_at_revision(&list, &pins);
    }

    #[test]
    fn opentofu_ssh_module_source_is_a_pin() {
        let text = "module \"p\" {\n  source = \"git::ssh://git@github.com/acme/platform-config.git?ref=v1.31.0\"\n}\n";
        let list = files(&[("tofu/platform.tofu", text)]);
        let (pins, unpinned) = detect(&list, &platform());
        assert!(unpinned.is_empty(), "{unpinned:?}");
        assert_eq!(pins.len(), 1);
        assert_eq!(pins[0].revision, "v1.31.0");
        assert_points_at_revision(&list, &pins);
    }

    #[test]
    fn flux_tag_is_a_pin_and_a_branch_is_not() {
        let text = "\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: platform
  namespace: flux-system
spec:
  interval: 10m
  url: https://github.com/acme/platform-config
  ref:
    tag: v1.31.0
---
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: GitRepository
metadata:
  name: platform-edge
  namespace: flux-system
spec:
  interval: 1m
  url: ssh://git@github.com/acme/platform-config
  ref:
    branch: main
";
        let list = files(&[("clusters/prod/platform-source.yaml", text)]);
        let (pins, unpinned) = detect(&list, &platform());
        assert_eq!(
            pins,
            vec![Pin {
                kind: PinKind::Flux,
                file: "clusters/prod/platform-source.yaml".into(),
                line: 10,
                column: 10,
                revision: "v1.31.0".into(),
                object: Some("GitRepository flux-system/platform".into()),
            }]
        );
        assert_eq!(
            unpinned,
            vec![Unpinned {
                file: "clusters/prod/platform-source.yaml".into(),
                line: Some(21),
                reason: "Flux GitRepository flux-system/platform-edge follows branch main".into(),
            }]
        );
    }

    #[test]
    fn ake_version_file_is_a_pin() {
        let text = "# platform release this repository follows\n\n  v1.31.0  \n";
        let list = files(&[("deploy/.ake-version", text)]);
        let (pins, unpinned) = detect(&list, &platform());
        assert!(unpinned.is_empty(), "{unpinned:?}");
        assert_eq!(
            pins,
            vec![Pin {
                kind: PinKind::AkeVersion,
                file: "deploy/.ake-version".into(),
                line: 3,
                column: 3,
                revision: "v1.31.0".into(),
                object: None,
            }]
        );

        let (pins, unpinned) = detect(
            &files(&[(".ake-version", "v1.30.0\nv1.31.0\n")]),
            &platform(),
        );
        assert!(pins.is_empty());
        assert_eq!(unpinned.len(), 1);
        assert_eq!(unpinned[0].line, Some(2));
    }

    #[test]
    fn look_alike_repository_does_not_match() {
        let p = platform();
        for other in [
            "https://github.com/acme/platform-config-old",
            "https://github.com/acme/platform-config-old.git//x?ref=v1",
            "https://github.com/acme/platform-configs",
            "https://github.com/acme/platform-config.github",
            "https://github.com/acme-labs/platform-config",
            "https://gitlab.com/acme/platform-config",
            "https://github.com/acme",
        ] {
            assert!(!p.matches(other), "{other} must not match");
        }
        let text = "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: legacy
spec:
  source:
    repoURL: https://github.com/acme/platform-config-old.git
    targetRevision: v0.9.0
";
        let (pins, unpinned) = detect(&files(&[("legacy.yaml", text)]), &p);
        assert!(pins.is_empty() && unpinned.is_empty());
    }

    #[test]
    fn scp_like_ssh_and_other_spellings_match() {
        let p = platform();
        for url in [
            "git@github.com:acme/platform-config.git",
            "git@github.com:acme/platform-config.git//bundles/x?ref=v1.31.0",
            "ssh://git@github.com/acme/platform-config.git/x?ref=v1",
            "ssh://git@github.com:22/acme/platform-config.git",
            "git::ssh://git@github.com/acme/platform-config.git?ref=v1",
            "git+https://github.com/acme/platform-config",
            "HTTPS://GitHub.com/ACME/platform-config/",
            "http://github.com/acme/platform-config?ref=v1",
            "github.com/acme/platform-config",
        ] {
            assert!(p.matches(url), "{url} must match");
        }
        let ghe = PlatformRepo::new(
            "acme/platform-config",
            &["https://git.example.com/acme/platform-config.git".to_string()],
        );
        assert!(ghe.matches("git@git.example.com:acme/platform-config//x?ref=v1"));
        assert!(ghe.matches("https://github.com/acme/platform-config"));
        assert!(!ghe.matches("https://git.example.com/acme/platform-config-old"));
    }

    #[test]
    fn each_yaml_document_gets_its_own_line() {
        let text = "\
---
# first: the addons
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: addons, namespace: argocd}
spec:
  source:
    repoURL: https://github.com/acme/platform-config
    targetRevision: v1.31.0
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: unrelated
data:
  targetRevision: v9.9.9
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: policies
spec:
  source:
    repoURL: https://github.com/acme/platform-config
    targetRevision: v1.30.0
...
";
        let list = files(&[("apps.yaml", text)]);
        let (pins, unpinned) = detect(&list, &platform());
        assert!(unpinned.is_empty(), "{unpinned:?}");
        let found: Vec<_> = pins
            .iter()
            .map(|p| (p.line, p.revision.as_str(), p.object.as_deref()))
            .collect();
        assert_eq!(
            found,
            vec![
                (9, "v1.31.0", Some("Application argocd/addons")),
                (25, "v1.30.0", Some("Application policies")),
            ]
        );
        assert_points_at_revision(&list, &pins);
    }

    #[test]
    fn quoted_values_point_inside_the_quotes() {
        let text = "\
apiVersion: 'argoproj.io/v1alpha1'
kind: \"Application\"
metadata:
  name: q
spec:
  \"source\":
    'repoURL': \"https://github.com/acme/platform-config\"
    targetRevision: \"v1.31.0\"   # double
---
resources:
- 'https://github.com/acme/platform-config//x?ref=v1.31.0'
";
        let list = files(&[
            ("q.yaml", text),
            (
                "k/kustomization.yml",
                text.split("---\n").nth(1).unwrap_or(""),
            ),
        ]);
        let (pins, unpinned) = detect(&list, &platform());
        assert!(unpinned.is_empty(), "{unpinned:?}");
        let found: Vec<_> = pins.iter().map(|p| (p.kind, p.line, p.column)).collect();
        assert_eq!(
            found,
            vec![
                (PinKind::ArgoApplication, 8, 22),
                (PinKind::Kustomize, 2, 51)
            ]
        );
        assert_points_at_revision(&list, &pins);
    }

    #[test]
    fn a_broken_yaml_file_is_reported_and_the_others_still_detected() {
        let broken = "\
apiVersion: argoproj.io/v1alpha1
kind: Application
spec:
  source:
    repoURL: https://github.com/acme/platform-config
    targetRevision: [v1.31.0
";
        let list = files(&[
            ("broken.yaml", broken),
            ("apps/payments.yaml", APPLICATION),
            (
                "README.md",
                "repoURL: https://github.com/acme/platform-config\n",
            ),
            (
                "main.tf",
                "module \"p\" {\n  source = \"github.com/acme/platform-config?ref=v1.31.0\"\n}\n",
            ),
        ]);
        let (pins, unpinned) = detect(&list, &platform());
        assert_eq!(unpinned.len(), 1, "{unpinned:?}");
        assert_eq!(unpinned[0].file, PathBuf::from("broken.yaml"));
        assert!(
            unpinned[0]
                .reason
                .starts_with("a file that cannot be parsed: "),
            "{unpinned:?}"
        );
        assert!(unpinned[0].line.is_some());
        let kinds: Vec<_> = pins.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, vec![PinKind::ArgoApplication, PinKind::Terraform]);
    }

    #[test]
    fn flow_style_revision_is_reported_not_guessed() {
        let text = "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: flow
spec:
  source: {repoURL: 'https://github.com/acme/platform-config', targetRevision: v1.31.0}
";
        let (pins, unpinned) = detect(&files(&[("flow.yaml", text)]), &platform());
        assert!(pins.is_empty());
        assert_eq!(unpinned.len(), 1);
        assert!(
            unpinned[0]
                .reason
                .contains("pins v1.31.0, but its text could not be found"),
            "{unpinned:?}"
        );
    }

    #[test]
    fn rewrite_changes_only_the_revision_bytes() {
        let list = files(&[("apps/payments.yaml", APPLICATION)]);
        let (pins, _) = detect(&list, &platform());
        let pins: Vec<&Pin> = pins.iter().collect();
        let out = rewrite(APPLICATION, &pins, "v1.32.0").expect("rewrites");
        assert_eq!(
            out,
            APPLICATION.replace("v1.31.0 # pinned", "v1.32.0 # pinned")
        );

        // Two pins on one file, one of them inside a quoted URL with other query params.
        let text = "resources:\r\n- \"github.com/acme/platform-config//a?ref=v1.31.0&timeout=90s\"\r\n- https://github.com/acme/platform-config//b?ref=v1.31.0 # b\r\n";
        let list = files(&[("kustomization.yaml", text)]);
        let (pins, unpinned) = detect(&list, &platform());
        assert!(unpinned.is_empty(), "{unpinned:?}");
        let pins: Vec<&Pin> = pins.iter().collect();
        assert_eq!(pins.len(), 2);
        let out = rewrite(text, &pins, "v1.32.0-rc.1").expect("rewrites");
        assert_eq!(
            out,
            "resources:\r\n- \"github.com/acme/platform-config//a?ref=v1.32.0-rc.1&timeout=90s\"\r\n- https://github.com/acme/platform-config//b?ref=v1.32.0-rc.1 # b\r\n"
        );

        let ake = "# pinned\nv1.31.0\n";
        let (pins, _) = detect(&files(&[(".ake-version", ake)]), &platform());
        let out = rewrite(ake, &pins.iter().collect::<Vec<_>>(), "v1.32.0").expect("rewrites");
        assert_eq!(out, "# pinned\nv1.32.0\n");
    }

    #[test]
    fn rewrite_refuses_a_stale_position() {
        let (pins, _) = detect(&files(&[("apps/payments.yaml", APPLICATION)]), &platform());
        let pins: Vec<&Pin> = pins.iter().collect();
        // Someone bumped it by hand since the file was read.
        let edited = APPLICATION.replace("v1.31.0", "v1.31.1");
        let err = rewrite(&edited, &pins, "v1.32.0").expect_err("stale");
        assert!(err.contains("apps/payments.yaml:16:21"), "{err}");
        // A longer revision at the same place is not the pinned one either.
        let edited = APPLICATION.replace("v1.31.0", "v1.31.0-rc.1");
        assert!(rewrite(&edited, &pins, "v1.32.0").is_err());
        // A line added above moves the pin.
        let edited = format!("# moved\n{APPLICATION}");
        assert!(rewrite(&edited, &pins, "v1.32.0").is_err());
        // And nothing that would break the file's syntax is written.
        assert!(rewrite(APPLICATION, &pins, "v1 # x").is_err());
    }

    #[test]
    fn other_files_are_ignored() {
        let list = files(&[
            ("README.md", "targetRevision: v1.31.0\n"),
            ("values.json", "{}"),
            (
                "notes.txt",
                "https://github.com/acme/platform-config?ref=v1.31.0",
            ),
        ]);
        let (pins, unpinned) = detect(&list, &platform());
        assert!(pins.is_empty() && unpinned.is_empty());
    }

    #[test]
    fn pin_kind_names_for_people_and_json() {
        assert_eq!(PinKind::Terraform.to_string(), "Terraform/OpenTofu module");
        assert_eq!(
            serde_json::to_string(&PinKind::ArgoApplicationSet).expect("serialises"),
            "\"argo-application-set\""
        );
    }
}
