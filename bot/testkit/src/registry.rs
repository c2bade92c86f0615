//! A real OCI registry for tests: the CNCF distribution registry (Debian's `docker-registry`),
//! started on 127.0.0.1 with htpasswd auth, charts pushed into it with the real `helm push`,
//! stopped (and its storage removed) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user the registry accepts.
pub const USER: &str = "tester";
/// Its password (`htpasswd -Bbn tester s3cret`).
pub const PASSWORD: &str = "s3cret";
const HTPASSWD: &str = "tester:$2y$05$pFjCFsL0ndQg1FMQ/.O4/u18nrHHEOTR5xbIYDoWPIRJrBa/Emi.G\n";

/// A running registry.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`.
    pub host: String,
}

impl Registry {
    /// Start a registry that requires [`USER`]/[`PASSWORD`] (HTTP Basic, as docker-registry's
    /// htpasswd auth does). Panics, saying what to install, when the binary is missing.
    pub fn start() -> Registry {
        let bin = std::env::var("DOCKER_REGISTRY").unwrap_or_else(|_| "docker-registry".into());
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("htpasswd"), HTPASSWD).expect("htpasswd");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {data}}}\n  delete: {{enabled: true}}\nhttp: {{addr: \"{host}\"}}\nauth:\n  htpasswd: {{realm: ake-bot-tests, path: {htpasswd}}}\n",
            data = dir.path().join("data").display(),
            htpasswd = dir.path().join("htpasswd").display(),
        );
        let config_file = dir.path().join("config.yml");
        std::fs::write(&config_file, config).expect("registry config");
        let child = Command::new(&bin)
            .arg("serve")
            .arg(&config_file)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).expect("log"))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin} ({e}): install Debian's docker-registry package (.ci/run does)")
            });
        let r = Registry { child, dir, host };
        r.wait_until_up();
        r
    }

    fn wait_until_up(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if std::net::TcpStream::connect(&self.host).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the registry did not listen on {} within 20s:\n{}",
            self.host,
            std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
        );
    }

    /// `oci://127.0.0.1:<port>/<path>`.
    pub fn oci(&self, path: &str) -> String {
        format!("oci://{}/{path}", self.host)
    }

    /// A Helm registry config (as `helm registry login` writes it) holding the credentials,
    /// for the bot to find through `HELM_REGISTRY_CONFIG` or a Docker config's `auths`.
    pub fn auth_file(&self) -> PathBuf {
        let f = self.dir.path().join("auth.json");
        let auth = base64(&format!("{USER}:{PASSWORD}"));
        std::fs::write(
            &f,
            format!(
                "{{\"auths\": {{\"{}\": {{\"auth\": \"{auth}\"}}}}}}",
                self.host
            ),
        )
        .expect("auth file");
        f
    }

    /// `helm push` each chart archive to `oci://<host>/<path>` with the real helm, logged in
    /// through a Helm registry config of its own.
    pub fn push(&self, helm: &Path, path: &str, charts: &[&Path]) {
        let config = self.dir.path().join("helm-registry.json");
        let login = Command::new(helm)
            .args([
                "registry",
                "login",
                &self.host,
                "-u",
                USER,
                "-p",
                PASSWORD,
                "--plain-http",
            ])
            .env("HELM_REGISTRY_CONFIG", &config)
            .output()
            .expect("helm registry login");
        assert!(
            login.status.success(),
            "helm registry login: {}",
            String::from_utf8_lossy(&login.stderr)
        );
        for chart in charts {
            let out = Command::new(helm)
                .arg("push")
                .arg(chart)
                .arg(self.oci(path))
                .arg("--plain-http")
                .env("HELM_REGISTRY_CONFIG", &config)
                .output()
                .expect("helm push");
            assert!(
                out.status.success(),
                "helm push {}: {}",
                chart.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// The registry's storage directory (to corrupt a blob on purpose).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn base64(s: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() {
                A[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}
