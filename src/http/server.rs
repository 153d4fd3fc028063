//! Running a server: binding, the accept loop, the coroutine runtime's settings, graceful
//! shutdown; and running an [`App`] with the AgentCore contract (the wire's job: `app` never
//! touches a socket).

use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener, ToSocketAddrs};
use std::sync::{Arc, Once};
use std::time::Duration;

use may::net::TcpListener;

use super::agentcore::AgentCore;
use super::conn;
use super::idle::IdleReaper;
use super::mcp::Mcp;
use super::service::Service;
use super::shared::Shared;
use crate::app::App;
use crate::config::{Protocol, ServerConfig};

/// Coroutine stack size in machine words (may counts words): 32 Ki words = 256 KiB. The
/// measured worst case on a connection coroutine is ~60 KiB (serde at depth 127, which we no
/// longer do there); a coroutine that overflows its stack hangs its connection, so keep room.
const COROUTINE_STACK_WORDS: usize = 0x8000;
/// may pre-creates this many coroutines on first spawn; its default of 1000 costs ~8 MB RSS
/// and ~10 ms of start-up.
const COROUTINE_POOL: usize = 32;

static CONFIGURE_MAY: Once = Once::new();

fn configure_runtime() {
    CONFIGURE_MAY.call_once(|| {
        may::config()
            .set_stack_size(COROUTINE_STACK_WORDS)
            .set_pool_capacity(COROUTINE_POOL);
    });
}

/// A running server. Dropping it does not stop it; call [`Server::shutdown`].
pub struct Server {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl Server {
    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting; in-flight requests finish (up to the drain timeout) before `wait`
    /// returns. Idempotent; safe from any thread.
    pub fn shutdown(&self) {
        if !self.shared.begin_shutdown() {
            return;
        }
        crate::logging::info("shutting down: draining in-flight requests")
            .num("inFlight", self.shared.in_flight() as u64)
            .emit();
        // Wake the accept loop, which is parked in accept().
        let wake = match self.addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() => SocketAddr::from(([127, 0, 0, 1], a.port())),
            SocketAddr::V6(a) if a.ip().is_unspecified() => {
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
            }
            other => other,
        };
        let _ = std::net::TcpStream::connect_timeout(&wake, Duration::from_millis(200));
        self.shared.mark_stopped();
    }

    /// Blocks until `shutdown` has been called and in-flight requests have drained (or the
    /// drain timeout passed), then runs the app's shutdown hooks.
    pub fn wait(&self) {
        let left = self.shared.wait_until_drained(self.shared.config.drain_timeout);
        if left > 0 {
            crate::logging::warn("drain timeout: abandoning in-flight requests")
                .num("inFlight", left as u64)
                .emit();
        }
        self.shared.pool.stop();
        self.shared.ws_pool.stop();
        self.shared.service.stopped();
        crate::logging::info("stopped").emit();
        crate::logging::flush();
    }

    /// Calls `shutdown` on the first SIGTERM or SIGINT (a second one exits at once).
    pub fn shutdown_on_signals(self: &Arc<Self>) -> io::Result<()> {
        use std::os::unix::net::UnixStream;
        let (mut read_end, write_end) = UnixStream::pair()?;
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::low_level::pipe::register(signal, write_end.try_clone()?)?;
        }
        let server = Arc::clone(self);
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                use std::io::Read;
                let mut byte = [0u8; 1];
                if read_end.read(&mut byte).is_ok() {
                    server.shutdown();
                }
                if read_end.read(&mut byte).is_ok() {
                    crate::logging::warn("second signal: exiting now").emit();
                    crate::logging::flush();
                    std::process::exit(130);
                }
            })?;
        Ok(())
    }
}

impl App {
    /// Binds `addr` (port 0 picks a free port) and starts serving the app's protocol
    /// ([`ServerConfig::protocol`], the AgentCore HTTP contract by default) in the background. Of the addresses `addr` resolves to, the first that can be bound is used.
    ///
    /// Refuses an address already in use. (may's own `bind` sets `SO_REUSEPORT`, which lets a
    /// second instance bind the same port silently and share its traffic; we bind with std,
    /// which does not, and hand the socket to may.)
    ///
    /// This lives in `http`, not `app`: running an App is the wire's job.
    pub fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Server> {
        let config = self.server_config().clone();
        let service = mount(self)?;
        start(service, config, addr)
    }

    /// Serves on `addr` until SIGTERM/SIGINT, then drains and returns. See [`App::bind`].
    pub fn run(self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let server = Arc::new(self.bind(addr)?);
        server.shutdown_on_signals()?;
        server.wait();
        Ok(())
    }
}

