//! Chart archives made by a test, as `helm package` makes them (a gzipped tar with the chart in
//! a top-level directory): for synthetic, hostile or mislabelled upstreams that must never be
//! committed to the project's mirror.

/// A `.tgz` holding `<name>/Chart.yaml` saying `chart_name` and `version`, and one template
/// (a ConfigMap that names the version, so renders of two versions differ).
pub fn chart_archive(dir: &str, chart_name: &str, version: &str) -> Vec<u8> {
    let chart_yaml = format!(
        "apiVersion: v2\nname: {chart_name}\nversion: {version}\nappVersion: \"{version}\"\n"
    );
    let template = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}\ndata:\n  version: \"{version}\"\n"
    );
    tgz(&[
        (&format!("{dir}/Chart.yaml"), chart_yaml.as_str()),
        (&format!("{dir}/values.yaml"), "{}\n"),
        (&format!("{dir}/templates/cm.yaml"), template.as_str()),
    ])
}

/// A gzipped ustar archive of `files` (path, text).
pub fn tgz(files: &[(&str, &str)]) -> Vec<u8> {
    const BLOCK: usize = 512;
    let mut tar = Vec::new();
    for (name, text) in files {
        assert!(name.len() < 100, "short names only: {name}");
        let mut h = [0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        h[124..135].copy_from_slice(format!("{:011o}", text.len()).as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        tar.extend_from_slice(&h);
        tar.extend_from_slice(text.as_bytes());
        tar.resize(tar.len().div_ceil(BLOCK) * BLOCK, 0);
    }
    tar.resize(tar.len() + 2 * BLOCK, 0);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).expect("in memory");
    gz.finish().expect("in memory")
}
