//! The fake GitHub over HTTP: one wiremock responder that routes by GitHub's own description,
//! validates the request, answers from the world, and validates its own answer. Anything
//! undocumented or unmodelled is recorded as a violation and fails the test at `finish`.
//!
//! The API is served at the root (as `api.github.com`) and also under `/api/v3` (as GitHub
//! Enterprise Server serves it), so a client can be given an API base with a path. Release
//! asset bytes are served outside the API, at `/_storage/<asset id>` (where
//! `repos/get-release-asset` redirects `Accept: application/octet-stream` requests, as GitHub
//! redirects to its pre-signed storage URLs): that path is not checked against the REST
//! description, and a request there carrying `Authorization` is a violation, because a client
//! must not hand its GitHub token to the storage host.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::openapi::{OpenApi, Operation};
use super::world::{FakeGitHub, Fault, Issue, Pull, Recorded, UpstreamRelease, STORAGE_OPERATION};

/// A running fake.
pub struct FakeGitHubServer {
    server: MockServer,
    world: Arc<Mutex<FakeGitHub>>,
    /// `finish` ran: its checks passed, or the test is failing already.
    checked: bool,
}

impl FakeGitHubServer {
    pub async fn start(world: FakeGitHub) -> FakeGitHubServer {
        let server = MockServer::start().await;
        let world = Arc::new(Mutex::new(world));
        Mock::given(wiremock::matchers::any())
            .respond_with(Dispatcher {
                world: world.clone(),
            })
            .mount(&server)
            .await;
        FakeGitHubServer {
            server,
            world,
            checked: false,
        }
    }

    /// The API base URL to give the client (`GITHUB_API_URL`).
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn world(&self) -> MutexGuard<'_, FakeGitHub> {
        self.world
            .lock()
            .expect("the fake's lock is never poisoned unless a test already failed")
    }

    /// End the test: fail on any contract violation or injected fault that never fired, and
    /// hand back the world for assertions.
    pub fn finish(mut self) -> FakeGitHub {
        self.checked = true;
        // The mock server may still hold a handle to the world; take a copy of its state.
        let world = self.world.lock().expect("lock").clone();
        check_expectations(&world);
        world
    }
}

/// A test that forgets `finish` still fails on what the fake saw: checked when it is dropped
/// (unless the test is already panicking, so the first failure is the one reported).
impl Drop for FakeGitHubServer {
    fn drop(&mut self) {
        if self.checked || std::thread::panicking() {
            return;
        }
        let world = match self.world.lock() {
            Ok(w) => w.clone(),
            Err(_) => return,
        };
        check_expectations(&world);
    }
}

fn check_expectations(world: &FakeGitHub) {
    let violations: Vec<&String> = world
        .violations
        .iter()
        .chain(world.repos.values().flat_map(|r| r.violations.iter()))
        .collect();
    assert!(
        violations.is_empty(),
        "the fake GitHub saw contract violations:\n{}",
        violations
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        world.faults.is_empty(),
        "faults were injected that no request met (the test does not test what it says): {:?}",
        world.faults
    );
}

struct Dispatcher {
    world: Arc<Mutex<FakeGitHub>>,
}

