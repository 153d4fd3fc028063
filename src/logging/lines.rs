//! The stdout writer thread the JSON log and the console span exporter share: lines arrive on
//! a bounded channel and are written in bursts under stdout's lock, one flush per burst, so
//! writers never wait on a slow stdout and lines never interleave.

use std::io::Write as _;
use std::sync::mpsc::{Receiver, SyncSender};

/// What a writer thread is asked to do.
pub(crate) enum Msg {
    /// Write this line (newline included).
    Line(String),
    /// Flush what came before, then acknowledge.
    Flush(SyncSender<()>),
}

/// The writer thread's body: runs until every sender is gone.
pub(crate) fn write_lines(rx: Receiver<Msg>) {
    let stdout = std::io::stdout();
    // Write everything already queued, then flush once: one syscall per burst, not per line.
    // stdout's lock is held per burst only, so other code may still print.
    while let Ok(mut msg) = rx.recv() {
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
        loop {
            match msg {
                Msg::Line(line) => {
                    let _ = out.write_all(line.as_bytes());
                }
                Msg::Flush(ack) => {
                    let _ = out.flush();
                    let _ = ack.try_send(());
                }
            }
            match rx.try_recv() {
                Ok(next) => msg = next,
                Err(_) => break,
            }
        }
        let _ = out.flush();
    }
}
