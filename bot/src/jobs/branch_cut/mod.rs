//! `branch cut`: when a new Kubernetes minor ships, `release-1.NN` is cut from main (which
//! targeted 1.NN), main moves to 1.NN+1, and release branches beyond the support window become
//! eol. [`plan`] computes the new `branches.toml` (edited in place, so comments and layout
//! survive review) and the PR; [`execute`] creates the branch and reconciles the PR.

mod execute;
mod plan;

pub use execute::{execute, CutOutcome};
pub use plan::{edit_train, plan, CutPlan, TrainEdit};
