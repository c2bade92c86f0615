//! Git, through git2. Everything here is blocking: call it from `spawn_blocking`, open the
//! repository inside the call, and return owned data (git2 values are not `Sync` and borrow
//! their repository).

mod tree;

pub use tree::{current_branch, find_branch, Tree, TreeError};
