//! Web identity (EKS service accounts and the like): a token file and a role, exchanged at STS
//! `AssumeRoleWithWebIdentity`. The token file is read on every fetch: the platform rotates it.

use super::{Attempt, Credentials, Env, profile, sts};

/// Settings from the environment first, then the profile, key by key (botocore's
/// `AssumeRoleWithWebIdentityProvider._get_config`).
pub(super) fn credentials(env: &Env) -> Result<Credentials, Attempt> {
    let profile = profile::Files::load(env)
        .map_err(Attempt::Failed)?
        .profile(&profile::name(env));
    let from_profile = |key: &str| profile.as_ref().and_then(|p| p.get(key).cloned());
    let setting = |env_key: &str, profile_key: &str| {
        env.get(env_key)
            .map(|v| v.trim().to_string())
            .or_else(|| from_profile(profile_key))
    };
    let Some(token_file) = setting("AWS_WEB_IDENTITY_TOKEN_FILE", "web_identity_token_file") else {
        return Err(Attempt::NotConfigured(
            "AWS_WEB_IDENTITY_TOKEN_FILE not set".into(),
        ));
    };
    let Some(role_arn) = setting("AWS_ROLE_ARN", "role_arn") else {
        return Err(Attempt::Failed(
            "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not".into(),
        ));
    };
    let session_name =
        setting("AWS_ROLE_SESSION_NAME", "role_session_name").unwrap_or_else(sts::default_session_name);
    exchange(env, &env.expand_home(&token_file), &role_arn, &session_name)
}

/// One `AssumeRoleWithWebIdentity` with the token in `token_file`.
pub(super) fn exchange(
    env: &Env,
    token_file: &str,
    role_arn: &str,
    session_name: &str,
) -> Result<Credentials, Attempt> {
    let token = std::fs::read_to_string(token_file)
        .map_err(|e| Attempt::Failed(format!("cannot read the token file {token_file}: {e}")))?;
    let token = token.trim();
    if token.is_empty() {
        return Err(Attempt::Failed(format!("the token file {token_file} is empty")));
    }
    sts::assume_role_with_web_identity(env, role_arn, session_name, token).map_err(Attempt::Failed)
}
