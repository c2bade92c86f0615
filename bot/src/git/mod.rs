//! Git. Local object work (reading trees, building commits) goes through git2 and is blocking:
//! call it from `spawn_blocking`, open the repository inside the call, return owned data.
//! Network work (fetch, push) goes through the git CLI, asynchronously.

mod pick;
mod remote;
mod tree;
mod write;

pub use pick::{
    changed_paths, cherry_pick, commit_summary, first_parent_since, CommitSummary, Pick,
};
pub use remote::{Remote, RemoteError};
pub use tree::{branch_tree, current_branch, export, Tree, TreeError};
pub use write::{
    commit_info, commit_on, create_tag, tag_message, CommitInfo, FileChange, Identity, WriteError,
};