impl Respond for Dispatcher {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut w = self.world.lock().expect("lock");
        let method = req.method.as_str().to_string();
        let path = req.url.path().to_string();
        // wiremock's URL has no port (HTTP/1.1 requests carry only the path): the Host header
        // has what the client connected to, for the absolute URLs GitHub puts in its answers.
        let host = req
            .headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost")
            .to_string();
        let origin = format!("http://{host}");
        if let Some(id) = path.strip_prefix(STORAGE_PREFIX) {
            return storage(&mut w, req, &method, &path, id);
        }
        let (api_path, api_base) = match path.strip_prefix(ENTERPRISE_PREFIX) {
            Some(rest) if rest.starts_with('/') => {
                (rest.to_string(), format!("{origin}{ENTERPRISE_PREFIX}"))
            }
            _ => (path.clone(), origin.clone()),
        };
        let Some((op, params)) = OpenApi::get().route(&method, &api_path) else {
            let msg = format!("undocumented route: {method} {path}");
            w.violations.push(msg.clone());
            return ResponseTemplate::new(500).set_body_json(json!({ "message": msg }));
        };
        let record = |w: &mut FakeGitHub, status: u16| {
            w.requests.push(Recorded {
                method: method.clone(),
                path: path.clone(),
                operation: op.id.clone(),
                status,
            })
        };
        if let Some(token) = &w.token {
            let auth = req
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let ok = auth
                .strip_prefix("Bearer ")
                .or_else(|| auth.strip_prefix("token "))
                == Some(token.as_str());
            if !ok {
                record(&mut w, 401);
                return ResponseTemplate::new(401).set_body_json(json!({
                    "message": "Bad credentials",
                    "documentation_url": "https://docs.github.com/rest"
                }));
            }
        }
        let full_name = format!(
            "{}/{}",
            params.get("owner").map_or("", String::as_str),
            params.get("repo").map_or("", String::as_str)
        );
        let upstream = w.upstream.contains_key(&full_name);
        let config_repo =
            params.get("owner") == Some(&w.owner) && params.get("repo") == Some(&w.repo);
        let other_repo = w.repos.contains_key(&full_name);
        if !upstream && !config_repo && !other_repo {
            record(&mut w, 404);
            return not_found();
        }
        if upstream && !UPSTREAM_OPERATIONS.contains(&op.id.as_str()) {
            let msg = format!(
                "{} on the upstream repository {full_name} is not modelled by the fake",
                op.id
            );
            w.violations.push(msg.clone());
            record(&mut w, 501);
            return ResponseTemplate::new(501).set_body_json(json!({ "message": msg }));
        }
        let body: Option<Value> = if req.body.is_empty() {
            None
        } else {
            match serde_json::from_slice(&req.body) {
                Ok(v) => Some(v),
                Err(e) => {
                    w.violations
                        .push(format!("{}: request body is not JSON: {e}", op.id));
                    return ResponseTemplate::new(400);
                }
            }
        };
        if let Err(e) = op.check_request(body.as_ref()) {
            w.violations.push(e.clone());
            record(&mut w, 422);
            return ResponseTemplate::new(422).set_body_json(json!({ "message": e }));
        }
        // GitHub ignores unknown keys; we don't, so a misspelt optional field is caught too.
        if let Some(Value::Object(m)) = &body {
            let known = op.request_properties();
            for k in m.keys().filter(|k| !known.contains(k)) {
                w.violations
                    .push(format!("{}: request has undocumented key {k:?}", op.id));
            }
        }
        if let Some(fault) = w.take_fault(&op.id) {
            let (status, t) = fault_response(&fault);
            record(&mut w, status);
            return t;
        }
        let query: Vec<(String, String)> = req
            .url
            .query_pairs()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        if UPSTREAM_OPERATIONS.contains(&op.id.as_str()) {
            let accept = req
                .headers
                .get("accept")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let ctx = ReleaseCtx {
                repo: full_name.clone(),
                api_base: &api_base,
                origin: &origin,
                octet_stream: accept.contains("application/octet-stream"),
            };
            let (status, out, headers) = handle_releases(&w, op, &params, &query, &ctx);
            if (200..300).contains(&status) {
                if let Err(e) = op.check_response(status, &out) {
                    w.violations.push(e);
                }
            }
            record(&mut w, status);
            let mut t = ResponseTemplate::new(status);
            for (k, v) in headers {
                t = t.insert_header(k, v.as_str());
            }
            return if out.is_null() {
                t
            } else {
                t.set_body_json(out)
            };
        }
        let (status, out) = match w.repos.get_mut(&full_name).filter(|_| !config_repo) {
            Some(other) => handle(other, op, &params, &query, body.as_ref()),
            None => handle(&mut w, op, &params, &query, body.as_ref()),
        };
        if (200..300).contains(&status) {
            if let Err(e) = op.check_response(status, &out) {
                w.violations.push(e);
            }
        }
        record(&mut w, status);
        let t = ResponseTemplate::new(status);
        if out.is_null() {
            t
        } else {
            t.set_body_json(out)
        }
    }
}

