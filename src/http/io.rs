//! The socket of one connection with its read and write buffers, and the small I/O helpers
//! every part of the wire shares (graceful close, timeout errors).
//!
//! Rules kept here:
//! - reads park the coroutine (may), never the thread; every timed read waits at most
//!   `FIRST_WAIT` before it re-arms for the rest (see there);
//! - writes are batched: responses go to `out` and leave in one `flush`, so the answers to
//!   pipelined requests share a write.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use may::net::TcpStream;

const INITIAL_READ_BUF: usize = 4096;
/// Longest single timed wait in `fill` (partial heads and bodies; the wait between requests
/// has no timer, see idle.rs). may cannot always unlink the timer of a read that finished in
/// time, so the ~70-byte timer stays allocated until it would have fired; waiting at most this
/// long first, then for the rest, bounds that garbage to one second's worth of reads.
const FIRST_WAIT: Duration = Duration::from_secs(1);

/// A connection's socket, the bytes read but not yet consumed, and the bytes to write.
///
/// The accessors are `#[inline(always)]`: the release build optimises for size and otherwise calls
/// them, a measurable share of a `/ping`.
pub(crate) struct Wire {
    stream: TcpStream,
    rbuf: Vec<u8>,
    start: usize,
    end: usize,
    /// Response bytes waiting for the next `flush`.
    pub(crate) out: Vec<u8>,
    /// The read timeout last given to the socket: setting it is a system call, so only when it
    /// changes.
    read_timeout: Option<Duration>,
}

impl Wire {
    pub(crate) fn new(stream: TcpStream) -> Wire {
        Wire {
            stream,
            rbuf: vec![0; INITIAL_READ_BUF],
            start: 0,
            end: 0,
            out: Vec::new(),
            read_timeout: None,
        }
    }

    /// The socket, for what is not reading or writing (cloning, addresses).
    pub(crate) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// The pending output and the socket together (an answer may need our own address).
    pub(crate) fn out_and_stream(&mut self) -> (&mut Vec<u8>, &TcpStream) {
        (&mut self.out, &self.stream)
    }

    /// Bytes read and not yet consumed.
    #[inline(always)]
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.rbuf[self.start..self.end]
    }

    /// Marks `n` buffered bytes as used.
    #[inline(always)]
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// Marks every buffered byte as used.
    #[inline(always)]
    pub(crate) fn consume_all(&mut self) {
        self.start = self.end;
    }

    /// Takes the buffered bytes out (what a client sent after a handshake).
    pub(crate) fn take_buffered(&mut self) -> Vec<u8> {
        let left = self.buffered().to_vec();
        self.start = 0;
        self.end = 0;
        left
    }

    /// Moves the write position to the front of the buffer when nothing is buffered, so the
    /// next request starts at offset 0.
    pub(crate) fn rewind_if_empty(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = timeout.map(|t| t.max(Duration::from_millis(1)));
        if self.read_timeout != timeout {
            self.stream.set_read_timeout(timeout)?;
            self.read_timeout = timeout;
        }
        Ok(())
    }

    /// Reads more bytes into the buffer, growing it up to `cap` bytes of unconsumed data.
    /// `timeout: None` parks without a timer (only for the wait between requests, which the
    /// idle reaper bounds).
    pub(crate) fn fill(&mut self, timeout: Option<Duration>, cap: usize) -> io::Result<usize> {
        if self.end == self.rbuf.len() {
            if self.start > 0 {
                self.rbuf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.rbuf.len() {
                let grown = (self.rbuf.len() * 2).clamp(INITIAL_READ_BUF, cap.max(INITIAL_READ_BUF));
                if grown <= self.rbuf.len() {
                    return Err(io::Error::other("read buffer full"));
                }
                self.rbuf.resize(grown, 0);
            }
        }
        let Some(timeout) = timeout else {
            self.set_read_timeout(None)?;
            let n = self.stream.read(&mut self.rbuf[self.end..])?;
            self.end += n;
            return Ok(n);
        };
        // Wait briefly first, then for the rest: see FIRST_WAIT.
        let first = timeout.min(FIRST_WAIT).max(Duration::from_millis(1));
        self.set_read_timeout(Some(first))?;
        let n = match self.stream.read(&mut self.rbuf[self.end..]) {
            Err(e) if is_timeout(&e) && timeout > first => {
                self.set_read_timeout(Some(timeout - first))?;
                self.stream.read(&mut self.rbuf[self.end..])?
            }
            read => read?,
        };
        self.end += n;
        Ok(n)
    }

    /// Reads straight into `into`, past the buffer (large bodies of a known length).
    pub(crate) fn read_direct(&mut self, into: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.set_read_timeout(Some(timeout))?;
        self.stream.read(into)
    }

    /// Writes `out` to the socket (bounded by the socket's write timeout).
    /// True when the client has closed its end (or the connection broke): a read would return
    /// end of input. Never waits, and leaves anything the client sent unread.
    pub(crate) fn peer_closed(&self) -> bool {
        // may keeps the fd non-blocking; peeking through the std handle does not park.
        let raw: &std::net::TcpStream = self.stream.inner();
        match raw.peek(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted),
        }
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let result = self.stream.write_all(&self.out);
        self.out.clear();
        result
    }

    /// Flushes what is pending and closes gracefully (see [`linger_close`]). The descriptor
    /// itself is released when the `Wire` is dropped.
    pub(crate) fn finish(&mut self) {
        let _ = self.flush();
        linger_close(&mut self.stream);
    }
}

/// Closes gracefully: send FIN, then read and drop what the client still sends (bounded in
/// bytes and time) before the socket is released. Closing with unread input makes the kernel
/// send a RST, and a RST can destroy our last response (a 413, a close frame) before the
/// client has read it.
pub(crate) fn linger_close(stream: &mut TcpStream) {
    const LINGER_TIME: Duration = Duration::from_secs(2);
    const LINGER_BYTES: usize = 1 << 20;
    if stream.shutdown(std::net::Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER_TIME;
    let mut scratch = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut scratch) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// Whether a read failed because its timeout passed (may reports either kind).
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
}
