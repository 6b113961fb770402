//! A function plugin (world `function`) that misbehaves on purpose, to test
//! the host's sandbox. `call` reads `{"do": WHAT, ...}`:
//!
//! - `loop`: spins forever.
//! - `memory`: allocates (and touches) 1 MiB after 1 MiB, forever.
//! - `recurse`: recurses without end until the call stack runs out.
//! - `trap`: executes `unreachable`.
//! - `panic`: panics.
//! - `big-output`: returns a 64 MiB JSON string.
//! - `log-flood`: logs a million 1 KB lines.
//! - `stderr-flood`: writes 200 lines to stderr, then panics if `panic` is true.
//! - `fs`: writes `write` to `path` (if given), then reads `path` back.
//! - `fetch`: GETs `url` and returns `{"status", "body"}`, or the host's error.
//! - `secret`: reads the secret `name` and returns `{"length"}` (never the
//!   value), or the host's error.
//! - `reread`: reads the secret `name` `times` times; returns `{"reads"}`.
//! - `leak`: reads the secret `name` and puts it where `via` says: `log` (a
//!   log line), `message` (an error message), `code` (the error code),
//!   `output` (a value and a key of the output), `escaped` (the output, the
//!   value written as `\u` escapes), `keep` (the file /scratch/kept, to be
//!   shown by a later call with `via: kept`, which reads no secret).
//! - `log-empty`: logs a million empty lines.
//! - `control`: logs a line with a newline, ESC and BEL in it, then fails
//!   with an error message holding the same.
//! - `socket`: opens a TCP connection to `addr` through WASI sockets.
//! - `echo`: returns the input unchanged.

wit_bindgen::generate!({
    path: "../../wit/v0.1.0",
    world: "function",
});

use core::hint::black_box;
use keystep::plugin::host;
use keystep::plugin::types::Level;
use serde_json::{Value, json};

struct Hostile;

impl Guest for Hostile {
    fn call(input: String) -> Result<String, Error> {
        let args: Value = serde_json::from_str(&input).map_err(|e| invalid(&e.to_string()))?;
        match args["do"].as_str().unwrap_or("") {
            "loop" => spin(),
            "memory" => hoard(),
            "recurse" => Ok(recurse(0).to_string()),
            "trap" => core::arch::wasm32::unreachable(),
            "panic" => panic!("hostile plugin panicked on purpose"),
            "big-output" => Ok(format!("\"{}\"", "x".repeat(64 << 20))),
            "log-flood" => {
                let line = "x".repeat(1024);
                for _ in 0..1_000_000 {
                    host::log(Level::Info, &line);
                }
                Ok("{\"logged\":1000000}".to_string())
            }
            "fetch" => {
                let url = args["url"].as_str().ok_or_else(|| invalid("no url"))?;
                let response = host::http_fetch(&host::HttpRequest {
                    method: "GET".into(),
                    url: url.into(),
                    headers: Vec::new(),
                    body: None,
                    timeout_ms: None,
                })?;
                let body = String::from_utf8_lossy(&response.body);
                Ok(json!({"status": response.status, "body": body}).to_string())
            }
            "secret" => {
                let name = args["name"].as_str().ok_or_else(|| invalid("no name"))?;
                let secret = host::secret(name)?;
                Ok(json!({"length": secret.len()}).to_string())
            }
            "stderr-flood" => {
                // 200 lines (20 KB) on stderr, then a panic if asked: the
                // host keeps the end, so the panic message survives.
                for i in 0..200 {
                    eprintln!("line {i}: {}", "y".repeat(90));
                }
                if args["panic"].as_bool() == Some(true) {
                    panic!("the real reason");
                }
                Ok("{\"written\":200}".to_string())
            }
            "fs" => {
                // Writes `text` to `path` if given, then reads `path` back.
                let path = args["path"].as_str().unwrap_or("/scratch/note.txt");
                let io = |e: std::io::Error| Error {
                    code: "io".into(),
                    message: format!("{path}: {e}"),
                    retryable: false,
                };
                if let Some(text) = args["write"].as_str() {
                    std::fs::write(path, text).map_err(io)?;
                }
                let read = std::fs::read_to_string(path).map_err(io)?;
                Ok(json!({ "read": read }).to_string())
            }
            "reread" => {
                let name = args["name"].as_str().ok_or_else(|| invalid("no name"))?;
                let times = args["times"].as_u64().unwrap_or(1);
                for _ in 0..times {
                    black_box(host::secret(name)?);
                }
                Ok(json!({ "reads": times }).to_string())
            }
            "leak" => leak(&args),
            "log-empty" => {
                for _ in 0..1_000_000 {
                    host::log(Level::Info, "");
                }
                Ok("{\"logged\":1000000}".to_string())
            }
            "control" => {
                let forged = "done\n[plugin tracker] error: forged\x1b[2J\x07";
                host::log(Level::Info, forged);
                Err(Error {
                    code: "failed".into(),
                    message: forged.into(),
                    retryable: false,
                })
            }
            "socket" => {
                let addr = args["addr"].as_str().ok_or_else(|| invalid("no addr"))?;
                match std::net::TcpStream::connect(addr) {
                    Ok(_) => Ok(json!({ "connected": addr }).to_string()),
                    Err(e) => Err(Error {
                        code: "io".into(),
                        message: format!("{addr}: {e}"),
                        retryable: false,
                    }),
                }
            }
            "echo" => Ok(input),
            other => Err(invalid(&format!("unknown \"do\": {other:?}"))),
        }
    }
}

