//! `bd-log witness` over https (issue 13): the spec witness behind a real
//! rustls server with a certificate minted in the test by a private CA.
//! Trusted with --ca-cert, it cosigns; without --ca-cert (the system's
//! trust store) or with another CA's certificate, the handshake is refused
//! with one clear line, exit 7, and the note is left as it was.

mod common;
#[path = "common/tls_proxy.rs"]
mod tls_proxy;
#[path = "common/wcli.rs"]
mod wcli;
#[path = "common/witness_server.rs"]
mod witness_server;

use common::*;
use tls_proxy::{Ca, TlsProxy};
use wcli::*;
use witness_server::{Logs, Witness, WitnessId};

#[test]
fn cosigning_over_https_needs_the_witness_ca() {
    let env = Env::new();
    append_with(&env, &records(0, 5), &[]);
    let n = env.path("note.txt");
    note(&env, &n);
    let (_, ik) = parse_log_vkey(&identity_vkey(&env));
    let w = Witness::start(
        WitnessId::new("w.example/tls"),
        Logs::from([(origin_of(&n), ik)]),
        env.path("w.state"),
    );
    let backend = w
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let ca = Ca::new("boundary test CA");
    let (cert, key) = ca.leaf();
    let proxy = TlsProxy::start(&backend, cert, key);
    let ca_pem = env.path("ca.pem");
    std::fs::write(&ca_pem, &ca.pem).unwrap();
    let other = Ca::new("another CA");
    let other_pem = env.path("other.pem");
    std::fs::write(&other_pem, &other.pem).unwrap();
    let wk = w.vkey();
    let before = std::fs::read(&n).unwrap();

    // Refused: the system trust store does not know the private CA.
    let o = cosign(&env, &n, &[(&proxy.url, &wk)], &[]);
    assert_eq!(code(&o), 7, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("TLS handshake refused"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.contains("TLS")).count(),
        1,
        "one line: {err}"
    );
    assert_eq!(std::fs::read(&n).unwrap(), before, "nothing written");
    // Refused: another CA.
    let o = cosign(
        &env,
        &n,
        &[(&proxy.url, &wk)],
        &["--ca-cert", &s(&other_pem)],
    );
    assert_eq!(code(&o), 7, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("TLS handshake refused"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&n).unwrap(), before, "nothing written");
    assert!(w.statuses().is_empty(), "nothing reached the witness");
    assert!(proxy.refused.load(std::sync::atomic::Ordering::SeqCst) >= 2);

    // A --ca-cert that is not a certificate: usage error, nothing sent.
    let junk = env.path("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let o = cosign(&env, &n, &[(&proxy.url, &wk)], &["--ca-cert", &s(&junk)]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("no PEM CERTIFICATE"), "{}", stderr(&o));

    // Trusted: cosigned over https.
    let o = cosign(&env, &n, &[(&proxy.url, &wk)], &["--ca-cert", &s(&ca_pem)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(w.statuses(), vec![200]);
    let o = run(&[
        "verify",
        "-l",
        &s(&env.log),
        "-p",
        &s(&env.pubkey),
        "--witnessed",
        &s(&n),
        "-w",
        &wk,
    ]);
    assert_eq!(code(&o), 0, "{} {}", stdout(&o), stderr(&o));
}
