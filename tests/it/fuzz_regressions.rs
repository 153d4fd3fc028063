//! Replays the inputs the fuzz targets failed on (`tests/fuzz-regressions/<target>/*`, copied there
//! by `scripts/fuzz.sh`) through the same checks the targets run (`fuzz/src/`), on stable.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code, clippy::all)]
mod checks;

use std::path::PathBuf;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(target);
    let mut inputs: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    inputs.sort();
    for input in inputs {
        let data = std::fs::read(&input).unwrap();
        // Name the input that fails: the check's own panic message follows.
        eprintln!("replaying {}", input.display());
        check(&data);
    }
}

#[test]
fn http_head() {
    replay("http_head", checks::http_head::check);
}

#[test]
fn json_body() {
    replay("json_body", checks::json_body::check);
}

#[test]
fn model_stream() {
    replay("model_stream", checks::model_stream::check);
}

#[test]
fn mcp_sse() {
    replay("mcp_sse", checks::mcp_sse::check);
}

#[test]
fn session_message() {
    replay("session_message", checks::session_message::check);
}
