//! `/ws`: a WebSocket session after our own 101 handshake.
//!
//! tungstenite's `WebSocket` cannot be split into a reader and a writer, yet the handler (on a
//! worker thread) may send while the client is silent. So one coroutine owns the socket and
//! waits on a single event channel fed by:
//! - a peeker coroutine that parks on `peek()` and reports "readable" (re-armed only after the
//!   owner has drained the socket, so it never spins);
//! - the handler's outgoing messages and its completion.
//!
//! Reads go through a non-blocking view of the socket, so `tungstenite::read` returns
//! `WouldBlock` instead of parking while a message is waiting to be sent.
//!
//! Both directions are bounded: the handler blocks once `OUT_WINDOW` messages are unsent, and
//! the owner stops reading from a client once `IN_WINDOW` messages are unread by the handler.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use may::net::TcpStream;
use may::sync::Semphore;
use may::sync::mpsc;
use tungstenite::error::ProtocolError;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Message, WebSocket as Tungstenite};

use super::io::linger_close;
use super::service::Session as Handler;
use super::shared::Shared;
use crate::app::{RequestContext, WebSocket, WsError, WsMessage, WsTransport};

const OUT_WINDOW: usize = 64;
const IN_WINDOW: usize = 64;
/// How long we wait for the client's close frame after sending ours.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Events for the socket-owning coroutine.
enum Event {
    Readable,
    Send(WsMessage),
    Close(u16, String),
    HandlerDone(Result<(), crate::error::Error>),
    Resume,
}

/// Messages for the handler.
enum Incoming {
    Message(WsMessage),
    Closed(Option<u16>),
}

/// The socket as tungstenite sees it: reads never park (they return `WouldBlock`), writes do
/// (may parks the coroutine, bounded by the stream's write timeout).
struct NonBlockingRead(TcpStream);

impl Read for NonBlockingRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // may put the fd in non-blocking mode; reading through the std handle does not park.
        let mut raw: &std::net::TcpStream = self.0.inner();
        raw.read(buf)
    }
}

impl Write for NonBlockingRead {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Runs the session until it closes; returns the close code sent or received. `leftover`:
/// bytes the client sent behind its handshake.
pub(crate) fn run(stream: TcpStream, leftover: Vec<u8>, handler: Handler, shared: Arc<Shared>) -> u16 {
    let Handler { ctx, run: handle } = handler;
    let _busy = shared.busy_guard();
    let limit = shared.config.ws_max_message_bytes;
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let peek_stream = match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return 1011,
    };
    let shutdown_handle = stream.try_clone().ok();
    let mut ws =
        Tungstenite::from_partially_read(NonBlockingRead(stream), leftover, Role::Server, Some(config));

    let (events_tx, events_rx) = mpsc::channel::<Event>();
    let (arm_tx, arm_rx) = mpsc::channel::<()>();
    {
        let events_tx = events_tx.clone();
        may::go!(move || {
            let mut probe = [0u8; 1];
            let _ = peek_stream.set_read_timeout(None);
            while arm_rx.recv().is_ok() {
                // Readable, EOF and errors all mean "let the owner look".
                let _ = peek_stream.peek(&mut probe);
                if events_tx.send(Event::Readable).is_err() {
                    break;
                }
            }
        });
    }

    let (in_tx, in_rx) = mpsc::channel::<Incoming>();
    let queued_in = Arc::new(AtomicUsize::new(0));
    let out_permits = Arc::new(Semphore::new(OUT_WINDOW));
    let closed = Arc::new(AtomicBool::new(false));
    let handler_job = {
        let events_tx = events_tx.clone();
        let mut transport = ChannelWs {
            events: events_tx.clone(),
            incoming: in_rx,
            queued_in: Arc::clone(&queued_in),
            out_permits: Arc::clone(&out_permits),
            closed: Arc::clone(&closed),
            finished: false,
        };
        let ctx = ctx.clone();
        move || {
            let result = {
                let mut socket = WebSocket::new(&mut transport);
                handle(&mut socket, &ctx)
            };
            let _ = events_tx.send(Event::HandlerDone(result));
        }
    };
    if shared.ws_pool.try_execute(handler_job).is_err() {
        let _ = ws.close(Some(CloseFrame {
            code: CloseCode::Again,
            reason: "server busy".into(),
        }));
        let _ = ws.flush();
        if let Some(s) = shutdown_handle {
            let _ = s.shutdown(Shutdown::Both);
        }
        return 1013;
    }
    // Look at the socket once before parking: frames that arrived with the handshake are
    // already in tungstenite's buffer, and the peeker would never see them.
    let _ = events_tx.send(Event::Readable);
    drop(events_tx);

