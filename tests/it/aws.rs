//! The AWS credential chain and region resolution (`agentcore_rt::aws`) against local
//! stand-ins on real sockets (`tests/peers/aws_standins.py`, run with `.venv-strands`, whose
//! botocore recomputes every AssumeRole signature): container credentials checking the
//! authorization token, STS (web identity checking the token file's content; AssumeRole
//! checking SigV4), IMDSv2 refusing token-less GETs; profile files in a temp HOME.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use agentcore_rt::aws::{DefaultCredentialsChain, ProvideCredentials, resolve_region};
use serde_json::{Value, json};

use crate::support::{TempDir, repo_root};

const CONTAINER_TOKEN: &str = "container-auth-token-7f3a";
const WEB_IDENTITY_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.web-identity.sig";

struct Standin {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Standin {
    fn start() -> Standin {
        let dir = TempDir::new("aws-standin");
        let port_file = dir.path().join("port");
        let python = repo_root().join(".venv-strands/bin/python");
        assert!(
            python.exists(),
            "{} missing: run scripts/install-test-peers.sh",
            python.display()
        );
        let child = Command::new(python)
            .arg(repo_root().join("tests/peers/aws_standins.py"))
            .arg(&port_file)
            .stdin(Stdio::null())
            .spawn()
            .expect("start the AWS stand-in");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file)
                && let Ok(p) = p.trim().parse()
            {
                break p;
            }
            assert!(Instant::now() < deadline, "the AWS stand-in did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        Standin {
            child,
            port,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log(&self) -> Vec<Value> {
        let body = ureq::get(self.url("/log"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        serde_json::from_str(&body).unwrap()
    }

    /// Successful answers of one kind.
    fn served(&self, kind: &str) -> Vec<Value> {
        self.log()
            .into_iter()
            .filter(|e| e["kind"] == kind && e["ok"] == true)
            .collect()
    }

    /// Every request of the given kinds, answered or refused.
    fn requests(&self, kinds: &[&str]) -> usize {
        self.log()
            .iter()
            .filter(|e| kinds.iter().any(|k| e["kind"] == *k))
            .count()
    }

    fn config(&self, config: Value) {
        ureq::post(self.url("/config")).send(config.to_string()).unwrap();
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temp HOME and the environment a chain sees (nothing from the real process environment).
struct World {
    home: TempDir,
    vars: HashMap<String, String>,
}

impl World {
    fn new() -> World {
        let home = TempDir::new("aws-home");
        std::fs::create_dir_all(home.path().join(".aws")).unwrap();
        let mut vars = HashMap::new();
        vars.insert("HOME".to_string(), home.path().display().to_string());
        // Never the real link-local IMDS from a test; tests that want IMDS point it at the stand-in.
        vars.insert("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string());
        World { home, vars }
    }

    fn set(&mut self, k: &str, v: impl Into<String>) -> &mut World {
        self.vars.insert(k.to_string(), v.into());
        self
    }

    fn unset(&mut self, k: &str) -> &mut World {
        self.vars.remove(k);
        self
    }

    fn file(&self, rel: &str, text: &str) -> String {
        let p = self.home.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    fn sts(&mut self, s: &Standin) -> &mut World {
        self.set("AWS_ENDPOINT_URL_STS", s.url("/sts"))
    }

    fn container(&mut self, s: &Standin) -> &mut World {
        self.set(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            s.url("/container/v1/credentials"),
        )
        .set("AWS_CONTAINER_AUTHORIZATION_TOKEN", CONTAINER_TOKEN)
    }

    fn imds(&mut self, s: &Standin) -> &mut World {
        self.unset("AWS_EC2_METADATA_DISABLED")
            .set("AWS_EC2_METADATA_SERVICE_ENDPOINT", s.url("/imds"))
    }

    fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |k| self.vars.get(k).cloned()
    }

    fn chain(&self) -> DefaultCredentialsChain {
        DefaultCredentialsChain::from_env(&self.lookup())
    }
}

const SOURCE_KEYS: &str = "aws_access_key_id = AKIDSOURCE\naws_secret_access_key = source-secret-key\n";

#[test]
fn environment_keys_beat_everything() {
    let s = Standin::start();
    let mut w = World::new();
    w.container(&s).imds(&s);
    w.file(
        ".aws/credentials",
        "[default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = x\n",
    );
    w.set("AWS_ACCESS_KEY_ID", "AKIDENV")
        .set("AWS_SECRET_ACCESS_KEY", "env-secret")
        .set("AWS_SESSION_TOKEN", "env-token");
    let c = w.chain().credentials().unwrap();
    assert_eq!(c.access_key_id, "AKIDENV");
    assert_eq!(c.secret_access_key(), "env-secret");
    assert_eq!(c.session_token.as_deref(), Some("env-token"));
    assert_eq!(s.requests(&["container", "imds", "imds-token"]), 0);
}

#[test]
fn profile_keys_beat_container_and_imds() {
    let s = Standin::start();
    let mut w = World::new();
    w.container(&s).imds(&s);
    w.file(
        ".aws/credentials",
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n",
    );
    w.file(
        ".aws/config",
        "[profile dev]\naws_access_key_id = AKIDDEVCONFIG\naws_secret_access_key = c\n",
    );
    assert_eq!(w.chain().credentials().unwrap().access_key_id, "AKIDDEFAULT");
    // AWS_PROFILE, keys from the config file.
    w.set("AWS_PROFILE", "dev");
    assert_eq!(w.chain().credentials().unwrap().access_key_id, "AKIDDEVCONFIG");
    // The override variables replace the default paths.
    let creds = w.file(
        "elsewhere/creds",
        "[dev]\naws_access_key_id = AKIDELSEWHERE\naws_secret_access_key = e\n",
    );
    w.set("AWS_SHARED_CREDENTIALS_FILE", creds);
    assert_eq!(w.chain().credentials().unwrap().access_key_id, "AKIDELSEWHERE");
    w.set(
        "AWS_CONFIG_FILE",
        w.home.path().join("nothing").display().to_string(),
    );
    w.set(
        "AWS_SHARED_CREDENTIALS_FILE",
        w.home.path().join("nothing2").display().to_string(),
    );
    // An explicit profile that exists nowhere is an error, not a fall-through to the container.
    let e = w.chain().credentials().unwrap_err().to_string();
    assert!(e.contains("shared files: no profile 'dev' in"), "{e}");
    assert_eq!(s.requests(&["container", "imds", "imds-token"]), 0);
}

#[test]
fn web_identity_exchanges_the_token_file() {
    let s = Standin::start();
    let mut w = World::new();
    w.sts(&s).container(&s);
    // Profile static keys come after web identity in botocore's order.
    w.file(
        ".aws/credentials",
        "[default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = x\n",
    );
    let token = w.file("token", &format!("{WEB_IDENTITY_TOKEN}\n"));
    w.set("AWS_WEB_IDENTITY_TOKEN_FILE", token.clone())
        .set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/eks")
        .set("AWS_ROLE_SESSION_NAME", "pod-session");
    let c = w.chain().credentials().unwrap();
    assert!(c.access_key_id.starts_with("ASIAWEBID"), "{c:?}");
    assert!(c.session_token.is_some() && c.expires_at.is_some());
    let served = s.served("web-identity");
    assert_eq!(served.len(), 1);
    assert_eq!(served[0]["role"], "arn:aws:iam::123456789012:role/eks");
    assert_eq!(served[0]["session"], "pod-session");

    // A wrong token: STS's refusal is named, the token is not.
    std::fs::write(&token, "eyJ.wrong-token.sig").unwrap();
    let e = w.chain().credentials().unwrap_err().to_string();
    assert!(
        e.contains("web identity: STS AssumeRoleWithWebIdentity: HTTP 400 InvalidIdentityToken"),
        "{e}"
    );
    assert!(!e.contains("wrong-token"), "{e}");
    // Configured but broken stops the chain: no container fetch behind its back.
    assert_eq!(s.requests(&["container"]), 0);
    // A token file without a role.
    w.unset("AWS_ROLE_ARN");
    let e = w.chain().credentials().unwrap_err().to_string();
    assert!(e.contains("AWS_ROLE_ARN is not"), "{e}");
}

#[test]
fn assume_role_profiles_are_signed_and_chained() {
    let s = Standin::start();
    let mut w = World::new();
    w.sts(&s).set("AWS_REGION", "eu-west-1");
    w.file(".aws/credentials", &format!("[base]\n{SOURCE_KEYS}"));
    w.file(
        ".aws/config",
        "[profile dev]\nrole_arn = arn:aws:iam::1:role/dev\nsource_profile = base\nexternal_id = ext-1\n\
         duration_seconds = 900\nrole_session_name = dev-session\n\
         [profile top]\nrole_arn = arn:aws:iam::1:role/top\nsource_profile = dev\n\
         [profile loop-a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = loop-b\n\
         [profile loop-b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = loop-a\n\
         [profile self]\nrole_arn = arn:aws:iam::1:role/self\nsource_profile = self\n\
         aws_access_key_id = AKIDSOURCE\naws_secret_access_key = source-secret-key\n",
    );
    w.set("AWS_PROFILE", "dev");
    let c = w.chain().credentials().unwrap();
    assert!(c.access_key_id.starts_with("ASIAROLE"), "{c:?}");
    let served = s.served("assume-role");
    assert_eq!(served.len(), 1);
    assert_eq!(served[0]["signed_by"], "AKIDSOURCE");
    assert_eq!(served[0]["role"], "arn:aws:iam::1:role/dev");
    assert_eq!(served[0]["external_id"], "ext-1");
    assert_eq!(served[0]["duration"], "900");
    assert_eq!(served[0]["session"], "dev-session");

    // top -> dev -> base: two AssumeRoles, the second signed with the first's credentials.
    w.set("AWS_PROFILE", "top");
    let c = w.chain().credentials().unwrap();
    let served = s.served("assume-role");
    assert_eq!(served.len(), 3);
    assert_eq!(served[1]["role"], "arn:aws:iam::1:role/dev");
    assert_eq!(served[2]["role"], "arn:aws:iam::1:role/top");
    assert_eq!(served[2]["signed_by"], served[1]["key"]);
    assert_eq!(Value::from(c.access_key_id), served[2]["key"]);

    // A profile that is its own source uses its static keys.
    w.set("AWS_PROFILE", "self");
    w.chain().credentials().unwrap();
    assert_eq!(s.served("assume-role").last().unwrap()["signed_by"], "AKIDSOURCE");

    w.set("AWS_PROFILE", "loop-a");
    let e = w.chain().credentials().unwrap_err().to_string();
    assert!(e.contains("source_profile loop"), "{e}");
    // No signature was refused along the way.
    assert!(s.log().iter().all(|e| e["ok"] == true), "{:?}", s.log());
}

#[test]
fn profile_roles_beat_web_identity_and_credential_sources_work() {
    let s = Standin::start();
    let mut w = World::new();
    w.sts(&s).container(&s).imds(&s);
    let token = w.file("token", WEB_IDENTITY_TOKEN);
    w.set("AWS_WEB_IDENTITY_TOKEN_FILE", token)
        .set("AWS_ROLE_ARN", "arn:aws:iam::1:role/eks");
    w.file(
        ".aws/config",
        "[default]\nrole_arn = arn:aws:iam::1:role/from-ecs\ncredential_source = EcsContainer\n\
         [profile imds]\nrole_arn = arn:aws:iam::1:role/from-imds\ncredential_source = Ec2InstanceMetadata\n\
         [profile env]\nrole_arn = arn:aws:iam::1:role/from-env\ncredential_source = Environment\n\
         [profile bogus]\nrole_arn = arn:aws:iam::1:role/x\ncredential_source = Somewhere\n",
    );
    w.chain().credentials().unwrap();
    let assumed = s.served("assume-role");
    assert_eq!(assumed.len(), 1);
    assert_eq!(assumed[0]["role"], "arn:aws:iam::1:role/from-ecs");
    assert_eq!(assumed[0]["signed_by"], s.served("container")[0]["key"]);
    assert_eq!(
        s.served("web-identity").len(),
        0,
        "the profile's role comes first (botocore)"
    );

    w.set("AWS_PROFILE", "imds");
    w.chain().credentials().unwrap();
    assert_eq!(
        s.served("assume-role")[1]["signed_by"],
        s.served("imds-credentials")[0]["key"]
    );

    w.set("AWS_PROFILE", "env")
        .set("AWS_ACCESS_KEY_ID", "AKIDSOURCE")
        .set("AWS_SECRET_ACCESS_KEY", "source-secret-key");
    // Environment keys win the chain before any profile is looked at...
    assert_eq!(w.chain().credentials().unwrap().access_key_id, "AKIDSOURCE");
    assert_eq!(s.served("assume-role").len(), 2);

    w.unset("AWS_ACCESS_KEY_ID").unset("AWS_SECRET_ACCESS_KEY");
    // ...and without them, credential_source = Environment has nothing to give.
    let e = w.chain().credentials().unwrap_err().to_string();
    assert!(e.contains("credential_source Environment"), "{e}");

    w.set("AWS_PROFILE", "bogus");
    let e = w.chain().credentials().unwrap_err().to_string();
    assert!(e.contains("credential_source \"Somewhere\""), "{e}");
}

#[test]
fn container_credentials_need_the_authorization_token() {
    let s = Standin::start();
    let mut w = World::new();
    w.container(&s).imds(&s);
    let c = w.chain().credentials().unwrap();
    assert!(c.access_key_id.starts_with("ASIACONTAINER"), "{c:?}");
    assert_eq!(
        s.requests(&["imds", "imds-token", "imds-credentials"]),
        0,
        "container comes first"
    );

    // The token file wins over the variable, and is read on each fetch.
    let file = w.file("container-token", &format!("{CONTAINER_TOKEN}\n"));
    w.set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "stale-token-value")
        .set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", file.clone());
    w.chain().credentials().unwrap();
    assert_eq!(s.served("container").len(), 2);

    w.unset("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    let e = w.chain().credentials().unwrap_err().to_string();
    assert!(
        e.contains("container: the credentials endpoint answered HTTP 401"),
        "{e}"
    );
    assert!(!e.contains("stale-token-value"), "{e}");

    // Plain http to a host that is neither loopback nor an ECS/EKS agent is refused unsent.
    w.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/creds");
    let e = w.chain().credentials().unwrap_err().to_string();
    assert!(e.contains("plain http is only allowed"), "{e}");
}

#[test]
fn imds_v2_credentials_and_region() {
    let s = Standin::start();
    let mut w = World::new();
    w.imds(&s);
    // The stand-in really requires the token.
    let status = ureq::get(s.url("/imds/latest/meta-data/iam/security-credentials/"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap()
        .status();
    assert_eq!(status, 401);

    let c = w.chain().credentials().unwrap();
    assert!(c.access_key_id.starts_with("ASIAIMDS"), "{c:?}");
    assert_eq!(s.served("imds-token").len(), 1);

    assert_eq!(resolve_region(&w.lookup()).unwrap(), "eu-central-1");
    // The profile's region comes before IMDS, the environment before the profile.
    w.file(
        ".aws/config",
        "[default]\nregion = ap-south-1\n[profile dev]\nregion = sa-east-1\n",
    );
    assert_eq!(resolve_region(&w.lookup()).unwrap(), "ap-south-1");
    w.set("AWS_PROFILE", "dev");
    assert_eq!(resolve_region(&w.lookup()).unwrap(), "sa-east-1");
    w.set("AWS_DEFAULT_REGION", "us-west-1");
    assert_eq!(resolve_region(&w.lookup()).unwrap(), "us-west-1");
    w.set("AWS_REGION", "us-east-2");
    assert_eq!(resolve_region(&w.lookup()).unwrap(), "us-east-2");
    assert_eq!(s.served("imds-region").len(), 1);

    // Disabled: neither credentials nor region ask it.
    let before = s.log().len();
    let mut off = World::new();
    off.set("AWS_EC2_METADATA_SERVICE_ENDPOINT", s.url("/imds"));
    let e = resolve_region(&off.lookup()).unwrap_err().to_string();
    assert!(e.contains("AWS_EC2_METADATA_DISABLED"), "{e}");
    let e = off.chain().credentials().unwrap_err().to_string();
    assert!(
        e.contains("instance metadata: disabled by AWS_EC2_METADATA_DISABLED"),
        "{e}"
    );
    assert_eq!(s.log().len(), before);
}

#[test]
fn temporary_credentials_refresh_ahead_of_expiry_not_per_call() {
    let s = Standin::start();
    s.config(json!({"lifetime": 10}));
    let mut w = World::new();
    w.container(&s);
    // Expiration (whole seconds) is 9 to 10 s ahead: due for refresh 6 to 7 s after the fetch.
    let chain = w.chain().with_refresh_window(Duration::from_secs(3));
    let first = chain.credentials().unwrap();
    let fetched = Instant::now();
    while fetched.elapsed() < Duration::from_secs(5) {
        assert_eq!(chain.credentials().unwrap().access_key_id, first.access_key_id);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        s.served("container").len(),
        1,
        "no fetch before the refresh window"
    );
    std::thread::sleep(Duration::from_secs(8).saturating_sub(fetched.elapsed()));
    let second = chain.credentials().unwrap();
    assert_ne!(second.access_key_id, first.access_key_id);
    assert_eq!(chain.credentials().unwrap().access_key_id, second.access_key_id);
    assert_eq!(s.served("container").len(), 2);

    // A refresh that fails while the current credentials are valid: they stay in use, and the
    // endpoint is not asked on every call.
    s.config(json!({"fail": ["container"]}));
    let refreshed = Instant::now();
    std::thread::sleep(Duration::from_secs(8).saturating_sub(refreshed.elapsed()));
    for _ in 0..20 {
        assert_eq!(chain.credentials().unwrap().access_key_id, second.access_key_id);
    }
    let failed = s
        .log()
        .iter()
        .filter(|e| e["kind"] == "container" && e["ok"] == false)
        .count();
    assert_eq!(
        failed, 2,
        "one refresh attempt (and its one retry), not one per call"
    );

    // invalidate() forces the next call to fetch.
    s.config(json!({"fail": []}));
    chain.invalidate();
    let third = chain.credentials().unwrap();
    assert_ne!(third.access_key_id, second.access_key_id);
}

#[test]
fn sixteen_concurrent_callers_cause_one_fetch() {
    let s = Standin::start();
    s.config(json!({"delay": 0.5}));
    let mut w = World::new();
    w.container(&s);
    let chain = Arc::new(w.chain());
    let barrier = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (chain, barrier) = (chain.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                chain.credentials().map(|c| c.access_key_id)
            })
        })
        .collect();
    let keys: Vec<String> = threads.into_iter().map(|t| t.join().unwrap().unwrap()).collect();
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
    assert_eq!(s.requests(&["container"]), 1);
}

#[test]
fn failure_names_every_provider_and_no_secret() {
    let w = World::new();
    let e = w.chain().credentials().unwrap_err();
    let names: Vec<_> = e.tried.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        names,
        [
            "environment",
            "web identity",
            "shared files",
            "container",
            "instance metadata"
        ]
    );
    let text = e.to_string();
    let home = w.home.path().display().to_string();
    for part in [
        "environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set",
        "web identity: AWS_WEB_IDENTITY_TOKEN_FILE not set",
        &format!("shared files: no profile 'default' in {home}/.aws/credentials or {home}/.aws/config"),
        "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI not set",
        "instance metadata: disabled by AWS_EC2_METADATA_DISABLED",
    ] {
        assert!(text.contains(part), "{part:?} not in {text}");
    }

    // Half a key pair stops the chain and says so, without the secret.
    let mut w = World::new();
    w.set("AWS_SECRET_ACCESS_KEY", "half-secret-value");
    let e = w.chain().credentials().unwrap_err();
    assert_eq!(e.tried.len(), 1);
    let shown = format!("{e} {e:?} {:?}", w.chain());
    assert!(
        shown.contains("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"),
        "{shown}"
    );
    assert!(!shown.contains("half-secret-value"), "{shown}");
}
