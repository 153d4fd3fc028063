//! The shared files: `~/.aws/credentials` and `~/.aws/config` (or `AWS_SHARED_CREDENTIALS_FILE`
//! / `AWS_CONFIG_FILE`), the profile `AWS_PROFILE` names (else `default`).
//!
//! Parsed as botocore parses them (Python's `RawConfigParser`): `[section]` headers, `key = value`
//! or `key: value`, keys case-insensitive, whole-line `#`/`;` comments only (a `#` inside a
//! value is part of it), indented lines continue the previous value (botocore's nested
//! sub-sections, which no key we read uses). In the config file a profile is `[profile NAME]`
//! or `[default]`; in the credentials file every section is a profile. A profile's keys from both
//! files are merged, the credentials file winning (botocore's `Session.full_config`).

use std::collections::{HashMap, HashSet};

use super::imds;
use super::{Attempt, Credentials, Env, container, env as env_provider, sts, web_identity};

/// One profile's keys (lower-case).
pub(crate) type Profile = HashMap<String, String>;

/// The sections of one INI file, by name, in the file's own naming.
pub(crate) fn parse_ini(text: &str) -> HashMap<String, Profile> {
    let mut sections: HashMap<String, Profile> = HashMap::new();
    let mut current: Option<String> = None;
    let mut last_key: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = line.len() != trimmed.len();
        if indented && last_key.is_some() {
            // A continuation line (a nested sub-section): not a key of the profile itself.
            continue;
        }
        if let Some(inner) = trimmed.strip_prefix('[')
            && let Some(end) = inner.rfind(']')
        {
            let name = inner[..end].trim().to_string();
            sections.entry(name.clone()).or_default();
            current = Some(name);
            last_key = None;
            continue;
        }
        let Some(section) = &current else { continue };
        let Some(at) = trimmed.find(['=', ':']) else {
            continue;
        };
        let key = trimmed[..at].trim().to_ascii_lowercase();
        let value = trimmed[at + 1..].trim().to_string();
        if key.is_empty() {
            continue;
        }
        if let Some(p) = sections.get_mut(section) {
            p.insert(key.clone(), value);
        }
        last_key = Some(key);
    }
    sections
}

/// The profile `AWS_PROFILE` names, else `default`.
pub(crate) fn name(env: &Env) -> String {
    env.get("AWS_PROFILE")
        .map(|p| p.trim().to_string())
        .unwrap_or_else(|| "default".into())
}

/// Both files, read now.
#[derive(Debug, Default)]
pub(crate) struct Files {
    credentials: HashMap<String, Profile>,
    config: HashMap<String, Profile>,
    /// For messages: where we looked.
    paths: Vec<String>,
}

fn read_optional(path: &str) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(format!("cannot read {path}: {e}")),
    }
}

impl Files {
    /// Reads the files (a missing file is an empty one, as in botocore).
    pub(crate) fn load(env: &Env) -> Result<Files, String> {
        let path = |var: &str, default: &str| {
            env.get(var)
                .map(|p| env.expand_home(p.trim()))
                .or_else(|| env.get("HOME").map(|_| env.expand_home(default)))
        };
        let mut files = Files::default();
        if let Some(p) = path("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials") {
            files.credentials = parse_ini(&read_optional(&p)?);
            files.paths.push(p);
        }
        if let Some(p) = path("AWS_CONFIG_FILE", "~/.aws/config") {
            let sections = parse_ini(&read_optional(&p)?);
            files.config = config_profiles(sections);
            files.paths.push(p);
        }
        Ok(files)
    }

