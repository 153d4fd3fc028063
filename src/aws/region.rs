//! Region resolution, in the SDKs' order: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's
//! `region` (config or credentials file, `AWS_PROFILE` else `default`), then EC2 instance
//! metadata (IMDSv2), which is asked only when nothing else gives a region and never when
//! `AWS_EC2_METADATA_DISABLED=true`.

use std::fmt;

use super::credentials::{Env, imds, profile};

/// No region could be found.
#[derive(Debug)]
#[non_exhaustive]
pub struct RegionError {
    /// Where we looked.
    pub tried: Vec<String>,
}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no AWS region: tried {}", self.tried.join(", "))
    }
}

impl std::error::Error for RegionError {}

/// The region from `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile, or instance metadata.
/// `HOME` and the file and IMDS overrides are read through `env` too.
pub fn resolve_region(env: &dyn Fn(&str) -> Option<String>) -> Result<String, RegionError> {
    let env = Env::capture(env);
    for k in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(v) = env.get(k) {
            return Ok(v.trim().to_string());
        }
    }
    let mut tried = vec!["AWS_REGION".to_string(), "AWS_DEFAULT_REGION".to_string()];
    if let Some(r) = profile::config_region(&env) {
        return Ok(r);
    }
    tried.push(format!("the region of profile '{}'", profile::name(&env)));
    match imds::Client::new(&env).region() {
        Ok(r) => Ok(r),
        Err(e) => {
            tried.push(e);
            Err(RegionError { tried })
        }
    }
}
