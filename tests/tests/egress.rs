//! What `http-fetch` and WASI sockets can reach: the hostile plugin aims
//! at listeners on loopback addresses (127.0.0.1 and 127.0.0.2: on Linux
//! all of 127/8 is loopback) that count every connection, and each test
//! checks that nothing reached them, not only the error.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use keystep_tests::{Keystep, Ran, Tracker};
use serde_json::{Value as Json, json};

/// A listener that counts the connections it accepts and answers each
/// with `200 reached`, so a request that got through would succeed.
struct Listener {
    port: u16,
    ip: &'static str,
    hits: Arc<AtomicUsize>,
}

impl Listener {
    fn on(ip: &'static str) -> Listener {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nreached",
                );
            }
        });
        Listener { port, ip, hits }
    }

    /// `http://IP:PORT/`.
    fn url(&self) -> String {
        format!("http://{}:{}/", self.ip, self.port)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// `plugin` (the hostile plugin) with `grants`, on the shared cache.
fn hostile(plugin: &str, grants: &str) -> Keystep {
    let k = Keystep::new();
    k.share_plugin_cache();
    k.add_plugin("hostile", plugin);
    k.write(&format!("plugins/{plugin}.toml"), grants);
    k
}

fn call(k: &Keystep, plugin: &str, input: Json) -> Ran {
    k.run(&["--json", "call", plugin, "--input", &input.to_string()])
}

/// Asserts the call was refused (`denied`) with every part of `expected`.
fn denied(ran: &Ran, expected: &[&str]) {
    assert_eq!(ran.code, 1, "{ran:?}");
    let answer = ran.json();
    assert_eq!(answer["code"], "denied", "{answer}");
    let error = answer["error"].as_str().unwrap();
    for part in expected {
        assert!(error.contains(part), "{error:?} should contain {part:?}");
    }
}

fn fetch(url: &str) -> Json {
    json!({"do": "fetch", "url": url})
}

#[test]
fn a_redirect_to_an_internal_address_is_refused_whatever_the_wildcard() {
    let tracker = Tracker::start();
    let elsewhere = Listener::on("127.0.0.2");
    let other_port = Listener::on("127.0.0.1");
    // Tracker's address is granted (the redirect's first hop), and every
    // host by wildcard.
    let grants = format!("allow_hosts = [\"{}\", \"http://*:*\"]\n", tracker.url());
    let k = hostile("hostile-hops", &grants);
    let direct = call(
        &k,
        "hostile-hops",
        fetch(&format!("{}/hello", tracker.url())),
    );
    assert_eq!(direct.code, 0, "the grant works: {direct:?}");
    for (target, listener) in [
        (elsewhere.url(), &elsewhere),
        (other_port.url(), &other_port),
        (format!("http://0.0.0.0:{}/", other_port.port), &other_port),
        (
            format!("http://[::ffff:127.0.0.1]:{}/", other_port.port),
            &other_port,
        ),
    ] {
        let url = format!("{}/redirect?to={target}", tracker.url());
        let ran = call(&k, "hostile-hops", fetch(&url));
        denied(&ran, &["redirect refused: ", "is an internal address"]);
        assert_eq!(listener.hits(), 0, "{target} was reached");
    }
}

#[test]
fn an_address_grant_opens_that_address_only_on_its_own_port() {
    let tracker = Tracker::start();
    let other_port = Listener::on("127.0.0.1");
    let grants = format!("allow_hosts = [\"{}\", \"http://*:*\"]\n", tracker.url());
    let k = hostile("hostile-port-grant", &grants);
    let ran = call(&k, "hostile-port-grant", fetch(&other_port.url()));
    denied(&ran, &["127.0.0.1 is an internal address"]);
    assert_eq!(other_port.hits(), 0);
    // The granted port is reachable.
    let ran = call(
        &k,
        "hostile-port-grant",
        fetch(&format!("{}/hello", tracker.url())),
    );
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.json()["body"], "hello");
}

#[test]
fn a_name_never_reaches_an_internal_address_even_when_the_address_is_granted() {
    let listener = Listener::on("127.0.0.1");
    let port = listener.port;
    let k = hostile(
        "hostile-by-name",
        &format!("allow_hosts = [\"http://localhost:{port}\", \"http://127.0.0.1:{port}\"]\n"),
    );
    let ran = call(
        &k,
        "hostile-by-name",
        fetch(&format!("http://localhost:{port}/")),
    );
    denied(&ran, &["localhost resolves to", "an internal address"]);
    assert_eq!(listener.hits(), 0);
    // By its address it is reachable.
    let ran = call(&k, "hostile-by-name", fetch(&listener.url()));
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(listener.hits(), 1);
}

#[test]
fn the_other_forms_of_internal_addresses_are_refused() {
    let listener = Listener::on("127.0.0.1");
    let port = listener.port;
    let k = hostile("hostile-forms", "allow_hosts = [\"http://*:*\"]\n");
    for host in [
        "0.0.0.0".to_string(),
        "0.1.2.3".to_string(),
        "[::ffff:127.0.0.1]".to_string(),
        "[::127.0.0.1]".to_string(),
        "[64:ff9b::7f00:1]".to_string(),
        "[2002:7f00:1::1]".to_string(),
        "2130706433".to_string(),
    ] {
        let ran = call(
            &k,
            "hostile-forms",
            fetch(&format!("http://{host}:{port}/")),
        );
        denied(&ran, &["is an internal address"]);
    }
    assert_eq!(listener.hits(), 0);
}

#[test]
fn wasi_sockets_reach_nothing() {
    let listener = Listener::on("127.0.0.1");
    // Even with the address granted to http-fetch.
    let k = hostile(
        "hostile-socket",
        &format!(
            "allow_hosts = [\"{}\"]\n",
            listener.url().trim_end_matches('/')
        ),
    );
    let addr = format!("127.0.0.1:{}", listener.port);
    let ran = call(&k, "hostile-socket", json!({"do": "socket", "addr": addr}));
    assert_eq!(ran.code, 1, "{ran:?}");
    assert_eq!(ran.json()["code"], "io", "{ran:?}");
    assert_eq!(listener.hits(), 0);
}
