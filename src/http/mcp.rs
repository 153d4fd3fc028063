//! The MCP server's listener as a [`Service`]: `POST /mcp` (Streamable HTTP, stateless) runs
//! the app's [`McpServer`] on the worker pool, as `/invocations` runs its handler (same body
//! limit, timeouts, concurrency limit, bearer auth and access log); `GET`/`HEAD /ping` is the
//! health check. A stateless server has no stream to offer on `GET /mcp` and no session to end
//! on `DELETE /mcp`: both are 405, as the spec says. `Mcp-Session-Id` and the runtime session
//! header are never refused (AgentCore adds them).

use std::sync::Arc;

use serde_json::json;

use super::auth::BearerAuth;
use super::parse::Method;
use super::request::Request;
use super::service::{Answer, Decision, Health, Invocation, Service};
use crate::app::{App, RequestContext, Response};
use crate::error::Error;
use crate::protocols::mcp::{Accepts, INVALID_REQUEST, McpServer};

const PING_PATH: &str = "/ping";
const MCP_PATH: &str = "/mcp";

/// An app's MCP server on its listener.
pub(crate) struct Mcp {
    app: Arc<App>,
    server: Arc<McpServer>,
    auth: BearerAuth,
}

impl Mcp {
    /// `None` when the app has no MCP server ([`App::mcp`]).
    pub(crate) fn new(app: Arc<App>) -> Option<Mcp> {
        let server = app.mcp_server()?;
        let auth = BearerAuth::new(app.server_config().auth_bearer_token.as_deref());
        Some(Mcp { app, server, auth })
    }

    fn post(&self, req: &Request<'_>) -> Decision {
        if !self.auth.allows(req.header("authorization")) {
            let err = Error::http(401, "Unauthorized").with_details("missing or invalid bearer token");
            return Decision::Answer(Answer::Error(err, &[("www-authenticate", "Bearer")]));
        }
        if let Some(origin) = req.header("origin")
            && !self.origin_allowed(origin)
        {
            return refuse(403, "Forbidden: Origin not allowed (MCP_ALLOWED_ORIGINS)");
        }
        let accept = req.header("accept").and_then(|a| std::str::from_utf8(a).ok());
        let accepts = Accepts::from_header(accept);
        if accepts.none() {
            return refuse(
                406,
                "Not Acceptable: the client must accept application/json or text/event-stream",
            );
        }
        let content_type = req
            .header("content-type")
            .map(|c| String::from_utf8_lossy(c).to_ascii_lowercase());
        // A missing type is taken as JSON (curl --data-binary sends none with -H ''); another
        // one is refused, as the SDKs refuse it.
        if let Some(ct) = content_type
            && ct.split(';').next().map(str::trim) != Some("application/json")
        {
            return refuse(
                415,
                "Unsupported Media Type: Content-Type must be application/json",
            );
        }
        let server = Arc::clone(&self.server);
        let max_json_depth = self.app.server_config().max_json_depth;
        let tracer = self.app.tracing().clone();
        Decision::Invoke(Invocation {
            ctx: RequestContext::from_headers(req.header_pairs()),
            run: Box::new(move |body, ctx| {
                Ok(server.handle_traced(body, ctx, accepts, max_json_depth, &tracer))
            }),
            quick: None,
        })
    }
}

impl Mcp {
    /// The MCP spec has servers validate `Origin` against DNS rebinding: a web page whose
    /// host name was made to resolve to a local server must not reach it from a browser.
    fn origin_allowed(&self, origin: &[u8]) -> bool {
        let origin = String::from_utf8_lossy(origin)
            .trim()
            .trim_end_matches('/')
            .to_ascii_lowercase();
        let config = self.app.server_config();
        match &config.mcp_allowed_origins {
            Some(list) => list.iter().any(|o| o == "*" || *o == origin),
            None => !config.addr.ip().is_loopback() || is_loopback_origin(&origin),
        }
    }
}

