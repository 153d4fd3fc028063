//! A scripted OpenAI chat-completions server for tests (std only: threads and `std::net`).
//!
//! It binds 127.0.0.1 on a free port, serves concurrent connections with keep-alive, records
//! every request (method, path, headers, body, parsed JSON) and answers from a script, in the
//! real OpenAI wire format:
//!
//! - a reply is chosen by the responder closure if one is set and returns `Some`, else the next
//!   queued reply, else the default reply (a 500 saying nothing was scripted, unless changed);
//! - a [`Completion`] is rendered per request: `stream: true` gives `chat.completion.chunk`
//!   events (role delta first, text and arguments split over several deltas, tool calls by
//!   index with id and name only in their first delta, a finish chunk, the usage chunk with
//!   `choices: []` when `stream_options.include_usage` is set, `data: [DONE]`), otherwise one
//!   `chat.completion` object;
//! - errors use OpenAI's `{"error": {"message", "type", "param", "code"}}` body;
//! - a reply can be held until a test opens a [`Gate`] (act while a call is in flight);
//! - faults: a delay before the head, a hang after the head or after some events, a dropped
//!   connection mid-stream, an invalid JSON chunk, a stream that ends without finish/`[DONE]`;
//! - a client that hangs up during a delay or a hang ends it, and is recorded
//!   ([`MockOpenAi::hung_up`]), so tests can check that a client really closed its connection.
//!
//! ```ignore
//! let mock = MockOpenAi::start();
//! mock.push(Reply::text("Hello!"));
//! mock.push(Reply::error(429, "Rate limit reached").retry_after("1"));
//! // ... point the client at mock.base_url() ...
//! let requests = mock.requests();
//! ```
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `POST`, ...
    pub method: String,
    /// Request target, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Headers in order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
    /// 0 for the first request of its connection, 1 for the next, ...
    pub index_on_connection: usize,
    /// Which connection (in accept order) carried it.
    pub connection: usize,
    /// When its body had been read.
    pub received_at: Instant,
}

impl RecordedRequest {
    /// The text of the last user message's first block, when the body has one.
    pub fn last_user_text(&self) -> Option<&str> {
        self.json.as_ref()?["messages"]
            .as_array()?
            .iter()
            .rev()
            .find(|m| m["role"] == "user")?["content"][0]["text"]
            .as_str()
    }

