//! Credentials and their providers. WORK IN PROGRESS: only static keys and the environment
//! provider exist; web identity, shared files, container and IMDS are still to be written.

use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

/// An access key, its secret and an optional session token. Debug never shows a secret.
#[derive(Clone)]
pub struct Credentials {
    /// The access key id (not secret).
    pub access_key_id: String,
    secret_access_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
    /// When temporary credentials expire.
    pub expires_at: Option<SystemTime>,
}

impl Credentials {
    /// Credentials from their parts.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
        expires_at: Option<SystemTime>,
    ) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token,
            expires_at,
        }
    }

    /// The secret access key.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// No credentials: names each provider tried and why it failed; never a secret.
#[derive(Debug)]
#[non_exhaustive]
pub struct CredentialsError {
    /// (provider, reason) for each provider tried, in order.
    pub tried: Vec<(&'static str, String)>,
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no AWS credentials")?;
        for (i, (p, why)) in self.tried.iter().enumerate() {
            write!(f, "{}{p}: {why}", if i == 0 { ": " } else { "; " })?;
        }
        Ok(())
    }
}

impl std::error::Error for CredentialsError {}

/// A source of credentials.
pub trait ProvideCredentials: Send + Sync + fmt::Debug {
    /// Current credentials.
    fn credentials(&self) -> Result<Credentials, CredentialsError>;
    /// Forget cached credentials (after ExpiredTokenException); next call fetches anew.
    fn invalidate(&self) {}
}

/// Fixed credentials.
#[derive(Debug, Clone)]
pub struct StaticCredentials(pub Credentials);

impl ProvideCredentials for StaticCredentials {
    fn credentials(&self) -> Result<Credentials, CredentialsError> {
        Ok(self.0.clone())
    }
}

/// The SDKs' default chain (so far: environment keys only), cached.
#[derive(Debug)]
pub struct DefaultCredentialsChain {
    env_keys: Option<Credentials>,
    cache: Mutex<Option<Credentials>>,
}

impl DefaultCredentialsChain {
    /// Reads what the chain needs from `env` now.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| env(k).filter(|v| !v.is_empty());
        let env_keys = match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Some(Credentials::new(id, secret, get("AWS_SESSION_TOKEN"), None)),
            _ => None,
        };
        DefaultCredentialsChain {
            env_keys,
            cache: Mutex::new(None),
        }
    }
}

impl ProvideCredentials for DefaultCredentialsChain {
    fn credentials(&self) -> Result<Credentials, CredentialsError> {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cache.as_ref() {
            return Ok(c.clone());
        }
        match &self.env_keys {
            Some(c) => {
                *cache = Some(c.clone());
                Ok(c.clone())
            }
            None => Err(CredentialsError {
                tried: vec![(
                    "environment",
                    "AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY not set".into(),
                )],
            }),
        }
    }

    fn invalidate(&self) {
        *self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}