/// `http(s)://localhost`, `127.0.0.1` or `[::1]`, any port.
fn is_loopback_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => rest.split(':').next().unwrap_or(""),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An HTTP-level refusal with a JSON-RPC error body (no id), as the spec has servers answer
/// what they cannot accept.
fn refuse(status: u16, message: &str) -> Decision {
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": INVALID_REQUEST, "message": message}});
    Decision::Answer(Answer::Full(Response::json(status, &body)))
}

impl Service for Mcp {
    fn decide(&self, req: &Request<'_>) -> Decision {
        if req.head().websocket_upgrade {
            return Decision::Answer(Answer::Refuse(403));
        }
        match (req.path(), req.method()) {
            (PING_PATH, Method::Get | Method::Head) => Decision::Ping,
            (PING_PATH, _) => Decision::Answer(Answer::Text {
                status: 405,
                body: "Method Not Allowed",
                header: Some(("allow", "HEAD, GET")),
            }),
            (MCP_PATH, Method::Post) => self.post(req),
            (MCP_PATH, _) => {
                let body = json!({"jsonrpc": "2.0", "id": null, "error": {
                    "code": INVALID_REQUEST,
                    "message": "Method Not Allowed: this stateless server answers POST only (no GET stream, no session to DELETE)"
                }});
                Decision::Answer(Answer::Full(
                    Response::json(405, &body).with_header("allow", "POST"),
                ))
            }
            ("/mcp/", _) => Decision::Answer(Answer::Redirect(MCP_PATH)),
            _ => Decision::Answer(Answer::Text {
                status: 404,
                body: "Not Found",
                header: None,
            }),
        }
    }

