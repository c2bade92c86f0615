//! `tenants`: the other end of the tag. For each repository in `tenants.toml`, find how it
//! pins this platform ([`crate::tenant::pins`]) and propose, as PRs in that repository:
//! - a **bump** per pinned minor to the newest tag on the same branch, with the tag-to-tag
//!   diff;
//! - an **upgrade** to the next minor's newest tag when the pinned branch is frozen, eol, gone
//!   from the train or at the end of the support window, with the upgrade-readiness report of
//!   the tenant's own manifests ([`crate::tenant::readiness`]) and the lossless fixes
//!   committed.
//!
//! Reconciled like `sync`: one bot branch and at most one open PR per (tenant, kind, minor),
//! refreshed when a newer tag supersedes its target, closed when nothing is left to move, and
//! never reopened for a target a person closed. A tenant that cannot be read is one problem;
//! the others go on.

mod execute;
mod plan;

pub use execute::{execute, ProposalResult, TenantResult};
pub use plan::{plan, Access, Proposal, ProposalKind, Stale, TenantPlan, TenantsPlan};