    /// First value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `stream` in the body (OpenAI's default is false).
    pub fn is_stream(&self) -> bool {
        self.json
            .as_ref()
            .and_then(|j| j.get("stream"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// `stream_options.include_usage` in the body.
    pub fn include_usage(&self) -> bool {
        self.json
            .as_ref()
            .and_then(|j| j.pointer("/stream_options/include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// `model` in the body.
    pub fn model(&self) -> Option<&str> {
        self.json
            .as_ref()
            .and_then(|j| j.get("model"))
            .and_then(Value::as_str)
    }

    /// The body as text (lossy), for assertion messages.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A tool call the mock model makes.
#[derive(Debug, Clone, PartialEq)]
pub struct MockToolCall {
    /// Call id (`call_...`).
    pub id: String,
    /// Function name.
    pub name: String,
    /// Arguments as the exact JSON text the model sends (may be invalid on purpose).
    pub arguments: String,
}

/// Token counts reported in `usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MockUsage {
    /// `prompt_tokens`.
    pub prompt: u64,
    /// `completion_tokens`.
    pub completion: u64,
    /// `prompt_tokens_details.cached_tokens`.
    pub cached: u64,
    /// Send `prompt_tokens_details`/`completion_tokens_details` (real OpenAI does; the mock
    /// Strands' recordings were made with did not).
    pub details: bool,
}

/// What the mock model says; rendered as a stream or a completion object per request.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Reasoning text, sent as `reasoning_content` deltas first.
    pub reasoning: Option<String>,
    /// Assistant text.
    pub text: Option<String>,
    /// Tool calls, in index order.
    pub tool_calls: Vec<MockToolCall>,
    /// `finish_reason`; `None` picks `tool_calls` when there are tool calls, else `stop`.
    pub finish_reason: Option<String>,
    /// Usage; `None` sends no usage at all.
    pub usage: Option<MockUsage>,
    /// Characters per text/argument delta (at least 1).
    pub delta_chars: usize,
}

impl Default for Completion {
    fn default() -> Self {
        Completion {
            reasoning: None,
            text: None,
            tool_calls: Vec::new(),
            finish_reason: None,
            usage: Some(MockUsage {
                prompt: 10,
                completion: 5,
                cached: 0,
                details: true,
            }),
            delta_chars: 4,
        }
    }
}

/// Something going wrong on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Send the response head, then nothing until the server stops.
    HangAfterHead,
    /// Send this many SSE events, then nothing until the server stops.
    HangAfterEvents(usize),
    /// Send this many SSE events, then close the socket without ending the chunked body.
    DropAfterEvents(usize),
    /// Send this many SSE events, then `data: {"choices": [` (not JSON), then the rest.
    InvalidJsonAfter(usize),
    /// Send this many SSE events, then end the body cleanly: no finish chunk, no `[DONE]`.
    TruncateAfterEvents(usize),
    /// Send this many SSE events, then `data: [DONE]` without a finish chunk (llama-cpp-python's
    /// server, when a new request interrupts a stream).
    DoneAfterEvents(usize),
}

/// The body of a reply.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyBody {
    /// A model answer, rendered for the request (stream or not).
    Completion(Completion),
    /// An OpenAI error object with this status.
    Error {
        /// HTTP status.
        status: u16,
        /// `error.message`.
        message: String,
        /// `error.type`.
        error_type: String,
        /// `error.param`.
        param: Option<String>,
        /// `error.code`.
        code: Option<String>,
    },
    /// Exactly these bytes with this status and content type (Content-Length framing).
    Raw {
        /// HTTP status.
        status: u16,
        /// `Content-Type`.
        content_type: String,
        /// Body bytes.
        body: Vec<u8>,
    },
    /// A 200 `text/event-stream` whose body is these pieces, each sent as one chunk (flushed).
    RawStream(Vec<Vec<u8>>),
}

/// One scripted answer: a body, extra headers, a delay, a fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// What to send.
    pub body: ReplyBody,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// Wait this long before sending the head.
    pub delay: Option<Duration>,
    /// Wait until this gate opens before sending the head.
    pub gate: Option<Gate>,
    /// Break the stream on purpose.
    pub fault: Option<Fault>,
}

/// A latch a test opens to let held replies go, so tests can act while a model call is in
/// flight without sleeping. Replies waiting on it also end when the server stops.
#[derive(Debug, Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl PartialEq for Gate {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Gate::default()
    }

    /// Opens the gate for every reply waiting on it, now and later.
    pub fn open(&self) {
        *self.0.0.lock().unwrap() = true;
        self.0.1.notify_all();
    }

    /// True once opened.
    pub fn is_open(&self) -> bool {
        *self.0.0.lock().unwrap()
    }

    /// Waits until open, the server stops, or `MAX_HANG` passes.
    fn wait(&self, shared: &Shared) {
        let deadline = Instant::now() + MAX_HANG;
        let mut open = self.0.0.lock().unwrap();
        while !*open && !shared.stopping.load(Ordering::SeqCst) && Instant::now() < deadline {
            open = self.0.1.wait_timeout(open, Duration::from_millis(10)).unwrap().0;
        }
    }
}

impl Reply {
    /// A reply with this body and nothing else.
    pub fn new(body: ReplyBody) -> Self {
        Reply {
            body,
            headers: Vec::new(),
            delay: None,
            gate: None,
            fault: None,
        }
    }

    /// A model answer.
    pub fn completion(completion: Completion) -> Self {
        Reply::new(ReplyBody::Completion(completion))
    }

