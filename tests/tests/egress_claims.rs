//! The README's egress rules, against real listeners on loopback addresses
//! other than 127.0.0.1 and on `[::1]`: a grant that names an address (an
//! IP, or a CIDR range) opens it, and only for the port it names; nothing
//! else reaches it, not by a redirect either. Each check looks at what the
//! listener received, not only at the error.

use std::io::{BufRead, BufReader, Write};

use keystep_tests::{Keystep, Ran, Stub};
use serde_json::{Value as Json, json};

/// A function plugin `egress` (the hostile plugin's `fetch`) granted
/// `allow_hosts`.
fn plugin(allow_hosts: &[String]) -> Keystep {
    let k = Keystep::new();
    k.share_plugin_cache();
    k.add_plugin("hostile", "egress");
    k.write(
        "plugins/egress.toml",
        &format!("allow_hosts = {}\n", json!(allow_hosts)),
    );
    k
}

fn fetch(k: &Keystep, url: &str) -> Ran {
    let input = json!({"do": "fetch", "url": url}).to_string();
    k.run(&["--json", "call", "egress", "--input", &input])
}

/// The fetch answered 200 with the listener's greeting.
fn reached(ran: &Ran, stub: &Stub) {
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(
        ran.json(),
        json!({"status": 200, "body": format!("hello from {}", stub.addr())})
    );
}

/// The fetch failed as denied, and `stub` saw no connection at all.
fn refused(ran: &Ran, stub: &Stub) {
    assert_eq!(ran.code, 1, "{ran:?}");
    assert_eq!(ran.json()["code"], "denied", "{ran:?}");
    assert_eq!(stub.seen(), Vec::<String>::new(), "{ran:?}");
}

#[test]
fn a_cidr_grant_opens_loopback_addresses_in_its_range_on_its_port() {
    let inside = Stub::http("127.0.0.3:0");
    let port = inside.addr().port();
    let k = plugin(&[format!("http://127.0.0.0/8:{port}")]);
    reached(&fetch(&k, &format!("{}/a", inside.url())), &inside);
    assert_eq!(inside.seen(), ["GET /a HTTP/1.1"]);

    // The same address on another port is not granted.
    let other_port = Stub::http("127.0.0.3:0");
    refused(&fetch(&k, &format!("{}/b", other_port.url())), &other_port);

    // A narrower range does not cover 127.0.0.3.
    let k = plugin(&[format!("http://127.0.0.2/32:{port}")]);
    let ran = fetch(&k, &format!("{}/c", inside.url()));
    assert_eq!(ran.code, 1, "{ran:?}");
    assert_eq!(inside.seen(), ["GET /a HTTP/1.1"], "nothing more arrived");
}

#[test]
fn ipv6_loopback_is_reached_only_through_a_grant_naming_it() {
    let v6 = Stub::http("[::1]:0");
    let port = v6.addr().port();
    assert_eq!(v6.url(), format!("http://[::1]:{port}"));

    // Any host and port, but no address grant: [::1] stays closed.
    let k = plugin(&["http://*:*".to_string()]);
    refused(&fetch(&k, &format!("{}/open", v6.url())), &v6);

    // The address itself, and a CIDR range over it.
    for grant in [
        format!("http://[::1]:{port}"),
        format!("http://[::1/128]:{port}"),
    ] {
        let k = plugin(std::slice::from_ref(&grant));
        reached(&fetch(&k, &format!("{}/v6", v6.url())), &v6);
    }
    assert_eq!(v6.seen(), ["GET /v6 HTTP/1.1", "GET /v6 HTTP/1.1"]);

    // An IPv4 loopback grant does not open IPv6 loopback.
    let k = plugin(&[format!("http://127.0.0.1:{port}")]);
    let ran = fetch(&k, &format!("{}/v4", v6.url()));
    assert_eq!(ran.code, 1, "{ran:?}");
    assert_eq!(v6.seen().len(), 2, "nothing more arrived");
}

/// An HTTP listener that answers every request with a redirect to `to`.
fn redirector(to: String) -> Stub {
    Stub::serve("127.0.0.1:0", move |_, stream| {
        let mut line = String::new();
        let _ = BufReader::new(&*stream).read_line(&mut line);
        let _ = write!(
            stream,
            "HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        line.trim_end().to_string()
    })
}

#[test]
fn a_redirect_to_an_address_not_granted_reaches_nothing() {
    let target = Stub::http("127.0.0.2:0");
    let hop = redirector(format!("{}/inside", target.url()));
    let start = format!("{}/start", hop.url());

    // Only the first hop is granted: the redirect is refused, and the
    // listener at 127.0.0.2 sees no connection.
    let k = plugin(&[format!("http://127.0.0.1:{}", hop.addr().port())]);
    let ran = fetch(&k, &start);
    assert_eq!(ran.code, 1, "{ran:?}");
    let error: Json = ran.json();
    assert_eq!(error["code"], "denied", "{error}");
    assert_eq!(hop.seen(), ["GET /start HTTP/1.1"]);
    assert_eq!(target.seen(), Vec::<String>::new());

    // Granted both: the same redirect is followed to the listener, so the
    // check above could have seen a request.
    let k = plugin(&[
        format!("http://127.0.0.1:{}", hop.addr().port()),
        format!("http://127.0.0.2:{}", target.addr().port()),
    ]);
    reached(&fetch(&k, &start), &target);
    assert_eq!(target.seen(), ["GET /inside HTTP/1.1"]);
}
