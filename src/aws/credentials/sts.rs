//! STS `AssumeRole` (SigV4-signed) and `AssumeRoleWithWebIdentity` (unsigned): the query API,
//! a form POST answered in XML, read with `crate::aws::xml` (the answers are flat, fixed
//! documents and we need four leaf elements of one of them).

use std::time::SystemTime;

use super::{Credentials, Env, http, parse_timestamp};
use crate::aws::sigv4::{SignableRequest, sign};
use crate::aws::xml::{element, strip_comments, unescape};

const VERSION: &str = "2011-06-15";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// The region STS calls go to: the environment's, then the profile's. Not IMDS: the chain
/// itself may be on its way to IMDS, and the SDKs use the global endpoint without a region.
pub(super) fn region(env: &Env) -> Option<String> {
    env.get("AWS_REGION")
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
        .map(|r| r.trim().to_string())
        .or_else(|| super::profile::config_region(env))
}

/// URL (ending in `/`) and signing region. `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL` win;
/// without a region, the global endpoint, which signs as us-east-1.
fn endpoint(env: &Env) -> (String, String) {
    let region = region(env);
    let signing = region.clone().unwrap_or_else(|| "us-east-1".into());
    let url = match &region {
        Some(r) => crate::aws::endpoint::service_endpoint(&|k| env.lookup(k), "STS", "sts", r),
        None => env
            .get("AWS_ENDPOINT_URL_STS")
            .or_else(|| env.get("AWS_ENDPOINT_URL"))
            .map(|u| u.trim().to_string())
            .unwrap_or_else(|| "https://sts.amazonaws.com".into()),
    };
    // The query API's path is `/`; an endpoint given as a bare origin gets it.
    let bare_origin = url.split_once("://").is_some_and(|(_, rest)| !rest.contains('/'));
    let url = if bare_origin { format!("{url}/") } else { url };
    (url, signing)
}

/// A default `RoleSessionName`, unique enough per process start (botocore uses
/// `botocore-session-<unix time>`).
pub(super) fn default_session_name() -> String {
    format!("agentcore-rt-{}", crate::clock::unix_now())
}

/// Parameters of one AssumeRole call.
pub(super) struct AssumeRole<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub external_id: Option<&'a str>,
    pub duration_seconds: Option<u32>,
}

pub(super) fn assume_role(
    env: &Env,
    source: &Credentials,
    p: &AssumeRole<'_>,
) -> Result<Credentials, String> {
    let mut params = vec![
        ("Action", "AssumeRole"),
        ("Version", VERSION),
        ("RoleArn", p.role_arn),
        ("RoleSessionName", p.session_name),
    ];
    let duration = p.duration_seconds.map(|d| d.to_string());
    if let Some(d) = &duration {
        params.push(("DurationSeconds", d));
    }
    if let Some(x) = p.external_id {
        params.push(("ExternalId", x));
    }
    let body = form(&params);
    let (url, signing_region) = endpoint(env);
    let headers = [("content-type", FORM)];
    let signed = sign(
        &SignableRequest {
            method: "POST",
            url: &url,
            headers: &headers,
            body: body.as_bytes(),
        },
        source,
        &signing_region,
        "sts",
        SystemTime::now(),
    );
    let call = || {
        let mut req = http::sts_agent().post(&url).header("content-type", FORM);
        for (name, value) in &signed {
            req = req.header(*name, value.as_str());
        }
        http::read(req.send(body.as_str()))
    };
    answer("AssumeRole", retry_once(call))
}

pub(super) fn assume_role_with_web_identity(
    env: &Env,
    role_arn: &str,
    session_name: &str,
    token: &str,
) -> Result<Credentials, String> {
    let body = form(&[
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", VERSION),
        ("RoleArn", role_arn),
        ("RoleSessionName", session_name),
        ("WebIdentityToken", token),
    ]);
    let (url, _) = endpoint(env);
    let call = || {
        http::read(
            http::sts_agent()
                .post(&url)
                .header("content-type", FORM)
                .send(body.as_str()),
        )
    };
    answer("AssumeRoleWithWebIdentity", retry_once(call))
}

fn retry_once(call: impl Fn() -> Result<(u16, String), String>) -> Result<(u16, String), String> {
    let first = call();
    if http::retryable(&first) {
        std::thread::sleep(std::time::Duration::from_millis(200));
        return call();
    }
    first
}

fn answer(action: &str, result: Result<(u16, String), String>) -> Result<Credentials, String> {
    let (status, body) = result.map_err(|e| format!("STS {action}: {e}"))?;
    if status != 200 {
        return Err(match parse_error(&body) {
            Some((code, message)) => format!("STS {action}: HTTP {status} {code}: {message}"),
            None => format!("STS {action}: HTTP {status}"),
        });
    }
    parse_credentials(&body).map_err(|e| format!("STS {action}: {e}"))
}

/// `application/x-www-form-urlencoded`, every byte but RFC 3986's unreserved ones escaped
/// (what botocore sends).
fn form(params: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_into(&mut out, k);
        out.push('=');
        encode_into(&mut out, v);
    }
    out
}

fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The temporary credentials in an AssumeRole* answer.
pub(super) fn parse_credentials(xml: &str) -> Result<Credentials, String> {
    let xml = &strip_comments(xml)?;
    let creds = element(xml, "Credentials").ok_or("no Credentials element in the answer")?;
    let leaf = |name: &str| -> Result<String, String> {
        let raw = element(creds, name).ok_or_else(|| format!("no {name} in the answer"))?;
        let text = unescape(raw.trim()).ok_or_else(|| format!("{name} is not plain text"))?;
        if text.is_empty() {
            return Err(format!("{name} is empty"));
        }
        Ok(text)
    };
    let expiration = leaf("Expiration")?;
    let expires = parse_timestamp(&expiration)
        .ok_or_else(|| format!("Expiration {expiration:?} is not a timestamp"))?;
    Ok(Credentials::new(
        leaf("AccessKeyId")?,
        leaf("SecretAccessKey")?,
        Some(leaf("SessionToken")?),
        Some(expires),
    ))
}

/// `(Code, Message)` of an `ErrorResponse`, the message clipped.
pub(super) fn parse_error(xml: &str) -> Option<(String, String)> {
    let xml = strip_comments(xml).ok()?;
    let error = element(&xml, "Error")?;
    let code = unescape(element(error, "Code")?.trim())?;
    let message = element(error, "Message")
        .and_then(|m| unescape(m.trim()))
        .unwrap_or_default();
    Some((clip(&code, 100), clip(&message, 300)))
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The documented AssumeRoleWithWebIdentity answer (STS API reference), trimmed.
    const ANSWER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>amzn1.account.AF6RHO7KZU5XRVQJGXK6HB56KR2A</SubjectFromWebIdentityToken>
    <Audience>client.5498841531868486423.1548@apps.example.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/FederatedWebIdentityRole/app1</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:app1</AssumedRoleId>
    </AssumedRoleUser>
    <!-- <Credentials><AccessKeyId>WRONG</AccessKeyId></Credentials> -->
    <Credentials>
      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE&amp;x=1</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <Expiration>2014-10-24T23:00:23Z</Expiration>
      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>
    </Credentials>
    <SourceIdentity>SourceIdentityValue</SourceIdentity>
    <Provider>www.amazon.com</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"#;

    #[test]
    fn parses_the_documented_answer() {
        let c = parse_credentials(ANSWER).unwrap();
        assert_eq!(c.access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
        assert_eq!(c.secret_access_key(), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
        assert_eq!(
            c.session_token.as_deref(),
            Some("AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE&x=1")
        );
        assert_eq!(c.expires_at, parse_timestamp("2014-10-24T23:00:23Z"));
    }

    #[test]
    fn refuses_broken_answers() {
        let without = ANSWER.replace("<Expiration>2014-10-24T23:00:23Z</Expiration>", "");
        assert!(parse_credentials(&without).unwrap_err().contains("Expiration"));
        let nested = ANSWER.replace("<AccessKeyId>ASgeIAIOSFODNN7EXAMPLE", "<AccessKeyId><x/>");
        assert!(parse_credentials(&nested).is_err());
        let doctype = format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{ANSWER}");
        assert!(parse_credentials(&doctype).is_err());
        assert!(parse_credentials("<Credentials>").is_err());
        assert!(parse_credentials("").is_err());
        let bad_time = ANSWER.replace("2014-10-24T23:00:23Z", "tomorrow");
        assert!(parse_credentials(&bad_time).unwrap_err().contains("timestamp"));
    }

    #[test]
    fn error_answers() {
        let xml = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>AccessDenied</Code>
    <Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error>
  <RequestId>x</RequestId></ErrorResponse>"#;
        assert_eq!(
            parse_error(xml),
            Some((
                "AccessDenied".into(),
                "Not authorized to perform sts:AssumeRoleWithWebIdentity".into()
            ))
        );
        assert_eq!(parse_error("<html>"), None);
    }

    #[test]
    fn form_encoding() {
        assert_eq!(
            form(&[("RoleArn", "arn:aws:iam::1:role/a b"), ("T", "x+y/=~")]),
            "RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b&T=x%2By%2F%3D~"
        );
    }

    #[test]
    fn endpoints() {
        let env = |pairs: &[(&'static str, &str)]| {
            let pairs: Vec<(&'static str, String)> = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
            Env::capture(&move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
        };
        let e = env(&[("AWS_REGION", "eu-west-1"), ("HOME", "/nonexistent")]);
        assert_eq!(
            endpoint(&e),
            ("https://sts.eu-west-1.amazonaws.com/".into(), "eu-west-1".into())
        );
        let e = env(&[("HOME", "/nonexistent")]);
        assert_eq!(
            endpoint(&e),
            ("https://sts.amazonaws.com/".into(), "us-east-1".into())
        );
        let e = env(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:8"),
        ]);
        assert_eq!(endpoint(&e).0, "http://127.0.0.1:8/");
    }
}
