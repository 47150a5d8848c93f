//! `PgStore` over TLS (`sslmode=require`): the certificate chain and the host name are verified.
//!
//! The test server named by `CHATPORT_TEST_POSTGRES_URL` is reached through a TLS-terminating
//! stand-in on loopback that speaks PostgreSQL's `SSLRequest` handshake with a certificate for
//! `localhost` issued by a CA made for the test (rcgen), then relays the session to the server in
//! plain text. So the test controls the whole trust chain whatever the server's own TLS set-up.
//! Without the variable each test prints a `SKIPPED:` line and passes.
#![cfg(feature = "postgres-tls")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

mod pg_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chatport_core::EventId;
use chatport_runtime::{EventFilter, NewEvent, Outbox, PgOptions, PgStore, StoreError};
use pg_support::ScratchSchema;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// PostgreSQL's `SSLRequest`: length 8, request code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// A CA, a server certificate for `localhost` it issued, and the CA's PEM written to a file.
struct TestPki {
    ca_pem_file: tempfile::NamedTempFile,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivatePkcs8KeyDer<'static>,
}

fn pki() -> TestPki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let mut ca_pem_file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut ca_pem_file, ca.pem().as_bytes()).unwrap();
    TestPki {
        ca_pem_file,
        server_chain: vec![server_cert.der().clone()],
        server_key: PrivatePkcs8KeyDer::from(server_key.serialize_der()),
    }
}

/// Starts the TLS-terminating stand-in in front of `upstream` (`host:port`); returns its port
/// and the number of completed TLS handshakes.
async fn tls_front(pki: &TestPki, upstream: String) -> (u16, Arc<AtomicUsize>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            pki.server_chain.clone(),
            PrivateKeyDer::Pkcs8(pki.server_key.clone_key()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&handshakes);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let (acceptor, upstream, counter) =
                (acceptor.clone(), upstream.clone(), Arc::clone(&counter));
            tokio::spawn(async move {
                let mut request = [0_u8; 8];
                if client.read_exact(&mut request).await.is_err() || request != SSL_REQUEST {
                    return;
                }
                if client.write_all(b"S").await.is_err() {
                    return;
                }
                // A client that rejects the certificate ends the handshake here.
                let Ok(mut tls) = acceptor.accept(client).await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let Ok(mut server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
            });
        }
    });
    (port, handshakes)
}

/// The test server's settings as a key-value connection string through `host:port`, with
/// `sslmode=require`.
fn through(url: &str, host: &str, port: u16) -> (String, String) {
    let config: tokio_postgres::Config = url.parse().unwrap();
    let upstream = match (config.get_hosts().first(), config.get_ports().first()) {
        (Some(tokio_postgres::config::Host::Tcp(h)), Some(p)) => format!("{h}:{p}"),
        (Some(tokio_postgres::config::Host::Tcp(h)), None) => format!("{h}:5432"),
        _ => panic!("the test server must be reached over TCP"),
    };
    let password = config
        .get_password()
        .map(|p| String::from_utf8(p.to_vec()).unwrap())
        .unwrap_or_default();
    let conn = format!(
        "host={host} port={port} user={} password='{}' dbname={} sslmode=require",
        config.get_user().unwrap_or("postgres"),
        password.replace('\'', "\\'"),
        config.get_dbname().unwrap_or("postgres"),
    );
    (conn, upstream)
}

async fn connect(conn: &str, options: PgOptions) -> Result<PgStore, StoreError> {
    PgStore::connect(&SecretString::from(conn.to_owned()), options).await
}

#[tokio::test]
async fn sslmode_require_verifies_the_chain_and_the_host_name() {
    let Some(url) = pg_support::url("sslmode_require_verifies_the_chain_and_the_host_name") else {
        return;
    };
    let schema = ScratchSchema::new(url.clone());
    let pki = pki();
    let (_, upstream) = through(&url, "localhost", 0);
    let (port, handshakes) = tls_front(&pki, upstream).await;
    let options = || {
        PgOptions::default()
            .max_connections(2)
            .schema(schema.name().to_owned())
    };

    // Trusted CA, matching host name: the store works over TLS.
    let (conn, _) = through(&url, "localhost", port);
    let store = connect(&conn, options().root_certificate(pki.ca_pem_file.path()))
        .await
        .unwrap_or_else(|e| panic!("TLS connection through the test CA: {e}"));
    store
        .enqueue(vec![NewEvent::new(
            "test",
            EventId::new("tls-1"),
            "message",
            "F1",
            b"{}".to_vec(),
        )])
        .await
        .unwrap();
    assert_eq!(store.count(&EventFilter::new()).await.unwrap(), 1);
    assert!(
        handshakes.load(Ordering::SeqCst) >= 1,
        "the session used TLS"
    );
    drop(store);

    // The system's roots alone do not trust the test CA: refused, and the password stays out.
    let before = handshakes.load(Ordering::SeqCst);
    let error = connect(&conn, options()).await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    assert!(!error.to_string().contains("password="), "{error}");
    assert!(
        error.to_string().contains("UnknownIssuer") || error.to_string().contains("unknown issuer"),
        "{error}"
    );
    assert_eq!(
        handshakes.load(Ordering::SeqCst),
        before,
        "no session was opened"
    );

    // A trusted certificate for another host name (localhost, reached as 127.0.0.1): refused.
    let (by_ip, _) = through(&url, "127.0.0.1", port);
    let error = connect(&by_ip, options().root_certificate(pki.ca_pem_file.path()))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    assert!(error.to_string().contains("not valid for name"), "{error}");
    assert_eq!(
        handshakes.load(Ordering::SeqCst),
        before,
        "no session was opened"
    );
}

#[tokio::test]
async fn a_root_certificate_file_without_certificates_is_a_clear_error() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "not a certificate\n").unwrap();
    let error = connect(
        "host=localhost port=9 user=u password=p dbname=d sslmode=require",
        PgOptions::default().root_certificate(file.path()),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, StoreError::Invalid(_)), "{error:?}");
    assert!(error.to_string().contains("no PEM certificate"), "{error}");
}
