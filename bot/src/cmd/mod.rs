//! One file per subcommand: arguments in, core call, output out.

pub mod backport;
pub mod branch_cut;
pub mod check;
pub mod diff;
pub mod e2e;
pub mod release;
pub mod render;
pub mod sync;
pub mod validate;

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

/// GitHub settings for a job that writes (`sync`, `release`, `branch cut`), or the error that
/// says what is missing. `job` names the command in the message.
pub(crate) fn github_settings(
    g: &crate::cli::GitHubArgs,
    job: &str,
) -> Result<crate::train::publish::PublishSettings, String> {
    let (Some(repository), Some(token)) = (&g.github_repository, &g.github_token) else {
        return Err(format!(
            "{job} needs the GitHub repository and a token: set GITHUB_REPOSITORY and GITHUB_TOKEN \
             (or --github-repository/--github-token)\n\
             to only see the plan, pass --dry-run"
        ));
    };
    Ok(crate::train::publish::PublishSettings {
        api_url: g.github_api_url.clone(),
        repository: repository.clone(),
        token: token.clone(),
        branch_prefix: g.branch_prefix.clone(),
        identity: crate::git::Identity {
            name: g.author_name.clone(),
            email: g.author_email.clone(),
        },
        remote: g.remote.clone(),
    })
}
