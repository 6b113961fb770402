//! `keystep serve` in the background: started, its log followed line by
//! line, stopped with a signal or killed.

use std::io::{BufRead, BufReader};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Keystep;

/// A running `keystep serve`.
pub struct Serving {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Keystep {
    /// Starts `keystep serve` and waits until it serves (its position in
    /// the event log is set: changes made from now on start runs).
    pub fn serve(&self) -> Serving {
        self.serve_with(&[])
    }

    /// Starts `keystep serve` with more arguments.
    pub fn serve_with(&self, more: &[&str]) -> Serving {
        let mut args = vec!["serve"];
        args.extend_from_slice(more);
        let mut child = self
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        let serving = Serving { child, log };
        serving.wait_for("serving ", Duration::from_secs(60));
        serving
    }
}

impl Serving {
    /// Every line logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a logged line contains `text`; panics with the log if
    /// none does within `deadline`.
    pub fn wait_for(&self, text: &str, deadline: Duration) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = self.log().into_iter().find(|l| l.contains(text)) {
                return line;
            }
            assert!(
                started.elapsed() < deadline,
                "serve logged no line with {text:?} within {deadline:?}:\n{}",
                self.log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How many logged lines contain `text`.
    pub fn count(&self, text: &str) -> usize {
        self.log().iter().filter(|l| l.contains(text)).count()
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) and waits for the process.
    pub fn signal(mut self, signal: &str) -> (ExitStatus, Vec<String>) {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        // Let the readers take the last lines.
        std::thread::sleep(Duration::from_millis(100));
        (status, self.log())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer of the HTTP API.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Serving {
    /// The API's address, from the log.
    pub fn address(&self) -> String {
        let line = self.wait_for("listening on http://", Duration::from_secs(10));
        // The host and port, in a text or a JSON line.
        let after = line.rsplit("http://").next().unwrap();
        after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || ".:[]".contains(*c))
            .collect()
    }

    /// One HTTP/1.1 request to the API (a plain socket: no client library
    /// between the test and the server); `headers` are `Name: value`.
    pub fn request(&self, method: &str, path: &str, headers: &[String], body: &str) -> Answer {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.address()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(70)))
            .unwrap();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: keystep\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for header in headers {
            request.push_str(&format!("{header}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let answer = String::from_utf8_lossy(&answer);
        let (head, rest) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let text = if chunked {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Answer { status, body }
    }

    /// A request with a bearer token.
    pub fn call(&self, method: &str, path: &str, token: &str, body: &str) -> Answer {
        self.request(
            method,
            path,
            &[format!("Authorization: Bearer {token}")],
            body,
        )
    }
}

/// The body of a chunked HTTP/1.1 answer.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    out
}

impl Keystep {
    /// Configures two API tokens, `ops` (scope operate) and `viewer`
    /// (read), with these secrets, read from the environment.
    pub fn with_tokens(&self, operate: &str, read: &str) -> &Self {
        self.env("KS_TEST_OPERATE", operate)
            .env("KS_TEST_READ", read);
        self.write(
            "keystep.toml",
            "[[serve.tokens]]\nname = \"ops\"\nscope = \"operate\"\nsecret = \"env:KS_TEST_OPERATE\"\n\
             [[serve.tokens]]\nname = \"viewer\"\nscope = \"read\"\nsecret = \"env:KS_TEST_READ\"\n",
        );
        self
    }

    /// Starts `keystep serve` with its API on a free port.
    pub fn serve_api(&self) -> Serving {
        self.serve_with(&["--listen", "127.0.0.1:0"])
    }
}
