//! TLS in front of the spec witness, for the https tests: a CA and a leaf
//! certificate for 127.0.0.1 minted here with rcgen, and a rustls server on
//! 127.0.0.1 that relays each request to the plain-HTTP witness and its
//! answer back (one request per connection, `Connection: close`). The
//! witness itself is unchanged, so the https test checks bd-log's TLS
//! client and nothing else.

#![allow(dead_code)]

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A certificate authority made for one test.
pub struct Ca {
    pub pem: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer =
            CertifiedIssuer::self_signed(p, KeyPair::generate().expect("ca key")).expect("ca");
        Ca {
            pem: issuer.pem(),
            issuer,
        }
    }

    /// A server certificate for 127.0.0.1 signed by this CA.
    pub fn leaf(&self) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let mut p = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("leaf params");
        p.distinguished_name
            .push(DnType::CommonName, "witness.test");
        let key = KeyPair::generate().expect("leaf key");
        let cert = p.signed_by(&key, &self.issuer).expect("leaf cert");
        (
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }
}

/// A TLS relay on 127.0.0.1 to a plain-HTTP server at `backend` (host:port).
pub struct TlsProxy {
    pub url: String,
    /// TLS handshakes that failed (the client refused the certificate).
    pub refused: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<AtomicBool>,
    port: u16,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_request(s: &mut impl Read) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                buf.truncate(end + 4 + len);
                return Some(buf);
            }
        }
        let n = s.read(&mut b).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&b[..n]);
    }
}

/// The request with `Connection: close` in place of any Connection header.
fn close_after(req: &[u8]) -> Vec<u8> {
    let end = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
    let head = String::from_utf8_lossy(&req[..end]);
    let mut out = String::new();
    for l in head.split("\r\n") {
        if !l.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut v = out.into_bytes();
    v.extend_from_slice(&req[end + 4..]);
    v
}

fn serve(cfg: Arc<rustls::ServerConfig>, tcp: TcpStream, backend: &str) -> bool {
    let Ok(conn) = rustls::ServerConnection::new(cfg) else {
        return false;
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let Some(req) = read_request(&mut tls) else {
        return false;
    };
    let Ok(mut up) = TcpStream::connect(backend) else {
        return true;
    };
    if up.write_all(&close_after(&req)).is_err() {
        return true;
    }
    let mut resp = Vec::new();
    let _ = up.read_to_end(&mut resp);
    let _ = tls.write_all(&resp);
    tls.conn.send_close_notify();
    let _ = tls.flush();
    true
}

impl TlsProxy {
    pub fn start(
        backend: &str,
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
    ) -> TlsProxy {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("tls versions")
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .expect("server cert"),
        );
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (stop2, refused2) = (stop.clone(), refused.clone());
        let backend = backend.to_string();
        let thread = std::thread::spawn(move || {
            for c in l.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(c) = c else { continue };
                let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                if !serve(cfg.clone(), c, &backend) {
                    refused2.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        TlsProxy {
            url: format!("https://127.0.0.1:{port}/"),
            refused,
            stop,
            port,
            thread: Some(thread),
        }
    }
}
