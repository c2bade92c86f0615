//! `tenants.toml`: the repositories that pin this platform's tags, for `ake-bot tenants`.
//!
//! A file of its own rather than a table in `branches.toml`: the train changes by reviewed
//! PRs (`branch cut`, caps) and is carried to every release branch, while the tenant list
//! changes whenever a team onboards, and is read from `main` only.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use toml_edit::{Item, TableLike};

use super::error::ConfigError;
use super::toml_doc::{Pos, Reader};

/// The tenants file, at the repository root (read from `main`).
pub const TENANTS_FILE: &str = "tenants.toml";

/// The parsed tenant list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenants {
    /// How tenants name this repository besides `github.com/<owner>/<repo>`: GitHub Enterprise
    /// hosts, mirrors (`[platform] urls`).
    pub platform_urls: Vec<String>,
    /// `[platform] repository`; default: the GitHub repository the bot runs for.
    pub platform_repository: Option<String>,
    pub tenants: Vec<Tenant>,
}

/// One tenant repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    /// How the tenant is named in output: `name`, else the GitHub repository, else the URL.
    pub name: String,
    /// `owner/repo` on GitHub, where pull requests go. `None`: a git repository that is not on
    /// GitHub (readiness is reported; no PR can be opened).
    pub github: Option<String>,
    /// The git URL to clone, when given (else derived from the GitHub server URL).
    pub url: Option<String>,
    /// Where to look for pins and manifests (empty: the whole repository).
    pub paths: Vec<PathBuf>,
    /// The branch PRs target (default: the repository's default branch).
    pub branch: Option<String>,
}

impl Tenant {
    /// The URL git clones: the explicit one, else `<server>/<owner>/<repo>.git`.
    pub fn clone_url(&self, server_url: &str) -> Option<String> {
        self.url.clone().or_else(|| {
            self.github
                .as_ref()
                .map(|g| format!("{}/{g}.git", server_url.trim_end_matches('/')))
        })
    }
}

const TOP_KEYS: &[&str] = &["platform", "tenant"];
const PLATFORM_KEYS: &[&str] = &["repository", "urls"];
const TENANT_KEYS: &[&str] = &["repo", "github", "name", "paths", "branch"];

/// Parse and check `tenants.toml`; every problem at once, each at its line.
pub fn parse(path: &Path, text: &str) -> Result<Tenants, Vec<ConfigError>> {
    let doc = toml_edit::ImDocument::parse(text).map_err(|e| {
        let (line, col) = e
            .span()
            .map(|s| super::error::line_col(text, s.start))
            .unzip();
        vec![ConfigError::new(path, e.message().trim().to_string()).at(line, col)]
    })?;
    let mut r = Reader::new(path, text);
    let root = doc.as_table();
    r.known_keys(root, TOP_KEYS);
    let mut out = Tenants {
        platform_urls: Vec::new(),
        platform_repository: None,
        tenants: Vec::new(),
    };
    if let Some(p) = root.get("platform") {
        match p.as_table_like() {
            Some(t) => {
                r.known_keys(t, PLATFORM_KEYS);
                if let Some((repo, pos)) = r.string(t, "repository") {
                    if is_owner_repo(&repo) {
                        out.platform_repository = Some(repo);
                    } else {
                        r.error(pos, format!("`repository` is {repo:?}, not owner/repo"));
                    }
                }
                out.platform_urls = strings(&mut r, t, "urls");
            }
            None => {
                let pos = r.pos(p.span());
                r.error(pos, "`platform` must be a table");
            }
        }
    }
    let mut names = BTreeSet::new();
    match root.get("tenant") {
        None => {}
        Some(Item::ArrayOfTables(list)) => {
            for t in list.iter() {
                let at = r.pos(t.span());
                if let Some(tenant) = tenant(&mut r, t, at) {
                    if !names.insert(tenant.name.clone()) {
                        r.error(at, format!("tenant {:?} is listed twice", tenant.name));
                    }
                    out.tenants.push(tenant);
                }
            }
        }
        Some(other) => {
            let pos = r.pos(other.span());
            let e = r
                .at(pos, "`tenant` must be a list of tables")
                .hint("write each tenant as a [[tenant]] table");
            r.errors.push(e);
        }
    }
    if r.errors.is_empty() {
        Ok(out)
    } else {
        Err(r.errors)
    }
}

