//! A round-robin TCP proxy, as a load balancer in front of replicas: each client connection goes
//! to the next backend, skipping backends that refuse connections (a killed replica).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

pub struct RoundRobin {
    pub addr: SocketAddr,
}

impl RoundRobin {
    pub fn start(backends: Vec<SocketAddr>) -> RoundRobin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let backends = Arc::new(backends);
        let next = Arc::new(AtomicUsize::new(0));
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let first = next.fetch_add(1, Ordering::SeqCst);
                let backends = Arc::clone(&backends);
                thread::spawn(move || {
                    let n = backends.len();
                    let backend = (0..n).find_map(|i| {
                        TcpStream::connect_timeout(&backends[(first + i) % n], Duration::from_secs(1)).ok()
                    });
                    match backend {
                        Some(backend) => pipe(client, backend),
                        None => drop(client),
                    }
                });
            }
        });
        RoundRobin { addr }
    }
}

/// Copies both ways until each side has closed its half.
fn pipe(client: TcpStream, backend: TcpStream) {
    let (c2, b2) = (client.try_clone().unwrap(), backend.try_clone().unwrap());
    let up = thread::spawn(move || copy(client, backend));
    copy(b2, c2);
    let _ = up.join();
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
