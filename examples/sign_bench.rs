//! The cost of one SigV4 signature (`scripts/bench.sh sign`): a typical Bedrock ConverseStream
//! request (a ~2 KB JSON body, session token, content-type and accept headers), signed in a
//! loop; prints the median and best of several rounds in µs per signature, wall time and this
//! thread's CPU time (on a shared machine the CPU figure is the steadier one), then the same
//! with an empty body (the difference is the body's SHA-256).
//!
//! `cargo run --release --example sign_bench [rounds] [signatures-per-round]`

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use agentcore_rt::aws::Credentials;
use agentcore_rt::aws::sigv4::{SignableRequest, sign};

fn converse_stream_body() -> Vec<u8> {
    let mut messages = Vec::new();
    let mut n = 0;
    while serde_json::to_vec(&messages).map(|v| v.len()).unwrap_or(0) < 1900 {
        let role = if n % 2 == 0 { "user" } else { "assistant" };
        messages.push(serde_json::json!({
            "role": role,
            "content": [{"text": format!("Turn {n}: what is the weather like in Paris today, and should I take an umbrella?")}],
        }));
        n += 1;
    }
    serde_json::to_vec(&serde_json::json!({
        "messages": messages,
        "system": [{"text": "You are a helpful assistant."}],
        "inferenceConfig": {"maxTokens": 1024, "temperature": 0.2},
    }))
    .unwrap_or_default()
}

fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to write into, and a clock id every Linux has.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

struct Figures {
    wall_median: f64,
    wall_best: f64,
    cpu_median: f64,
}

fn per_signature(req: &SignableRequest<'_>, creds: &Credentials, rounds: usize, n: u32) -> Figures {
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..rounds)
        .map(|_| {
            let (t, c) = (Instant::now(), thread_cpu_s());
            for i in 0..n {
                let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000 + u64::from(i));
                black_box(sign(black_box(req), creds, "us-east-1", "bedrock", now));
            }
            let per = 1e6 / f64::from(n);
            (t.elapsed().as_secs_f64() * per, (thread_cpu_s() - c) * per)
        })
        .unzip();
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    Figures {
        wall_median: wall[wall.len() / 2],
        wall_best: wall[0],
        cpu_median: cpu[cpu.len() / 2],
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let creds = Credentials::new(
        "ASIAEXAMPLEEXAMPLE00",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("IQoJb3JpZ2luX2VjEXAMPLE".repeat(30)),
        None,
    );
    let body = converse_stream_body();
    let url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse-stream";
    let headers = [
        ("content-type", "application/json"),
        ("accept", "application/vnd.amazon.eventstream"),
    ];
    let mut req = SignableRequest {
        method: "POST",
        url,
        headers: &headers,
        body: &body,
    };
    let f = per_signature(&req, &creds, rounds, n);
    println!(
        "sign: ConverseStream, {} B body: {:.2} µs CPU per signature, wall {:.2} (best {:.2}); median of {rounds} rounds of {n}",
        body.len(),
        f.cpu_median,
        f.wall_median,
        f.wall_best
    );
    req.body = b"";
    let f = per_signature(&req, &creds, rounds, n);
    println!(
        "sign: same request, empty body: {:.2} µs CPU per signature, wall {:.2} (best {:.2})",
        f.cpu_median, f.wall_median, f.wall_best
    );
}