    /// The model says `text` and stops.
    pub fn text(text: &str) -> Self {
        Reply::completion(Completion {
            text: Some(text.into()),
            ..Completion::default()
        })
    }

    /// The model calls one tool with these arguments (serialized as Python's `json.dumps`).
    pub fn tool_call(id: &str, name: &str, arguments: Value) -> Self {
        Reply::tool_calls(&[(id, name, &agentcore_rt::internals::pyjson::to_string(&arguments))])
    }

    /// The model calls these tools `(id, name, raw arguments text)`.
    pub fn tool_calls(calls: &[(&str, &str, &str)]) -> Self {
        let tool_calls = calls
            .iter()
            .map(|(id, name, arguments)| MockToolCall {
                id: (*id).into(),
                name: (*name).into(),
                arguments: (*arguments).into(),
            })
            .collect();
        Reply::completion(Completion {
            tool_calls,
            ..Completion::default()
        })
    }

    /// An OpenAI error with this status and message (type `invalid_request_error`, or
    /// `server_error` for 5xx, `requests` for 429).
    pub fn error(status: u16, message: &str) -> Self {
        let error_type = match status {
            429 => "requests",
            500.. => "server_error",
            _ => "invalid_request_error",
        };
        Reply::new(ReplyBody::Error {
            status,
            message: message.into(),
            error_type: error_type.into(),
            param: None,
            code: None,
        })
    }

    /// OpenAI's 400 for a prompt that is too long.
    pub fn context_overflow() -> Self {
        Reply::error(
            400,
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.",
        )
        .code("context_length_exceeded")
        .param("messages")
    }

    /// OpenAI's 429.
    pub fn rate_limited() -> Self {
        Reply::error(429, "Rate limit reached for gpt-4o in organization org-mock on requests per min (RPM): Limit 3, Used 3, Requested 1.")
            .code("rate_limit_exceeded")
    }

    /// A reply built from a scripted entry of `strands-openai-requests.json`
    /// (`{"text"}`, `{"tool_calls": [{id, name, arguments}]}` or `{"error": {status, message, code?, type?}}`).
    pub fn from_script(entry: &Value) -> Self {
        if let Some(error) = entry.get("error") {
            let status = error["status"].as_u64().unwrap_or(500) as u16;
            let mut reply = Reply::error(status, error["message"].as_str().unwrap_or_default());
            if let Some(code) = error.get("code").and_then(Value::as_str) {
                reply = reply.code(code);
            }
            if let (Some(t), ReplyBody::Error { error_type, .. }) =
                (error.get("type").and_then(Value::as_str), &mut reply.body)
            {
                *error_type = t.into();
            }
            return reply;
        }
        let mut completion = Completion {
            text: entry.get("text").and_then(Value::as_str).map(str::to_string),
            ..Completion::default()
        };
        for call in entry
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let arguments = match &call["arguments"] {
                Value::String(s) => s.clone(),
                other => agentcore_rt::internals::pyjson::to_string(other),
            };
            completion.tool_calls.push(MockToolCall {
                id: call["id"].as_str().unwrap_or_default().into(),
                name: call["name"].as_str().unwrap_or_default().into(),
                arguments,
            });
        }
        Reply::completion(completion)
    }

    /// Sets `error.code` (errors only).
    pub fn code(mut self, value: &str) -> Self {
        if let ReplyBody::Error { code, .. } = &mut self.body {
            *code = Some(value.into());
        }
        self
    }

    /// Sets `error.param` (errors only).
    pub fn param(mut self, value: &str) -> Self {
        if let ReplyBody::Error { param, .. } = &mut self.body {
            *param = Some(value.into());
        }
        self
    }

    /// Adds a `Retry-After` header.
    pub fn retry_after(self, value: &str) -> Self {
        self.header("retry-after", value)
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Waits before sending the head.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Holds the reply until `gate` opens.
    pub fn after(mut self, gate: &Gate) -> Self {
        self.gate = Some(gate.clone());
        self
    }

    /// Breaks the reply on purpose.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.fault = Some(fault);
        self
    }

    /// Changes the completion (no-op for other bodies).
    pub fn map_completion(mut self, f: impl FnOnce(&mut Completion)) -> Self {
        if let ReplyBody::Completion(c) = &mut self.body {
            f(c);
        }
        self
    }

    /// Adds reasoning text before the answer.
    pub fn with_reasoning(self, reasoning: &str) -> Self {
        self.map_completion(|c| c.reasoning = Some(reasoning.into()))
    }

    /// Sets the usage.
    pub fn with_usage(self, prompt: u64, completion: u64) -> Self {
        self.usage(prompt, completion, true)
    }

    /// Sets the usage, sent without the `*_tokens_details` objects (as in Strands' recordings).
    pub fn with_plain_usage(self, prompt: u64, completion: u64) -> Self {
        self.usage(prompt, completion, false)
    }

    fn usage(self, prompt: u64, completion: u64, details: bool) -> Self {
        self.map_completion(|c| {
            c.usage = Some(MockUsage {
                prompt,
                completion,
                cached: 0,
                details,
            })
        })
    }

    /// Sends no usage.
    pub fn without_usage(self) -> Self {
        self.map_completion(|c| c.usage = None)
    }

    /// Sets `finish_reason`.
    pub fn with_finish(self, reason: &str) -> Self {
        self.map_completion(|c| c.finish_reason = Some(reason.into()))
    }

    /// Sets the characters per delta.
    pub fn with_delta_chars(self, n: usize) -> Self {
        self.map_completion(|c| c.delta_chars = n.max(1))
    }
}

