//! The `url` / `url_env` / `url_file` keys every networked backend takes: a URL may carry
//! a password, so it can come from the environment or a private file instead of the
//! config, which gets copied around.

use std::path::Path;

use hpti_core::component::{BuildContext, BuildError};
use hpti_core::secret::Secret;

/// The URL from whichever one of `url`, `url_file` or `url_env` is set; `what` names the
/// backend in errors ("PostgreSQL", "Redis").
pub(crate) fn resolve_url(
    what: &str,
    url: Option<&Secret>,
    url_file: Option<&Path>,
    url_env: Option<&str>,
    cx: &BuildContext,
) -> Result<Secret, BuildError> {
    match (url, url_file, url_env) {
        (Some(url), None, None) => Ok(url.clone()),
        (None, Some(path), None) => Secret::from_file(&cx.data_path(path))
            .map_err(|e| BuildError::new(format!("no {what} URL"), e).at_key("url_file")),
        (None, None, Some(var)) => match std::env::var(var) {
            Ok(url) if !url.trim().is_empty() => Ok(Secret::new(url.trim())),
            _ => Err(BuildError::msg(format!(
                "no {what} URL: the environment variable {var} is not set"
            ))
            .at_key("url_env")),
        },
        (None, None, None) => Err(BuildError::msg(format!(
            "a {what} sink needs `url`, `url_env` or `url_file`"
        ))),
        _ => Err(BuildError::msg(
            "set only one of `url`, `url_env` and `url_file`",
        )),
    }
}

/// The key the URL was read from, for errors about its value.
pub(crate) fn url_key(url_file: Option<&Path>, url_env: Option<&str>) -> &'static str {
    if url_file.is_some() {
        "url_file"
    } else if url_env.is_some() {
        "url_env"
    } else {
        "url"
    }
}
