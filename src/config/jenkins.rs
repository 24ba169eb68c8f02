//! `jenkins:` in blissful-infra.yaml: which Jenkins job `blissful-infra
//! jenkins …` reads and triggers (`sources::jenkins`). The API token is
//! never in the file: `token_env` names the environment variable that holds
//! it, read when a command runs.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JenkinsConfig {
    /// Base URL, e.g. `http://127.0.0.1:8080`; empty disables the source.
    pub url: String,
    /// The job's full name; folders separated by `/` (`team/shop`).
    pub job: String,
    /// The Jenkins user the API token belongs to; empty: anonymous.
    pub user: String,
    /// Name of the environment variable holding the user's API token,
    /// e.g. `JENKINS_TOKEN`.
    pub token_env: String,
}

impl JenkinsConfig {
    /// Whether the source is configured (`url` set).
    pub fn enabled(&self) -> bool {
        !self.url.trim().is_empty()
    }

    /// What is wrong with the section, as (field under `jenkins`, message).
    /// Nothing is checked while `url` is empty (the source is off).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !self.enabled() {
            return out;
        }
        if let Err(why) = plain_http_url(&self.url) {
            out.push(("url", why.to_string()));
        }
        if self.job.trim().is_empty() {
            out.push(("job", "must name the Jenkins job when url is set".into()));
        } else if self.job.split('/').any(|s| s.trim().is_empty()) {
            out.push(("job", "has an empty folder or job name between `/`".into()));
        } else if self.job.chars().any(char::is_control) {
            out.push(("job", "must not contain control characters".into()));
        }
        if self.user.chars().any(|c| c.is_control() || c == ':') {
            out.push(("user", "must not contain `:` or control characters".into()));
        }
        if !self.token_env.is_empty() && !env_name(&self.token_env) {
            out.push((
                "token_env",
                "must be an environment variable name (letters, digits, `_`, not starting with a digit), not the token itself".into(),
            ));
        }
        if self.token_env.is_empty() && !self.user.is_empty() {
            out.push((
                "token_env",
                "must name the environment variable holding the API token of `user`".into(),
            ));
        }
        out
    }
}

/// An http(s) URL with a host and a valid port (the rule every URL of the
/// config follows), and no credentials: those are `user` and `token_env`.
fn plain_http_url(url: &str) -> Result<(), &'static str> {
    super::check::http_url(url)?;
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    if rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .contains('@')
    {
        return Err("must not hold credentials: use user and token_env");
    }
    Ok(())
}

fn env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests;
