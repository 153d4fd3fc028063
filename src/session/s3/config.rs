//! Where the S3 store keeps sessions, from the environment: `SESSION_STORE=s3://bucket/prefix`,
//! `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` (S3-compatible servers), `S3_FORCE_PATH_STYLE`.
//! Region and credentials are the AWS leaf's (resolved when the store is built).
//!
//! Addressing as botocore's endpoint rules choose it: virtual-hosted (`bucket.host`) unless path
//! style is asked for, the endpoint's host is an IP address or `localhost`, or the bucket name
//! has a dot (a wildcard certificate cannot cover it). botocore reads path style from
//! `s3.addressing_style = path` in the config file only; no SDK environment variable exists for
//! it, so `S3_FORCE_PATH_STYLE` is ours (named after the SDKs' `forcePathStyle` option).

/// The bucket, prefix and addressing of an S3 session store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// The bucket name.
    pub bucket: String,
    /// The key prefix, without leading or trailing `/` (Strands strips them too); may be empty.
    pub prefix: String,
    /// `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, without a trailing `/`.
    pub endpoint: Option<String>,
    /// `S3_FORCE_PATH_STYLE`.
    pub force_path_style: bool,
    /// How long a session's lease lives without renewal (`SESSION_LEASE_DURATION`, default
    /// [`super::DEFAULT_LEASE_DURATION`]): how long a replica killed mid-turn keeps its sessions
    /// from the others. Renewed every third of it.
    pub lease_duration: std::time::Duration,
    /// Attempts and timeouts of each S3 call (`S3_MAX_ATTEMPTS`, `S3_TIMEOUT`).
    pub retry: super::RetryPolicy,
}

/// A setting that cannot be used, named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3ConfigError {
    /// The variable.
    pub var: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl S3Config {
    /// `None` when `SESSION_STORE` is unset, empty or `file` (the file store, `SESSION_DIR`).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<S3Config>, S3ConfigError> {
        let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let Some(store) = set("SESSION_STORE") else {
            return Ok(None);
        };
        let fail = |var, value: &str, reason: &str| S3ConfigError {
            var,
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let store = store.trim();
        if store == "file" {
            return Ok(None);
        }
        let Some(rest) = store.strip_prefix("s3://") else {
            return Err(fail(
                "SESSION_STORE",
                store,
                "must be `file` or `s3://bucket/prefix`",
            ));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if let Err(reason) = check_bucket(bucket) {
            return Err(fail("SESSION_STORE", store, &reason));
        }
        let endpoint = match ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
            .iter()
            .find_map(|var| set(var).map(|v| (*var, v)))
        {
            None => None,
            Some((var, url)) => {
                let url = url.trim().trim_end_matches('/').to_string();
                let authority = url
                    .strip_prefix("http://")
                    .or_else(|| url.strip_prefix("https://"));
                match authority {
                    Some(a) if !a.is_empty() && !a.contains(['/', '?', '#', '@']) => Some(url),
                    _ => {
                        return Err(fail(
                            var,
                            &url,
                            "must be http:// or https:// followed by a host (and port), nothing else",
                        ));
                    }
                }
            }
        };
        let force_path_style = match set("S3_FORCE_PATH_STYLE").as_deref().map(str::trim) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => true,
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => false,
            Some(v) => return Err(fail("S3_FORCE_PATH_STYLE", v, "must be true or false")),
        };
        Ok(Some(S3Config {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint,
            force_path_style,
            lease_duration: super::DEFAULT_LEASE_DURATION,
            retry: super::RetryPolicy::default(),
        }))
    }

    /// `s3://bucket/prefix`, for logs and errors.
    pub fn location(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// The URL before the object key (`scheme://host[:port]`) and the bucket's path segment
    /// (`/bucket` in path style, else empty: the bucket is in the host).
    pub(super) fn base_url(&self, region: &str) -> (String, String) {
        let endpoint = self
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let (scheme, authority) = endpoint.split_once("://").unwrap_or(("https", &endpoint));
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') && port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => authority,
        };
        let literal =
            host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok() || host == "localhost";
        if self.force_path_style || literal || self.bucket.contains('.') {
            (endpoint.clone(), format!("/{}", self.bucket))
        } else {
            (format!("{scheme}://{}.{authority}", self.bucket), String::new())
        }
    }
}

/// S3's bucket naming rules (3-63 of `a-z0-9.-`, starting and ending with a letter or digit).
fn check_bucket(bucket: &str) -> Result<(), String> {
    let ok_chars = bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let edges = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !(3..=63).contains(&bucket.len()) {
        Err(format!("bucket name {bucket:?} must be 3 to 63 characters"))
    } else if !ok_chars || !edges(bucket.bytes().next()) || !edges(bucket.bytes().last()) {
        Err(format!(
            "bucket name {bucket:?} may hold lower-case letters, digits, `.` and `-`, and must start and end with a letter or digit"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn file_is_the_default() {
        assert_eq!(S3Config::from_env(&env(&[])), Ok(None));
        assert_eq!(S3Config::from_env(&env(&[("SESSION_STORE", "file")])), Ok(None));
    }

    #[test]
    fn s3_locations_and_addressing() {
        let c = S3Config::from_env(&env(&[("SESSION_STORE", "s3://my-bucket//a/b/")]))
            .unwrap()
            .unwrap();
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("my-bucket", "a/b"));
        assert_eq!(c.location(), "s3://my-bucket/a/b");
        assert_eq!(
            c.base_url("eu-west-1"),
            (
                "https://my-bucket.s3.eu-west-1.amazonaws.com".into(),
                String::new()
            )
        );
        let local = S3Config::from_env(&env(&[
            ("SESSION_STORE", "s3://bkt"),
            ("AWS_ENDPOINT_URL", "http://other:1"),
            ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000/"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(local.prefix, "");
        assert_eq!(
            local.base_url("r"),
            ("http://127.0.0.1:9000".into(), "/bkt".into())
        );
        let minio = S3Config::from_env(&env(&[
            ("SESSION_STORE", "s3://bkt/p"),
            ("AWS_ENDPOINT_URL", "https://minio.example:9000"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            minio.base_url("r"),
            ("https://bkt.minio.example:9000".into(), String::new())
        );
        let forced = S3Config {
            force_path_style: true,
            ..minio
        };
        assert_eq!(
            forced.base_url("r"),
            ("https://minio.example:9000".into(), "/bkt".into())
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let var = |pairs: &[(&str, &str)]| S3Config::from_env(&env(pairs)).unwrap_err().var;
        assert_eq!(var(&[("SESSION_STORE", "gs://b")]), "SESSION_STORE");
        assert_eq!(var(&[("SESSION_STORE", "s3://B_ad")]), "SESSION_STORE");
        assert_eq!(var(&[("SESSION_STORE", "s3://")]), "SESSION_STORE");
        assert_eq!(
            var(&[
                ("SESSION_STORE", "s3://bkt"),
                ("AWS_ENDPOINT_URL_S3", "localhost:9000")
            ]),
            "AWS_ENDPOINT_URL_S3"
        );
        assert_eq!(
            var(&[
                ("SESSION_STORE", "s3://bkt"),
                ("AWS_ENDPOINT_URL", "http://h/path")
            ]),
            "AWS_ENDPOINT_URL"
        );
        assert_eq!(
            var(&[("SESSION_STORE", "s3://bkt"), ("S3_FORCE_PATH_STYLE", "yes")]),
            "S3_FORCE_PATH_STYLE"
        );
    }
}
