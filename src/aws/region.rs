//! Region resolution: `AWS_REGION`, `AWS_DEFAULT_REGION` (profile and IMDS not yet done).

use std::fmt;

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

/// The region from `AWS_REGION` or `AWS_DEFAULT_REGION`.
pub fn resolve_region(env: &dyn Fn(&str) -> Option<String>) -> Result<String, RegionError> {
    for k in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(v) = env(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
            return Ok(v);
        }
    }
    Err(RegionError {
        tried: vec!["AWS_REGION".into(), "AWS_DEFAULT_REGION".into()],
    })
}
