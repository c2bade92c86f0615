//! Peak memory of a version lookup over grafana's index, against the index's own size.
//!
//! Peak RSS belongs to a whole process, so each figure comes from a child: this bench binary
//! run again with `AKE_BOT_BENCH_CHILD` set, doing one thing and printing its `VmHWM`. The
//! floor child only decompresses the index; the lookup child also parses it and chooses the
//! newest 9.x. The row shows what the lookup adds over the floor, next to the text's size.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use ake_bot::upstream::Index;

const CHILD: &str = "AKE_BOT_BENCH_CHILD";
const INDEX: &str = "indexes/grafana-helm-charts.index.yaml.gz";

/// In a child (`AKE_BOT_BENCH_CHILD` set), measure and exit; otherwise measure both children
/// and print the row. Call it first in `main`, before anything else takes memory.
pub fn index_rss(fixtures: &Path) {
    if let Ok(mode) = std::env::var(CHILD) {
        child(fixtures, &mode);
        std::process::exit(0);
    }
    let floor = run_child("index-rss-floor");
    let lookup = run_child("index-rss");
    let size = index_text(fixtures).len() as f64 / 1e6;
    let over = lookup.saturating_sub(floor) as f64 / 1e3;
    println!(
        "{:<58} {:>10.1}MB {:>10.1}MB {:>7.2}x",
        "peak RSS of a lookup over the floor vs grafana index size",
        over,
        size,
        over / size
    );
}

/// Peak RSS in kB of a child in `mode`.
fn run_child(mode: &str) -> u64 {
    let exe = std::env::current_exe().expect("bench binary path");
    let out = Command::new(exe)
        .env(CHILD, mode)
        .output()
        .expect("run the bench binary as a child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {mode}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM "))
        .and_then(|kb| kb.trim().parse().ok())
        .unwrap_or_else(|| panic!("child {mode} printed no VmHWM: {stdout}"))
}

fn index_text(fixtures: &Path) -> String {
    let gz = std::fs::read(fixtures.join(INDEX)).expect("grafana index");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .expect("gunzip");
    text
}

fn child(fixtures: &Path, mode: &str) {
    let text = index_text(fixtures);
    match mode {
        "index-rss-floor" => {}
        "index-rss" => {
            super::grafana_lookup(
                &Index::parse_charts("grafana", &text, &["grafana"]).expect("parse"),
            );
        }
        other => panic!("unknown {CHILD} {other:?}"),
    }
    // Keep the text alive to here, as a fetcher holding it would.
    std::hint::black_box(&text);
    println!("VmHWM {}", vm_hwm_kb());
}

/// This process's peak resident set, in kB (`VmHWM` in /proc/self/status).
fn vm_hwm_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}
