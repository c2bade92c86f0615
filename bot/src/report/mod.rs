//! What humans read: PR titles, labels and bodies. Bodies are minijinja templates under
//! `bot/templates/` with strict undefined, carry a hidden marker the bot finds its PRs by, and
//! always fit GitHub's 65,536-character limit.

mod pr;

pub use pr::{labels, pr_body, title, PrBody, BODY_LIMIT};

/// The hidden marker embedded in every body the bot writes, so it finds and updates its own
/// PRs and comments instead of creating duplicates.
pub fn marker(kind: &str, fields: &[(&str, &str)]) -> String {
    let mut map = serde_json::Map::new();
    map.insert("kind".into(), kind.into());
    for (k, v) in fields {
        map.insert((*k).into(), (*v).into());
    }
    format!("<!-- ake-bot: {} -->", serde_json::Value::Object(map))
}
