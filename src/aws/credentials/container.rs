//! Container credentials (ECS tasks, EKS Pod Identity, and hosts that imitate them): a GET to
//! `http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, or to
//! `$AWS_CONTAINER_CREDENTIALS_FULL_URI`, with `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read on
//! every fetch: it rotates) or `AWS_CONTAINER_AUTHORIZATION_TOKEN` as the Authorization header.

use std::net::IpAddr;
use std::time::Duration;

use super::{Attempt, Credentials, Env, http, parse_timestamp};

const ECS_HOST: &str = "169.254.170.2";
/// botocore's `ContainerMetadataFetcher._ALLOWED_HOSTS` for plain-http full URIs (besides any
/// loopback address): the ECS and EKS Pod Identity agents.
const ALLOWED_HOSTS: [&str; 4] = ["169.254.170.2", "169.254.170.23", "fd00:ec2::23", "localhost"];
const ATTEMPTS: u32 = 2;

pub(super) fn credentials(env: &Env) -> Result<Credentials, Attempt> {
    let url = match (
        env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
        env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
    ) {
        (Some(relative), _) => format!("http://{ECS_HOST}{}", relative.trim()),
        (None, Some(full)) => {
            let full = full.trim();
            check_full_uri(full).map_err(Attempt::Failed)?;
            full.to_string()
        }
        (None, None) => {
            return Err(Attempt::NotConfigured(
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI not set"
                    .into(),
            ));
        }
    };
    let token = authorization(env).map_err(Attempt::Failed)?;
    let agent = http::metadata_agent(Duration::from_secs(1), Duration::from_secs(5));
    let call = || {
        let mut req = agent.get(&url).header("accept", "application/json");
        if let Some(t) = &token {
            req = req.header("authorization", t.as_str());
        }
        http::read(req.call())
    };
    let mut result = call();
    for _ in 1..ATTEMPTS {
        if !http::retryable(&result) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        result = call();
    }
    // No URL in the messages: a relative URI is a capability of its own.
    let (status, body) = result.map_err(|e| Attempt::Failed(format!("credentials endpoint: {e}")))?;
    if status != 200 {
        return Err(Attempt::Failed(format!(
            "the credentials endpoint answered HTTP {status}"
        )));
    }
    parse_json_credentials(&body).map_err(Attempt::Failed)
}

/// botocore's rule: https anywhere; plain http only to a loopback address or the known agents.
fn check_full_uri(full: &str) -> Result<(), String> {
    let uri: ureq::http::Uri = full
        .parse()
        .map_err(|_| "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL".to_string())?;
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http")
            if host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
                || ALLOWED_HOSTS.iter().any(|h| {
                    host.eq_ignore_ascii_case(h)
                        || matches!((host.parse::<IpAddr>(), h.parse::<IpAddr>()), (Ok(a), Ok(b)) if a == b)
                }) =>
        {
            Ok(())
        }
        Some("http") => Err(format!(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http is only allowed to a loopback address or {}, not {host:?}",
            ALLOWED_HOSTS.join(", ")
        )),
        _ => Err("AWS_CONTAINER_CREDENTIALS_FULL_URI is not an http(s) URL".into()),
    }
}

/// The Authorization header: the token file wins over the variable (botocore's order).
fn authorization(env: &Env) -> Result<Option<String>, String> {
    let token = if let Some(path) = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
        let path = env.expand_home(path.trim());
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read the authorization token file {path}: {e}"))?;
        Some(text.trim().to_string())
    } else {
        env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
            .map(|t| t.trim().to_string())
    };
    match token {
        Some(t) if t.contains(['\r', '\n']) || ureq::http::HeaderValue::from_str(&t).is_err() => {
            Err("the container authorization token is not a legal header value".into())
        }
        other => Ok(other),
    }
}

/// The JSON both the container endpoint and IMDS answer: `AccessKeyId`, `SecretAccessKey`,
/// `Token`, `Expiration` (and, from IMDS, `Code` which must be `Success`).
pub(super) fn parse_json_credentials(body: &str) -> Result<Credentials, String> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|_| "the answer is not JSON".to_string())?;
    if let Some(code) = v.get("Code").and_then(|c| c.as_str())
        && code != "Success"
    {
        return Err(format!("the answer's Code is {:?}", clip(code)));
    }
    let field = |name: &str| -> Result<String, String> {
        match v.get(name).and_then(|f| f.as_str()) {
            Some(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            _ => Err(format!("the answer has no {name}")),
        }
    };
    let expiration = field("Expiration")?;
    let expires = parse_timestamp(&expiration)
        .ok_or_else(|| format!("Expiration {:?} is not a timestamp", clip(&expiration)))?;
    Ok(Credentials::new(
        field("AccessKeyId")?,
        field("SecretAccessKey")?,
        Some(field("Token")?),
        Some(expires),
    ))
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_answers() {
        let ok = r#"{"AccessKeyId":"ASIA1","SecretAccessKey":"sk","Token":"tok",
            "Expiration":"2030-01-01T00:00:00Z","RoleArn":"arn:aws:iam::1:role/r"}"#;
        let c = parse_json_credentials(ok).unwrap();
        assert_eq!(c.access_key_id, "ASIA1");
        assert_eq!(c.secret_access_key(), "sk");
        assert_eq!(c.session_token.as_deref(), Some("tok"));
        assert_eq!(c.expires_at, parse_timestamp("2030-01-01T00:00:00Z"));
        let imds = ok.replacen('{', r#"{"Code":"Success","Type":"AWS-HMAC","#, 1);
        assert!(parse_json_credentials(&imds).is_ok());
        let failed = ok.replacen('{', r#"{"Code":"AssumeRoleUnauthorizedAccess","#, 1);
        assert!(parse_json_credentials(&failed).unwrap_err().contains("Code"));
        let no_token = ok.replace(r#""Token":"tok","#, "");
        assert!(parse_json_credentials(&no_token).unwrap_err().contains("Token"));
        let bad_time = ok.replace("2030-01-01T00:00:00Z", "soon");
        assert!(parse_json_credentials(&bad_time).is_err());
        let e = parse_json_credentials("not json, secret inside").unwrap_err();
        assert!(!e.contains("secret"));
    }

    #[test]
    fn full_uri_hosts() {
        for ok in [
            "https://example.com/creds",
            "http://127.0.0.1:8080/creds",
            "http://127.1.2.3/creds",
            "http://[::1]:9/creds",
            "http://localhost/creds",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
            "http://169.254.170.2/creds",
        ] {
            assert!(check_full_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/creds",
            "http://10.0.0.1/",
            "ftp://127.0.0.1/",
            "::",
        ] {
            assert!(check_full_uri(bad).is_err(), "{bad}");
        }
    }
}
