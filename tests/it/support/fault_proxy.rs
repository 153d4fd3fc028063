//! An HTTP/1.1 proxy between the binary and the S3 server that injects faults into chosen
//! requests: 503 `SlowDown` answers, stalls (no answer until long past the client's timeout),
//! connections dropped before the request reaches the server, and answers lost after it did
//! (the write lands, the client never hears).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// 503 with S3's `SlowDown` error document; the server never sees the request.
    SlowDown,
    /// Holds the request unanswered this long, then closes the connection.
    Stall(Duration),
    /// Closes the connection without forwarding the request.
    Drop,
    /// Forwards the request, then closes the connection instead of answering.
    LoseAnswer,
}

/// Which requests a fault applies to: a method and a substring of the path (`""`: any).
#[derive(Debug, Clone)]
pub struct Target {
    pub method: &'static str,
    pub path: &'static str,
}

impl Target {
    pub fn any() -> Target {
        Target { method: "", path: "" }
    }

    pub fn new(method: &'static str, path: &'static str) -> Target {
        Target { method, path }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        (self.method.is_empty() || self.method == method) && path.contains(self.path)
    }
}

#[derive(Default)]
struct Plan {
    /// Faults for the next matching requests, one each, in order.
    once: VecDeque<(Target, Fault)>,
    /// A fault for every matching request until cleared.
    always: Option<(Target, Fault)>,
    injected: usize,
    forwarded: usize,
}

#[derive(Clone)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    plan: Arc<Mutex<Plan>>,
}

impl FaultProxy {
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let plan = Arc::new(Mutex::new(Plan::default()));
        let shared = Arc::clone(&plan);
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let plan = Arc::clone(&shared);
                thread::spawn(move || serve(client, upstream, &plan));
            }
        });
        FaultProxy { addr, plan }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Injects `fault` into each of the next `times` requests matching `target`.
    pub fn next(&self, target: Target, fault: Fault, times: usize) {
        let mut plan = self.plan.lock().unwrap();
        for _ in 0..times {
            plan.once.push_back((target.clone(), fault));
        }
    }

    /// Injects `fault` into every request matching `target` until [`FaultProxy::clear`].
    pub fn always(&self, target: Target, fault: Fault) {
        self.plan.lock().unwrap().always = Some((target, fault));
    }

    pub fn clear(&self) {
        let mut plan = self.plan.lock().unwrap();
        plan.once.clear();
        plan.always = None;
    }

    /// Faults injected and requests forwarded so far.
    pub fn counts(&self) -> (usize, usize) {
        let plan = self.plan.lock().unwrap();
        (plan.injected, plan.forwarded)
    }

    /// Faults planned but not injected yet.
    pub fn pending(&self) -> usize {
        self.plan.lock().unwrap().once.len()
    }
}

/// One request read whole: its head (as sent) and body.
struct Request {
    method: String,
    path: String,
    raw: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut raw = Vec::new();
    let mut length = 0usize;
    let mut first = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            // One request per upstream connection: the server closes it after answering.
            raw.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        if first.is_empty() {
            first = line.clone();
        } else if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("connection") {
                continue;
            }
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
        raw.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    raw.extend_from_slice(&body);
    let mut parts = first.split(' ');
    Some(Request {
        method: parts.next()?.to_string(),
        path: parts.next()?.to_string(),
        raw,
    })
}

/// Forwards one request on a fresh connection and returns the whole answer.
fn forward(request: &Request, upstream: SocketAddr) -> Option<Vec<u8>> {
    let mut up = TcpStream::connect(upstream).ok()?;
    up.write_all(&request.raw).ok()?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer).ok()?;
    (!answer.is_empty()).then_some(answer)
}

fn serve(client: TcpStream, upstream: SocketAddr, plan: &Mutex<Plan>) {
    let Ok(writer) = client.try_clone() else { return };
    let mut writer = writer;
    let mut reader = BufReader::new(client);
    while let Some(request) = read_request(&mut reader) {
        let fault = {
            let mut plan = plan.lock().unwrap();
            let once = plan
                .once
                .iter()
                .position(|(t, _)| t.matches(&request.method, &request.path))
                .and_then(|i| plan.once.remove(i))
                .map(|(_, f)| f);
            let fault = once.or_else(|| {
                plan.always
                    .as_ref()
                    .filter(|(t, _)| t.matches(&request.method, &request.path))
                    .map(|(_, f)| *f)
            });
            if fault.is_some() {
                plan.injected += 1;
            } else {
                plan.forwarded += 1;
            }
            fault
        };
        match fault {
            None => match forward(&request, upstream) {
                Some(answer) => {
                    if writer.write_all(&answer).is_err() {
                        return;
                    }
                }
                None => return,
            },
            Some(Fault::SlowDown) => {
                let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>F1</RequestId></Error>";
                let head = format!(
                    "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                if writer
                    .write_all(head.as_bytes())
                    .and_then(|()| writer.write_all(body.as_bytes()))
                    .is_err()
                {
                    return;
                }
            }
            Some(Fault::Stall(d)) => {
                thread::sleep(d);
                return;
            }
            Some(Fault::Drop) => return,
            Some(Fault::LoseAnswer) => {
                let _ = forward(&request, upstream);
                return;
            }
        }
    }
}