fn tenant(r: &mut Reader<'_>, t: &dyn TableLike, at: Pos) -> Option<Tenant> {
    r.known_keys(t, TENANT_KEYS);
    let (repo, repo_pos) = r.required_string(t, "repo", "[[tenant]]", at)?;
    let explicit = r.string(t, "github");
    let (github, url) = if is_owner_repo(&repo) {
        (Some(repo.clone()), None)
    } else if is_git_url(&repo) {
        (github_of_url(&repo), Some(repo.clone()))
    } else {
        let e = r
            .at(
                repo_pos,
                format!("`repo` is {repo:?}: neither owner/repo nor a git URL"),
            )
            .hint("write repo = \"acme/payments\" or repo = \"https://git.example.com/acme/payments.git\"");
        r.errors.push(e);
        return None;
    };
    if let Some(u) = url.as_deref().and_then(|u| url::Url::parse(u).ok()) {
        let http = u.scheme().starts_with("http");
        if u.password().is_some() || (http && !u.username().is_empty()) {
            let e = r
                .at(
                    repo_pos,
                    "the URL carries credentials: they would reach logs and git's config",
                )
                .hint("give the URL without them, and the token in AKE_BOT_TENANTS_TOKEN");
            r.errors.push(e);
            return None;
        }
    }
    let github = match explicit {
        Some((g, pos)) if !is_owner_repo(&g) => {
            r.error(pos, format!("`github` is {g:?}, not owner/repo"));
            return None;
        }
        Some((g, _)) => Some(g),
        None => github,
    };
    let mut paths = Vec::new();
    let list = strings(r, t, "paths");
    for p in list {
        let path = PathBuf::from(p.trim_end_matches('/'));
        let safe = !p.is_empty()
            && path
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if safe {
            paths.push(path);
        } else {
            let pos = r.key_pos(t, "paths");
            r.error(
                pos,
                format!("path {p:?} must be relative and stay inside the repository"),
            );
        }
    }
    let branch = r.string(t, "branch").map(|(b, _)| b);
    let name = r
        .string(t, "name")
        .map(|(n, _)| n)
        .or_else(|| github.clone())
        .unwrap_or_else(|| repo.clone());
    Some(Tenant {
        name,
        github,
        url,
        paths,
        branch,
    })
}

/// A list of strings (`key = ["a", "b"]`); wrong types are recorded.
fn strings(r: &mut Reader<'_>, t: &dyn TableLike, key: &str) -> Vec<String> {
    let Some(item) = t.get(key) else {
        return Vec::new();
    };
    let pos = r.pos(item.span());
    match item.as_array() {
        Some(a) if a.iter().all(|v| v.as_str().is_some()) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => {
            r.error(pos, format!("`{key}` must be a list of strings"));
            Vec::new()
        }
    }
}

fn is_owner_repo(s: &str) -> bool {
    let ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    };
    matches!(s.split_once('/'), Some((o, r)) if ok(o) && ok(r))
}

fn is_git_url(s: &str) -> bool {
    s.contains("://") || (s.starts_with("git@") && s.contains(':'))
}

/// `owner/repo` of a github.com git URL (https, ssh or scp-like).
fn github_of_url(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://github.com/")
        .or_else(|| url.strip_prefix("ssh://git@github.com/"))
        .or_else(|| url.strip_prefix("git@github.com:"))?;
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix(".git").unwrap_or(rest);
    is_owner_repo(rest).then(|| rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Tenants {
        parse(Path::new(TENANTS_FILE), text).expect("valid")
    }

    fn errors(text: &str) -> Vec<String> {
        parse(Path::new(TENANTS_FILE), text)
            .expect_err("invalid")
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn tenants_are_github_repositories_or_git_urls() {
        let t = parse_ok(
            r#"
[platform]
urls = ["https://git.example.com/acme/platform-config"]

[[tenant]]
repo = "acme/payments"
paths = ["deploy/", "clusters/prod"]

[[tenant]]
repo = "https://github.com/acme/search.git"
branch = "trunk"

[[tenant]]
name = "ledger"
repo = "https://git.example.com/finance/ledger.git"
"#,
        );
        assert_eq!(
            t.platform_urls,
            ["https://git.example.com/acme/platform-config"]
        );
        let [a, b, c] = &t.tenants[..] else {
            panic!("three tenants: {t:?}")
        };
        assert_eq!(a.github.as_deref(), Some("acme/payments"));
        assert_eq!(
            a.paths,
            [PathBuf::from("deploy"), PathBuf::from("clusters/prod")]
        );
        assert_eq!(
            a.clone_url("https://github.com").as_deref(),
            Some("https://github.com/acme/payments.git")
        );
        assert_eq!(b.github.as_deref(), Some("acme/search"));
        assert_eq!(b.branch.as_deref(), Some("trunk"));
        assert_eq!(c.name, "ledger");
        assert_eq!(c.github, None, "not on GitHub: no PRs");
        assert_eq!(
            c.clone_url("https://github.com").as_deref(),
            Some("https://git.example.com/finance/ledger.git")
        );
    }

    #[test]
    fn every_mistake_is_reported_at_its_line() {
        let e = errors(
            r#"[[tenant]]
repo = "payments"
[[tenant]]
repo = "acme/a"
pahts = ["x"]
[[tenant]]
repo = "acme/a"
paths = ["../outside"]
[[tenant]]
repo = "https://x-access-token:ghp_secret@github.com/acme/b.git"
"#,
        );
        assert!(
            e.iter()
                .any(|m| m.starts_with("tenants.toml:10:") && m.contains("carries credentials")),
            "{e:?}"
        );
        assert!(!e.iter().any(|m| m.contains("ghp_secret")), "{e:?}");
        assert!(
            e.iter().any(|m| m.starts_with("tenants.toml:2:")
                && m.contains("neither owner/repo nor a git URL")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m.contains("unknown field `pahts`") && m.contains("did you mean `paths`")),
            "{e:?}"
        );
        assert!(e.iter().any(|m| m.contains("\"../outside\"")), "{e:?}");
        assert!(
            e.iter().any(|m| m.contains("\"acme/a\" is listed twice")),
            "{e:?}"
        );
    }
}
