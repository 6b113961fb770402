//! Small listeners made inside a test, for addresses the Python servers do
//! not bind (`127.0.0.x`, `[::1]`) and for answers they do not give: each
//! records what reached it, so a test can show that something did or did
//! not arrive.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// A listener whose handler talks to each connection in turn and returns
/// what to record of it.
pub struct Stub {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Stub {
    /// An HTTP server on `addr` (port 0: any free port) answering 200 with
    /// the body `hello from ADDR`; records each request line.
    pub fn http(addr: &str) -> Stub {
        Stub::serve(addr, |addr, stream| {
            let mut line = String::new();
            let _ = BufReader::new(&*stream).read_line(&mut line);
            let body = format!("hello from {addr}");
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
            line.trim_end().to_string()
        })
    }

    /// A listener on `addr` whose `handle` serves each connection, one at a
    /// time, and says what to record of it.
    pub fn serve(
        addr: &str,
        handle: impl Fn(SocketAddr, &mut TcpStream) -> String + Send + 'static,
    ) -> Stub {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let record = handle(addr, &mut stream);
                log.lock().unwrap().push(record);
            }
        });
        Stub { addr, seen }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` (IPv6 in brackets).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What was recorded of every connection so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}
