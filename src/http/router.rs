//! Which handler a request goes to, with Starlette's answers for everything else (404 and 405
//! as `text/plain`, a 307 for a trailing slash), so clients see what the Python SDK sends.

use super::parse::Method;

/// The routing decision for a plain HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
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

/// Routes a (percent-decoded) path and method.
pub fn route(method: Method, path: &str) -> Route {
    match path {
        "/ping" => match method {
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

/// Whether a WebSocket upgrade to `path` reaches the websocket handler (`/ws` only: no
/// redirect for WebSockets, other paths get 403 like uvicorn's handshake rejection).
pub fn is_websocket_path(path: &str) -> bool {
    path == "/ws"
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(route(Method::Get, "/ws"), Route::NotFound);
        assert_eq!(route(Method::Get, "/nope"), Route::NotFound);
    }
}
