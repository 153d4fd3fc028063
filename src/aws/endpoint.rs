//! Service endpoints, with the SDKs' override variables.

/// `AWS_ENDPOINT_URL_<ID>`, then `AWS_ENDPOINT_URL`, else `https://{prefix}.{region}.amazonaws.com`.
pub fn service_endpoint(
    env: &dyn Fn(&str) -> Option<String>,
    service_env_id: &str,
    endpoint_prefix: &str,
    region: &str,
) -> String {
    let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    set(&format!("AWS_ENDPOINT_URL_{service_env_id}"))
        .or_else(|| set("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| format!("https://{endpoint_prefix}.{region}.amazonaws.com"))
}