    fn ping_path(&self) -> Option<&'static str> {
        Some(PING_PATH)
    }

    fn health(&self) -> Health {
        let (status, since) = self.app.ping_status();
        Health { status, since }
    }

    fn stopped(&self) {
        self.app.run_shutdown_hooks();
    }

    fn tracer(&self) -> &crate::telemetry::Tracer {
        self.app.tracing()
    }

    fn traced_route(&self, req: &Request<'_>) -> Option<&'static str> {
        (req.path() == MCP_PATH && req.method() == Method::Post && !req.head().websocket_upgrade)
            .then_some(MCP_PATH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::Next;
    use crate::http::request::tests::head;
    use crate::http::service::tests::render;
    use crate::protocols::mcp::McpServer;

    fn service_with(config: crate::config::ServerConfig) -> Mcp {
        let mut app = App::new();
        app.config(config);
        app.mcp(McpServer::new("t", "1"));
        Mcp::new(Arc::new(app)).expect("an MCP server is set")
    }

    #[test]
    fn origins_are_checked_against_dns_rebinding() {
        let post = |s: &Mcp, origin: &str| {
            let raw =
                format!("POST /mcp HTTP/1.1\r\nHost: h\r\nOrigin: {origin}\r\nContent-Length: 0\r\n\r\n");
            match decide(s, &raw) {
                Decision::Invoke(_) => 200,
                Decision::Answer(answer) => {
                    let (text, _) = render(&answer, &raw, false);
                    assert!(text.contains("MCP_ALLOWED_ORIGINS"), "{text}");
                    403
                }
                _ => 0,
            }
        };
        let loopback = crate::config::ServerConfig {
            addr: "127.0.0.1:8000".parse().expect("an address"),
            ..crate::config::ServerConfig::default()
        };
        let s = service_with(loopback.clone());
        assert_eq!(post(&s, "http://evil.example"), 403);
        assert_eq!(post(&s, "http://localhost:6274"), 200);
        assert_eq!(post(&s, "http://127.0.0.1"), 200);
        assert_eq!(post(&s, "https://[::1]:8443/"), 200);
        assert_eq!(post(&s, "http://localhost.evil.example"), 403);
        // Listening everywhere (a container): any origin, unless a list is given.
        let s = service_with(crate::config::ServerConfig::default());
        assert_eq!(post(&s, "http://evil.example"), 200);
        let s = service_with(crate::config::ServerConfig {
            mcp_allowed_origins: Some(vec!["https://app.example".into()]),
            ..loopback
        });
        assert_eq!(post(&s, "https://APP.example/"), 200);
        assert_eq!(post(&s, "http://localhost"), 403);
        // No Origin: not a browser; never refused.
        assert!(matches!(
            decide(&s, "POST /mcp HTTP/1.1\r\nHost: h\r\n\r\n"),
            Decision::Invoke(_)
        ));
    }

    fn service(token: Option<&str>) -> Mcp {
        let mut app = App::new();
        if let Some(token) = token {
            app.config(crate::config::ServerConfig {
                auth_bearer_token: Some(token.into()),
                ..crate::config::ServerConfig::default()
            });
        }
        app.mcp(McpServer::new("t", "1"));
        Mcp::new(Arc::new(app)).expect("an MCP server is set")
    }

    fn decide(s: &Mcp, raw: &str) -> Decision {
        let h = head(raw);
        s.decide(&Request::new(raw.as_bytes(), &h))
    }

    fn answer(s: &Mcp, raw: &str) -> (String, Next) {
        match decide(s, raw) {
            Decision::Answer(answer) => render(&answer, raw, false),
            _ => panic!("not an answer: {raw}"),
        }
    }

    #[test]
    fn routes() {
        let s = service(None);
        assert!(matches!(
            decide(&s, "GET /ping HTTP/1.1\r\nHost: h\r\n\r\n"),
            Decision::Ping
        ));
        assert!(matches!(
            decide(&s, "POST /mcp HTTP/1.1\r\nHost: h\r\nMcp-Session-Id: x\r\n\r\n"),
            Decision::Invoke(_)
        ));
        let (text, next) = answer(&s, "GET /mcp HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(text.starts_with("HTTP/1.1 405 "), "{text}");
        assert!(text.contains("\r\nallow: POST\r\n"), "{text}");
        assert!(text.contains("\"code\":-32600"), "{text}");
        assert_eq!(next, Next::KeepAlive);
        let (text, _) = answer(&s, "DELETE /mcp HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(text.starts_with("HTTP/1.1 405 "), "{text}");
        let (text, _) = answer(&s, "POST /mcp/ HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(text.starts_with("HTTP/1.1 307 "), "{text}");
        let (text, _) = answer(&s, "POST /invocations HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(text.starts_with("HTTP/1.1 404 "), "{text}");
    }

    #[test]
    fn accept_content_type_and_auth_are_checked_before_the_body() {
        let s = service(None);
        let (text, _) = answer(&s, "POST /mcp HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\n\r\n");
        assert!(text.starts_with("HTTP/1.1 406 "), "{text}");
        let (text, _) = answer(
            &s,
            "POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n\r\n",
        );
        assert!(text.starts_with("HTTP/1.1 415 "), "{text}");
        assert!(matches!(
            decide(
                &s,
                "POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Type: application/json; charset=utf-8\r\n\r\n"
            ),
            Decision::Invoke(_)
        ));
        let s = service(Some("s3cret"));
        let (text, next) = answer(&s, "POST /mcp HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(text.starts_with("HTTP/1.1 401 "), "{text}");
        assert_eq!(next, Next::Close);
        assert!(matches!(
            decide(
                &s,
                "POST /mcp HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cret\r\n\r\n"
            ),
            Decision::Invoke(_)
        ));
        assert!(matches!(
            decide(&s, "GET /ping HTTP/1.1\r\nHost: h\r\n\r\n"),
            Decision::Ping
        ));
    }

    #[test]
    fn only_post_mcp_is_a_traced_route() {
        let s = service(None);
        let route = |raw: &str| {
            let h = head(raw);
            s.traced_route(&Request::new(raw.as_bytes(), &h))
        };
        assert_eq!(route("POST /mcp HTTP/1.1\r\nHost: h\r\n\r\n"), Some("/mcp"));
        assert_eq!(route("GET /mcp HTTP/1.1\r\nHost: h\r\n\r\n"), None);
        assert_eq!(route("GET /ping HTTP/1.1\r\nHost: h\r\n\r\n"), None);
        assert_eq!(route("POST /other HTTP/1.1\r\nHost: h\r\n\r\n"), None);
    }

    #[test]
    fn an_app_without_an_mcp_server_has_no_mcp_service() {
        assert!(Mcp::new(Arc::new(App::new())).is_none());
    }
}
