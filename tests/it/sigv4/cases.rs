//! The requests of the SigV4 comparison: hand-picked edge cases and deterministic
//! pseudo-random ones.

use super::Case;

/// SplitMix64: the same cases on every run and machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// RFC 3986 encoding as botocore's `percent_encode` does it (safe: `-_.~`).
fn rfc3986(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A query string as botocore builds one (`percent_encode_sequence`); `None` values are bare
/// names (`?uploads`), as S3 sub-resources are written.
fn query(pairs: &[(&str, Option<&str>)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{}={}", rfc3986(k), rfc3986(v)),
            None => rfc3986(k),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn host(service: &str, region: &str) -> String {
    match service {
        "bedrock" => format!("bedrock-runtime.{region}.amazonaws.com"),
        "s3" => format!("my-bucket.s3.{region}.amazonaws.com"),
        "iam" => "iam.amazonaws.com".into(),
        "bedrock-agentcore" => format!("bedrock-agentcore.{region}.amazonaws.com"),
        s => format!("{s}.{region}.amazonaws.com"),
    }
}

pub fn hand_picked() -> Vec<Case> {
    let b = "https://bedrock-runtime.us-east-1.amazonaws.com";
    let s3 = "https://my-bucket.s3.us-east-1.amazonaws.com";
    let mut v = Vec::new();
    let mut add = |c: Case| v.push(c);

    add(Case::new(
        "converse",
        "bedrock",
        &format!("{b}/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"),
    ));
    add(Case::new(
        "converse-stream",
        "bedrock",
        &format!("{b}/model/us.amazon.nova-pro-v1%3A0/converse-stream"),
    ));
    for path in [
        "",
        "/",
        "//",
        "/a//b",
        "/a/./b",
        "/a/../b",
        "/../a",
        "/a/b/..",
        "/a/b/../",
        "/a/./",
        "/./",
        "/a%20b",
        "/a b",
        "/%2F",
        "/a%2Fb/c",
        "/a%2fb",
        "/%E2%82%AC",
        "/é/ü",
        "/~user",
        "/a+b",
        "/!$&'()*,;=:@",
        "/a/",
        "/a//",
        "/.",
        "/..",
        "/a/.../b",
        "/%2E%2E/a",
        "/a%25b",
    ] {
        add(Case::new(
            &format!("path {path:?}"),
            "bedrock",
            &format!("{b}{path}"),
        ));
        let mut c = Case::new(&format!("s3 path {path:?}"), "s3", &format!("{s3}{path}"));
        if path.is_empty() {
            // botocore's S3 signer signs the path as it is, and an empty one as "";
            // every HTTP client sends "/" for it, which is what we sign.
            c.botocore_url = Some(format!("{s3}/"));
        }
        add(c);
    }
    let queries: [&[(&str, Option<&str>)]; 12] = [
        &[("b", Some("2")), ("a", Some("1"))],
        &[("a", Some("2")), ("a", Some("1")), ("a", Some(""))],
        &[("a", Some("")), ("b", None)],
        &[("x", Some("a=b=c"))],
        &[("q", Some("a+b c"))],
        &[("r", Some("!*'();:@&=+$,/?#[]"))],
        &[("é", Some("ü")), ("A", Some("a")), ("a", Some("A"))],
        &[
            ("list-type", Some("2")),
            ("prefix", Some("photos/2024/")),
            ("max-keys", Some("1000")),
        ],
        &[("uploads", None)],
        &[
            ("Action", Some("GetCallerIdentity")),
            ("Version", Some("2011-06-15")),
        ],
        &[("k", Some("~-_.")), ("K", Some("%"))],
        &[("a b", Some("c d")), ("a%b", Some("1"))],
    ];
    for q in queries {
        for svc in ["bedrock", "s3", "sts"] {
            add(Case::new(
                &format!("{svc} query {q:?}"),
                svc,
                &format!("https://{}/x?{}", host(svc, "us-east-1"), query(q)),
            ));
        }
    }
    // Query strings not in canonical form: we read them as a server does (form-urlencoded)
    // and sign the canonical form; botocore signs such raw strings verbatim, so it is given the
    // canonical one.
    for (raw, canonical) in [
        ("a=b+c", "a=b%20c"),
        ("a=%2f", "a=%2F"),
        ("x=a=b", "x=a%3Db"),
        ("t=a:b,c@d*e", "t=a%3Ab%2Cc%40d%2Ae"),
        ("a=1&&b=2", "a=1&b=2"),
        ("a=%7E", "a=~"),
        ("a=%zz", "a=%25zz"),
        ("a=%C3%A9", "a=%C3%A9"),
        ("p=a/b?c", "p=a%2Fb%3Fc"),
    ] {
        let mut c = Case::new(&format!("raw query {raw:?}"), "bedrock", &format!("{b}/x?{raw}"));
        c.botocore_url = Some(format!("{b}/x?{canonical}"));
        add(c);
    }
    let header_sets: [&[(&str, &str)]; 12] = [
        &[
            ("Content-Type", "application/json"),
            ("X-Amz-Target", "AWSCognitoIdentityService.ListPools"),
        ],
        &[("content-type", "a"), ("CONTENT-TYPE", "b")],
        &[("X-Custom", "  a   b \t c  ")],
        &[("X-Multi", "1"), ("x-other", "z"), ("x-multi", " 2 ")],
        &[
            ("User-Agent", "agentcore-rt/0.1"),
            ("Expect", "100-continue"),
            ("X-Amzn-Trace-Id", "Root=1-abc"),
        ],
        &[("Host", "Bedrock-Runtime.us-east-1.amazonaws.com")],
        &[("X-Empty", ""), ("X-Spaces", "   ")],
        &[
            ("Accept", "application/vnd.amazon.eventstream"),
            ("X-Amzn-Bedrock-Trace", "ENABLED"),
        ],
        &[("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==")],
        &[
            ("Authorization", "Bearer old"),
            ("X-Amz-Date", "20000101T000000Z"),
        ],
        &[
            ("Connection", "keep-alive"),
            ("Transfer-Encoding", "chunked"),
            ("traceparent", "00-1-2-01"),
        ],
        &[("X-Amz-Security-Token", "stale")],
    ];
    for hs in header_sets {
        for (svc, tok) in [
            ("bedrock", None),
            ("s3", Some("FQoGZXIvYXdzEJr/+=")),
            ("xray", Some("T")),
        ] {
            let mut c = Case::new(
                &format!("{svc} headers {hs:?}"),
                svc,
                &format!("https://{}/p", host(svc, "us-east-1")),
            );
            c.headers = hs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
            c.token = tok.map(str::to_string);
            add(c);
        }
    }
    let mut c = Case::new(
        "date header instead of x-amz-date",
        "sts",
        "https://sts.amazonaws.com/",
    );
    c.headers
        .push(("Date".into(), "Mon, 01 Jan 2001 00:00:00 GMT".into()));
    add(c);
    for svc in ["s3", "bedrock"] {
        let mut c = Case::new(
            &format!("{svc} unsigned payload"),
            svc,
            &format!("https://{}/k", host(svc, "eu-west-1")),
        );
        c.method = "PUT".into();
        c.body = b"hello".to_vec();
        c.headers
            .push(("x-amz-content-sha256".into(), "UNSIGNED-PAYLOAD".into()));
        c.unsigned_payload = svc == "s3";
        add(c);
    }
    for (what, url) in [
        ("port 443 dropped", "https://sts.amazonaws.com:443/"),
        ("other port kept", "https://sts.amazonaws.com:8443/"),
        ("http port 80 dropped", "http://localhost:80/x"),
        ("http port 443 kept", "http://localhost:443/x"),
        ("upper-case host", "https://STS.AmazonAWS.com/"),
        ("ip and port", "http://127.0.0.1:9000/bucket/key"),
        ("userinfo", "https://user:pw@sts.amazonaws.com/"),
        ("fragment", "https://sts.amazonaws.com/a?b=1#frag"),
        ("empty query", "https://sts.amazonaws.com/a?"),
    ] {
        add(Case::new(what, "sts", url));
    }
    for (what, t) in [
        ("epoch", 0),
        ("leap day 2024", 1_709_251_199),
        ("leap day 2000", 951_868_799),
        ("year end 1999", 946_684_799),
        ("2038", 2_147_483_648),
        ("2099", 4_102_444_799),
    ] {
        let mut c = Case::new(what, "bedrock", &format!("{b}/model/m/converse"));
        c.time = t;
        add(c);
    }
    for (what, body) in [
        ("empty body", Vec::new()),
        ("binary body", (0u8..=255).collect()),
        ("1 MiB body", vec![b'x'; 1 << 20]),
    ] {
        for svc in ["bedrock", "s3"] {
            let mut c = Case::new(
                &format!("{svc} {what}"),
                svc,
                &format!("https://{}/b", host(svc, "us-east-1")),
            );
            c.body = body.clone();
            add(c);
        }
    }
    let mut c = Case::new("lower-case method", "bedrock", &format!("{b}/x"));
    c.method = "post".into();
    add(c);
    v
}

pub fn random(n: usize) -> Vec<Case> {
    const SERVICES: [&str; 7] = [
        "bedrock",
        "s3",
        "sts",
        "xray",
        "iam",
        "bedrock-agentcore",
        "execute-api",
    ];
    const REGIONS: [&str; 6] = [
        "us-east-1",
        "us-west-2",
        "eu-west-3",
        "ap-southeast-2",
        "us-gov-west-1",
        "cn-north-1",
    ];
    const METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"];
    const SEGMENTS: [&str; 16] = [
        "model",
        "converse-stream",
        "anthropic.claude-3-haiku-20240307-v1%3A0",
        "a%20b",
        "%2F",
        ".",
        "..",
        "",
        "é",
        "%E2%82%AC",
        "~x",
        "a+b",
        "k=v",
        "x:y",
        "photos",
        "2024",
    ];
    const KEYS: [&str; 10] = [
        "a", "A", "b", "x-id", "prefix", "max-keys", "Action", "é", "k k", "z",
    ];
    const VALUES: [&str; 12] = [
        "",
        "1",
        "a=b",
        "a+b",
        "a b",
        "/",
        "~",
        "é",
        "%",
        "!*'()",
        "photos/",
        "9999999999",
    ];
    const HEADERS: [(&str, &str); 14] = [
        ("Content-Type", "application/json"),
        ("content-type", "application/x-amz-json-1.1"),
        ("X-Amz-Target", "AWSXRay.PutTraceSegments"),
        ("Accept", "application/json"),
        ("X-Custom", "  spaced   out  "),
        ("x-custom", "second"),
        ("User-Agent", "agentcore-rt"),
        ("X-Amz-Meta-Name", "tab\there"),
        ("x-amz-acl", "private"),
        ("Range", "bytes=0-99"),
        ("If-None-Match", "\"etag\""),
        ("X-Amz-Bedrock-Guardrail", "id"),
        ("Content-Encoding", "gzip"),
        ("X-Amzn-Trace-Id", "Root=1-x"),
    ];
    let mut rng = Rng(0x5167_0004);
    (0..n)
        .map(|i| {
            let service = *rng.pick(&SERVICES);
            let region = *rng.pick(&REGIONS);
            let mut path = String::new();
            for _ in 0..rng.below(5) {
                path.push('/');
                let seg = *rng.pick(&SEGMENTS);
                path.push_str(seg);
            }
            if path.is_empty() || rng.chance(20) {
                path.push('/');
            }
            let pairs: Vec<(&str, Option<&str>)> = (0..rng.below(5))
                .map(|_| {
                    (
                        *rng.pick(&KEYS),
                        if rng.chance(10) {
                            None
                        } else {
                            Some(*rng.pick(&VALUES))
                        },
                    )
                })
                .collect();
            let scheme = if rng.chance(10) { "http" } else { "https" };
            let mut url = format!("{scheme}://{}{path}", host(service, region));
            if !pairs.is_empty() {
                url = format!("{url}?{}", query(&pairs));
            }
            let mut c = Case::new(&format!("random #{i}"), service, &url);
            c.method = rng.pick(&METHODS).to_string();
            c.region = region.into();
            c.time = 946_684_800 + rng.next() % 3_155_760_000;
            c.headers = (0..rng.below(6))
                .map(|_| {
                    let (n, v) = *rng.pick(&HEADERS);
                    (n.to_string(), v.to_string())
                })
                .collect();
            c.token = rng
                .chance(50)
                .then(|| format!("IQoJb3JpZ2luX2Vj{}/+=", rng.next()));
            let len = rng.below(3000);
            c.body = match rng.below(3) {
                0 => Vec::new(),
                1 => (0..len).map(|_| rng.next() as u8).collect(),
                _ => format!("{{\"messages\": [{{\"text\": \"{}\"}}]}}", "é".repeat(len / 2)).into_bytes(),
            };
            c
        })
        .collect()
}