/// Where asset bytes are served, outside the API.
const STORAGE_PREFIX: &str = "/_storage/";
/// The API path prefix of GitHub Enterprise Server.
const ENTERPRISE_PREFIX: &str = "/api/v3";
/// The operations an upstream repository answers (it has releases, nothing else).
const UPSTREAM_OPERATIONS: &[&str] = &["repos/list-releases", "repos/get-release-asset"];

/// The asset download from storage. Not part of the REST API, so not checked against it; but
/// real storage URLs are pre-signed, and a client that sends its GitHub token there leaks it.
fn storage(
    w: &mut FakeGitHub,
    req: &Request,
    method: &str,
    path: &str,
    id: &str,
) -> ResponseTemplate {
    let record = |w: &mut FakeGitHub, status: u16| {
        w.requests.push(Recorded {
            method: method.to_string(),
            path: path.to_string(),
            operation: STORAGE_OPERATION.to_string(),
            status,
        })
    };
    if req.headers.contains_key("authorization") {
        w.violations.push(format!(
            "{method} {path}: the storage download received an Authorization header (the token leaked past the API)"
        ));
        record(w, 400);
        // What S3 answers when a pre-signed URL also carries credentials.
        return ResponseTemplate::new(400).set_body_string(
            "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>",
        );
    }
    if method != "GET" {
        w.violations
            .push(format!("{method} {path}: storage only answers GET"));
        record(w, 405);
        return ResponseTemplate::new(405);
    }
    if let Some(fault) = w.take_fault(STORAGE_OPERATION) {
        let (status, t) = fault_response(&fault);
        record(w, status);
        return t;
    }
    let bytes = id
        .parse::<u64>()
        .ok()
        .and_then(|id| w.upstream_asset(id).map(|(_, _, a)| a.bytes.clone()));
    match bytes {
        Some(b) => {
            record(w, 200);
            ResponseTemplate::new(200).set_body_raw(b, "application/octet-stream")
        }
        None => {
            record(w, 404);
            ResponseTemplate::new(404).set_body_string("<Error><Code>NoSuchKey</Code></Error>")
        }
    }
}

/// What the release handlers need besides the world.
struct ReleaseCtx<'a> {
    /// `owner/name` of the repository asked about.
    repo: String,
    /// The API base the request came in on (with `/api/v3` if it did), for absolute URLs.
    api_base: &'a str,
    /// The server's origin, for storage URLs.
    origin: &'a str,
    /// The client asked for the asset's bytes, not its JSON.
    octet_stream: bool,
}

/// `repos/list-releases` and `repos/get-release-asset`, for upstream repositories and the
/// config repository (whose releases the bot publishes; they have no assets).
fn handle_releases(
    w: &FakeGitHub,
    op: &Operation,
    params: &std::collections::BTreeMap<String, String>,
    query: &[(String, String)],
    ctx: &ReleaseCtx<'_>,
) -> (u16, Value, Vec<(&'static str, String)>) {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    // The config repository's releases, as upstream releases without assets.
    let own: Vec<UpstreamRelease>;
    let releases: &[UpstreamRelease] = match w.upstream.get(&ctx.repo) {
        Some(r) => r,
        None => {
            own = w
                .releases
                .iter()
                .map(|r| UpstreamRelease {
                    id: r.id,
                    tag: r.tag.clone(),
                    draft: false,
                    prerelease: false,
                    published_at: Some("2026-01-01T00:00:00Z".into()),
                    assets: Vec::new(),
                })
                .collect();
            &own
        }
    };
    match op.id.as_str() {
        "repos/list-releases" => {
            // GitHub caps per_page at 100 and lists the newest first.
            let per_page: usize = q("per_page")
                .and_then(|n| n.parse().ok())
                .unwrap_or(30)
                .clamp(1, 100);
            let page: usize = q("page").and_then(|n| n.parse().ok()).unwrap_or(1).max(1);
            let list: Vec<Value> = releases
                .iter()
                .rev()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|r| upstream_release_json(ctx, r))
                .collect();
            let last = releases.len().div_ceil(per_page).max(1);
            let link = |p: usize, rel: &str| {
                format!(
                    "<{}/repos/{}/releases?per_page={per_page}&page={p}>; rel=\"{rel}\"",
                    ctx.api_base, ctx.repo
                )
            };
            // GitHub's order: prev, next, last, first; only those that exist.
            let mut links = Vec::new();
            if page > 1 {
                links.push(link(page - 1, "prev"));
            }
            if page < last {
                links.push(link(page + 1, "next"));
                links.push(link(last, "last"));
            }
            if page > 1 {
                links.push(link(1, "first"));
            }
            let headers = if links.is_empty() {
                Vec::new()
            } else {
                vec![("link", links.join(", "))]
            };
            (200, Value::Array(list), headers)
        }
        "repos/get-release-asset" => {
            let id = params.get("asset_id").and_then(|n| n.parse::<u64>().ok());
            let found = releases
                .iter()
                .find_map(|r| r.assets.iter().find(|a| Some(a.id) == id).map(|a| (r, a)));
            match found {
                None => (404, not_found_json(), Vec::new()),
                Some((_, a)) if ctx.octet_stream => (
                    302,
                    Value::Null,
                    vec![(
                        "location",
                        format!("{}{STORAGE_PREFIX}{}", ctx.origin, a.id),
                    )],
                ),
                Some((r, a)) => (200, upstream_asset_json(ctx, r, a), Vec::new()),
            }
        }
        other => unreachable!("{other} is not a release operation"),
    }
}