/// The listener's [`Service`] for the app's protocol. Every protocol's service answers `/ping`
/// on its own port, as AgentCore health-checks each of them there.
fn mount(app: App) -> io::Result<Box<dyn Service>> {
    match app.server_config().protocol {
        // AG-UI is the HTTP contract's routes carrying AG-UI events; the handler the app was
        // given (agent_entrypoint reads ServerConfig::event_format) speaks them.
        Protocol::Http | Protocol::Agui => Ok(Box::new(AgentCore::new(Arc::new(app)))),
        Protocol::Mcp => match Mcp::new(Arc::new(app)) {
            Some(service) => Ok(Box::new(service)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "protocol mcp needs an MCP server: give the app one with App::mcp",
            )),
        },
        Protocol::A2a => match app.a2a_server() {
            Some(server) => Ok(Box::new(super::a2a::A2a::new(Arc::new(app), server))),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "protocol a2a needs an A2A server: mount one with App::a2a",
            )),
        },
    }
}

/// Binds the first address of `addr` that can be bound and serves `service` on it.
fn start(
    service: Box<dyn Service>,
    mut config: ServerConfig,
    addr: impl ToSocketAddrs,
) -> io::Result<Server> {
    configure_runtime();
    let std_listener = listen(addr)?;
    let addr = std_listener.local_addr()?;
    let listener = into_may_listener(std_listener)?;
    config.addr = addr;
    let shared = Arc::new(Shared::new(service, config));
    let accept_shared = Arc::clone(&shared);
    may::go!(move || accept_loop(&listener, &accept_shared));
    let weak = Arc::downgrade(&shared);
    may::go!(move || idle_reaper(&weak));
    crate::logging::info("listening")
        .str("addr", &addr.to_string())
        .emit();
    Ok(Server { shared, addr })
}

/// Resolves `addr` and binds the first address that works; the error names the address.
fn listen(addr: impl ToSocketAddrs) -> io::Result<StdTcpListener> {
    let candidates = addr.to_socket_addrs().map_err(|e| ListenError::wrap(None, e))?;
    let mut last = None;
    for candidate in candidates {
        match StdTcpListener::bind(candidate) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(ListenError::wrap(Some(candidate), e)),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot listen: the address resolved to nothing",
        )
    }))
}

/// Binding failed: which address, and why (the `source`).
#[derive(Debug)]
struct ListenError {
    addr: Option<SocketAddr>,
    source: io::Error,
}

impl ListenError {
    /// An `io::Error` of the cause's kind, so callers can still match on it.
    fn wrap(addr: Option<SocketAddr>, source: io::Error) -> io::Error {
        io::Error::new(source.kind(), ListenError { addr, source })
    }
}

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.addr {
            Some(addr) => write!(f, "cannot listen on {addr}: {}", self.source),
            None => write!(f, "cannot listen: {}", self.source),
        }
    }
}

impl std::error::Error for ListenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[allow(unsafe_code)]
fn into_may_listener(listener: StdTcpListener) -> io::Result<TcpListener> {
    use std::os::unix::io::{FromRawFd, IntoRawFd};
    // SAFETY: `into_raw_fd` gives up ownership of a valid, open listening socket, and
    // `from_raw_fd` takes that ownership over; nothing else refers to the descriptor.
    Ok(unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) })
}

/// Closes idle keep-alive connections; while draining, all of them at once. Ends with the
/// server.
fn idle_reaper(shared: &std::sync::Weak<Shared>) {
    let Some(tick) = shared
        .upgrade()
        .map(|s| IdleReaper::tick_interval(s.config.idle_timeout))
    else {
        return;
    };
    loop {
        may::coroutine::sleep(tick);
        let Some(shared) = shared.upgrade() else { return };
        let idle_timeout = if shared.is_shutting_down() {
            Duration::ZERO
        } else {
            shared.config.idle_timeout
        };
        shared.idle.tick(idle_timeout);
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    loop {
        let stream = match listener.accept() {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                if shared.is_shutting_down() {
                    break;
                }
                // EMFILE and friends: back off instead of spinning, then keep serving.
                crate::logging::warn("accept failed")
                    .str("error", &e.to_string())
                    .emit();
                may::coroutine::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if shared.is_shutting_down() {
            break;
        }
        let (guard, overloaded) = shared.open_connection();
        let conn_shared = Arc::clone(shared);
        may::go!(move || {
            let _guard = guard;
            conn::serve(stream, conn_shared, overloaded);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_address_is_refused_naming_it_and_keeping_the_cause() {
        let first = listen("127.0.0.1:0").unwrap();
        let taken = first.local_addr().unwrap();
        let err = listen(taken).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(
            err.to_string()
                .starts_with(&format!("cannot listen on {taken}: ")),
            "{err}"
        );
        let cause = err.get_ref().and_then(|inner| inner.source());
        assert!(cause.is_some(), "the OS error is kept as the source");
    }

    #[test]
    fn the_first_address_that_binds_wins() {
        let first = listen("127.0.0.1:0").unwrap();
        let taken = first.local_addr().unwrap();
        let free = SocketAddr::from(([127, 0, 0, 1], 0));
        let second = listen([taken, free].as_slice()).unwrap();
        assert_ne!(second.local_addr().unwrap(), taken);
        let err = listen(Vec::<SocketAddr>::new().as_slice()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