    let mut session = Session {
        ws,
        in_tx,
        queued_in,
        closed,
        out_permits,
        arm_tx,
        paused: false,
        close_code: None,
        closing: false,
        handler_done: false,
        ctx,
    };
    let code = session.run_loop(&events_rx);
    if let Some(mut s) = shutdown_handle {
        linger_close(&mut s);
        // Also wakes the peeker, parked in peek() on its own handle.
        let _ = s.shutdown(Shutdown::Both);
    }
    code
}

struct Session {
    ws: Tungstenite<NonBlockingRead>,
    in_tx: mpsc::Sender<Incoming>,
    queued_in: Arc<AtomicUsize>,
    closed: Arc<AtomicBool>,
    out_permits: Arc<Semphore>,
    arm_tx: mpsc::Sender<()>,
    paused: bool,
    close_code: Option<u16>,
    /// We sent a close frame and wait for the client's.
    closing: bool,
    handler_done: bool,
    ctx: RequestContext,
}

impl Session {
    fn arm(&mut self) -> Result<(), ()> {
        self.arm_tx.send(()).map_err(|_| ())
    }

    fn run_loop(&mut self, events: &mpsc::Receiver<Event>) -> u16 {
        loop {
            // Done: the close handshake is over (or the socket is gone) and the handler returned.
            if self.handler_done && self.closed.load(Ordering::Acquire) && !self.closing {
                break;
            }
            let event = if self.closing {
                match events.recv_timeout(CLOSE_GRACE) {
                    Ok(e) => e,
                    Err(_) => break,
                }
            } else {
                match events.recv() {
                    Ok(e) => e,
                    Err(_) => break,
                }
            };
            match event {
                Event::Readable => {
                    if !self.read_available() {
                        break;
                    }
                }
                Event::Resume => {
                    if self.paused && self.queued_in.load(Ordering::Acquire) < IN_WINDOW {
                        self.paused = false;
                        let _ = self.arm();
                    }
                }
                Event::Send(message) => {
                    self.out_permits.post();
                    if self.closing || self.closed.load(Ordering::Acquire) {
                        continue;
                    }
                    let msg = match message {
                        WsMessage::Text(t) => Message::text(t),
                        WsMessage::Binary(b) => Message::binary(b),
                    };
                    if self.ws.send(msg).is_err() {
                        break;
                    }
                }
                Event::Close(code, reason) => self.start_close(code, &reason),
                Event::HandlerDone(result) => {
                    self.handler_done = true;
                    match result {
                        Ok(()) => self.start_close(1000, ""),
                        Err(err) => {
                            crate::logging::error("WebSocket handler failed")
                                .str("requestId", &self.ctx.request_id)
                                .opt_str("sessionId", self.ctx.session_id.as_deref())
                                .str("errorMessage", err.message())
                                .emit();
                            self.start_close(1011, "");
                        }
                    }
                }
            }
        }
        self.mark_closed(None);
        self.close_code.unwrap_or(1006)
    }