fn upstream_release_json(ctx: &ReleaseCtx<'_>, r: &UpstreamRelease) -> Value {
    let mut v = OpenApi::get()
        .operation("repos/get-release-by-tag")
        .skeleton(200);
    v["id"] = json!(r.id);
    v["tag_name"] = json!(r.tag);
    v["name"] = json!(r.tag);
    v["draft"] = json!(r.draft);
    v["prerelease"] = json!(r.prerelease);
    v["published_at"] = json!(r.published_at);
    v["url"] = json!(format!(
        "{}/repos/{}/releases/{}",
        ctx.api_base, ctx.repo, r.id
    ));
    v["html_url"] = json!(format!(
        "https://github.com/{}/releases/tag/{}",
        ctx.repo, r.tag
    ));
    v["assets"] = Value::Array(
        r.assets
            .iter()
            .map(|a| upstream_asset_json(ctx, r, a))
            .collect(),
    );
    v
}

fn upstream_asset_json(
    ctx: &ReleaseCtx<'_>,
    r: &UpstreamRelease,
    a: &super::world::UpstreamAsset,
) -> Value {
    let mut v = OpenApi::get()
        .operation("repos/get-release-asset")
        .skeleton(200);
    v["id"] = json!(a.id);
    v["name"] = json!(a.name);
    v["size"] = json!(a.bytes.len());
    v["digest"] = json!(a.digest);
    v["state"] = json!("uploaded");
    v["content_type"] = json!("application/octet-stream");
    v["url"] = json!(format!(
        "{}/repos/{}/releases/assets/{}",
        ctx.api_base, ctx.repo, a.id
    ));
    v["browser_download_url"] = json!(format!(
        "https://github.com/{}/releases/download/{}/{}",
        ctx.repo, r.tag, a.name
    ));
    v
}

fn not_found_json() -> Value {
    json!({
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest"
    })
}

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest"
    }))
}

fn fault_response(f: &Fault) -> (u16, ResponseTemplate) {
    match f {
        Fault::Status(s) => (
            *s,
            ResponseTemplate::new(*s).set_body_json(json!({ "message": format!("injected {s}") })),
        ),
        Fault::RateLimited { retry_after_secs } => (
            403,
            ResponseTemplate::new(403)
                .insert_header("retry-after", retry_after_secs.to_string().as_str())
                .insert_header("x-ratelimit-remaining", "0")
                .set_body_json(json!({
                    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                })),
        ),
        Fault::TooManyRequests { retry_after_secs } => (
            429,
            ResponseTemplate::new(429)
                .insert_header("retry-after", retry_after_secs.to_string().as_str())
                .set_body_json(json!({
                    "message": "API rate limit exceeded",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                })),
        ),
        Fault::Hang => (0, ResponseTemplate::new(500).set_delay(Duration::from_secs(3600))),
    }
}