    /// `name`'s keys from both files, or `None` when neither has it.
    pub(crate) fn profile(&self, name: &str) -> Option<Profile> {
        let mut merged = self.config.get(name).cloned();
        if let Some(creds) = self.credentials.get(name) {
            merged
                .get_or_insert_with(Profile::new)
                .extend(creds.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        merged
    }

    fn where_(&self) -> String {
        if self.paths.is_empty() {
            "the shared files (HOME not set)".into()
        } else {
            self.paths.join(" or ")
        }
    }
}

/// Config-file sections to profiles: `[profile NAME]` and `[default]`; `[profile default]`
/// wins over `[default]`; other sections (`sso-session`, `services`) are not profiles.
fn config_profiles(sections: HashMap<String, Profile>) -> HashMap<String, Profile> {
    let mut profiles = HashMap::new();
    let mut plain_default = None;
    for (section, keys) in sections {
        let mut words = section.splitn(2, char::is_whitespace);
        match (words.next(), words.next()) {
            (Some("profile"), Some(name)) => {
                let name = name.trim().trim_matches('"').to_string();
                profiles.insert(name, keys);
            }
            (Some("default"), None) => plain_default = Some(keys),
            _ => {}
        }
    }
    if let Some(keys) = plain_default {
        profiles.entry("default".to_string()).or_insert(keys);
    }
    profiles
}

/// The profile's `region` (for region resolution and STS).
pub(crate) fn config_region(env: &Env) -> Option<String> {
    let files = Files::load(env).ok()?;
    files
        .profile(&name(env))?
        .get("region")
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
}

fn static_keys(name: &str, p: &Profile) -> Result<Option<Credentials>, String> {
    let get = |k: &str| p.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Ok(Some(Credentials::new(
            id,
            secret,
            get("aws_session_token").map(str::to_string),
            None,
        ))),
        (None, None) => Ok(None),
        _ => Err(format!(
            "profile '{name}' has only one of aws_access_key_id and aws_secret_access_key"
        )),
    }
}

/// Step 2 of the chain: a profile with `role_arn` (and no `web_identity_token_file`, which is
/// the web identity provider's), assumed through STS from its source.
pub(super) fn role_credentials(env: &Env, imds: &imds::Client) -> Result<Credentials, Attempt> {
    let files = Files::load(env).map_err(Attempt::Failed)?;
    let name = name(env);
    let Some(profile) = files.profile(&name) else {
        if env.get("AWS_PROFILE").is_some() {
            // An explicit profile that does not exist is a mistake, not a reason to look on.
            return Err(Attempt::Failed(format!(
                "no profile '{name}' in {}",
                files.where_()
            )));
        }
        return Err(Attempt::NotConfigured(String::new()));
    };
    if !profile.contains_key("role_arn") || profile.contains_key("web_identity_token_file") {
        return Err(Attempt::NotConfigured(String::new()));
    }
    let mut visited = HashSet::new();
    assume(env, imds, &files, &name, &mut visited).map_err(Attempt::Failed)
}

/// Step 4: the profile's static keys.
pub(super) fn static_credentials(env: &Env) -> Result<Credentials, Attempt> {
    let files = Files::load(env).map_err(Attempt::Failed)?;
    let name = name(env);
    let Some(profile) = files.profile(&name) else {
        return Err(Attempt::NotConfigured(format!(
            "no profile '{name}' in {}",
            files.where_()
        )));
    };
    match static_keys(&name, &profile) {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(Attempt::NotConfigured(format!(
            "profile '{name}' has no aws_access_key_id"
        ))),
        Err(e) => Err(Attempt::Failed(e)),
    }
}

/// Assumes `name`'s role with credentials from its `source_profile` (itself possibly a role
/// profile: a chain) or `credential_source`.
fn assume(
    env: &Env,
    imds: &imds::Client,
    files: &Files,
    name: &str,
    visited: &mut HashSet<String>,
) -> Result<Credentials, String> {
    visited.insert(name.to_string());
    let profile = files
        .profile(name)
        .ok_or_else(|| format!("no profile '{name}' in {}", files.where_()))?;
    let get = |k: &str| profile.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let role_arn = get("role_arn").ok_or_else(|| format!("profile '{name}' has no role_arn"))?;
    let source = match (get("source_profile"), get("credential_source")) {
        (Some(_), Some(_)) => {
            return Err(format!(
                "profile '{name}' has both source_profile and credential_source"
            ));
        }
        (None, None) => {
            return Err(format!(
                "profile '{name}' has role_arn but neither source_profile nor credential_source"
            ));
        }
        (Some(source), None) => source_profile_credentials(env, imds, files, name, source, visited)?,
        (None, Some(source)) => credential_source(env, imds, name, source)?,
    };
    let session_name = get("role_session_name")
        .map(str::to_string)
        .unwrap_or_else(sts::default_session_name);
    let duration_seconds =
        match get("duration_seconds") {
            Some(d) => Some(d.parse::<u32>().map_err(|_| {
                format!("profile '{name}': duration_seconds {d:?} is not a number of seconds")
            })?),
            None => None,
        };
    sts::assume_role(
        env,
        &source,
        &sts::AssumeRole {
            role_arn,
            session_name: &session_name,
            external_id: get("external_id"),
            duration_seconds,
        },
    )
    .map_err(|e| format!("profile '{name}': {e}"))
}

fn source_profile_credentials(
    env: &Env,
    imds: &imds::Client,
    files: &Files,
    name: &str,
    source: &str,
    visited: &mut HashSet<String>,
) -> Result<Credentials, String> {
    let sp = files.profile(source).ok_or_else(|| {
        format!(
            "source_profile '{source}' of profile '{name}' is not in {}",
            files.where_()
        )
    })?;
    let keys = static_keys(source, &sp)?;
    // A profile may name itself as its source to use its own static keys (botocore allows it).
    if source == name {
        return keys
            .ok_or_else(|| format!("profile '{name}' is its own source_profile but has no static keys"));
    }
    if visited.contains(source) {
        let mut chain: Vec<_> = visited.iter().cloned().collect();
        chain.sort();
        return Err(format!(
            "source_profile loop: '{source}' is reached again from '{name}' (profiles {})",
            chain.join(", ")
        ));
    }
    if sp.contains_key("role_arn") {
        if let Some(token_file) = sp.get("web_identity_token_file") {
            let role = sp.get("role_arn").map(String::as_str).unwrap_or_default();
            let session = sp
                .get("role_session_name")
                .cloned()
                .unwrap_or_else(sts::default_session_name);
            return web_identity::exchange(env, &env.expand_home(token_file), role, &session)
                .map_err(|a| format!("source_profile '{source}': {}", a.reason()));
        }
        return assume(env, imds, files, source, visited);
    }
    keys.ok_or_else(|| format!("source_profile '{source}' has no credentials"))
}

/// `credential_source`: where a role profile's source credentials come from on this host.
fn credential_source(
    env: &Env,
    imds: &imds::Client,
    name: &str,
    source: &str,
) -> Result<Credentials, String> {
    let got = match source {
        "Environment" => env_provider::credentials(env),
        "Ec2InstanceMetadata" => imds.credentials(),
        "EcsContainer" => container::credentials(env),
        other => {
            return Err(format!(
                "profile '{name}': credential_source {other:?} is not Environment, \
                 Ec2InstanceMetadata or EcsContainer"
            ));
        }
    };
    got.map_err(|a| format!("profile '{name}': credential_source {source}: {}", a.reason()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_as_botocore_reads_it() {
        let text = "\
# comment
; another
[default]
aws_access_key_id = AKID
AWS_Secret_Access_Key=secret # not a comment
region:eu-west-1
s3 =
    max_concurrent_requests = 10
    region = nested
output = json

[ profile  dev ]
role_arn = arn:aws:iam::1:role/dev
source_profile = default
key_without_value
=no key
";
        let s = parse_ini(text);
        let d = &s["default"];
        assert_eq!(d["aws_access_key_id"], "AKID");
        assert_eq!(d["aws_secret_access_key"], "secret # not a comment");
        assert_eq!(d["region"], "eu-west-1", "nested keys are not the profile's");
        assert_eq!(d["s3"], "");
        assert_eq!(d["output"], "json");
        let dev = &s["profile  dev"];
        assert_eq!(dev["role_arn"], "arn:aws:iam::1:role/dev");
        assert_eq!(dev.len(), 2);
        let profiles = config_profiles(s);
        assert!(profiles.contains_key("dev") && profiles.contains_key("default"));
    }

    #[test]
    fn config_sections() {
        let s = parse_ini(
            "[default]\nregion=a\n[profile default]\nregion=b\n[sso-session x]\nk=v\n[plain]\nk=v\n[profile \"q\"]\nk=v\n",
        );
        let p = config_profiles(s);
        assert_eq!(p["default"]["region"], "b");
        assert!(!p.contains_key("plain") && !p.contains_key("x"));
        assert!(p.contains_key("q"));
    }

    #[test]
    fn merged_profiles_prefer_the_credentials_file() {
        let files = Files {
            credentials: parse_ini("[p]\naws_access_key_id=FROMCREDS\n"),
            config: config_profiles(parse_ini("[profile p]\naws_access_key_id=FROMCONFIG\nregion=r\n")),
            paths: vec![],
        };
        let p = files.profile("p").unwrap();
        assert_eq!(p["aws_access_key_id"], "FROMCREDS");
        assert_eq!(p["region"], "r");
        assert!(files.profile("other").is_none());
    }

    #[test]
    fn static_keys_need_both_halves() {
        let p = parse_ini("[a]\naws_access_key_id=X\n").remove("a").unwrap();
        assert!(static_keys("a", &p).unwrap_err().contains("only one"));
        let p = parse_ini("[a]\nregion=x\n").remove("a").unwrap();
        assert!(static_keys("a", &p).unwrap().is_none());
    }
}
