//! One file per subcommand: arguments in, core call, output out.

pub mod branch_cut;
pub mod check;
pub mod diff;
pub mod release;
pub mod render;
pub mod sync;

use std::path::PathBuf;

use crate::cli::GlobalArgs;

/// The cache directory: flag, then `$XDG_CACHE_HOME/ake-bot`, then `~/.cache/ake-bot`, then a
/// directory under the system temp dir.
pub(crate) fn cache_dir(global: &GlobalArgs) -> PathBuf {
    if let Some(d) = &global.cache_dir {
        return d.clone();
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("ake-bot");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h).join(".cache").join("ake-bot");
    }
    std::env::temp_dir().join("ake-bot-cache")
}