fn unprocessable(message: &str, field: &str) -> (u16, Value) {
    (
        422,
        json!({
            "message": message,
            "errors": [{ "resource": "PullRequest", "field": field, "code": "invalid" }],
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"
        }),
    )
}

fn handle(
    w: &mut FakeGitHub,
    op: &Operation,
    params: &std::collections::BTreeMap<String, String>,
    query: &[(String, String)],
    body: Option<&Value>,
) -> (u16, Value) {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let b = |k: &str| body.and_then(|b| b.get(k));
    let bs = |k: &str| b(k).and_then(Value::as_str).map(str::to_string);
    let number = |k: &str| params.get(k).and_then(|n| n.parse::<u64>().ok());
    match op.id.as_str() {
        "repos/get" => {
            let mut v = op.skeleton(200);
            v["name"] = json!(w.repo);
            v["full_name"] = json!(format!("{}/{}", w.owner, w.repo));
            v["default_branch"] = json!(w.default_branch);
            v["owner"]["login"] = json!(w.owner);
            (200, v)
        }
        "pulls/list" => {
            let state = q("state").unwrap_or("open");
            let head = q("head").map(|h| h.split_once(':').map_or(h, |(_, b)| b).to_string());
            let base = q("base");
            let list: Vec<Value> = w
                .pulls
                .iter()
                .filter(|p| state == "all" || p.state == state)
                .filter(|p| head.as_deref().is_none_or(|h| p.head == h))
                .filter(|p| base.is_none_or(|bn| p.base == bn))
                .map(|p| pull_json(w, p))
                .collect();
            (200, Value::Array(list))
        }
        "pulls/create" => {
            let (Some(head), Some(base)) = (bs("head"), bs("base")) else {
                return unprocessable("Validation Failed", "head");
            };
            let head_branch = head
                .split_once(':')
                .map_or(head.as_str(), |(_, b)| b)
                .to_string();
            if w.branch_sha(&head_branch).is_none() {
                return unprocessable("Validation Failed", "head");
            }
            if w.pulls
                .iter()
                .any(|p| p.state == "open" && p.head == head_branch && p.base == base)
            {
                return unprocessable(
                    &format!(
                        "A pull request already exists for {}:{head_branch}.",
                        w.owner
                    ),
                    "head",
                );
            }
            let number = w.next_id();
            let pull = Pull {
                number,
                title: bs("title").unwrap_or_default(),
                body: bs("body").unwrap_or_default(),
                state: "open".into(),
                merged: false,
                draft: b("draft").and_then(Value::as_bool).unwrap_or(false),
                head: head_branch,
                base,
                labels: Vec::new(),
                merge_commit_sha: None,
            };
            w.pulls.push(pull.clone());
            (201, pull_json(w, &pull))
        }
        "repos/list-pull-requests-associated-with-commit" => {
            // GitHub lists the PR that merged the commit, and open PRs whose head holds it.
            let sha = params.get("commit_sha").cloned().unwrap_or_default();
            let list: Vec<Value> = w
                .pulls
                .iter()
                .filter(|p| {
                    p.merge_commit_sha.as_deref() == Some(sha.as_str())
                        || (p.state == "open"
                            && w.branch_sha(&p.head).as_deref() == Some(sha.as_str()))
                })
                .map(|p| pull_json(w, p))
                .collect();
            (200, Value::Array(list))
        }
        "pulls/get" => match number("pull_number").and_then(|n| w.pull(n).cloned()) {
            Some(p) => (200, pull_json(w, &p)),
            None => (404, json!({ "message": "Not Found" })),
        },
        "pulls/update" => {
            let Some(n) = number("pull_number").filter(|n| w.pull(*n).is_some()) else {
                return (404, json!({ "message": "Not Found" }));
            };
            let p = w.pull_mut(n).expect("checked above");
            if let Some(t) = bs("title") {
                p.title = t;
            }
            if let Some(t) = bs("body") {
                p.body = t;
            }
            if let Some(s) = bs("state") {
                p.state = s;
            }
            if let Some(s) = bs("base") {
                p.base = s;
            }
            let p = p.clone();
            (200, pull_json(w, &p))
        }
        "issues/add-labels" => {
            let Some(n) = number("issue_number").filter(|n| w.pull(*n).is_some()) else {
                return (404, json!({ "message": "Not Found" }));
            };
            let names: Vec<String> = match body {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                _ => b("labels")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|l| {
                                l.as_str().or_else(|| l.get("name").and_then(Value::as_str))
                            })
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            let p = w.pull_mut(n).expect("checked above");
            for l in names {
                if !p.labels.contains(&l) {
                    p.labels.push(l);
                }
            }
            let labels = p.labels.clone();
            (
                200,
                Value::Array(labels.iter().map(|l| label_json(l)).collect()),
            )
        }
        "issues/remove-label" => {
            let (Some(n), Some(name)) = (number("issue_number"), params.get("name")) else {
                return (404, json!({ "message": "Not Found" }));
            };
            match w.pull_mut(n) {
                Some(p) if p.labels.contains(name) => {
                    p.labels.retain(|l| l != name);
                    let labels = p.labels.clone();
                    (
                        200,
                        Value::Array(labels.iter().map(|l| label_json(l)).collect()),
                    )
                }
                _ => (404, json!({ "message": "Label does not exist" })),
            }
        }
        "issues/create-comment" => {
            let Some(n) = number("issue_number").filter(|n| w.exists(*n)) else {
                return (404, json!({ "message": "Not Found" }));
            };
            let id = w.next_id();
            let c = super::world::Comment {
                id,
                issue: n,
                body: bs("body").unwrap_or_default(),
            };
            w.comments.push(c.clone());
            (201, comment_json(op, &c))
        }
        "issues/list-comments" => {
            let n = number("issue_number").unwrap_or(0);
            let list = w
                .comments
                .iter()
                .filter(|c| c.issue == n)
                .map(|c| comment_json(OpenApi::get().operation("issues/create-comment"), c))
                .collect();
            (200, Value::Array(list))
        }
        "issues/update-comment" => {
            let id = number("comment_id").unwrap_or(0);
            let text = bs("body").unwrap_or_default();
            match w.comments.iter_mut().find(|c| c.id == id) {
                Some(c) => {
                    c.body = text;
                    let c = c.clone();
                    (
                        200,
                        comment_json(OpenApi::get().operation("issues/create-comment"), &c),
                    )
                }
                None => (404, json!({ "message": "Not Found" })),
            }
        }
        "issues/list-for-repo" => {
            let state = q("state").unwrap_or("open");
            let labels: Vec<&str> = q("labels")
                .map(|l| l.split(',').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default();
            let per_page: usize = q("per_page").and_then(|n| n.parse().ok()).unwrap_or(30);
            let page: usize = q("page").and_then(|n| n.parse().ok()).unwrap_or(1);
            let desc = q("direction") != Some("asc");
            // GitHub lists pull requests here too (with a `pull_request` key).
            let mut all: Vec<(u64, Value)> = w
                .issues
                .iter()
                .filter(|i| state == "all" || i.state == state)
                .filter(|i| labels.iter().all(|l| i.labels.iter().any(|x| x == l)))
                .map(|i| (i.number, issue_json(op, w, i)))
                .collect();
            all.extend(
                w.pulls
                    .iter()
                    .filter(|p| state == "all" || p.state == state)
                    .filter(|p| labels.iter().all(|l| p.labels.iter().any(|x| x == l)))
                    .map(|p| {
                        let mut v = issue_json(
                            op,
                            w,
                            &Issue {
                                number: p.number,
                                title: p.title.clone(),
                                body: p.body.clone(),
                                state: p.state.clone(),
                                labels: p.labels.clone(),
                            },
                        );
                        v["pull_request"] = json!({
                            "url": format!("https://api.github.com/repos/{}/{}/pulls/{}", w.owner, w.repo, p.number),
                            "html_url": null, "diff_url": null, "patch_url": null
                        });
                        (p.number, v)
                    }),
            );
            all.sort_by_key(|(n, _)| *n);
            if desc {
                all.reverse();
            }
            let list: Vec<Value> = all
                .into_iter()
                .skip((page.max(1) - 1) * per_page)
                .take(per_page)
                .map(|(_, v)| v)
                .collect();
            (200, Value::Array(list))
        }
        "issues/create" => {
            let Some(title) = bs("title") else {
                return (422, json!({ "message": "Validation Failed" }));
            };
            let labels: Vec<String> = b("labels")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|l| {
                            l.as_str().or_else(|| l.get("name").and_then(Value::as_str))
                        })
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let number = w.next_id();
            let issue = Issue {
                number,
                title,
                body: bs("body").unwrap_or_default(),
                state: "open".into(),
                labels,
            };
            w.issues.push(issue.clone());
            (201, issue_json(op, w, &issue))
        }
        "issues/get" => match number("issue_number").and_then(|n| w.issue(n).cloned()) {
            Some(i) => (200, issue_json(op, w, &i)),
            None => (404, json!({ "message": "Not Found" })),
        },
        "issues/update" => {
            let Some(n) = number("issue_number").filter(|n| w.issue(*n).is_some()) else {
                return (404, json!({ "message": "Not Found" }));
            };
            let i = w.issue_mut(n).expect("checked above");
            if let Some(t) = bs("title") {
                i.title = t;
            }
            if let Some(t) = bs("body") {
                i.body = t;
            }
            if let Some(s) = bs("state") {
                i.state = s;
            }
            let i = i.clone();
            (200, issue_json(op, w, &i))
        }
        "repos/get-release-by-tag" => {
            let tag = params.get("tag").cloned().unwrap_or_default();
            match w.releases.iter().find(|r| r.tag == tag).cloned() {
                Some(r) => (200, release_json(op, &r)),
                None => (404, json!({ "message": "Not Found" })),
            }
        }
        "repos/create-release" => {
            let Some(tag) = bs("tag_name") else {
                return (422, json!({ "message": "Validation Failed" }));
            };
            if w.releases.iter().any(|r| r.tag == tag) {
                return (
                    422,
                    json!({ "message": "Validation Failed", "errors": [{ "resource": "Release", "code": "already_exists", "field": "tag_name" }] }),
                );
            }
            let id = w.next_id();
            let r = super::world::Release {
                id,
                tag: tag.clone(),
                name: bs("name").unwrap_or(tag),
                body: bs("body").unwrap_or_default(),
            };
            w.releases.push(r.clone());
            (
                201,
                release_json(OpenApi::get().operation("repos/get-release-by-tag"), &r),
            )
        }
        other => {
            w.violations.push(format!(
                "operation {other} is documented but not modelled by the fake"
            ));
            (501, json!({ "message": format!("{other} not modelled") }))
        }
    }
}

