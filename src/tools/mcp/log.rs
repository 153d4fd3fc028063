//! The one place MCP code logs through: the crate's JSON log, naming the server.

pub(crate) use crate::logging::Level;

/// Logs `message` about `server` (`-` for the provider as a whole).
pub(crate) fn log(level: Level, server: &str, message: &str) {
    crate::logging::Line::new(level, message)
        .str("server", server)
        .emit();
}
