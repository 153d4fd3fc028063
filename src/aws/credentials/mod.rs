//! Credentials and the SDKs' default provider chain.
//!
//! The chain is botocore's (`create_credential_resolver`), restricted to what a server image
//! needs: environment keys; a profile with `role_arn` (STS AssumeRole); web identity (STS
//! AssumeRoleWithWebIdentity); a profile's static keys (credentials file, then config file);
//! container credentials; EC2 instance metadata (IMDSv2). Like botocore, a provider that is not
//! configured passes to the next one, but one that is configured and fails ends the search:
//! falling through to, say, the instance role after the web identity exchange failed would
//! silently run under another identity.
//!
//! Once a provider has given credentials the chain sticks to it: a refresh asks that provider
//! again (as botocore's `RefreshableCredentials` do); [`ProvideCredentials::invalidate`] runs the
//! whole chain again on the next call.

mod cache;
mod container;
mod env;
mod http;

pub(crate) use http::describe as describe_transport_error;
pub(crate) mod imds;
pub(crate) mod profile;
mod sts;
mod web_identity;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use cache::Cache;
pub use cache::DEFAULT_REFRESH_WINDOW;

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
#[derive(Debug, Clone)]
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

/// What one provider made of its turn.
#[derive(Debug)]
enum Attempt {
    /// Not set up here: the chain moves on.
    NotConfigured(String),
    /// Set up but failed: the chain stops.
    Failed(String),
}

/// The environment variables the chain reads, copied once, so that a test (or an embedding
/// program) can hand in its own environment and `HOME`. Debug lists names only: some values
/// are secrets.
#[derive(Clone, Default)]
pub(crate) struct Env(HashMap<&'static str, String>);

/// Every variable any provider (or region resolution) looks at.
const ENV_KEYS: [&str; 23] = [
    "HOME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    "AWS_METADATA_SERVICE_TIMEOUT",
    "AWS_METADATA_SERVICE_NUM_ATTEMPTS",
];

impl Env {
    pub(crate) fn capture(env: &dyn Fn(&str) -> Option<String>) -> Env {
        Env(ENV_KEYS.iter().filter_map(|&k| env(k).map(|v| (k, v))).collect())
    }

    /// A set, non-empty value (the SDKs treat an empty variable as unset).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// `AWS_EC2_METADATA_DISABLED=true` (any case), as botocore reads it.
    pub(crate) fn imds_disabled(&self) -> bool {
        self.get("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// `~` and `~/...` expanded with HOME, as `os.path.expanduser` does.
    pub(crate) fn expand_home(&self, path: &str) -> String {
        match (path.strip_prefix('~'), self.get("HOME")) {
            (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
                format!("{}{rest}", home.trim_end_matches('/'))
            }
            _ => path.to_string(),
        }
    }

    /// A closure view, for the helpers that take one (endpoint resolution).
    pub(crate) fn lookup(&self, key: &str) -> Option<String> {
        self.get(key).map(str::to_string)
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<_> = self.0.keys().collect();
        keys.sort();
        f.debug_tuple("Env").field(&keys).finish()
    }
}

/// Which provider gave the cached credentials (a refresh asks it again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Environment,
    ProfileRole,
    WebIdentity,
    ProfileKeys,
    Container,
    InstanceMetadata,
}

/// The SDKs' default chain, cached; see the module documentation for the order.
#[derive(Debug)]
pub struct DefaultCredentialsChain {
    env: Env,
    imds: Arc<imds::Client>,
    selected: Mutex<Option<Source>>,
    cache: Cache,
}

impl DefaultCredentialsChain {
    /// Reads what the chain needs from `env` now (no I/O: files and endpoints are read on the
    /// first call to [`ProvideCredentials::credentials`]). `HOME` comes from `env` too.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let env = Env::capture(env);
        DefaultCredentialsChain {
            imds: Arc::new(imds::Client::new(&env)),
            env,
            selected: Mutex::new(None),
            cache: Cache::new(DEFAULT_REFRESH_WINDOW),
        }
    }

    /// Temporary credentials are refreshed this long before they expire (default
    /// [`DEFAULT_REFRESH_WINDOW`]; at most half their lifetime, so short-lived ones are not
    /// fetched on every call).
    pub fn with_refresh_window(mut self, window: Duration) -> Self {
        self.cache = Cache::new(window);
        self
    }

    /// Runs the chain, or asks the provider that answered last time.
    fn resolve(&self) -> Result<Credentials, CredentialsError> {
        let selected = *crate::sync::lock(&self.selected);
        if let Some(source) = selected {
            return self.fetch_from(source).map_err(|a| CredentialsError {
                tried: vec![(source.name(), a.reason())],
            });
        }
        let mut tried = Vec::new();
        for source in Source::ORDER {
            match self.fetch_from(source) {
                Ok(c) => {
                    *crate::sync::lock(&self.selected) = Some(source);
                    return Ok(c);
                }
                Err(Attempt::NotConfigured(why)) if why.is_empty() => {}
                Err(Attempt::NotConfigured(why)) => tried.push((source.name(), why)),
                Err(Attempt::Failed(why)) => {
                    tried.push((source.name(), why));
                    break;
                }
            }
        }
        Err(CredentialsError { tried })
    }

    fn fetch_from(&self, source: Source) -> Result<Credentials, Attempt> {
        match source {
            Source::Environment => env::credentials(&self.env),
            Source::ProfileRole => profile::role_credentials(&self.env, &self.imds),
            Source::WebIdentity => web_identity::credentials(&self.env),
            Source::ProfileKeys => profile::static_credentials(&self.env),
            Source::Container => container::credentials(&self.env),
            Source::InstanceMetadata => self.imds.credentials(),
        }
    }
}

impl Source {
    /// botocore's order: env, assume-role profile, web identity, shared credentials file,
    /// config file, container, instance metadata.
    const ORDER: [Source; 6] = [
        Source::Environment,
        Source::ProfileRole,
        Source::WebIdentity,
        Source::ProfileKeys,
        Source::Container,
        Source::InstanceMetadata,
    ];

    fn name(self) -> &'static str {
        match self {
            Source::Environment => "environment",
            Source::ProfileRole | Source::ProfileKeys => "shared files",
            Source::WebIdentity => "web identity",
            Source::Container => "container",
            Source::InstanceMetadata => "instance metadata",
        }
    }
}