fn release_json(op: &Operation, r: &super::world::Release) -> Value {
    let mut v = op.skeleton(200);
    v["id"] = json!(r.id);
    v["tag_name"] = json!(r.tag);
    v["name"] = json!(r.name);
    v["body"] = json!(r.body);
    v["draft"] = json!(false);
    v["prerelease"] = json!(false);
    v
}

fn issue_json(op: &Operation, w: &FakeGitHub, i: &Issue) -> Value {
    // Every issue operation answers with the same issue schema; take `issues/get`'s skeleton
    // (a list's item or a single object alike).
    let _ = op;
    let mut v = OpenApi::get().operation("issues/get").skeleton(200);
    v["id"] = json!(i.number);
    v["number"] = json!(i.number);
    v["title"] = json!(i.title);
    v["body"] = json!(i.body);
    v["state"] = json!(i.state);
    v["html_url"] = json!(format!(
        "https://github.com/{}/{}/issues/{}",
        w.owner, w.repo, i.number
    ));
    v["url"] = json!(format!(
        "https://api.github.com/repos/{}/{}/issues/{}",
        w.owner, w.repo, i.number
    ));
    v["labels"] = Value::Array(i.labels.iter().map(|l| label_json(l)).collect());
    if let Some(o) = v.as_object_mut() {
        o.remove("pull_request");
    }
    v
}

