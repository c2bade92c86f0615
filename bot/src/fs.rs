//! File-system helpers shared by the jobs.

use std::path::Path;

/// Write through a temp file in the same directory, then rename: a crash or a full disk never
/// leaves a half-written file behind. Blocking; call from `spawn_blocking`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // Named for this process, so a later run can tell a leftover of a killed one.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    // Temp files are created 0600; committed files and caches are ordinary 0644 files.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

const TEMP_PREFIX: &str = ".ake-bot-";

/// Remove what killed runs left next to renders (`bundles/*/rendered/`): our own temp files
/// whose process is gone, and the `.tmpXXXXXX` files earlier versions wrote. Returns what was
/// removed. Blocking.
pub fn remove_stale_temps(bundles: &Path) -> Vec<std::path::PathBuf> {
    let mut removed = Vec::new();
    let dirs = std::fs::read_dir(bundles).into_iter().flatten().flatten();
    for rendered in dirs.map(|b| b.path().join("rendered")) {
        for f in std::fs::read_dir(&rendered).into_iter().flatten().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if is_stale_temp(&name) && std::fs::remove_file(f.path()).is_ok() {
                removed.push(f.path());
            }
        }
    }
    removed
}

fn is_stale_temp(name: &str) -> bool {
    if let Some(rest) = name.strip_prefix(TEMP_PREFIX) {
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        return name.ends_with(".tmp") && pid.is_some_and(|p| !process_alive(p));
    }
    // tempfile's default name: ".tmp" and six random characters.
    name.len() == 10
        && name.starts_with(".tmp")
        && name[4..].bytes().all(|b| b.is_ascii_alphanumeric())
}

fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    // Linux: /proc tells. Elsewhere, assume alive (a leftover waits for a reboot rather than
    // racing a live writer).
    let proc_dir = Path::new("/proc");
    !proc_dir.exists() || proc_dir.join(pid.to_string()).exists()
}

/// [`write_atomically`] off the async runtime.
pub async fn write_atomically_async(path: &Path, bytes: Vec<u8>) -> std::io::Result<()> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
        .await
        .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_of_killed_runs_are_removed_and_live_ones_kept() {
        let root = tempfile::tempdir().unwrap();
        let rendered = root.path().join("demo/rendered");
        std::fs::create_dir_all(&rendered).unwrap();
        let dead = format!("{TEMP_PREFIX}4294967294-abc123.tmp");
        let live = format!("{TEMP_PREFIX}{}-abc123.tmp", std::process::id());
        for name in [&dead, &live, ".tmpAbC123", "manifests.yaml", ".tmp-notours"] {
            std::fs::write(rendered.join(name), "x").unwrap();
        }
        let removed = remove_stale_temps(root.path());
        let mut names: Vec<String> = removed
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [dead.as_str(), ".tmpAbC123"]);
        for kept in [&live, "manifests.yaml", ".tmp-notours"] {
            assert!(rendered.join(kept).exists(), "{kept}");
        }
        // A write leaves nothing behind.
        write_atomically(&rendered.join("manifests.yaml"), b"y").unwrap();
        assert_eq!(std::fs::read_dir(&rendered).unwrap().count(), 3);
    }
}
