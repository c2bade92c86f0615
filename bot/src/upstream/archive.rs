//! What a chart archive says about itself: the name and version in its top-level
//! `Chart.yaml`. Read straight from the gzipped tar (a few hundred bytes into it, usually), so
//! an archive is never unpacked to find out whether it is the chart the index promised.

use std::io::Read;

use serde::Deserialize;

/// Archives larger than this (unpacked) are refused: charts are a few MB at most.
const MAX_UNPACKED: u64 = 256 << 20;
const BLOCK: usize = 512;

/// The name and version a chart archive's `Chart.yaml` declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartMeta {
    pub name: String,
    pub version: String,
}

/// The `<chart>/Chart.yaml` of a `.tgz` chart archive (the top level one, not a dependency's
/// under `charts/`).
pub fn chart_meta(tgz: &[u8]) -> Result<ChartMeta, String> {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(tgz)
        .take(MAX_UNPACKED)
        .read_to_end(&mut tar)
        .map_err(|e| format!("not a gzipped chart archive: {e}"))?;
    let text = find_chart_yaml(&tar)?;
    #[derive(Deserialize)]
    struct Raw {
        name: Option<serde_yaml_ng::Value>,
        version: Option<serde_yaml_ng::Value>,
    }
    let raw: Raw = crate::yaml::from_str(&text).map_err(|e| format!("its Chart.yaml: {e}"))?;
    let field = |v: Option<serde_yaml_ng::Value>, key: &str| match v {
        Some(serde_yaml_ng::Value::String(s)) => Ok(s),
        Some(serde_yaml_ng::Value::Number(n)) => Ok(n.to_string()),
        _ => Err(format!("its Chart.yaml has no {key}")),
    };
    Ok(ChartMeta {
        name: field(raw.name, "name")?,
        version: field(raw.version, "version")?,
    })
}

/// Walk the tar headers for `<dir>/Chart.yaml`, honouring the long-name forms Go's
/// archive/tar writes (PAX `path=`, GNU `L`).
fn find_chart_yaml(tar: &[u8]) -> Result<String, String> {
    let mut at = 0;
    let mut long_name: Option<String> = None;
    while at + BLOCK <= tar.len() {
        let h = &tar[at..at + BLOCK];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let size = octal(&h[124..136]).ok_or("a tar header with a bad size")?;
        let kind = h[156];
        let body_start = at + BLOCK;
        let body_end = body_start
            .checked_add(usize::try_from(size).map_err(|_| "a tar entry too large")?)
            .filter(|e| *e <= tar.len())
            .ok_or("a truncated tar entry")?;
        let body = &tar[body_start..body_end];
        let name = long_name.take().unwrap_or_else(|| header_name(h));
        match kind {
            b'x' => long_name = pax_path(body),
            b'L' => long_name = Some(c_str(body)),
            b'0' | 0 => {
                let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
                if parts.len() == 2 && parts[1] == "Chart.yaml" {
                    return String::from_utf8(body.to_vec())
                        .map_err(|_| "its Chart.yaml is not UTF-8".to_string());
                }
            }
            _ => {}
        }
        at = body_start + size.div_ceil(BLOCK as u64) as usize * BLOCK;
    }
    Err("no Chart.yaml at the top of the archive".into())
}

fn header_name(h: &[u8]) -> String {
    let name = c_str(&h[0..100]);
    // ustar: a prefix holds the leading directories of long paths.
    if &h[257..262] == b"ustar" {
        let prefix = c_str(&h[345..500]);
        if !prefix.is_empty() {
            return format!("{prefix}/{name}");
        }
    }
    name
}

fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn octal(b: &[u8]) -> Option<u64> {
    let s = c_str(b);
    let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

/// `NN path=…\n` records of a PAX extended header.
fn pax_path(body: &[u8]) -> Option<String> {
    String::from_utf8_lossy(body).lines().find_map(|l| {
        let (_, kv) = l.split_once(' ')?;
        kv.strip_prefix("path=").map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ake_bot_testkit::tgz;

    #[test]
    fn the_top_level_chart_yaml_names_the_archive() {
        let a = tgz(&[
            (
                "cert-manager/charts/dep/Chart.yaml",
                "name: dep\nversion: 0.1.0\n",
            ),
            (
                "cert-manager/Chart.yaml",
                "apiVersion: v2\nname: cert-manager\nversion: v1.16.4\n",
            ),
        ]);
        assert_eq!(
            chart_meta(&a).unwrap(),
            ChartMeta {
                name: "cert-manager".into(),
                version: "v1.16.4".into()
            }
        );
    }

    #[test]
    fn what_is_not_a_chart_archive_says_why() {
        assert!(chart_meta(b"plain text")
            .unwrap_err()
            .contains("not a gzipped"));
        let e = chart_meta(&tgz(&[("x/values.yaml", "a: 1\n")])).unwrap_err();
        assert_eq!(e, "no Chart.yaml at the top of the archive");
        let e = chart_meta(&tgz(&[("x/Chart.yaml", "name: x\n")])).unwrap_err();
        assert_eq!(e, "its Chart.yaml has no version");
    }

    #[test]
    fn the_real_mirror_archives_read() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../mirror");
        let mut seen = 0;
        for repo in std::fs::read_dir(&dir).unwrap().flatten() {
            for f in std::fs::read_dir(repo.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let p = f.path();
                if p.extension().is_some_and(|e| e == "tgz") {
                    let m = chart_meta(&std::fs::read(&p).unwrap()).unwrap();
                    let file = p.file_name().unwrap().to_string_lossy().into_owned();
                    assert_eq!(
                        file,
                        format!("{}-{}.tgz", m.name, m.version),
                        "{}",
                        p.display()
                    );
                    seen += 1;
                }
            }
        }
        assert!(seen >= 3, "{seen}");
    }
}
