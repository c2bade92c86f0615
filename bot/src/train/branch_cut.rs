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

/// What cutting did.
#[derive(Debug, Clone, Serialize)]
pub struct CutOutcome {
    pub branch: String,
    /// The release branch was created on the remote by this run.
    pub created_branch: bool,
    /// The branches.toml pull request (or `None` when main already has the change).
    pub pr: Option<super::publish::PrOutcome>,
}

/// Cut for real, converging like `sync`: create `release-<minor>` on the remote from main's tip
/// if it is not there, then push `ake-bot/branch-cut-<minor>` with the new branches.toml on top
/// of origin/main and reconcile its pull request. Once that PR is merged, a re-run finds
/// main already moved and does nothing.
pub async fn execute(
    repo: &std::path::Path,
    minor: KubeMinor,
    kind_image: &str,
    s: &super::publish::PublishSettings,
) -> Result<CutOutcome, super::JobError> {
    use super::JobError;
    use crate::forge::{GitHub, PullState};
    use crate::git::{self, FileChange, Remote, Tree};

    let gerr = |e: &dyn std::fmt::Display| JobError::Git(e.to_string());
    let remote = Remote::new(repo, &s.remote, Some(s.token.clone()));
    remote.fetch(&["main"]).await.map_err(|e| gerr(&e))?;
    let main_ref = format!("refs/remotes/{}/main", s.remote);
    let base = git::commit_info(repo, &main_ref)
        .map_err(|e| gerr(&e))?
        .ok_or_else(|| JobError::Git(format!("{main_ref} is missing after fetch")))?;
    let tree = Tree::Commit {
        repo: repo.to_path_buf(),
        commit: base.id.clone(),
        label: main_ref.clone(),
    };
    let train = crate::config::load_train_from(&tree, repo)?;
    let text = tree
        .read(std::path::Path::new(crate::config::TRAIN_FILE))?
        .ok_or_else(|| JobError::Git("branches.toml is missing on origin/main".into()))?;
    let branch = minor.release_branch().to_string();
    let exists = |name: &str, list: &[(String, String)]| list.iter().any(|(b, _)| b == name);

    // 1. The release branch, from main's tip, unless it exists.
    let heads = remote.branches("release-").await.map_err(|e| gerr(&e))?;
    let mut created_branch = false;
    if !exists(&branch, &heads) {
        if train.main().kubernetes != minor {
            return Err(JobError::Git(format!(
                "{branch} does not exist and main targets Kubernetes {}: cut it while main targets {minor}",
                train.main().kubernetes
            )));
        }
        remote
            .push(&base.id, &branch, None)
            .await
            .map_err(|e| gerr(&e))?;
        created_branch = true;
    }

    // 2. The branches.toml change, unless main already has it.
    if train.branch(&branch).is_some() {
        return Ok(CutOutcome {
            branch,
            created_branch,
            pr: None,
        });
    }
    let plan = plan_cut(&text, &train, minor, kind_image).map_err(JobError::Git)?;
    let pr_branch = format!("{}branch-cut-{minor}", s.branch_prefix);
    let bot_heads = remote.branches(&pr_branch).await.map_err(|e| gerr(&e))?;
    let remote_sha = bot_heads
        .iter()
        .find(|(b, _)| *b == pr_branch)
        .map(|(_, sha)| sha.clone());
    if remote_sha.is_some() {
        remote
            .fetch(&[pr_branch.as_str()])
            .await
            .map_err(|e| gerr(&e))?;
    }
    let title = format!(
        "chore(train): cut {branch}; main targets Kubernetes {}",
        plan.new_main
    );
    super::publish::push_on_base(
        repo,
        &remote,
        &base.id,
        remote_sha.as_deref(),
        &pr_branch,
        vec![FileChange {
            path: crate::config::TRAIN_FILE.into(),
            content: Some(plan.branches_toml.clone().into_bytes()),
        }],
        format!("{title}\n\nProposed by ake-bot branch cut."),
        &s.identity,
    )
    .await
    .map_err(JobError::Git)?;
    let forge = GitHub::new(&s.api_url, &s.repository, &s.token)
        .map_err(|e| JobError::Forge(e.to_string()))?;
    let pulls = forge
        .pulls_for_head(&pr_branch)
        .await
        .map_err(|e| JobError::Forge(e.to_string()))?;
    let open = pulls.iter().find(|p| p.state == PullState::Open);
    let marker = crate::report::marker("branch-cut", &[("branch", &branch)]);
    let mut body = format!(
        "{marker}\n`{branch}` was created from main's tip ({:.12}). Merging this moves `main` to Kubernetes {} (kind image `{kind_image}`) and adds `{branch}` to the train.\n",
        base.id, plan.new_main
    );
    for r in &plan.retired {
        body.push_str(&format!(
            "\n- `{r}` is beyond the support window and becomes eol."
        ));
    }
    let labels = ["ake-bot".to_string(), "train".to_string()];
    let spec = super::publish::PrSpec {
        head: &pr_branch,
        base: "main",
        title: &title,
        body: &body,
        labels: &labels,
        draft: false,
    };
    let pr = super::publish::ensure_pr(&forge, &spec, open)
        .await
        .map_err(JobError::Forge)?;
    Ok(CutOutcome {
        branch,
        created_branch,
        pr: Some(pr),
    })
}
