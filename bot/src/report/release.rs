//! Train texts: release notes (the annotated tag's message and the GitHub release), and the
//! branch-cut PR.

use serde::Serialize;

use super::{fit, marker, render, TemplateError, BODY_LIMIT, RELEASE_LIMIT};

/// What release notes say.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseNotes<'a> {
    pub tag: &'a str,
    pub kube: &'a str,
    pub branch: &'a str,
    pub previous: Option<&'a str>,
    pub bumps: Vec<NoteBump<'a>>,
    /// Each CRD changed since `previous`, with its verdict.
    pub crds: Vec<&'a str>,
    /// Whether one of them breaks custom resources that exist.
    pub crd_breaking: bool,
    pub backports: Vec<&'a str>,
    pub other: Vec<&'a str>,
    pub versions: Vec<NoteVersion<'a>>,
    /// The supported-versions matrix of the whole train, as a Markdown table (`None`: it could
    /// not be built; the notes go without it).
    pub matrix: Option<&'a str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NoteBump<'a> {
    pub addon: &'a str,
    pub from: &'a str,
    pub to: &'a str,
}

#[derive(Debug, Clone, Serialize)]
pub struct NoteVersion<'a> {
    pub addon: &'a str,
    pub version: &'a str,
}

/// Release notes, within GitHub's limit for a release.
pub fn release_notes(n: &ReleaseNotes<'_>) -> Result<String, TemplateError> {
    Ok(fit(render("release-notes.md", n)?, RELEASE_LIMIT))
}

/// What the branch-cut PR says.
pub struct BranchCutBody<'a> {
    pub branch: &'a str,
    /// main's tip the branch was created from.
    pub base: &'a str,
    pub new_main: &'a str,
    pub kind_image: &'a str,
    pub retired: &'a [String],
}

/// The body of the PR that moves main to the next minor.
pub fn branch_cut_body(b: &BranchCutBody<'_>) -> Result<String, TemplateError> {
    #[derive(Serialize)]
    struct Ctx<'a> {
        marker: String,
        branch: &'a str,
        base: String,
        new_main: &'a str,
        kind_image: &'a str,
        retired: &'a [String],
    }
    let ctx = Ctx {
        marker: marker("branch-cut", &[("branch", b.branch)]),
        branch: b.branch,
        base: format!("{:.12}", b.base),
        new_main: b.new_main,
        kind_image: b.kind_image,
        retired: b.retired,
    };
    Ok(fit(render("branch-cut-pr.md", &ctx)?, BODY_LIMIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_branch_cut_pr_says_what_merging_it_does() {
        let retired = ["release-1.30".to_string()];
        let body = branch_cut_body(&BranchCutBody {
            branch: "release-1.33",
            base: "0123456789abcdef0123456789abcdef01234567",
            new_main: "1.34",
            kind_image: "kindest/node:v1.34.0",
            retired: &retired,
        })
        .expect("renders");
        insta::assert_snapshot!(body, @r#"
        <!-- ake-bot: {"kind":"branch-cut","branch":"release-1.33"} -->
        `release-1.33` was created from main's tip (0123456789ab). Merging this moves `main` to Kubernetes 1.34 (kind image `kindest/node:v1.34.0`) and adds `release-1.33` to the train.

        - `release-1.30` is beyond the support window and becomes eol.
        "#);
    }
}
