//! `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`.

use super::{Attempt, Credentials, Env};

/// As botocore's `EnvProvider`: a key id without its secret (or the other way round) is an
/// error, not a reason to look further.
pub(super) fn credentials(env: &Env) -> Result<Credentials, Attempt> {
    match (env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => Ok(Credentials::new(
            id.trim(),
            secret.trim(),
            env.get("AWS_SESSION_TOKEN").map(|t| t.trim().to_string()),
            None,
        )),
        (None, None) => Err(Attempt::NotConfigured(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set".into(),
        )),
        (Some(_), None) => Err(Attempt::Failed(
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into(),
        )),
        (None, Some(_)) => Err(Attempt::Failed(
            "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into(),
        )),
    }
}