    /// Reads every complete message the socket holds. Returns false when the socket is
    /// finished with (closed by both sides, failed, or gone).
    fn read_available(&mut self) -> bool {
        loop {
            match self.ws.read() {
                Ok(Message::Text(text)) => self.deliver(WsMessage::Text(text.as_str().to_string())),
                Ok(Message::Binary(data)) => self.deliver(WsMessage::Binary(data.to_vec())),
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Close(frame)) => {
                    let code = frame.as_ref().map(|f| u16::from(f.code));
                    // tungstenite queued the close reply (unless this answers ours); send it.
                    let _ = self.ws.flush();
                    let answered_ours = self.closing;
                    self.close_code.get_or_insert(code.unwrap_or(1005));
                    self.mark_closed(code);
                    // Keep running until the handler has seen the close and returned.
                    return !answered_ours && !self.handler_done;
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Drained. Send queued control replies (pongs), then wait for more.
                    let _ = self.ws.flush();
                    if self.queued_in.load(Ordering::Acquire) >= IN_WINDOW {
                        self.paused = true;
                    } else if self.arm().is_err() {
                        return false;
                    }
                    return true;
                }
                Err(tungstenite::Error::Capacity(_)) => {
                    self.fail(1009, "message too big");
                    return false;
                }
                Err(tungstenite::Error::Utf8(_)) => {
                    self.fail(1007, "invalid UTF-8 in text message");
                    return false;
                }
                Err(tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => {
                    // The client vanished without a close frame: an abnormal closure (1006, as
                    // RFC 6455 section 7.1.5 reports it), not a protocol error of its own.
                    self.mark_closed(None);
                    return false;
                }
                Err(tungstenite::Error::Protocol(p)) => {
                    let reason = p.to_string();
                    self.fail(1002, &reason);
                    return false;
                }
                Err(_) => {
                    // Connection closed or broken.
                    self.mark_closed(None);
                    return false;
                }
            }
        }
    }

    fn deliver(&mut self, message: WsMessage) {
        self.queued_in.fetch_add(1, Ordering::AcqRel);
        // The handler may have returned already; then the message is simply dropped.
        let _ = self.in_tx.send(Incoming::Message(message));
    }

    /// Sends a close frame for a protocol violation and ends the session.
    fn fail(&mut self, code: u16, reason: &str) {
        let reason: String = reason.chars().take(100).collect();
        let _ = self.ws.close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        }));
        let _ = self.ws.flush();
        self.close_code.get_or_insert(code);
        self.mark_closed(Some(code));
    }

    fn start_close(&mut self, code: u16, reason: &str) {
        if self.closed.load(Ordering::Acquire) || self.closing {
            return;
        }
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_string().into(),
        };
        if self.ws.close(Some(frame)).is_ok() && self.ws.flush().is_ok() {
            self.closing = true;
        }
        self.close_code.get_or_insert(code);
        // The handler's later sends fail from now on.
        self.closed.store(true, Ordering::Release);
    }

    fn mark_closed(&mut self, code: Option<u16>) {
        if !self.closed.swap(true, Ordering::AcqRel) || code.is_some() {
            let _ = self.in_tx.send(Incoming::Closed(code));
        }
        self.closing = false;
        // Unblock a handler waiting for send capacity.
        self.out_permits.post();
    }
}

/// The handler's end of the session (runs on a worker thread).
struct ChannelWs {
    events: mpsc::Sender<Event>,
    incoming: mpsc::Receiver<Incoming>,
    queued_in: Arc<AtomicUsize>,
    out_permits: Arc<Semphore>,
    closed: Arc<AtomicBool>,
    finished: bool,
}

impl WsTransport for ChannelWs {
    fn recv(&mut self) -> Result<Option<WsMessage>, WsError> {
        if self.finished {
            return Ok(None);
        }
        match self.incoming.recv() {
            Ok(Incoming::Message(m)) => {
                if self.queued_in.fetch_sub(1, Ordering::AcqRel) == IN_WINDOW {
                    let _ = self.events.send(Event::Resume);
                }
                Ok(Some(m))
            }
            Ok(Incoming::Closed(code)) => {
                self.finished = true;
                match code {
                    None | Some(1000) | Some(1001) | Some(1005) => Ok(None),
                    Some(code) => Err(WsError::Closed { code: Some(code) }),
                }
            }
            Err(_) => {
                self.finished = true;
                Ok(None)
            }
        }
    }

    fn send(&mut self, message: WsMessage) -> Result<(), WsError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(WsError::Closed { code: None });
        }
        self.out_permits.wait();
        if self.closed.load(Ordering::Acquire) {
            return Err(WsError::Closed { code: None });
        }
        self.events
            .send(Event::Send(message))
            .map_err(|_| WsError::Closed { code: None })
    }

    fn close(&mut self, code: u16, reason: &str) -> Result<(), WsError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(WsError::Closed { code: None });
        }
        self.events
            .send(Event::Close(code, reason.to_string()))
            .map_err(|_| WsError::Closed { code: None })
    }
}
