//! SigV4 against botocore, live: a few hundred requests (hand-picked edge cases plus
//! deterministic pseudo-random ones) are signed by `agentcore_rt::aws::sigv4::sign` and by
//! botocore's `SigV4Auth` / `S3SigV4Auth` (`tests/peers/sigv4_reference.py`, one batched call),
//! and the headers of the signed request must be the same, name for name and byte for byte.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, SystemTime};

use agentcore_rt::aws::Credentials;
use agentcore_rt::aws::sigv4::{SignableRequest, sign};
use data_encoding::BASE64;
use serde_json::{Value, json};

use super::support::repo_root;

mod cases;

type Headers = Vec<(String, String)>;

const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

#[derive(Debug, Clone)]
pub struct Case {
    what: String,
    method: String,
    /// What we sign (and what would go on the wire).
    url: String,
    /// What botocore signs, when it differs: the same request in the canonical form a server
    /// reads it as (botocore itself only ever sends canonical query strings and paths).
    botocore_url: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    service: String,
    region: String,
    time: u64,
    token: Option<String>,
    /// botocore S3's `payload_signing_enabled = False`; for us, the caller's
    /// `x-amz-content-sha256: UNSIGNED-PAYLOAD` header.
    unsigned_payload: bool,
}

impl Case {
    pub fn new(what: &str, service: &str, url: &str) -> Case {
        Case {
            what: what.into(),
            method: "POST".into(),
            url: url.into(),
            botocore_url: None,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: b"{}".to_vec(),
            service: service.into(),
            region: "us-east-1".into(),
            time: 1_440_938_160,
            token: None,
            unsigned_payload: false,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "method": self.method,
            "url": self.botocore_url.as_deref().unwrap_or(&self.url),
            "headers": self.headers.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
            "body_b64": BASE64.encode(&self.body),
            "service": self.service,
            "region": self.region,
            "time": self.time,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET,
            "token": self.token,
            "unsigned_payload": self.unsigned_payload,
        })
    }

    /// The request's headers after signing, as a sorted multiset: the caller's headers, the
    /// ones `sign` returns replacing any of the same name.
    fn signed_with_ours(&self) -> (Headers, Vec<(&'static str, String)>) {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let req = SignableRequest {
            method: &self.method,
            url: &self.url,
            headers: &headers,
            body: &self.body,
        };
        let creds = Credentials::new(ACCESS_KEY, SECRET, self.token.clone(), None);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(self.time);
        let added = sign(&req, &creds, &self.region, &self.service, now);
        let replaced: BTreeSet<&str> = added.iter().map(|(n, _)| *n).collect();
        let mut all: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .filter(|(n, _)| !replaced.contains(n.as_str()))
            .chain(added.iter().map(|(n, v)| (n.to_string(), v.clone())))
            .collect();
        all.sort();
        (all, added)
    }
}

/// botocore's results for all cases, in one Python process.
fn botocore(cases: &[Case]) -> Vec<Value> {
    let python = repo_root().join(".venv-strands/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/install-test-peers.sh",
        python.display()
    );
    let mut child = Command::new(python)
        .arg(repo_root().join("tests/peers/sigv4_reference.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::to_vec(&cases.iter().map(Case::to_json).collect::<Vec<_>>()).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = thread::spawn(move || stdin.write_all(&input));
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        child.wait().unwrap().success(),
        "sigv4_reference.py failed:\n{err}"
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    v.as_array().unwrap().clone()
}

#[test]
fn sign_matches_botocore_on_many_requests() {
    let mut cases = cases::hand_picked();
    cases.extend(cases::random(300));
    assert!(cases.len() >= 200, "only {} cases", cases.len());
    let expected = botocore(&cases);
    assert_eq!(expected.len(), cases.len());
    let mut failures = Vec::new();
    for (case, want) in cases.iter().zip(&expected) {
        let mut theirs: Vec<(String, String)> = want["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h[0].as_str().unwrap().to_string(),
                    h[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        theirs.sort();
        let (ours, _) = case.signed_with_ours();
        if ours != theirs {
            failures.push(format!(
                "{} ({} {}):\n  ours:     {ours:?}\n  botocore: {theirs:?}\n  botocore's canonical request:\n{}",
                case.what,
                case.method,
                case.url,
                want["canonical_request"].as_str().unwrap_or("")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from botocore:\n{}",
        failures.len(),
        cases.len(),
        failures.iter().take(8).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// A case the comparison would catch: a changed body must change the signature (so the test
/// above is not comparing two constant outputs).
#[test]
fn a_different_body_is_a_different_signature() {
    let mut a = Case::new(
        "a",
        "bedrock",
        "https://bedrock-runtime.us-east-1.amazonaws.com/x",
    );
    let b_sig = {
        a.body = b"{\"a\":2}".to_vec();
        a.signed_with_ours().1[0].1.clone()
    };
    a.body = b"{\"a\":1}".to_vec();
    assert_ne!(a.signed_with_ours().1[0].1, b_sig);
}

#[test]
fn secret_never_in_output_or_debug() {
    let mut c = Case::new("secret", "s3", "https://my-bucket.s3.us-east-1.amazonaws.com/k");
    c.token = Some("TOKEN".into());
    let (all, added) = c.signed_with_ours();
    let shown = format!("{all:?} {added:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!shown.contains("AWS4wJal"), "{shown}");
    let creds = Credentials::new(ACCESS_KEY, SECRET, Some("TOKEN".into()), None);
    let dbg = format!("{creds:?}");
    assert!(!dbg.contains(SECRET) && !dbg.contains("TOKEN"), "{dbg}");
}