impl Attempt {
    fn reason(self) -> String {
        match self {
            Attempt::NotConfigured(s) | Attempt::Failed(s) => s,
        }
    }
}

impl ProvideCredentials for DefaultCredentialsChain {
    fn credentials(&self) -> Result<Credentials, CredentialsError> {
        self.cache.get(|| self.resolve())
    }

    fn invalidate(&self) {
        *crate::sync::lock(&self.selected) = None;
        self.cache.clear();
    }
}

/// `2024-05-01T12:34:56Z`, with optional fractional seconds and a `Z` or `±HH:MM` offset (the
/// forms STS, IMDS and container endpoints use).
pub(crate) fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let ob = rest.as_bytes();
            if ob.len() != 6 || ob[3] != b':' || !matches!(ob[0], b'+' | b'-') {
                return None;
            }
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            let v = h * 3600 + m * 60;
            if ob[0] == b'-' { -v } else { v }
        }
    };
    let secs = crate::clock::unix_from_civil(year, month, day, hour, minute, second) - offset;
    u64::try_from(secs)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(t: SystemTime) -> u64 {
        t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn timestamps() {
        let t = |s| parse_timestamp(s).map(unix);
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(t("2014-10-24T23:00:23Z"), Some(1_414_191_623));
        assert_eq!(t("2014-10-24T23:00:23.123Z"), Some(1_414_191_623));
        assert_eq!(t("2014-10-25T01:00:23+02:00"), Some(1_414_191_623));
        assert_eq!(t("2024-02-29T12:00:00Z"), Some(1_709_208_000));
        assert_eq!(t("2014-10-24 23:00:23Z"), Some(1_414_191_623));
        for bad in [
            "",
            "2014-10-24",
            "2014-13-24T23:00:23Z",
            "2014-10-24T23:00:23",
            "2014-10-24T23:00:23.Z",
            "2014-10-24T2a:00:23Z",
            "+014-10-24T23:00:23Z",
            "2014-10-24T23:00:23+0200",
        ] {
            assert_eq!(t(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let c = Credentials::new("AKID", "s3cr3t", Some("t0k3n".into()), None);
        let d = format!("{c:?}");
        assert!(d.contains("AKID") && !d.contains("s3cr3t") && !d.contains("t0k3n"));
        let vars = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("AKID".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("s3cr3t".to_string()),
            "AWS_SESSION_TOKEN" => Some("t0k3n".to_string()),
            _ => None,
        };
        let chain = DefaultCredentialsChain::from_env(&vars);
        let d = format!("{chain:?}");
        assert!(!d.contains("s3cr3t") && !d.contains("t0k3n"), "{d}");
        let got = chain.credentials().unwrap();
        assert_eq!(got.secret_access_key(), "s3cr3t");
        let d = format!("{chain:?}");
        assert!(!d.contains("s3cr3t") && !d.contains("t0k3n"), "{d}");
    }

    #[test]
    fn home_expansion() {
        let env = Env::capture(&|k| (k == "HOME").then(|| "/home/u/".to_string()));
        assert_eq!(env.expand_home("~/.aws/config"), "/home/u/.aws/config");
        assert_eq!(env.expand_home("~"), "/home/u");
        assert_eq!(env.expand_home("~other/x"), "~other/x");
        assert_eq!(env.expand_home("/etc/x"), "/etc/x");
    }
}
