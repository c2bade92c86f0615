//! `branch cut`, planning half: when a new Kubernetes minor ships, `release-1.NN` is cut from
//! main (which targeted 1.NN), main moves to 1.NN+1, and release branches beyond the support
//! window become eol. This computes the new `branches.toml`, editing it in place so comments
//! and layout survive review.

use serde::Serialize;
use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table};

use crate::config::Train;
use crate::model::KubeMinor;

#[derive(Debug, Clone, Serialize)]
pub struct CutPlan {
    /// The branch to create from main's tip.
    pub branch: String,
    pub minor: String,
    /// The minor main targets afterwards.
    pub new_main: String,
    /// Release branches the support window retires.
    pub retired: Vec<String>,
    /// The new `branches.toml`.
    pub branches_toml: String,
}

/// Plan cutting `release-<minor>` from main. `minor` must be what main targets now.
pub fn plan_cut(
    text: &str,
    train: &Train,
    minor: KubeMinor,
    kind_image: &str,
) -> Result<CutPlan, String> {
    let main = train.main();
    if main.kubernetes != minor {
        return Err(format!(
            "main targets Kubernetes {}, not {minor}: a release branch is cut from main for the minor main targets",
            main.kubernetes
        ));
    }
    let branch = minor.release_branch();
    if train.branch(branch.as_str()).is_some() {
        return Err(format!("{branch} is already in branches.toml"));
    }
    if kind_image.trim().is_empty() {
        return Err("the new main minor needs a kind node image (--kind-image)".into());
    }
    let new_main = KubeMinor::new(minor.major, minor.minor + 1);
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("branches.toml: {e}"))?;

    // The new release branch takes over main's node image and caps.
    let mut release = Table::new();
    release["kubernetes"] = value(minor.to_string());
    release["kind_image"] = value(main.kind_image.clone());
    if let Some(caps) = doc["main"].get("caps").cloned() {
        release["caps"] = caps;
    }
    doc["main"]["kubernetes"] = value(new_main.to_string());
    doc["main"]["kind_image"] = value(kind_image.to_string());

    // Newest release first, as people read the file.
    let mut tables: Vec<Table> = doc
        .get("release")
        .and_then(Item::as_array_of_tables)
        .map(|a| a.iter().cloned().collect())
        .unwrap_or_default();
    tables.insert(0, release);
    let minor_of = |t: &Table| {
        t.get("kubernetes")
            .and_then(|k| k.as_str())
            .and_then(|k| k.parse::<KubeMinor>().ok())
    };
    tables.sort_by_key(|t| std::cmp::Reverse(minor_of(t)));

    let mut retired = Vec::new();
    if let Some(window) = train.support_window {
        let mut kept = 0;
        for t in tables.iter_mut() {
            let status = t
                .get("status")
                .and_then(|s| s.as_str())
                .unwrap_or("maintained")
                .to_string();
            if status == "eol" {
                continue;
            }
            kept += 1;
            if kept > window {
                t["status"] = value("eol");
                let name = t
                    .get("name")
                    .and_then(|n| n.as_str())
                    .map(str::to_string)
                    .or_else(|| minor_of(t).map(|m| m.release_branch().to_string()))
                    .unwrap_or_default();
                retired.push(name);
            }
        }
    }
    let mut array = ArrayOfTables::new();
    for t in tables {
        array.push(t);
    }
    doc["release"] = Item::ArrayOfTables(array);
    Ok(CutPlan {
        branch: branch.to_string(),
        minor: minor.to_string(),
        new_main: new_main.to_string(),
        retired,
        branches_toml: doc.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const TRAIN: &str = "# the train\nsupport_window = 2\n\n[main]\nkubernetes = \"1.33\"\nkind_image = \"kindest/node:v1.33.1\"\ncaps = { cert-manager = \"<1.17\" }\n\n# newest first\n[[release]]\nkubernetes = \"1.32\"\nkind_image = \"kindest/node:v1.32.5\"\n\n[[release]]\nkubernetes = \"1.31\"\nkind_image = \"kindest/node:v1.31.9\"\n";

    fn train(text: &str) -> Train {
        crate::config::branches_for_tests(text)
    }

    #[test]
    fn cutting_moves_main_adds_the_branch_and_retires_beyond_the_window() {
        let t = train(TRAIN);
        let plan = plan_cut(TRAIN, &t, "1.33".parse().unwrap(), "kindest/node:v1.34.0").unwrap();
        assert_eq!(
            (plan.branch.as_str(), plan.new_main.as_str()),
            ("release-1.33", "1.34")
        );
        assert_eq!(plan.retired, ["release-1.31"]);
        let after = train(&plan.branches_toml);
        let names: Vec<_> = after
            .branches
            .iter()
            .map(|b| (b.name.to_string(), format!("{:?}", b.status)))
            .collect();
        assert_eq!(
            names,
            [
                ("main".to_string(), "Maintained".to_string()),
                ("release-1.33".into(), "Maintained".into()),
                ("release-1.32".into(), "Maintained".into()),
                ("release-1.31".into(), "Eol".into()),
            ]
        );
        assert_eq!(after.main().kind_image, "kindest/node:v1.34.0");
        let r133 = after.branch("release-1.33").unwrap();
        assert_eq!(
            r133.kind_image, "kindest/node:v1.33.1",
            "the branch keeps main's image"
        );
        assert_eq!(
            r133.cap(&"cert-manager".parse().unwrap()).unwrap().as_str(),
            "<1.17"
        );
        assert!(
            plan.branches_toml
                .starts_with("# the train\nsupport_window = 2\n"),
            "comments survive:\n{}",
            plan.branches_toml
        );
        let _ = Path::new(".");
    }

    #[test]
    fn only_mains_minor_can_be_cut_and_only_once() {
        let t = train(TRAIN);
        let e = plan_cut(TRAIN, &t, "1.32".parse().unwrap(), "img").unwrap_err();
        assert!(e.contains("main targets Kubernetes 1.33, not 1.32"), "{e}");
        let e = plan_cut(TRAIN, &t, "1.33".parse().unwrap(), " ").unwrap_err();
        assert!(e.contains("--kind-image"), "{e}");
    }
}