type Responder = Box<dyn Fn(&RecordedRequest) -> Option<Reply> + Send + Sync>;

struct Shared {
    requests: Mutex<Vec<RecordedRequest>>,
    arrived: Condvar,
    queue: Mutex<VecDeque<Reply>>,
    default: Mutex<Reply>,
    responder: Mutex<Option<Responder>>,
    stopping: AtomicBool,
    connections: Mutex<Vec<TcpStream>>,
    next_id: AtomicU64,
    hung_up: Mutex<Vec<usize>>,
}

/// The running mock server. Stops on drop.
pub struct MockOpenAi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// How long a hang lasts at most, should a test forget to stop the server.
const MAX_HANG: Duration = Duration::from_secs(120);

impl MockOpenAi {
    /// Starts a server on 127.0.0.1 with an empty script.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind mock OpenAI server");
        let addr = listener.local_addr().expect("mock address");
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            queue: Mutex::new(VecDeque::new()),
            default: Mutex::new(Reply::error(
                500,
                "mock OpenAI server: no reply scripted for this request",
            )),
            responder: Mutex::new(None),
            stopping: AtomicBool::new(false),
            connections: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            hung_up: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("mock-openai-accept".into())
                .spawn(move || accept_loop(listener, shared))
                .expect("spawn mock acceptor")
        };
        MockOpenAi {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:<port>/v1`, the value for the client's base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues a reply (FIFO).
    pub fn push(&self, reply: Reply) -> &Self {
        self.shared.queue.lock().unwrap().push_back(reply);
        self
    }

    /// Queues several replies.
    pub fn push_all(&self, replies: impl IntoIterator<Item = Reply>) -> &Self {
        self.shared.queue.lock().unwrap().extend(replies);
        self
    }

    /// The reply used when the queue is empty.
    pub fn set_default(&self, reply: Reply) -> &Self {
        *self.shared.default.lock().unwrap() = reply;
        self
    }

    /// A closure consulted first for every request; `None` falls back to the queue.
    pub fn respond_with(
        &self,
        f: impl Fn(&RecordedRequest) -> Option<Reply> + Send + Sync + 'static,
    ) -> &Self {
        *self.shared.responder.lock().unwrap() = Some(Box::new(f));
        self
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Number of requests so far.
    pub fn request_count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    /// Waits until at least `n` requests arrived (panics after `timeout`).
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        let deadline = Instant::now() + timeout;
        let mut requests = self.shared.requests.lock().unwrap();
        while requests.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "mock OpenAI: {} of {n} requests after {timeout:?}",
                requests.len()
            );
            requests = self.shared.arrived.wait_timeout(requests, left).unwrap().0;
        }
        requests.clone()
    }

    /// Connections (as in [`RecordedRequest::connection`]) whose client closed them while a
    /// reply was held back (a delay or a hang).
    pub fn hung_up(&self) -> Vec<usize> {
        self.shared.hung_up.lock().unwrap().clone()
    }

    /// Waits until the client of `connection` hung up during a held reply; false after `timeout`.
    pub fn wait_for_hang_up(&self, connection: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.hung_up().contains(&connection) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.hung_up().contains(&connection)
    }

    /// Queued replies not used yet.
    pub fn pending_replies(&self) -> usize {
        self.shared.queue.lock().unwrap().len()
    }

    /// Stops accepting, ends hangs and closes every connection. Idempotent.
    pub fn stop(&mut self) {
        if self.shared.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        for conn in self.shared.connections.lock().unwrap().drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
        if let Some(handle) = self.acceptor.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for MockOpenAi {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for (connection, stream) in listener.incoming().enumerate() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        if let Ok(clone) = stream.try_clone() {
            shared.connections.lock().unwrap().push(clone);
        }
        let shared = shared.clone();
        let _ = std::thread::Builder::new()
            .name("mock-openai-conn".into())
            .spawn(move || serve_connection(stream, connection, &shared));
    }
}

fn serve_connection(stream: TcpStream, connection: usize, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    for index_on_connection in 0.. {
        let Some((mut request, close)) = read_request(&mut reader) else {
            return;
        };
        request.connection = connection;
        request.index_on_connection = index_on_connection;
        let reply = choose_reply(shared, &request);
        shared.requests.lock().unwrap().push(request.clone());
        shared.arrived.notify_all();
        let keep_open = send_reply(&mut writer, &request, &reply, shared);
        if close || !keep_open || shared.stopping.load(Ordering::SeqCst) {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

fn choose_reply(shared: &Shared, request: &RecordedRequest) -> Reply {
    if let Some(responder) = shared.responder.lock().unwrap().as_ref()
        && let Some(reply) = responder(request)
    {
        return reply;
    }
    if let Some(reply) = shared.queue.lock().unwrap().pop_front() {
        return reply;
    }
    shared.default.lock().unwrap().clone()
}

/// Reads one request; `None` at end of connection or on garbage. The flag says the client asked
/// to close the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(RecordedRequest, bool)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        if headers.len() > 200 {
            return None;
        }
    }
    let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line).ok()?;
            let size = usize::from_str_radix(size_line.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = get("content-length") {
        let length: usize = length.parse().ok()?;
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    let close = get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let json = serde_json::from_slice(&body).ok();
    Some((
        RecordedRequest {
            method,
            path,
            headers,
            body,
            json,
            index_on_connection: 0,
            connection: 0,
            received_at: Instant::now(),
        },
        close,
    ))
}

/// True once the client closed its end of `w` (EOF, or reset).
fn client_gone(w: &TcpStream) -> bool {
    if w.set_nonblocking(true).is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    let gone = match w.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    let _ = w.set_nonblocking(false);
    gone
}

/// Sleeps up to `d`, returning early when the server stops, or when the client of `connection`
/// hangs up (recorded; false then).
fn hold(shared: &Shared, w: &TcpStream, connection: usize, d: Duration) -> bool {
    let deadline = Instant::now() + d;
    while Instant::now() < deadline && !shared.stopping.load(Ordering::SeqCst) {
        if client_gone(w) {
            shared.hung_up.lock().unwrap().push(connection);
            return false;
        }
        std::thread::sleep(Duration::from_millis(5).min(deadline.saturating_duration_since(Instant::now())));
    }
    true
}

fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Sends the reply; false when the connection must not be reused.
fn send_reply(w: &mut TcpStream, request: &RecordedRequest, reply: &Reply, shared: &Shared) -> bool {
    if let Some(gate) = &reply.gate {
        gate.wait(shared);
    }
    if let Some(delay) = reply.delay
        && !hold(shared, w, request.connection, delay)
    {
        return false;
    }
    let head = |status: u16, content_type: &str, framing: &str| {
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\n{framing}",
            status_text(status)
        );
        head.push_str("x-request-id: req_mock\r\nopenai-processing-ms: 1\r\n");
        for (name, value) in &reply.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head
    };
    let fixed = |w: &mut TcpStream, status: u16, content_type: &str, body: &[u8]| {
        let head = head(
            status,
            content_type,
            &format!("content-length: {}\r\n", body.len()),
        );
        if reply.fault == Some(Fault::HangAfterHead) {
            let _ = w.write_all(head.as_bytes());
            hold(shared, w, request.connection, MAX_HANG);
            return false;
        }
        w.write_all(head.as_bytes())
            .and_then(|_| w.write_all(body))
            .and_then(|_| w.flush())
            .is_ok()
    };
    match &reply.body {
        ReplyBody::Error {
            status,
            message,
            error_type,
            param,
            code,
        } => {
            let body =
                json!({"error": {"message": message, "type": error_type, "param": param, "code": code}});
            fixed(
                w,
                *status,
                "application/json",
                &serde_json::to_vec_pretty(&body).unwrap(),
            )
        }
        ReplyBody::Raw {
            status,
            content_type,
            body,
        } => fixed(w, *status, content_type, body),
        ReplyBody::Completion(c) if !request.is_stream() => {
            let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
            fixed(
                w,
                200,
                "application/json",
                &serde_json::to_vec(&render_completion(c, request, id)).unwrap(),
            )
        }
        ReplyBody::Completion(c) => {
            let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
            let events: Vec<Vec<u8>> = render_stream(c, request, id)
                .into_iter()
                .map(|data| format!("data: {data}\n\n").into_bytes())
                .collect();
            stream(
                w,
                &head(
                    200,
                    "text/event-stream; charset=utf-8",
                    "transfer-encoding: chunked\r\n",
                ),
                events,
                reply.fault,
                (shared, request.connection),
            )
        }
        ReplyBody::RawStream(pieces) => stream(
            w,
            &head(
                200,
                "text/event-stream; charset=utf-8",
                "transfer-encoding: chunked\r\n",
            ),
            pieces.clone(),
            reply.fault,
            (shared, request.connection),
        ),
    }
}

fn stream(
    w: &mut TcpStream,
    head: &str,
    events: Vec<Vec<u8>>,
    fault: Option<Fault>,
    (shared, connection): (&Shared, usize),
) -> bool {
    let chunk = |w: &mut TcpStream, data: &[u8]| {
        let mut framed = format!("{:x}\r\n", data.len()).into_bytes();
        framed.extend_from_slice(data);
        framed.extend_from_slice(b"\r\n");
        w.write_all(&framed).and_then(|_| w.flush()).is_ok()
    };
    if w.write_all(head.as_bytes()).and_then(|_| w.flush()).is_err() {
        return false;
    }
    if fault == Some(Fault::HangAfterHead) {
        hold(shared, w, connection, MAX_HANG);
        return false;
    }
    for (i, event) in events.iter().enumerate() {
        match fault {
            Some(Fault::HangAfterEvents(n)) if i == n => {
                hold(shared, w, connection, MAX_HANG);
                return false;
            }
            Some(Fault::DropAfterEvents(n)) if i == n => return false,
            Some(Fault::TruncateAfterEvents(n)) if i == n => return chunk(w, b""),
            Some(Fault::DoneAfterEvents(n)) if i == n => {
                return chunk(w, b"data: [DONE]\n\n") && chunk(w, b"");
            }
            Some(Fault::InvalidJsonAfter(n)) if i == n && !chunk(w, b"data: {\"choices\": [\n\n") => {
                return false;
            }
            _ => {}
        }
        if !chunk(w, event) {
            return false;
        }
    }
    chunk(w, b"")
}

fn usage_json(u: &MockUsage) -> Value {
    if !u.details {
        return json!({
            "prompt_tokens": u.prompt,
            "completion_tokens": u.completion,
            "total_tokens": u.prompt + u.completion,
        });
    }
    json!({
        "prompt_tokens": u.prompt,
        "completion_tokens": u.completion,
        "total_tokens": u.prompt + u.completion,
        "prompt_tokens_details": {"cached_tokens": u.cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    })
}

fn finish_reason(c: &Completion) -> String {
    c.finish_reason.clone().unwrap_or_else(|| {
        if c.tool_calls.is_empty() {
            "stop".into()
        } else {
            "tool_calls".into()
        }
    })
}

fn split(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}

/// The SSE `data` payloads of a streamed answer.
pub fn render_stream(c: &Completion, request: &RecordedRequest, id: u64) -> Vec<String> {
    let include_usage = request.include_usage();
    let model = request.model().unwrap_or("gpt-4o").to_string();
    let chunk = |delta: Value, finish: Option<String>| {
        let mut v = json!({
            "id": format!("chatcmpl-mock{id}"),
            "object": "chat.completion.chunk",
            "created": 1_700_000_000 + id,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if include_usage {
            v["usage"] = Value::Null;
        }
        v.to_string()
    };
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        None,
    )];
    if let Some(reasoning) = &c.reasoning {
        for piece in split(reasoning, c.delta_chars) {
            out.push(chunk(json!({"reasoning_content": piece}), None));
        }
    }
    if let Some(text) = &c.text {
        for piece in split(text, c.delta_chars) {
            out.push(chunk(json!({"content": piece}), None));
        }
    }
    for (index, call) in c.tool_calls.iter().enumerate() {
        out.push(chunk(
            json!({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                   "function": {"name": call.name, "arguments": ""}}]}),
            None,
        ));
        for piece in split(&call.arguments, c.delta_chars) {
            out.push(chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                None,
            ));
        }
    }
    out.push(chunk(json!({}), Some(finish_reason(c))));
    if let (true, Some(usage)) = (include_usage, &c.usage) {
        out.push(
            json!({
                "id": format!("chatcmpl-mock{id}"),
                "object": "chat.completion.chunk",
                "created": 1_700_000_000 + id,
                "model": model,
                "service_tier": "default",
                "system_fingerprint": "fp_mock",
                "choices": [],
                "usage": usage_json(usage),
            })
            .to_string(),
        );
    }
    out.push("[DONE]".into());
    out
}

/// The `chat.completion` object of a non-streamed answer.
pub fn render_completion(c: &Completion, request: &RecordedRequest, id: u64) -> Value {
    let mut message = json!({"role": "assistant", "content": c.text, "refusal": null, "annotations": []});
    if let Some(reasoning) = &c.reasoning {
        message["reasoning_content"] = json!(reasoning);
    }
    if !c.tool_calls.is_empty() {
        message["tool_calls"] = c
            .tool_calls
            .iter()
            .map(|t| json!({"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}))
            .collect();
    }
    let mut v = json!({
        "id": format!("chatcmpl-mock{id}"),
        "object": "chat.completion",
        "created": 1_700_000_000 + id,
        "model": request.model().unwrap_or("gpt-4o"),
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason(c)}],
        "service_tier": "default",
        "system_fingerprint": "fp_mock",
    });
    if let Some(usage) = &c.usage {
        v["usage"] = usage_json(usage);
    }
    v
}
