//! `ake-bot matrix` on a real repository with release branches and tags: the supported-versions
//! matrix as text, JSON, Markdown and an HTML page — the page checked in a real headless
//! Chromium at a phone's width — and the same matrix at the end of release notes.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ake_bot_testkit::{Bot, ConfigRepo, Run};

const ADDONS: [&str; 4] = [
    "argo-cd",
    "cert-manager",
    "gateway-api",
    "kube-prometheus-stack",
];
const BRANCHES: [&str; 4] = ["main", "release-1.32", "release-1.31", "release-1.24"];

fn ake_bot(repo: &ConfigRepo, args: &[&str]) -> Run {
    let cache = tempfile::tempdir().unwrap();
    Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
        .args(args)
        .repo(repo.path())
        .env("AKE_BOT_CACHE_DIR", cache.path())
        .run()
}

/// main (tagged v1.33.0, then cert-manager bumped to v1.16.5); release-1.32 cut from the tag,
/// released twice (v1.32.9, v1.32.10: the highest n is the latest, not the last in ASCII
/// order), without argo-cd; release-1.31 cut, never released; release-1.24 (frozen) not cut.
fn train() -> ConfigRepo {
    let repo = ConfigRepo::from_project();
    repo.git_init();
    repo.git(&["tag", "-a", "v1.33.0", "-m", "release v1.33.0"]);
    repo.cut_release_branch("1.32");
    repo.cut_release_branch("1.31");
    repo.git(&["checkout", "-q", "release-1.32"]);
    repo.git(&["tag", "-a", "v1.32.9", "-m", "release v1.32.9"]);
    repo.git(&["rm", "-q", "-r", "bundles/argo-cd"]);
    repo.git(&["commit", "-q", "-m", "argo-cd leaves release-1.32"]);
    repo.git(&["tag", "-a", "v1.32.10", "-m", "release v1.32.10"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.pin("cert-manager", "v1.16.5");
    repo.git(&[
        "commit",
        "-q",
        "-am",
        "chore(cert-manager): bump v1.14.7 → v1.16.5",
    ]);
    repo
}

#[test]
fn text_json_and_markdown_show_every_addon_and_branch() {
    let repo = train();

    let text = ake_bot(&repo, &["matrix"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    for name in ADDONS.iter().chain(&BRANCHES) {
        assert!(
            text.stdout.contains(name),
            "{name} missing:\n{}",
            text.stdout
        );
    }
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(
        lines.contains(&"release-1.32  1.32        maintained  v1.32.10"),
        "{}",
        text.stdout
    );
    assert!(
        lines.contains(&"release-1.24  1.24        frozen      not released"),
        "{}",
        text.stdout
    );
    let cert = lines
        .iter()
        .find(|l| l.starts_with("cert-manager "))
        .unwrap();
    assert!(
        cert.contains("v1.16.5 (app v1.16.5)") && cert.contains("v1.14.7 (app v1.14.7)"),
        "{cert}"
    );

    // `--format json`: the matrix itself; `--output json`: the envelope, data = the matrix.
    let json = ake_bot(&repo, &["matrix", "--format", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let m: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let envelope = ake_bot(&repo, &["matrix", "--output", "json"]);
    assert_eq!(envelope.code, 0, "{}", envelope.stderr);
    let e: serde_json::Value = serde_json::from_str(&envelope.stdout).unwrap();
    assert_eq!(
        (
            e["command"].as_str(),
            e["type"].as_str(),
            e["exit_code"].as_u64()
        ),
        (Some("matrix"), Some("report"), Some(0))
    );
    assert_eq!(e["data"], m, "the envelope's data is the matrix");
    assert_eq!(e["problems"], serde_json::json!([]));

    let branches: Vec<&str> = m["branches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(branches, BRANCHES, "every branch, in the train's order");
    assert_eq!(
        m["branches"][0],
        serde_json::json!({"name": "main", "kubernetes": "1.33", "status": "maintained", "tag": "v1.33.0"})
    );
    assert_eq!(m["branches"][1]["tag"], "v1.32.10");
    assert_eq!(m["branches"][2]["tag"], serde_json::Value::Null);
    assert_eq!(m["branches"][3]["status"], "frozen");
    let addons: Vec<&str> = m["addons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(addons, ADDONS, "every addon, by name");
    let addon = |name: &str| {
        m["addons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()
            .clone()
    };
    let cert = addon("cert-manager");
    assert_eq!(cert["deploy_to"], "tenant");
    assert_eq!(
        cert["cells"]["main"],
        serde_json::json!({"chart_version": "v1.16.5", "app_version": "v1.16.5"})
    );
    assert_eq!(
        cert["cells"]["release-1.31"],
        serde_json::json!({"chart_version": "v1.14.7", "app_version": "v1.14.7"})
    );
    let argo = addon("argo-cd");
    assert_eq!(argo["deploy_to"], "management");
    let cells: Vec<&String> = argo["cells"].as_object().unwrap().keys().collect();
    assert_eq!(
        cells,
        ["main", "release-1.31"],
        "no cell where the addon is not, none on a branch not cut"
    );
    assert!(argo["cells"]["main"]["app_version"].is_string());

    let md = ake_bot(&repo, &["matrix", "--format", "markdown"]);
    assert_eq!(md.code, 0, "{}", md.stderr);
    // `--output markdown` picks the Markdown table too.
    assert_eq!(
        ake_bot(&repo, &["matrix", "--output", "markdown"]).stdout,
        md.stdout
    );
    insta::assert_snapshot!("markdown", md.stdout);

    // --branch narrows the columns.
    let one = ake_bot(
        &repo,
        &["matrix", "--format", "json", "--branch", "release-1.24"],
    );
    let one: serde_json::Value = serde_json::from_str(&one.stdout).unwrap();
    assert_eq!(one["branches"].as_array().unwrap().len(), 1);
    assert_eq!(
        one["addons"],
        serde_json::json!([]),
        "a branch not cut has no addons"
    );
}

#[test]
fn a_failed_lookup_is_a_problem_for_its_cell_and_the_rest_goes_on() {
    let repo = train();
    // A version the mirror's index does not have.
    repo.edit(
        "bundles/kube-prometheus-stack/bundle.yaml",
        "version: 72.9.1",
        "version: 72.9.99",
    );
    let run = ake_bot(&repo, &["matrix", "--output", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let e: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let problems = e["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["addon"], "kube-prometheus-stack");
    assert_eq!(problems[0]["branch"], "main");
    assert!(
        problems[0]["cause"]
            .as_str()
            .unwrap()
            .contains("72.9.99 is not in the index"),
        "{problems:?}"
    );
    let kps = e["data"]["addons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "kube-prometheus-stack")
        .unwrap();
    assert_eq!(
        kps["cells"]["main"],
        serde_json::json!({"chart_version": "72.9.99", "app_version": null})
    );
    assert!(
        kps["cells"]["release-1.32"]["app_version"].is_string(),
        "the other cells go on: {kps}"
    );
    let text = ake_bot(&repo, &["matrix"]);
    assert_eq!(text.code, 1);
    assert!(
        text.stderr
            .starts_with("error: kube-prometheus-stack on main: app version not looked up: "),
        "{}",
        text.stderr
    );
}

#[test]
fn out_writes_the_rendered_format_to_a_file() {
    let repo = train();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("site/matrix.md");
    let run = ake_bot(
        &repo,
        &[
            "matrix",
            "--format",
            "markdown",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!("wrote {}: 4 addons on 4 branches\n", out.display())
    );
    let md = ake_bot(&repo, &["matrix", "--format", "markdown"]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), md.stdout);
    assert_eq!(
        std::fs::read_dir(out.parent().unwrap()).unwrap().count(),
        1,
        "no temp file left beside it"
    );
}

#[test]
fn release_notes_end_with_the_matrix_and_its_new_tags() {
    let repo = train();
    let run = ake_bot(
        &repo,
        &[
            "release",
            "--dry-run",
            "--branch",
            "main",
            "--output",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let notes = v["data"]["branches"][0]["notes"].as_str().unwrap();
    let (_, matrix) = notes
        .split_once("\n### Supported versions\n\n")
        .unwrap_or_else(|| panic!("no matrix section after the addon table:\n{notes}"));
    assert!(
        notes.find("### Addon versions").unwrap() < notes.find("### Supported versions").unwrap()
    );
    // Every branch of the train (not only the one released), main with the tag being made.
    assert!(
        matrix.starts_with(
            "| addon | deployed to | `main`<br>Kubernetes 1.33<br>v1.33.1 | `release-1.32`<br>Kubernetes 1.32<br>v1.32.10 |"
        ),
        "{matrix}"
    );
    for addon in ADDONS {
        assert!(matrix.contains(&format!("\n| {addon} | ")), "{matrix}");
    }
    // The same table `matrix --format markdown` prints, but for main's new tag.
    let md = ake_bot(&repo, &["matrix", "--format", "markdown"]);
    assert_eq!(
        matrix.trim_end(),
        md.stdout.replacen("v1.33.0", "v1.33.1", 1).trim_end()
    );
}

/// Where the page and screenshots go: `target/matrix/`.
fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("matrix");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A Chromium: `$AKE_BOT_CHROMIUM`, else the first of `chromium`, `chromium-browser`,
/// `google-chrome`, `google-chrome-stable` on PATH (Debian's package, and what GitHub's Ubuntu
/// runners ship). Missing: in CI (`CI=true`) the test fails; locally it is skipped with a
/// message (`.ci/run` installs one).
fn chromium() -> Option<PathBuf> {
    const NAMES: &[&str] = &[
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ];
    let found = std::env::var_os("AKE_BOT_CHROMIUM")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
            NAMES
                .iter()
                .flat_map(|n| dirs.iter().map(move |d| d.join(n)))
                .find(|p| p.is_file())
        });
    if found.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "no Chromium found: CI must run the HTML matrix in a real browser (.ci/run installs it)"
        );
        eprintln!("SKIPPED: no Chromium on PATH; install it (apt-get install chromium) to check the HTML matrix in a browser");
    }
    found
}

/// Run headless Chromium on `page` with `args`; (stdout, stderr). Killed after a minute.
fn headless(chromium: &Path, profile: &Path, page: &Path, args: &[&str]) -> (String, String) {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .env("HOME", profile)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || std::io::read_to_string(&mut stdout).unwrap());
    let err = std::thread::spawn(move || std::io::read_to_string(&mut stderr).unwrap());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("chromium did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(status.success(), "chromium failed ({status}):\n{err}");
    (out, err)
}

/// The page in a real browser at a phone's width: every addon and branch in the DOM, no console
/// message, a screenshot; and, measured by a probe copy of the page, the table scrolls in its
/// own wrapper (the page does not), its first column is sticky, and dark mode changes colours.
#[test]
fn the_html_page_renders_in_headless_chromium_on_a_phone() {
    let repo = train();
    let dir = out_dir();
    let page = dir.join("matrix.html");
    let run = ake_bot(
        &repo,
        &[
            "matrix",
            "--format",
            "html",
            "--out",
            page.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let Some(chromium) = chromium() else { return };
    let profile = tempfile::tempdir().unwrap();
    let shot = dir.join("matrix.png");
    let _ = std::fs::remove_file(&shot);

    let (dom, log) = headless(
        &chromium,
        profile.path(),
        &page,
        &[
            "--dump-dom",
            &format!("--screenshot={}", shot.display()),
            "--window-size=420,900",
        ],
    );
    for addon in ADDONS {
        assert!(
            dom.contains(&format!(r#"<th scope="row">{addon}</th>"#)),
            "{addon} is not a row header in the DOM:\n{dom}"
        );
    }
    for branch in BRANCHES {
        assert!(
            dom.contains(&format!(r#"<span class="branch">{branch}</span>"#)),
            "{branch} is not a column header in the DOM:\n{dom}"
        );
    }
    assert!(dom.contains("<caption id=\"matrix-caption\">"), "{dom}");
    // Chromium logs every console message (errors included, with no level of their own) as
    // `INFO:CONSOLE:<line>] "…", source: …`; a page without scripts has none at all.
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG"),
        "{} is not a PNG",
        shot.display()
    );

    // Layout, measured in the browser: a copy of the page with a probe that writes its findings
    // into the DOM.
    let probe = dir.join("matrix-probe.html");
    let html = std::fs::read_to_string(&page).unwrap();
    std::fs::write(
        &probe,
        html.replacen("</body>", &format!("<script>{PROBE}</script>\n</body>"), 1),
    )
    .unwrap();
    let measure = |extra: &[&str]| {
        let mut args = vec!["--dump-dom", "--window-size=420,900"];
        args.extend_from_slice(extra);
        let (dom, _) = headless(&chromium, profile.path(), &probe, &args);
        let start = dom.find("data-probe=\"").unwrap() + "data-probe=\"".len();
        let end = start + dom[start..].find('"').unwrap();
        let json = dom[start..end].replace("&quot;", "\"");
        serde_json::from_str::<serde_json::Value>(&json).unwrap()
    };
    let light = measure(&[]);
    // Headless Chromium lays a page out at least 500px wide, whatever --window-size says
    // (measured: 500 for 420): still a phone's width, where the table must scroll.
    assert!(light["viewport"].as_u64().unwrap() <= 500, "{light}");
    assert_eq!(
        light["pageOverflows"], false,
        "the page itself scrolls sideways: {light}"
    );
    assert_eq!(
        light["tableScrolls"], true,
        "the table does not scroll in its wrapper: {light}"
    );
    assert_eq!(light["stickyRowHeader"], "sticky", "{light}");
    let dark = measure(&["--force-dark-mode"]);
    assert_eq!(dark["dark"], true, "{dark}");
    assert_ne!(light["background"], dark["background"], "{light} {dark}");
    let dark_shot = dir.join("matrix-dark.png");
    headless(
        &chromium,
        profile.path(),
        &page,
        &[
            &format!("--screenshot={}", dark_shot.display()),
            "--window-size=420,900",
            "--force-dark-mode",
        ],
    );
    assert!(dark_shot.exists());
}

/// Measures the layout and writes it, as JSON, to `<body data-probe>`.
const PROBE: &str = r#"
const wrap = document.querySelector('.scroll');
const rowHeader = document.querySelector('th[scope="row"]');
document.body.dataset.probe = JSON.stringify({
  viewport: window.innerWidth,
  pageOverflows: document.documentElement.scrollWidth > window.innerWidth,
  tableScrolls: wrap.scrollWidth > wrap.clientWidth,
  stickyRowHeader: getComputedStyle(rowHeader).position,
  dark: matchMedia('(prefers-color-scheme: dark)').matches,
  background: getComputedStyle(document.body).backgroundColor,
});
"#;
