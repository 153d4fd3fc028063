//! The small ureq agents the providers use. src/aws is a leaf, so it builds its own rather than
//! borrowing the model's; the configuration approach is the same (rustls with the compiled-in
//! webpki roots, ureq's default, so TLS works in a `FROM scratch` image; no redirects; error
//! statuses are answers, not transport failures).

use std::time::Duration;

const USER_AGENT: &str = concat!("agentcore-rt/", env!("CARGO_PKG_VERSION"));

/// Credential answers are a few hundred bytes; anything far larger is not one.
const BODY_LIMIT: u64 = 64 * 1024;

/// For link-local and loopback metadata endpoints: never through a proxy (botocore's metadata
/// fetchers do not use one either), short connect and total budgets.
pub(super) fn metadata_agent(connect: Duration, total: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(USER_AGENT)
        .timeout_resolve(Some(connect))
        .timeout_connect(Some(connect))
        .timeout_global(Some(total))
        .proxy(None)
        .build()
        .into()
}

/// For STS: a public HTTPS endpoint, so ureq's default proxy handling (`HTTPS_PROXY`,
/// `NO_PROXY` from the process environment) applies, as it does for the SDKs.
pub(super) fn sts_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(USER_AGENT)
        .timeout_resolve(Some(Duration::from_secs(5)))
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Status and body of an answer (the body bounded).
pub(super) fn read(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<(u16, String), String> {
    let mut response = result.map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(BODY_LIMIT)
        .read_to_string()
        .map_err(|e| format!("reading the answer: {}", describe(&e)))?;
    Ok((status, body))
}

/// A transport error in words (ureq's own texts carry no URL query and no header values): what
/// every outbound AWS-style client here (credentials, S3, the OTLP exporter) reports.
pub(crate) fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::Io(io) => format!("connection error: {}", io.kind()),
        other => other.to_string(),
    }
}

/// Whether a failure is worth one more try (transport trouble and 5xx, as the SDKs retry).
pub(super) fn retryable(result: &Result<(u16, String), String>) -> bool {
    match result {
        Err(_) => true,
        Ok((status, _)) => *status >= 500 || *status == 429,
    }
}
