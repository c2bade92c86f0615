//! `release`: per branch with commits since its last tag, the next tag by the train's format
//! and its notes ([`plan`]); then the annotated tag, pushed (never moved), and a GitHub
//! release with the same notes ([`execute`]). A run that died between the tag push and the
//! release is finished by the next one.

mod execute;
mod plan;

pub use execute::{execute, ReleaseOutcome};
pub use plan::{classify, latest_tag, plan, BranchRelease, Change, ReleaseAction, ReleasePlan};
