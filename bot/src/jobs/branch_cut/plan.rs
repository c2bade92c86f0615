//! The branch-cut plan: the new `branches.toml`, whether the release branch must be created,
//! and the PR that moves main. Reads git (and GitHub, when a token is set); writes nothing.

use serde::Serialize;
use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table};

use crate::config::{self, Train};
use crate::forge::PullSummary;
use crate::jobs::pr::{self, PrPlan, PrSpec};
use crate::jobs::JobError;
use crate::model::KubeMinor;
use crate::report::{self, BranchCutBody};
use crate::workspace::{blocking, View, Workspace};

/// What cutting would do.
#[derive(Debug, Clone, Serialize)]
pub struct CutPlan {
    /// The release branch.
    pub branch: String,
    pub minor: String,
    /// The release branch must be created from main's tip (it is not on the remote).
    pub create_branch: bool,
    /// main's tip, which the branch is created from and the PR builds on (`None` outside git).
    pub base: Option<String>,
    /// The minor main targets afterwards.
    pub new_main: Option<String>,
    /// Release branches the support window retires.
    pub retired: Vec<String>,
    /// The new `branches.toml`; `None` when main already has the cut.
    pub branches_toml: Option<String>,
    /// The PR that carries the new `branches.toml`.
    pub pr: Option<PrSpec>,
    /// What happens to that PR (when GitHub can be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_plan: Option<PrPlan>,
    #[serde(skip)]
    pub pulls: Vec<PullSummary>,
}

/// Plan cutting `release-<minor>` with `kind_image` for main's new minor. `branches.toml` is
/// read from main as the workspace sees it (the remote's, fetched, when acting).
pub async fn plan(ws: &Workspace, minor: KubeMinor, kind_image: &str) -> Result<CutPlan, JobError> {
    let branch = minor.release_branch().to_string();
    let (_, tree) = ws.locate("main")?;
    let tree = tree.ok_or_else(|| JobError::Git("main is not in the repository".into()))?;
    let label = tree.label();
    let text = blocking(move || Ok(tree.read(std::path::Path::new(config::TRAIN_FILE))?))
        .await?
        .ok_or_else(|| JobError::Git(format!("branches.toml is missing on {label}")))?;
    let base = ws.commit(&ws.remote_ref("main"))?.map(|c| c.id);
    let on_remote = match ws.view() {
        View::Remote { fetched: true } => ws
            .remote()
            .branches(&branch)
            .await
            .map_err(|e| JobError::Git(e.to_string()))?
            .iter()
            .any(|(b, _)| *b == branch),
        _ => ws.commit(&ws.remote_ref(&branch))?.is_some(),
    };
    let main = ws.train.main();
    if !on_remote && main.kubernetes != minor {
        return Err(JobError::Usage(format!(
            "main targets Kubernetes {}, not {minor}: a release branch is cut from main for the minor main targets",
            main.kubernetes
        )));
    }
    let mut plan = CutPlan {
        branch: branch.clone(),
        minor: minor.to_string(),
        create_branch: !on_remote,
        base: base.clone(),
        new_main: None,
        retired: Vec::new(),
        branches_toml: None,
        pr: None,
        pr_plan: None,
        pulls: Vec::new(),
    };
    // Once the branches.toml PR is merged, main has the branch: nothing more to do.
    if ws.train.branch(&branch).is_some() {
        return Ok(plan);
    }
    let edit = edit_train(&text, &ws.train, minor, kind_image).map_err(JobError::Usage)?;
    let title = format!(
        "chore(train): cut {branch}; main targets Kubernetes {}",
        edit.new_main
    );
    if let Some(base) = &base {
        let body = report::branch_cut_body(&BranchCutBody {
            branch: &branch,
            base,
            new_main: &edit.new_main,
            kind_image,
            retired: &edit.retired,
        })
        .map_err(|e| JobError::Internal(e.to_string()))?;
        plan.pr = Some(PrSpec {
            head: format!("{}branch-cut-{minor}", ws.branch_prefix()),
            base: "main".into(),
            title,
            body,
            labels: vec!["ake-bot".into(), "train".into()],
            draft: false,
            target: None,
        });
    }
    if let (Some(forge), Some(spec)) = (ws.forge(), &plan.pr) {
        let pulls = forge
            .pulls_for_head(&spec.head)
            .await
            .map_err(|e| JobError::Forge(e.to_string()))?;
        plan.pr_plan = Some(pr::decide(Some(spec), &pulls, ""));
        plan.pulls = pulls;
    }
    plan.new_main = Some(edit.new_main);
    plan.retired = edit.retired;
    plan.branches_toml = Some(edit.branches_toml);
    Ok(plan)
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainEdit {
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

/// The train after cutting `release-<minor>` from main, as `branches.toml` text edited in
/// place. `minor` must be what main targets now.
pub fn edit_train(
    text: &str,
    train: &Train,
    minor: KubeMinor,
    kind_image: &str,
) -> Result<TrainEdit, String> {
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
    Ok(TrainEdit {
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

    const TRAIN: &str = "# the train\nsupport_window = 2\n\n[main]\nkubernetes = \"1.33\"\nkind_image = \"kindest/node:v1.33.1\"\ncaps = { cert-manager = \"<1.17\" }\n\n# newest first\n[[release]]\nkubernetes = \"1.32\"\nkind_image = \"kindest/node:v1.32.5\"\n\n[[release]]\nkubernetes = \"1.31\"\nkind_image = \"kindest/node:v1.31.9\"\n";

    fn train(text: &str) -> Train {
        crate::config::branches_for_tests(text)
    }

    #[test]
    fn cutting_moves_main_adds_the_branch_and_retires_beyond_the_window() {
        let t = train(TRAIN);
        let plan = edit_train(TRAIN, &t, "1.33".parse().unwrap(), "kindest/node:v1.34.0").unwrap();
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
    }

    #[test]
    fn only_mains_minor_can_be_cut_and_only_once() {
        let t = train(TRAIN);
        let e = edit_train(TRAIN, &t, "1.32".parse().unwrap(), "img").unwrap_err();
        assert!(e.contains("main targets Kubernetes 1.33, not 1.32"), "{e}");
        let e = edit_train(TRAIN, &t, "1.33".parse().unwrap(), " ").unwrap_err();
        assert!(e.contains("--kind-image"), "{e}");
    }
}
