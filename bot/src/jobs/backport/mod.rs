//! `backport`: carry each change merged to `main` to every release branch it applies to, as a
//! pull request onto that branch.
//!
//! Per (change, branch), [`plan`] decides whether it applies (branch status, the source PR's
//! labels, the branch's caps and the chart's `kubeVersion` for any version the change moves
//! to), picks the change's **source** files onto the branch in memory, re-renders the touched
//! bundles for the branch's Kubernetes minor (so rendered files never conflict and are right
//! for the branch), and writes the PR it wants. Conflicts in source files still give a PR: a
//! draft, labelled `backport-conflict`, with the paths and the commands to finish by hand.
//! [`execute`] pushes and reconciles those PRs, and keeps one comment on the source PR saying
//! where the change went and where not.

mod execute;
mod plan;

pub use execute::{execute, BranchResult, Carried, ChangeResult, Outcome, PrAction};
pub use plan::{
    plan, BackportPlan, BackportRequest, BranchPlan, Carry, ChangePlan, Changes, Step,
    CONFLICT_LABEL, OPT_OUT_LABEL,
};
