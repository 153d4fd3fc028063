//! The AgentCore HTTP contract as a [`Service`]: `GET /ping`, `POST /invocations`, `/ws`,
//! bearer auth when `AUTH_BEARER_TOKEN` is set, and Starlette's answers for everything else
//! (404 and 405 as `text/plain`, a 307 for a trailing slash), so clients see what the Python
//! SDK sends.

use std::sync::Arc;

use super::auth::BearerAuth;
use super::parse::Method;
use super::request::Request;
use super::service::{Answer, Decision, Health, Invocation, Service, Session};
use crate::app::{App, RequestContext};
use crate::error::Error;

/// Where the contract's table sends a plain HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `GET`/`HEAD /ping`.
    Ping,
    /// `POST /invocations`.
    Invocations,
    /// A known path with another method; the `allow` header value.
    MethodNotAllowed(&'static str),
    /// A known path with a trailing slash: redirect to this path.
    Redirect(&'static str),
    /// Anything else (including `/ws` without an upgrade, as Starlette's WebSocketRoute does not
    /// match plain HTTP).
    NotFound,
}

const PING_PATH: &str = "/ping";

/// Routes a (percent-decoded) path and method.
fn route(method: Method, path: &str) -> Route {
    match path {
        PING_PATH => match method {
            Method::Get | Method::Head => Route::Ping,
            _ => Route::MethodNotAllowed("HEAD, GET"),
        },
        "/invocations" => match method {
            Method::Post => Route::Invocations,
            _ => Route::MethodNotAllowed("POST"),
        },
        "/ping/" => Route::Redirect("/ping"),
        "/invocations/" => Route::Redirect("/invocations"),
        _ => Route::NotFound,
    }
}

/// The only path a WebSocket upgrade reaches the handler on (no redirect for WebSockets;
/// other paths get 403 like uvicorn's handshake rejection).
const WEBSOCKET_PATH: &str = "/ws";

/// An [`App`] served under the AgentCore contract.
pub(crate) struct AgentCore {
    app: Arc<App>,
    auth: BearerAuth,
    /// The app has a websocket handler (an App does not change once served).
    websocket: bool,
}

impl AgentCore {
    pub(crate) fn new(app: Arc<App>) -> AgentCore {
        let auth = BearerAuth::new(app.server_config().auth_bearer_token.as_deref());
        let websocket = app.has_websocket();
        AgentCore { app, auth, websocket }
    }

    fn unauthorized(&self, req: &Request<'_>) -> Option<Decision> {
        if self.auth.allows(req.header("authorization")) {
            return None;
        }
        let err = Error::http(401, "Unauthorized").with_details("missing or invalid bearer token");
        Some(Decision::Answer(Answer::Error(
            err,
            &[("www-authenticate", "Bearer")],
        )))
    }

    fn upgrade(&self, req: &Request<'_>) -> Decision {
        if req.path() != WEBSOCKET_PATH || !self.websocket || req.method() != Method::Get {
            return Decision::Answer(Answer::Refuse(403));
        }
        if let Some(refused) = self.unauthorized(req) {
            return refused;
        }
        let app = Arc::clone(&self.app);
        Decision::Upgrade(Session {
            ctx: RequestContext::from_headers(req.header_pairs()),
            run: Box::new(move |ws, ctx| app.handle_websocket(ws, ctx)),
        })
    }
}

impl Service for AgentCore {
    fn decide(&self, req: &Request<'_>) -> Decision {
        if req.head().websocket_upgrade {
            return self.upgrade(req);
        }
        match route(req.method(), req.path()) {
            Route::Ping => Decision::Ping,
            Route::Invocations => {
                if let Some(refused) = self.unauthorized(req) {
                    return refused;
                }
                let app = Arc::clone(&self.app);
                Decision::Invoke(Invocation {
                    ctx: RequestContext::from_headers(req.header_pairs()),
                    run: Box::new(move |body, ctx| app.invoke(body, ctx)),
                    quick: None,
                })
            }
            Route::MethodNotAllowed(allow) => Decision::Answer(Answer::Text {
                status: 405,
                body: "Method Not Allowed",
                header: Some(("allow", allow)),
            }),
            Route::Redirect(to) => Decision::Answer(Answer::Redirect(to)),
            Route::NotFound => Decision::Answer(Answer::Text {
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
        let invocation =
            !req.head().websocket_upgrade && route(req.method(), req.path()) == Route::Invocations;
        invocation.then_some("/invocations")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::Next;
    use crate::http::request::tests::head;
    use crate::http::service::tests::render;

    /// The contract over a bare app, with the settings the decisions depend on.
    fn service(token: Option<&str>, websocket: bool) -> AgentCore {
        AgentCore {
            app: Arc::new(App::new()),
            auth: BearerAuth::new(token),
            websocket,
        }
    }

    fn decide(service: &AgentCore, raw: &str) -> Decision {
        let h = head(raw);
        service.decide(&Request::new(raw.as_bytes(), &h))
    }

    /// The decision for `raw`, rendered when it is an answer.
    fn answer(service: &AgentCore, raw: &str) -> (String, Next) {
        match decide(service, raw) {
            Decision::Answer(answer) => render(&answer, raw, false),
            _ => panic!("not an answer: {raw}"),
        }
    }

    const UPGRADE: &str = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                           Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

    #[test]
    fn only_post_invocations_is_a_traced_route() {
        let s = service(None, true);
        let route = |raw: &str| {
            let h = head(raw);
            s.traced_route(&Request::new(raw.as_bytes(), &h))
        };
        assert_eq!(
            route("POST /invocations HTTP/1.1\r\nHost: h\r\n\r\n"),
            Some("/invocations")
        );
        assert_eq!(route("GET /invocations HTTP/1.1\r\nHost: h\r\n\r\n"), None);
        assert_eq!(route("GET /ping HTTP/1.1\r\nHost: h\r\n\r\n"), None);
        assert_eq!(route(&format!("{UPGRADE}\r\n")), None);
    }

    #[test]
    fn table() {
        assert_eq!(route(Method::Get, "/ping"), Route::Ping);
        assert_eq!(route(Method::Head, "/ping"), Route::Ping);
        assert_eq!(route(Method::Post, "/ping"), Route::MethodNotAllowed("HEAD, GET"));
        assert_eq!(route(Method::Post, "/invocations"), Route::Invocations);
        assert_eq!(
            route(Method::Head, "/invocations"),
            Route::MethodNotAllowed("POST")
        );
        assert_eq!(
            route(Method::Other, "/invocations"),
            Route::MethodNotAllowed("POST")
        );
        assert_eq!(
            route(Method::Post, "/invocations/"),
            Route::Redirect("/invocations")
        );
        assert_eq!(route(Method::Get, "/ping/"), Route::Redirect("/ping"));
        assert_eq!(route(Method::Get, "/ws"), Route::NotFound);
        assert_eq!(route(Method::Get, "/nope"), Route::NotFound);
        assert_eq!(
            route(Method::Get, "/PING"),
            Route::NotFound,
            "paths are case-sensitive"
        );
    }

    #[test]
    fn ping_and_invocations() {
        let s = service(None, false);
        assert!(matches!(
            decide(&s, "GET /ping HTTP/1.1\r\nHost: h\r\n\r\n"),
            Decision::Ping
        ));
        assert!(matches!(
            decide(&s, "HEAD /p%69ng?x HTTP/1.0\r\n\r\n"),
            Decision::Ping
        ));
        let Decision::Invoke(inv) = decide(
            &s,
            "POST /invocations HTTP/1.1\r\nHost: h\r\n\
             X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: sess-7\r\nContent-Length: 2\r\n\r\n",
        ) else {
            panic!("POST /invocations is an invocation");
        };
        assert_eq!(inv.ctx.session_id.as_deref(), Some("sess-7"));
        assert_eq!(s.ping_path(), Some("/ping"));
        let mut body = Vec::new();
        s.health().write_body(&mut body);
        assert!(body.starts_with(br#"{"status":"Healthy","time_of_last_update":"#));
    }

    #[test]
    fn starlette_answers_for_everything_else() {
        let s = service(None, false);
        let (text, next) = answer(&s, "GET /nope HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(
            text.ends_with("content-type: text/plain; charset=utf-8\r\ncontent-length: 9\r\n\r\nNot Found"),
            "{text}"
        );
        assert_eq!(next, Next::KeepAlive);
        let (text, _) = answer(&s, "GET /ws HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(
            text.starts_with("HTTP/1.1 404 "),
            "/ws without an upgrade: {text}"
        );

        let (text, next) = answer(&s, "DELETE /ping HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{text}");
        assert!(text.contains("\r\nallow: HEAD, GET\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nMethod Not Allowed"), "{text}");
        assert_eq!(next, Next::KeepAlive);
        let (text, _) = answer(&s, "GET /invocations HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(text.contains("\r\nallow: POST\r\n"), "{text}");

        let (text, next) = answer(&s, "POST /invocations/?a=1 HTTP/1.1\r\nHost: h:8080\r\n\r\n");
        assert!(text.starts_with("HTTP/1.1 307 Temporary Redirect\r\n"), "{text}");
        assert!(
            text.contains("\r\nlocation: http://h:8080/invocations?a=1\r\n"),
            "{text}"
        );
        assert_eq!(next, Next::KeepAlive);
    }

    #[test]
    fn bearer_auth_guards_invocations_and_websockets_but_not_ping() {
        let s = service(Some("s3cret"), true);
        assert!(matches!(
            decide(&s, "GET /ping HTTP/1.1\r\nHost: h\r\n\r\n"),
            Decision::Ping
        ));
        let (text, next) = answer(&s, "POST /invocations HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{text}");
        assert!(text.contains("\r\nwww-authenticate: Bearer\r\n"), "{text}");
        assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
        assert!(
            text.ends_with(r#"{"error":"Unauthorized","details":"missing or invalid bearer token"}"#),
            "{text}"
        );
        assert_eq!(next, Next::Close);
        let (text, _) = answer(
            &s,
            "POST /invocations HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer wrong\r\n\r\n",
        );
        assert!(text.starts_with("HTTP/1.1 401 "), "{text}");
        assert!(matches!(
            decide(
                &s,
                "POST /invocations HTTP/1.1\r\nHost: h\r\nauthorization: Bearer s3cret\r\n\r\n"
            ),
            Decision::Invoke(_)
        ));
        let (text, _) = answer(&s, &format!("{UPGRADE}\r\n"));
        assert!(text.starts_with("HTTP/1.1 401 "), "{text}");
        assert!(matches!(
            decide(&s, &format!("{UPGRADE}Authorization: Bearer s3cret\r\n\r\n")),
            Decision::Upgrade(_)
        ));
    }

    #[test]
    fn websocket_upgrades_only_on_ws_with_a_handler() {
        let with = service(None, true);
        assert!(matches!(
            decide(&with, &format!("{UPGRADE}\r\n")),
            Decision::Upgrade(_)
        ));
        let refused = |s: &AgentCore, raw: &str| {
            let (text, next) = answer(s, raw);
            assert!(text.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{raw}: {text}");
            assert!(
                text.ends_with("content-length: 0\r\nconnection: close\r\n\r\n"),
                "{text}"
            );
            assert_eq!(next, Next::Close);
        };
        refused(&service(None, false), &format!("{UPGRADE}\r\n"));
        refused(&with, &format!("{}\r\n", UPGRADE.replace("/ws", "/ping")));
        refused(&with, &format!("{}\r\n", UPGRADE.replace("/ws", "/ws/")));
        refused(&with, &format!("{}\r\n", UPGRADE.replace("GET", "POST")));
    }
}
