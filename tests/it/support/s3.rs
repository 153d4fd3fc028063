//! The S3 test peers: moto's S3 in server mode (`tests/peers/s3_server.py`, moto 5.2.5 in
//! `.venv-s3`), real Strands' `S3SessionManager` (`tests/peers/strands_s3_session.py`), and the
//! environment that points the binary at them.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use agentcore_rt::aws::{Credentials, SignableRequest, StaticCredentials, sign};
use agentcore_rt::session::s3::DEFAULT_LEASE_DURATION;
use agentcore_rt::session::{S3Config, S3SessionStore};
use serde_json::{Value, json};

use super::peer::PeerProcess;
use super::repo_root;
use super::server::{Binary, Resp, post_json, request};

pub const WAIT: Duration = Duration::from_secs(10);

/// moto's S3 on a free port, killed on drop.
pub struct S3Peer {
    _peer: PeerProcess,
    pub addr: SocketAddr,
}

impl S3Peer {
    pub fn start() -> S3Peer {
        let python = repo_root().join(".venv-s3/bin/python");
        let peer = PeerProcess::start(&python, "s3_server.py", &[], false);
        S3Peer {
            addr: SocketAddr::from(([127, 0, 0, 1], peer.port)),
            _peer: peer,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn bucket(&self, name: &str) {
        let r = request(self.addr, "PUT", &format!("/{name}"), &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
    }

    /// The requests served since the last call, by kind (GET, PUT, HEAD, LIST).
    pub fn requests(&self) -> Value {
        let r = request(self.addr, "DELETE", "/_requests", &[], b"");
        r.json()
    }

    /// The requests served since the last call, each as `{"kind", "path", "x-amzn-trace-id"
    /// (or null), "signature": "verified" | "unsigned"}`: every signed one was checked with
    /// botocore's S3SigV4Auth by the peer, which refuses (403) those botocore disagrees with.
    pub fn traces(&self) -> Vec<Value> {
        let r = request(self.addr, "DELETE", "/_traces", &[], b"");
        serde_json::from_value(r.json()).unwrap()
    }

    /// A signed request to the bucket (moto refuses anonymous ones); `path_and_query` after
    /// `/bucket/`.
    pub fn signed(
        &self,
        method: &str,
        bucket: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let path = format!("/{bucket}/{}", path_and_query.replace(' ', "%20"));
        let url = format!("{}{path}", self.endpoint());
        let creds = Credentials::new("testing", "testing", None, None);
        let req = SignableRequest {
            method,
            url: &url,
            headers,
            body,
        };
        let signed = sign(&req, &creds, "us-east-1", "s3", std::time::SystemTime::now());
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.extend(signed.iter().map(|(n, v)| (*n, v.as_str())));
        request(self.addr, method, &path, &all, body)
    }

    /// An object's text, read with a signed GET.
    pub fn object(&self, bucket: &str, key: &str) -> Option<String> {
        let r = self.signed("GET", bucket, key, &[], b"");
        (r.status == 200).then(|| r.text())
    }

    /// Writes an object unconditionally.
    pub fn put_object(&self, bucket: &str, key: &str, body: &str) {
        let r = self.signed("PUT", bucket, key, &[], body.as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
    }

    pub fn delete_object(&self, bucket: &str, key: &str) {
        let r = self.signed("DELETE", bucket, key, &[], b"");
        assert_eq!(r.status, 204, "{}", r.text());
    }

    /// Every key under `prefix` (ListObjectsV2, one page of up to 1,000).
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let query = format!("?list-type=2&prefix={}", prefix.replace('/', "%2F"));
        let r = self.signed("GET", bucket, &query, &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
        let text = r.text();
        assert!(
            !text.contains("<IsTruncated>true"),
            "more than a page under {prefix}"
        );
        text.split("<Key>")
            .skip(1)
            .filter_map(|k| k.split_once("</Key>").map(|(k, _)| k.to_string()))
            .collect()
    }

    pub fn store(&self, bucket: &str, prefix: &str) -> S3SessionStore {
        self.store_with_lease(bucket, prefix, DEFAULT_LEASE_DURATION)
    }

    pub fn store_with_lease(&self, bucket: &str, prefix: &str, lease: Duration) -> S3SessionStore {
        let config = S3Config {
            bucket: bucket.into(),
            prefix: prefix.into(),
            endpoint: Some(self.endpoint()),
            force_path_style: true,
            lease_duration: lease,
            retry: Default::default(),
        };
        let creds = StaticCredentials(Credentials::new("testing", "testing", None, None));
        S3SessionStore::new(config, "us-east-1", Arc::new(creds))
    }
}

/// Runs real Strands' S3SessionManager: restores, prints what it restored, appends `append`.
pub fn strands(
    peer: &S3Peer,
    bucket: &str,
    prefix: &str,
    session: &str,
    window: usize,
    append: &Value,
) -> Value {
    let python: PathBuf = repo_root().join(".venv-strands/bin/python");
    let mut child = Command::new(python)
        .arg(repo_root().join("tests/peers/strands_s3_session.py"))
        .args([&peer.endpoint(), bucket, prefix, session, &window.to_string()])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json!({"append": append}).to_string().as_bytes())
        .unwrap();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(
        child.wait().unwrap().success(),
        "strands_s3_session.py failed: {err}"
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

pub fn binary_env<'a>(peer_endpoint: &'a str, model: &'a str, store: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("OPENAI_BASE_URL", model),
        ("OPENAI_API_KEY", "sk-s3-test"),
        ("SESSION_STORE", store),
        ("AWS_ENDPOINT_URL_S3", peer_endpoint),
        ("S3_FORCE_PATH_STYLE", "true"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
}

pub fn invoke(bin: &Binary, query: &str, session: &str) -> Resp {
    post_json(
        bin.addr,
        "/invocations",
        &json!({"query": query, "session_id": session}).to_string(),
    )
}

/// A session's stored messages as `(role, first text)`, read from S3 directly: every
/// `message_<N>.json` must parse whole, carry its own index, and the indices must be dense.
pub fn stored_messages(peer: &S3Peer, bucket: &str, prefix: &str, session: &str) -> Vec<(String, String)> {
    let dir = format!("{prefix}/session_{session}/agents/agent_default/messages/");
    let mut indexed: Vec<(u64, String)> = peer
        .keys(bucket, &dir)
        .into_iter()
        .map(|key| {
            let n = key
                .strip_prefix(&dir)
                .and_then(|k| k.strip_prefix("message_"))
                .and_then(|k| k.strip_suffix(".json"))
                .and_then(|k| k.parse().ok())
                .unwrap_or_else(|| panic!("unexpected key {key}"));
            (n, key)
        })
        .collect();
    indexed.sort();
    indexed
        .iter()
        .enumerate()
        .map(|(i, (n, key))| {
            assert_eq!(i as u64, *n, "indices are dense in {dir}");
            let text = peer
                .object(bucket, key)
                .unwrap_or_else(|| panic!("{key} listed but gone"));
            let record: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{key} is not whole JSON ({e}): {text}"));
            assert_eq!(record["message_id"], json!(n), "{key}");
            let message = &record["message"];
            (
                message["role"].as_str().unwrap_or_default().to_string(),
                message["content"][0]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}
