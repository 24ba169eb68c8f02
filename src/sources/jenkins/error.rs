//! What can go wrong talking to Jenkins, each said plainly with what to do
//! next. Error texts never hold the API token: only the name of the
//! environment variable it is read from.

use crate::domain::sanitize::strip_all;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JenkinsError {
    #[error("{0}")]
    Config(String),
    #[error("cannot reach Jenkins at {url}: {reason}; check that Jenkins is running and that jenkins.url is right")]
    Unreachable { url: String, reason: String },
    #[error("no answer from Jenkins at {url} within {timeout_ms} ms; check that Jenkins is running and not overloaded")]
    Timeout { url: String, timeout_ms: u64 },
    #[error("Jenkins refused the credentials of {user} (HTTP 401): the API token in ${token_env} is wrong, expired or not for this user; create one under the user's Security (API Token) page and export it as {token_env}")]
    Unauthorized { user: String, token_env: String },
    #[error("Jenkins did not issue a CSRF crumb for {what} (HTTP 403): {detail}; use an API token (crumbs are not needed with one) or check the crumb issuer")]
    Crumb { what: String, detail: String },
    #[error("Jenkins forbids {what} to {user} (HTTP 403): grant the user Overall/Read and Job/Read (Job/Build to trigger)")]
    Forbidden { what: String, user: String },
    #[error("Jenkins has no job `{job}` at {url} (HTTP 404); check jenkins.job (folders as `folder/job`) and jenkins.url")]
    JobNotFound { job: String, url: String },
    #[error("job `{job}` has no build #{number} (HTTP 404); `blissful-infra jenkins runs` lists the builds there are")]
    BuildNotFound { job: String, number: u64 },
    #[error("job `{job}` exists but {url} answers HTTP 404: install the Pipeline Stage View plugin (pipeline-stage-view), which serves the wfapi endpoints, or point jenkins.job at a Pipeline job")]
    NoStageView { job: String, url: String },
    #[error("Jenkins answered HTTP {status} for {what}: {body}")]
    Http {
        what: String,
        status: u16,
        body: String,
    },
    #[error("unreadable answer from Jenkins for {what}: {reason}")]
    Decode { what: String, reason: String },
}

impl JenkinsError {
    /// Errors that retrying will not cure without someone acting (a wrong
    /// token, a missing job): a command stops on them; the watch still
    /// retries, slowly.
    pub fn needs_action(&self) -> bool {
        !matches!(
            self,
            JenkinsError::Unreachable { .. }
                | JenkinsError::Timeout { .. }
                | JenkinsError::Http { .. }
                | JenkinsError::Decode { .. }
        )
    }

    /// The exit code a command reports it with.
    pub fn exit_code(&self) -> i32 {
        use crate::report::exit;
        match self {
            JenkinsError::Unreachable { .. } | JenkinsError::Timeout { .. } => exit::UNAVAILABLE,
            JenkinsError::Http { .. } | JenkinsError::Decode { .. } => exit::FAILED,
            _ => exit::REFUSED,
        }
    }
}

/// How much of an error body is quoted.
const MAX_QUOTED: usize = 300;

/// A body quoted in an error: clean, one line, bounded, HTML tags dropped.
pub(crate) fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if in_tag => {}
            c if c.is_whitespace() => out.push(' '),
            c => out.push(c),
        }
    }
    let out = strip_all(&out);
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    match out.char_indices().nth(MAX_QUOTED) {
        Some((i, _)) => format!("{}…", &out[..i]),
        None => out,
    }
}

/// The innermost cause, which says what happened plainly
/// (`Connection refused (os error 111)`).
pub(crate) fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(s) = cur.source() {
        cur = s;
    }
    strip_all(&cur.to_string())
}
