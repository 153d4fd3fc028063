//! The baseline `scripts/bench.sh` runs beside agentcore-rt: may_minihttp 0.1.11 answering
//! `GET /ping` with the same JSON body, a date header, and the same may settings
//! (stack size, coroutine pool), listening on `HOST:PORT` (default 127.0.0.1:8080).

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use may_minihttp::{HttpServer, HttpService, Request, Response};

/// Same values as agentcore-rt's src/http/server.rs, so both servers start the same runtime.
const COROUTINE_STACK_WORDS: usize = 0x8000;
const COROUTINE_POOL: usize = 32;

#[derive(Clone)]
struct Ping {
    /// `time_of_last_update`: agentcore-rt reports when the status last changed.
    since: u64,
}

impl HttpService for Ping {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        if req.method() == "GET" && req.path().split('?').next() == Some("/ping") {
            rsp.header("Content-Type: application/json");
            let body = rsp.body_mut();
            // Formatted per request, as agentcore-rt does.
            let mut text = Vec::with_capacity(64);
            write!(
                text,
                "{{\"status\":\"Healthy\",\"time_of_last_update\":{}}}",
                self.since
            )?;
            body.extend_from_slice(&text);
        } else {
            rsp.status_code(404, "Not Found");
            rsp.body("Not Found");
        }
        Ok(())
    }
}

fn main() {
    // `--version` lets the bench time a bare exec of this binary, as it does for agentcore-rt.
    if std::env::args().nth(1).is_some_and(|a| a == "--version") {
        println!("minihttp-ping (may_minihttp 0.1.11)");
        return;
    }
    may::config()
        .set_stack_size(COROUTINE_STACK_WORDS)
        .set_pool_capacity(COROUTINE_POOL);
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let addr = format!("{host}:{port}");
    let server = match HttpServer(Ping { since }).start(addr.as_str()) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("minihttp-ping: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!("{{\"message\":\"listening\",\"addr\":\"{addr}\"}}");
    let _ = server.join();
}
