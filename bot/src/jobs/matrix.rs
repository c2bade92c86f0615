//! `matrix`: the supported-versions matrix tenants read. Rows are addons (with where they are
//! deployed), columns the train's branches (with their Kubernetes minor and latest tag), and
//! each cell the chart version the branch pins and that chart's app version. Read-only: the
//! matrix is the result. The release job puts the same matrix in its notes ([`markdown`]).
//!
//! Each branch is read the way the workspace's view reads it ([`Workspace::branch_files`]);
//! app versions come from the pinned chart's index entry ([`Workspace::pinned_release`]), so
//! with the repository's mirrors no network is needed. A lookup that fails is a [`Problem`] for
//! its cell; the other cells go on.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use super::{JobError, Problem};
use crate::config::{BranchStatus, DeployTarget, TrainBranch};
use crate::report::{self, TemplateError};
use crate::workspace::{blocking, Workspace};

/// The matrix: the documented JSON of `ake-bot matrix` (README, "The version matrix").
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Matrix {
    /// The columns, in the train's order (`main` first, then newest minor to oldest).
    pub branches: Vec<MatrixBranch>,
    /// The rows, by addon name: every addon any of the branches has.
    pub addons: Vec<MatrixAddon>,
}

/// A column: one branch of the train.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MatrixBranch {
    /// `main`, `release-1.32`.
    pub name: String,
    /// The Kubernetes minor it serves, `1.32`.
    pub kubernetes: String,
    /// `maintained`, `frozen` or `eol`.
    pub status: BranchStatus,
    /// Its latest release tag by the train's `tag_format` (`null`: never released).
    pub tag: Option<String>,
}

/// A row: one addon.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MatrixAddon {
    pub name: String,
    /// `management` or `tenant`, as the newest branch that has the addon says.
    pub deploy_to: DeployTarget,
    /// Branch name → cell; a branch without the addon has no entry. Serialised as an object
    /// in the order of [`Matrix::branches`].
    #[serde(serialize_with = "ordered_map")]
    pub cells: Vec<(String, Cell)>,
}

impl MatrixAddon {
    /// The cell of `branch`, if the addon is there.
    pub fn cell(&self, branch: &str) -> Option<&Cell> {
        self.cells.iter().find(|(b, _)| b == branch).map(|(_, c)| c)
    }
}

/// What a branch pins for an addon.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Cell {
    /// The pinned chart version (`version:` in bundle.yaml).
    pub chart_version: String,
    /// The chart's `appVersion` (`null`: the chart has none, or it could not be looked up —
    /// then the run has a problem for this cell).
    pub app_version: Option<String>,
}

