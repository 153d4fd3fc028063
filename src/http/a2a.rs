//! An A2A agent as a [`Service`]: JSON-RPC on `POST /`, the agent card on
//! `GET /.well-known/agent-card.json` (and 0.2's `/.well-known/agent.json`), `GET /ping`;
//! bearer auth on `POST /` when `AUTH_BEARER_TOKEN` is set. Everything runs through the same
//! worker pool, body limit, timeouts and access log as `/invocations`.

use std::sync::Arc;

use super::auth::BearerAuth;
use super::parse::Method;
use super::request::Request;
use super::service::{Answer, Decision, Health, Invocation, Service};
use crate::app::{App, RequestContext, Response};
use crate::error::Error;
use crate::protocols::a2a::{A2aServer, CARD_PATH};

const PING_PATH: &str = "/ping";
const OLD_CARD_PATH: &str = "/.well-known/agent.json";

/// An [`A2aServer`] on its listener; the [`App`] gives health, limits and shutdown hooks.
pub(crate) struct A2a {
    app: Arc<App>,
    server: Arc<A2aServer>,
    auth: BearerAuth,
}

impl A2a {
    pub(crate) fn new(app: Arc<App>, server: Arc<A2aServer>) -> A2a {
        let auth = BearerAuth::new(app.server_config().auth_bearer_token.as_deref());
        A2a { app, server, auth }
    }

    fn card(&self, req: &Request<'_>) -> Decision {
        // Without AGENTCORE_RUNTIME_URL the card names the address the client reached us on.
        let fallback = match req.header("host").and_then(|h| std::str::from_utf8(h).ok()) {
            Some(host) if !host.is_empty() && !host.bytes().any(|b| b.is_ascii_control() || b == b' ') => {
                format!("http://{host}/")
            }
            _ => format!("http://{}/", self.app.server_config().addr),
        };
        let card = self.server.card().to_json(&fallback);
        // Built here, on the coroutine: the card is a few hundred bytes of JSON, and a client
        // discovering the agent must not wait behind the tasks that keep the pool busy.
        let mut body = Vec::with_capacity(512);
        crate::pyjson::write(&mut body, &card);
        Decision::Answer(Answer::Full(Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        }))
    }
}

fn text(status: u16, body: &'static str, header: Option<(&'static str, &'static str)>) -> Decision {
    Decision::Answer(Answer::Text { status, body, header })
}

impl Service for A2a {
    fn decide(&self, req: &Request<'_>) -> Decision {
        if req.head().websocket_upgrade {
            return Decision::Answer(Answer::Refuse(403));
        }
        let method = req.method();
        match req.path() {
            PING_PATH => match method {
                Method::Get | Method::Head => Decision::Ping,
                _ => text(405, "Method Not Allowed", Some(("allow", "HEAD, GET"))),
            },
            CARD_PATH | OLD_CARD_PATH => match method {
                Method::Get | Method::Head => self.card(req),
                _ => text(405, "Method Not Allowed", Some(("allow", "HEAD, GET"))),
            },
            "/" => match method {
                Method::Post => {
                    if !self.auth.allows(req.header("authorization")) {
                        let err =
                            Error::http(401, "Unauthorized").with_details("missing or invalid bearer token");
                        return Decision::Answer(Answer::Error(err, &[("www-authenticate", "Bearer")]));
                    }
                    let server = Arc::clone(&self.server);
                    let control = Arc::clone(&self.server);
                    let depth = self.app.server_config().max_json_depth;
                    let tracer = self.app.tracing().clone();
                    let control_tracer = tracer.clone();
                    Decision::Invoke(Invocation {
                        ctx: RequestContext::from_headers(req.header_pairs()),
                        run: Box::new(move |body, ctx| server.handle_traced(body, ctx, depth, &tracer)),
                        quick: Some(Box::new(move |body, ctx| {
                            control.handle_control_traced(body, ctx, depth, &control_tracer)
                        })),
                    })
                }
                _ => text(405, "Method Not Allowed", Some(("allow", "POST"))),
            },
            _ => text(404, "Not Found", None),
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
        (req.path() == "/" && req.method() == Method::Post && !req.head().websocket_upgrade).then_some("/")
    }
}
