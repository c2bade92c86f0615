//! A run leaves nothing behind (issue #10, point 8): its temporary files live in one directory
//! that goes with the run, also when SIGINT stops it; an interrupted render says which addons
//! it finished; what a killed run left next to renders is removed by the next one.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use ake_bot_testkit::{Bot, ConfigRepo};

fn bot() -> Bot {
    Bot::new(env!("CARGO_BIN_EXE_ake-bot"))
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Wait (up to a minute) until `ready` holds: the binary runs on its own clock.
fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_run_leaves_nothing_in_the_temp_directory() {
    let repo = ConfigRepo::from_project();
    let (tmp, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let run = bot()
        .args([
            "sync",
            "--dry-run",
            "--branch",
            "main",
            "--addon",
            "cert-manager",
        ])
        .repo(repo.path())
        .env("AKE_BOT_CACHE_DIR", cache.path())
        .env("TMPDIR", tmp.path())
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
}

#[test]
fn a_stale_temp_file_next_to_a_render_is_removed_by_the_next_render() {
    let repo = ConfigRepo::from_project();
    let cache = tempfile::tempdir().unwrap();
    // What a render killed mid-write leaves: a complete temp file beside the render.
    for name in [".tmpAbC123", ".ake-bot-4294967294-x1y2z3.tmp"] {
        repo.write(
            &format!("bundles/cert-manager/rendered/{name}"),
            "half a render",
        );
    }
    let run = bot()
        .args(["render", "--check", "--addon", "cert-manager"])
        .repo(repo.path())
        .env("AKE_BOT_CACHE_DIR", cache.path())
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        entries(&repo.path().join("bundles/cert-manager/rendered")),
        ["manifests.yaml"]
    );
}

/// A helm that renders every chart at once except kube-prometheus-stack, which it never
/// finishes: the run is interrupted while it waits.
fn slow_helm(dir: &Path) -> std::path::PathBuf {
    let helm = dir.join("helm");
    std::fs::write(
        &helm,
        "#!/bin/sh\ncase \"$*\" in\n  *kube-prometheus-stack*) touch \"$MARKER\"; exec sleep 60 ;;\nesac\n\
         printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: fake\\ndata:\\n  a: \"1\"\\n'\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    helm
}

fn interrupt(child: &Child) {
    let ok = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -INT");
}

#[test]
fn an_interrupted_render_says_what_it_finished_and_leaves_nothing_behind() {
    let repo = ConfigRepo::from_project();
    let (tools, tmp, home, cache) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let marker = tools.path().join("kps-started");
    let kps_before = repo.read("bundles/kube-prometheus-stack/rendered/manifests.yaml");
    let child = bot()
        .arg("render")
        .repo(repo.path())
        .env("AKE_BOT_CACHE_DIR", cache.path())
        .env("HELM", slow_helm(tools.path()))
        .env("MARKER", &marker)
        .env("TMPDIR", tmp.path())
        .command(home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let written = |addon: &str| {
        repo.read(&format!("bundles/{addon}/rendered/manifests.yaml"))
            .contains("name: fake")
    };
    wait_for("kube-prometheus-stack's helm to start", || marker.exists());
    wait_for("the other renders to be written", || {
        written("argo-cd") && written("cert-manager")
    });
    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: interrupted by SIGINT: finished before it: "))
        .unwrap_or_else(|| panic!("{stderr}"));
    for addon in ["argo-cd", "cert-manager"] {
        assert!(
            line.contains(&format!(
                "wrote bundles/{addon}/rendered/manifests.yaml ({addon})"
            )),
            "{line}"
        );
    }
    assert!(!line.contains("kube-prometheus-stack"), "{line}");
    assert_eq!(
        repo.read("bundles/kube-prometheus-stack/rendered/manifests.yaml"),
        kps_before,
        "the unfinished render was not written"
    );
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
    for addon in ["argo-cd", "cert-manager", "kube-prometheus-stack"] {
        let dir = repo.path().join(format!("bundles/{addon}/rendered"));
        assert_eq!(entries(&dir), ["manifests.yaml"], "{addon}");
    }
}