/// Puts a secret where `args.via` says (see the module's doc).
fn leak(args: &Value) -> Result<String, Error> {
    let via = args["via"].as_str().unwrap_or("");
    if via == "kept" {
        let kept = std::fs::read_to_string("/scratch/kept").map_err(|e| invalid(&e.to_string()))?;
        return Ok(json!({ "kept": kept }).to_string());
    }
    let name = args["name"].as_str().ok_or_else(|| invalid("no name"))?;
    let secret = host::secret(name)?;
    let fail = |code: String, message: String| Error {
        code,
        message,
        retryable: false,
    };
    match via {
        "log" => {
            host::log(Level::Warn, &format!("the secret is {secret}"));
            Ok(json!({ "logged": true }).to_string())
        }
        "message" => Err(fail("leaky".into(), format!("failed with {secret}"))),
        "code" => Err(fail(secret, "see the code".into())),
        "output" => Ok(json!({ "token": secret, secret.clone(): "a key" }).to_string()),
        "escaped" => {
            let escaped: String = secret.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
            Ok(format!("{{\"token\": \"{escaped}\"}}"))
        }
        "keep" => {
            std::fs::write("/scratch/kept", &secret).map_err(|e| invalid(&e.to_string()))?;
            Ok(json!({ "kept": true }).to_string())
        }
        other => Err(invalid(&format!("unknown \"via\": {other:?}"))),
    }
}

/// Spins forever: the volatile read keeps the loop from being optimised away.
fn spin() -> ! {
    let flag = 0u8;
    loop {
        // SAFETY: `flag` is a live local; a volatile read of it is always valid.
        if unsafe { core::ptr::read_volatile(&flag) } == 1 {
            break;
        }
    }
    unreachable!()
}

/// Allocates 1 MiB after 1 MiB, each filled with non-zero bytes, forever.
fn hoard() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![0xAB; 1 << 20]);
        black_box(&mut hoard);
    }
}

/// Recurses until the call stack is gone. The frames are small and live on
/// the wasm stack (not in linear memory), so the engine's stack limit is what
/// stops it; black_box keeps the recursion from becoming a loop.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return 0;
    }
    black_box(recurse(depth + 1)) ^ depth
}

fn invalid(why: &str) -> Error {
    Error {
        code: "invalid-argument".into(),
        message: format!("{why}: expected {{\"do\": WHAT, ...}}"),
        retryable: false,
    }
}

export!(Hostile);