fn ordered_map<S: Serializer>(cells: &[(String, Cell)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(cells.iter().map(|(b, c)| (b, c)))
}

/// The matrix of `branches`. `tags` overrides a branch's latest tag (the release job shows the
/// tag it is about to create). Problems: a bundle that does not load on a branch (its cell is
/// empty), a pinned version whose app version cannot be looked up (its cell has none).
pub async fn build(
    ws: &Workspace,
    branches: &[TrainBranch],
    tags: &BTreeMap<String, String>,
) -> Result<(Matrix, Vec<Problem>), JobError> {
    let mut columns = Vec::new();
    let mut rows: BTreeMap<String, MatrixAddon> = BTreeMap::new();
    let mut problems = Vec::new();
    for branch in branches {
        let name = branch.name.to_string();
        let tag = match tags.get(&name) {
            Some(t) => Some(t.clone()),
            None => {
                let (repo, train, b) = (ws.repo().to_path_buf(), ws.train.clone(), branch.clone());
                blocking(move || super::release::latest_tag(&repo, &train, &b)).await?
            }
        };
        columns.push(MatrixBranch {
            name: name.clone(),
            kubernetes: branch.kubernetes.to_string(),
            status: branch.status,
            tag,
        });
        let files = ws.branch_files(branch).await?;
        for p in &files.bundles.problems {
            problems.push(
                Problem::new(format!(
                    "not in the matrix: {}",
                    crate::config::ConfigErrors(p.errors.clone())
                ))
                .addon(&p.dir)
                .branch(&name),
            );
        }
        for lb in &files.bundles.loaded {
            let app_version = match ws.pinned_release(lb).await {
                Ok(r) => r.entry.app_version,
                Err(e) => {
                    problems.push(
                        Problem::new(format!("app version not looked up: {e}"))
                            .addon(&lb.bundle.name)
                            .branch(&name),
                    );
                    None
                }
            };
            let row = rows
                .entry(lb.bundle.name.to_string())
                .or_insert_with(|| MatrixAddon {
                    name: lb.bundle.name.to_string(),
                    deploy_to: lb.bundle.deploy_to,
                    cells: Vec::new(),
                });
            row.cells.push((
                name.clone(),
                Cell {
                    chart_version: lb.bundle.version.to_string(),
                    app_version,
                },
            ));
        }
    }
    Ok((
        Matrix {
            branches: columns,
            addons: rows.into_values().collect(),
        },
        problems,
    ))
}

/// The matrix as a GitHub Markdown table (`matrix --format markdown`, and release notes).
pub fn markdown(m: &Matrix) -> Result<String, TemplateError> {
    report::render("matrix.md", m)
}

/// The matrix as one self-contained HTML page (no scripts, styles inline, no fonts to fetch).
pub fn html(m: &Matrix) -> Result<String, TemplateError> {
    report::render("matrix.html", m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix() -> Matrix {
        let branch = |name: &str, kubernetes: &str, status, tag: Option<&str>| MatrixBranch {
            name: name.into(),
            kubernetes: kubernetes.into(),
            status,
            tag: tag.map(str::to_string),
        };
        let cell = |chart: &str, app: Option<&str>| Cell {
            chart_version: chart.into(),
            app_version: app.map(str::to_string),
        };
        Matrix {
            branches: vec![
                branch("main", "1.33", BranchStatus::Maintained, Some("v1.33.2")),
                branch("release-1.24", "1.24", BranchStatus::Frozen, None),
            ],
            addons: vec![
                MatrixAddon {
                    name: "cert-manager".into(),
                    deploy_to: DeployTarget::Tenant,
                    cells: vec![
                        ("main".into(), cell("v1.16.5", Some("v1.16.5"))),
                        ("release-1.24".into(), cell("v1.14.7", None)),
                    ],
                },
                MatrixAddon {
                    name: "new-addon".into(),
                    deploy_to: DeployTarget::Management,
                    cells: vec![("main".into(), cell("1.0.0", Some("<b>2|3</b>")))],
                },
            ],
        }
    }

    #[test]
    fn cells_are_an_object_in_branch_order_and_absent_branches_have_none() {
        let v = serde_json::to_value(matrix()).expect("serialises");
        assert_eq!(
            v["branches"][1],
            serde_json::json!({"name": "release-1.24", "kubernetes": "1.24", "status": "frozen", "tag": null})
        );
        let cells = v["addons"][0]["cells"].as_object().expect("an object");
        assert_eq!(
            cells.keys().collect::<Vec<_>>(),
            ["main", "release-1.24"],
            "branch order, not alphabetical"
        );
        assert_eq!(
            v["addons"][1]["cells"],
            serde_json::json!({"main": {"chart_version": "1.0.0", "app_version": "<b>2|3</b>"}})
        );
        assert_eq!(v["addons"][1]["deploy_to"], "management");
    }

    #[test]
    fn markdown_is_a_table_with_escaped_pipes_and_empty_cells() {
        insta::assert_snapshot!(markdown(&matrix()).expect("renders"), @r"
        | addon | deployed to | `main`<br>Kubernetes 1.33<br>v1.33.2 | `release-1.24`<br>Kubernetes 1.24 (frozen)<br>not released |
        |---|---|---|---|
        | cert-manager | tenant | v1.16.5 (app v1.16.5) | v1.14.7 |
        | new-addon | management | 1.0.0 (app <b>2\|3</b>) |  |
        ");
    }

    #[test]
    fn html_escapes_every_value() {
        let page = html(&matrix()).expect("renders");
        assert!(page.contains("app &lt;b&gt;2|3&lt;&#x2f;b&gt;"), "{page}");
        assert!(!page.contains("<b>"), "{page}");
        assert!(page.contains(r#"<th scope="row">cert-manager</th>"#));
        assert!(page.contains("@media (prefers-color-scheme: dark)"));
        for external in ["<script", "<link", "@import", "http://", "https://", "url("] {
            assert!(
                !page.contains(external),
                "{external} in a self-contained page"
            );
        }
    }
}