fn label_json(name: &str) -> Value {
    let mut v = OpenApi::get().operation("issues/add-labels").skeleton(200);
    v = json!([v
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or(json!({}))]);
    let mut l = v[0].take();
    if !l.is_object() {
        l = json!({});
    }
    l["id"] = json!(1);
    l["node_id"] = json!("LA_fake");
    l["url"] = json!(format!("https://api.github.com/fake/labels/{name}"));
    l["name"] = json!(name);
    l["color"] = json!("ededed");
    l["default"] = json!(false);
    // A string, not null: the pull request schemas require it.
    l["description"] = json!("");
    l
}

fn comment_json(op: &Operation, c: &super::world::Comment) -> Value {
    let mut v = op.skeleton(201);
    v["id"] = json!(c.id);
    v["body"] = json!(c.body);
    v["html_url"] = json!(format!(
        "https://github.com/fake/issues/{}#issuecomment-{}",
        c.issue, c.id
    ));
    v
}

fn pull_json(w: &FakeGitHub, p: &Pull) -> Value {
    let mut v = OpenApi::get().operation("pulls/get").skeleton(200);
    v["id"] = json!(p.number);
    v["number"] = json!(p.number);
    v["title"] = json!(p.title);
    v["body"] = json!(p.body);
    v["state"] = json!(p.state);
    v["draft"] = json!(p.draft);
    v["merged"] = json!(p.merged);
    v["merge_commit_sha"] = json!(p.merge_commit_sha);
    v["merged_at"] = if p.merged {
        json!("2026-01-02T00:00:00Z")
    } else {
        Value::Null
    };
    v["html_url"] = json!(format!(
        "https://github.com/{}/{}/pull/{}",
        w.owner, w.repo, p.number
    ));
    v["labels"] = Value::Array(p.labels.iter().map(|l| label_json(l)).collect());
    let sha = |b: &str| w.branch_sha(b).unwrap_or_else(|| "0".repeat(40));
    v["head"]["ref"] = json!(p.head);
    v["head"]["sha"] = json!(sha(&p.head));
    v["head"]["label"] = json!(format!("{}:{}", w.owner, p.head));
    v["base"]["ref"] = json!(p.base);
    v["base"]["sha"] = json!(sha(&p.base));
    v["base"]["label"] = json!(format!("{}:{}", w.owner, p.base));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn raw(uri: &str, request: &str) -> String {
        let addr = uri.trim_start_matches("http://");
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(request.as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    #[tokio::test]
    async fn an_undocumented_route_fails_the_test_loudly() {
        let server = FakeGitHubServer::start(FakeGitHub::new(
            "acme",
            "config",
            std::path::PathBuf::from("/nonexistent"),
        ))
        .await;
        let resp = raw(
            &server.uri(),
            "GET /user HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(resp.starts_with("HTTP/1.1 500"), "{resp}");
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.finish()))
            .expect_err("finish must fail the test");
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("undocumented route: GET /user"), "{msg}");
    }

    #[tokio::test]
    async fn a_malformed_request_body_is_a_violation() {
        let server = FakeGitHubServer::start(FakeGitHub::new(
            "acme",
            "config",
            std::path::PathBuf::from("/nonexistent"),
        ))
        .await;
        let body = r#"{"state":"merged"}"#;
        let req = format!(
            "PATCH /repos/acme/config/pulls/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let resp = raw(&server.uri(), &req).await;
        assert!(resp.starts_with("HTTP/1.1 422"), "{resp}");
        let violations = server.world().violations.clone();
        assert!(
            violations
                .iter()
                .any(|v| v.starts_with("pulls/update request: at /state")),
            "{violations:?}"
        );
        // Seen; the drop check below must not fail this test for it.
        server.world().violations.clear();
    }

    #[tokio::test]
    async fn a_forgotten_finish_still_fails_on_drop() {
        let server = FakeGitHubServer::start(FakeGitHub::new(
            "acme",
            "config",
            std::path::PathBuf::from("/nonexistent"),
        ))
        .await;
        server.world().violations.push("seen by a request".into());
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(server)))
            .expect_err("dropping must fail the test");
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("seen by a request"), "{msg}");

        let server = FakeGitHubServer::start(FakeGitHub::new(
            "acme",
            "config",
            std::path::PathBuf::from("/nonexistent"),
        ))
        .await;
        server.world().inject("pulls/create", Fault::Status(500));
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.finish()))
            .expect_err("an unused fault fails the test");
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("no request met"), "{msg}");
    }
}
