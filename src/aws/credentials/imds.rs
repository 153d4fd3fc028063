//! EC2 instance metadata, IMDSv2 only: a session token from `PUT /latest/api/token`, sent as
//! `X-aws-ec2-metadata-token` with every GET. IMDSv1 (token-less GETs) is not used: AWS
//! recommends requiring v2, and Firecracker's MicroVM Metadata Service (MMDS, what AgentCore
//! Runtime serves credentials from) accepts the session-token flow in both of its versions
//! (firecracker `docs/mmds/mmds-user-guide.md`).
//!
//! `AWS_EC2_METADATA_DISABLED=true` turns it off; `AWS_EC2_METADATA_SERVICE_ENDPOINT` (or
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`) moves it; `AWS_METADATA_SERVICE_TIMEOUT`
//! (seconds, default 1) and `AWS_METADATA_SERVICE_NUM_ATTEMPTS` (default 2) bound it, so a
//! host that is not EC2 costs about two seconds, once, at the end of the chain.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Attempt, Credentials, Env, container::parse_json_credentials, http};

const TOKEN_TTL_SECS: u64 = 21_600;
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
const ROLE_PATH: &str = "/latest/meta-data/iam/security-credentials/";
const REGION_PATH: &str = "/latest/meta-data/placement/region";

/// An IMDS client; it keeps its session token until shortly before the token expires.
pub(crate) struct Client {
    /// `None`: disabled.
    base: Option<String>,
    agent: ureq::Agent,
    attempts: u32,
    token: Mutex<Option<(String, Instant)>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("imds::Client")
            .field("base", &self.base)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

enum Failure {
    /// The service answered this status.
    Status(u16),
    Other(String),
}

impl Failure {
    fn text(self, what: &str) -> String {
        match self {
            Failure::Status(s) => format!("{what}: HTTP {s}"),
            Failure::Other(e) => format!("{what}: {e}"),
        }
    }
}

impl Client {
    pub(crate) fn new(env: &Env) -> Client {
        let base = if env.imds_disabled() {
            None
        } else if let Some(url) = env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") {
            Some(url.trim().trim_end_matches('/').to_string())
        } else if env
            .get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("ipv6"))
        {
            Some("http://[fd00:ec2::254]".into())
        } else {
            Some("http://169.254.169.254".into())
        };
        let timeout = env
            .get("AWS_METADATA_SERVICE_TIMEOUT")
            .and_then(|t| t.trim().parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t > 0.0 && *t <= 60.0)
            .map_or(Duration::from_secs(1), Duration::from_secs_f64);
        let attempts = env
            .get("AWS_METADATA_SERVICE_NUM_ATTEMPTS")
            .and_then(|n| n.trim().parse::<u32>().ok())
            .filter(|n| (1..=10).contains(n))
            .unwrap_or(2);
        Client {
            base,
            agent: http::metadata_agent(timeout, timeout + Duration::from_secs(1)),
            attempts,
            token: Mutex::new(None),
        }
    }

    fn base(&self) -> Result<&str, Attempt> {
        self.base
            .as_deref()
            .ok_or_else(|| Attempt::NotConfigured("disabled by AWS_EC2_METADATA_DISABLED".into()))
    }

    /// The instance role's credentials.
    pub(super) fn credentials(&self) -> Result<Credentials, Attempt> {
        let base = self.base()?;
        let roles = self.get(base, ROLE_PATH, self.attempts).map_err(|f| match f {
            Failure::Status(404) => Attempt::Failed("no IAM role is attached to this instance".into()),
            f => Attempt::Failed(f.text("listing the instance role")),
        })?;
        let role = roles
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or_else(|| Attempt::Failed("no IAM role is attached to this instance".into()))?;
        if role.contains(['/', '?', '#']) || role.contains("..") {
            return Err(Attempt::Failed("the instance role name is not a name".into()));
        }
        let body = self
            .get(base, &format!("{ROLE_PATH}{role}"), self.attempts)
            .map_err(|f| Attempt::Failed(f.text(&format!("credentials of role {role}"))))?;
        parse_json_credentials(&body).map_err(Attempt::Failed)
    }

    /// The instance's region; one attempt (this runs at start-up, when nothing else gave one).
    pub(crate) fn region(&self) -> Result<String, String> {
        let base = self
            .base()
            .map_err(|a| format!("instance metadata: {}", a.reason()))?;
        let body = self
            .get(base, REGION_PATH, 1)
            .map_err(|f| f.text("instance metadata region"))?;
        let region = body.trim();
        if region.is_empty() || !region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err("instance metadata region: not a region name".into());
        }
        Ok(region.to_string())
    }

    /// One GET with a session token, retried (transport errors, 5xx) up to `attempts` times;
    /// a 401 (the token expired early) fetches a new token once.
    fn get(&self, base: &str, path: &str, attempts: u32) -> Result<String, Failure> {
        let mut last = Failure::Other("not tried".into());
        let mut renewed = false;
        let mut tries = 0;
        while tries < attempts {
            tries += 1;
            let token = match self.token(base) {
                Ok(t) => t,
                // 4xx: IMDS refuses tokens here (disabled, or a hop limit); trying again won't help.
                Err(Failure::Status(s)) => {
                    return Err(Failure::Other(format!("session token: HTTP {s}")));
                }
                Err(f) => {
                    last = f;
                    continue;
                }
            };
            let result = http::read(
                self.agent
                    .get(format!("{base}{path}"))
                    .header(TOKEN_HEADER, token.as_str())
                    .call(),
            );
            match result {
                Ok((200, body)) => return Ok(body),
                Ok((401, _)) if !renewed => {
                    renewed = true;
                    tries -= 1;
                    *crate::sync::lock(&self.token) = None;
                    last = Failure::Status(401);
                }
                Ok((status, _)) if status >= 500 => last = Failure::Status(status),
                Ok((status, _)) => return Err(Failure::Status(status)),
                Err(e) => last = Failure::Other(e),
            }
        }
        Err(last)
    }

    /// The cached session token, or a new one.
    fn token(&self, base: &str) -> Result<String, Failure> {
        if let Some((token, until)) = crate::sync::lock(&self.token).as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let result = http::read(
            self.agent
                .put(format!("{base}/latest/api/token"))
                .header("x-aws-ec2-metadata-token-ttl-seconds", TOKEN_TTL_SECS.to_string())
                .send_empty(),
        );
        match result {
            Ok((200, token)) => {
                let token = token.trim().to_string();
                if token.is_empty() || ureq::http::HeaderValue::from_str(&token).is_err() {
                    return Err(Failure::Other("the session token is not a header value".into()));
                }
                // Renewed a minute early, so a token never expires between check and use.
                let until = Instant::now() + Duration::from_secs(TOKEN_TTL_SECS - 60);
                *crate::sync::lock(&self.token) = Some((token.clone(), until));
                Ok(token)
            }
            Ok((status, _)) if status >= 500 => Err(Failure::Other(format!("session token: HTTP {status}"))),
            Ok((status, _)) => Err(Failure::Status(status)),
            Err(e) => Err(Failure::Other(format!("session token: {e}"))),
        }
    }
}
