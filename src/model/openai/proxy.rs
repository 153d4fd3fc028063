//! The outbound proxy for model requests.
//!
//! `src/config.rs` reads it from the environment the way ureq would (`ALL_PROXY`, `HTTPS_PROXY`,
//! `HTTP_PROXY`, also lowercase; the first usable one serves every request, whatever its
//! scheme) and hands it over as a [`ProxyConfig`]; this module turns it into ureq's proxy.
//! `NO_PROXY` is read the way curl does, which ureq alone does not: entries are trimmed
//! (`a, b` works) and `example.com` also covers `api.example.com`.

use crate::model::ModelError;

/// Where model requests go through. Its `Debug` output leaves out the proxy's credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    url: String,
    no_proxy: Option<String>,
}

impl std::fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proxy = ureq::Proxy::new(&self.url).ok();
        f.debug_struct("ProxyConfig")
            .field("host", &proxy.as_ref().map(ureq::Proxy::host))
            .field("port", &proxy.as_ref().map(ureq::Proxy::port))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl ProxyConfig {
    /// A proxy at `url` (`http://[user:password@]host[:port]`; `https://` and `socks5://` are
    /// parsed too), bypassed for the hosts of the `no_proxy` list (`NO_PROXY` syntax: commas,
    /// `*`, `.suffix`, `*suffix`, `prefix*`; a bare domain covers its subdomains; IP ranges and
    /// ports are not understood).
    ///
    /// SOCKS support is not compiled in: a SOCKS proxy is accepted here but not used, requests
    /// then go direct (as ureq does with one it finds in the environment).
    pub fn new(url: &str, no_proxy: Option<String>) -> Result<ProxyConfig, ModelError> {
        ureq::Proxy::new(url).map_err(|e| ModelError::NotConfigured {
            message: format!("the proxy URL is not usable: {e}"),
        })?;
        Ok(ProxyConfig {
            url: url.to_string(),
            no_proxy,
        })
    }

    /// ureq's proxy; `None` for a SOCKS proxy (see [`ProxyConfig::new`]).
    pub(crate) fn to_ureq(&self) -> Option<ureq::Proxy> {
        let proxy = ureq::Proxy::new(&self.url).ok()?;
        if !matches!(
            proxy.protocol(),
            ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https
        ) {
            return None;
        }
        Some(match &self.no_proxy {
            Some(no_proxy) => with_no_proxy(proxy, no_proxy),
            None => proxy,
        })
    }
}

/// The proxy with this `NO_PROXY` list: entries trimmed, empty ones skipped, and a bare domain
/// also covering its subdomains. (ureq takes entries verbatim and matches `a.com` only exactly,
/// so `NO_PROXY="localhost, 10.0.0.1"` would silently send `10.0.0.1` through the proxy.)
fn with_no_proxy(proxy: ureq::Proxy, no_proxy: &str) -> ureq::Proxy {
    let mut builder = ureq::Proxy::builder(proxy.protocol())
        .host(proxy.host())
        .port(proxy.port())
        .resolve_target(proxy.resolve_target());
    if let Some(user) = proxy.username() {
        builder = builder.username(user);
    }
    if let Some(password) = proxy.password() {
        builder = builder.password(password);
    }
    for entry in no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        builder = builder.no_proxy(entry);
        let is_pattern = entry.starts_with(['.', '*']) || entry.ends_with(['.', '*']);
        if !is_pattern && entry.parse::<std::net::IpAddr>().is_err() {
            builder = builder.no_proxy(&format!(".{entry}"));
        }
    }
    builder.build().unwrap_or(proxy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_entries_are_trimmed_and_cover_subdomains() {
        let config = ProxyConfig::new(
            "http://user:p%40ss@proxy.local:3128",
            Some(" localhost , 10.0.0.1,,example.com, .corp ,".into()),
        )
        .unwrap();
        let proxy = config.to_ureq().unwrap();
        let bypass = |url: &str| proxy.is_no_proxy(&url.parse().unwrap());
        assert!(bypass("http://localhost:8080/v1"));
        assert!(bypass("http://10.0.0.1/v1"));
        assert!(bypass("https://example.com/v1"));
        assert!(bypass("https://api.example.com/v1"));
        assert!(bypass("https://x.corp/v1"));
        assert!(!bypass("https://notexample.com/v1"));
        assert!(!bypass("https://api.openai.com/v1"));
        assert_eq!((proxy.host(), proxy.port()), ("proxy.local", 3128));
        assert_eq!((proxy.username(), proxy.password()), (Some("user"), Some("p@ss")));
        let shown = format!("{config:?}");
        assert!(
            shown.contains("proxy.local") && !shown.contains("p%40ss"),
            "{shown}"
        );
    }

    #[test]
    fn unusable_and_socks_proxies() {
        assert!(ProxyConfig::new("http://", None).is_err());
        assert!(ProxyConfig::new("ftp://proxy.local", None).is_err());
        let socks = ProxyConfig::new("socks5://proxy.local:1080", Some("x".into())).unwrap();
        assert!(socks.to_ureq().is_none());
    }
}
