//! `sync`: for every bundle and every branch it applies to, the newest allowed upstream
//! version, re-rendered for that branch, and the PR that would carry it ([`plan`]); then, for
//! `main`, one bot branch and at most one open PR per addon made to match the plan
//! ([`execute`]).

mod execute;
mod plan;
pub mod shard;

pub use execute::{execute, AddonResult};
pub use plan::{plan, Action, PlanEntry, Route, SyncPlan, SyncRequest, APPROVED_LABEL};
pub use shard::Shard;
