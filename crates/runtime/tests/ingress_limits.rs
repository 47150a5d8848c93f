//! An ingress no client can wedge: header and body read timeouts, the shutdown deadline and the
//! body memory budget, tried with raw TCP clients that stall on purpose (loopback only).
//!
//! No assertion is about how long something took: every wait has a generous bound (30 s) only so
//! that a regression fails instead of hanging, and the configured timeouts are tiny.
// Test code: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chatport_core::{Envelope, EventId};
use chatport_runtime::ingress::{
    BodyBudget, Flows, IngressState, ParseFailure, ServeOptions, VerifyError, WebhookAdapter,
    WebhookBatch, WebhookRequest, router, serve_with,
};
use chatport_runtime::{EventFilter, Outbox, SqliteStore};
use chrono::{DateTime, Utc};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// The bound on every wait: a regression fails here instead of hanging the test run.
const BOUND: Duration = Duration::from_secs(30);

/// Accepts bodies carrying `x-token: ok`; each body line is one event id.
struct LineAdapter(&'static str);

impl WebhookAdapter for LineAdapter {
    fn source(&self) -> &str {
        self.0
    }
    fn verify(&self, request: &WebhookRequest<'_>, _body: &[u8]) -> Result<(), VerifyError> {
        match request.headers.get("x-token").map(|v| v.as_bytes()) {
            Some(b"ok") => Ok(()),
            _ => Err(VerifyError::Mismatch),
        }
    }
    fn parse(&self, body: &[u8], _at: DateTime<Utc>) -> Result<WebhookBatch, ParseFailure> {
        let text = std::str::from_utf8(body).map_err(|e| ParseFailure::new(e.to_string()))?;
        Ok(text
            .lines()
            .map(|id| Envelope::new(EventId::new(id), self.0, "line", id.as_bytes().to_vec()))
            .collect::<Vec<_>>()
            .into())
    }
}

/// One debugging recorder for this test binary (a process has one global recorder); each test
/// uses its own `source` label. A snapshot takes the counters' increments since the last one, so
/// every snapshot goes through [`counter`], which keeps the running totals.
fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().unwrap();
        snapshotter
    })
}

/// A counter series (name, labels) and its running total.
type Total = (String, Vec<(String, String)>, u64);

/// The total of counter `name` over the series whose labels include `labels`.
fn counter(name: &str, labels: &[(&str, &str)]) -> u64 {
    static TOTALS: Mutex<Vec<Total>> = Mutex::new(Vec::new());
    let mut totals = TOTALS.lock().unwrap();
    for (key, _, _, value) in snapshotter().snapshot().into_vec() {
        let DebugValue::Counter(n) = value else {
            continue;
        };
        let key = key.key();
        let series_labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        match totals
            .iter_mut()
            .find(|(n, l, _)| n == key.name() && *l == series_labels)
        {
            Some((_, _, total)) => *total += n,
            None => totals.push((key.name().to_owned(), series_labels, n)),
        }
    }
    totals
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, total)| total)
        .sum()
}

struct Server {
    addr: std::net::SocketAddr,
    store: Arc<SqliteStore>,
    budget: BodyBudget,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(
        source: &'static str,
        budget: BodyBudget,
        body_timeout: Duration,
        options: ServeOptions,
    ) -> Server {
        snapshotter();
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let outbox: Arc<dyn Outbox> = store.clone();
        let state = IngressState::new(outbox)
            .route("/hook", Arc::new(LineAdapter(source)), Flows::one("T1"))
            .max_body_bytes(4096)
            .body_read_timeout(body_timeout)
            .body_budget(budget.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve_with(
            listener,
            router(state),
            shutdown.clone(),
            options,
        ));
        Server {
            addr,
            store,
            budget,
            shutdown,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    async fn stored(&self) -> usize {
        self.store
            .list(&EventFilter::new(), 100)
            .await
            .unwrap()
            .len()
    }

    /// A raw connection that sent `bytes` and then stalls.
    async fn stalled(&self, bytes: &[u8]) -> TcpStream {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        stream.flush().await.unwrap();
        stream
    }

    /// Waits until the requests in progress hold exactly `bytes` of the body budget.
    async fn budget_in_use(&self, bytes: usize) {
        tokio::time::timeout(BOUND, async {
            while self.budget.in_use() != bytes {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "budget in use: {} bytes, expected {bytes}",
                self.budget.in_use()
            )
        });
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(BOUND, self.task)
            .await
            .expect("serve did not return after shutdown")
            .unwrap()
            .unwrap();
    }
}

/// A POST head with `content_length` and the test token, optionally followed by some body bytes.
fn head(content_length: usize, body_prefix: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "POST /hook HTTP/1.1\r\nhost: test\r\nx-token: ok\r\ncontent-length: {content_length}\r\n\r\n"
    )
    .into_bytes();
    bytes.extend_from_slice(body_prefix);
    bytes
}

/// Reads until the server closes the connection (EOF or a reset); what it sent before.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut chunk = [0_u8; 4096];
    tokio::time::timeout(BOUND, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("the server kept the connection open");
    String::from_utf8_lossy(&received).into_owned()
}

fn long() -> Duration {
    Duration::from_secs(3600)
}

#[tokio::test]
async fn half_sent_headers_and_silent_connections_are_closed_after_the_header_timeout() {
    let options = ServeOptions::new().header_read_timeout(Duration::from_millis(100));
    let server = Server::start("headers", BodyBudget::default(), long(), options).await;
    let mut half = server
        .stalled(b"POST /hook HTTP/1.1\r\nhost: test\r\nx-tok")
        .await;
    let mut silent = server.stalled(b"").await;
    let answer = read_until_closed(&mut half).await;
    assert!(!answer.contains("200"), "{answer}");
    read_until_closed(&mut silent).await;
    // The server still serves complete requests.
    let response = reqwest::Client::new()
        .post(server.url())
        .header("x-token", "ok")
        .body("e1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.stored().await, 1);
    server.stop().await;
}

#[tokio::test]
async fn a_body_not_complete_within_the_body_timeout_is_408_and_nothing_is_stored() {
    let server = Server::start(
        "body-timeout",
        BodyBudget::default(),
        Duration::from_millis(100),
        ServeOptions::new().header_read_timeout(long()),
    )
    .await;
    let mut stream = server.stalled(&head(100, b"e1\ne2\n")).await;
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(server.stored().await, 0);
    assert_eq!(
        counter(
            "chatport_webhooks_rejected_total",
            &[("source", "body-timeout"), ("reason", "body_timeout")]
        ),
        1
    );
    assert_eq!(
        server.budget.in_use(),
        0,
        "the reservation was not released"
    );
    server.stop().await;
}

#[tokio::test]
async fn stalled_clients_do_not_keep_serve_from_returning_after_the_shutdown_deadline() {
    let server = Server::start(
        "shutdown",
        BodyBudget::new(10_000),
        long(),
        ServeOptions::new()
            .header_read_timeout(long())
            .shutdown_timeout(Duration::from_millis(200)),
    )
    .await;
    // One client stalls in its headers, one in its body (its request is in the handler).
    let mut in_headers = server
        .stalled(b"POST /hook HTTP/1.1\r\nhost: test\r\n")
        .await;
    let mut in_body = server.stalled(&head(100, b"e1\ne2\n")).await;
    server.budget_in_use(100).await;
    let store = server.store.clone();
    let budget = server.budget.clone();
    server.stop().await;
    // Both connections were closed without an answer, and nothing was acknowledged or stored.
    assert_eq!(read_until_closed(&mut in_headers).await, "");
    assert_eq!(read_until_closed(&mut in_body).await, "");
    assert!(
        store
            .list(&EventFilter::new(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(budget.in_use(), 0);
}

#[tokio::test]
async fn a_body_over_the_budget_is_503_with_retry_after_before_it_is_read() {
    let budget = BodyBudget::new(5000).retry_after(Duration::from_secs(7));
    let server = Server::start(
        "memory",
        budget,
        long(),
        ServeOptions::new().header_read_timeout(long()),
    )
    .await;
    let client = reqwest::Client::new();
    // A slow sender holds 3000 bytes of the 5000.
    let holder = server.stalled(&head(3000, b"h1\n")).await;
    server.budget_in_use(3000).await;

    // 2500 more bytes do not fit: 503 with Retry-After, nothing stored.
    let refused = client
        .post(server.url())
        .header("x-token", "ok")
        .body(format!("r1\n{}", "x".repeat(2497)))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "7");
    assert_eq!(server.stored().await, 0);
    assert_eq!(
        counter(
            "chatport_webhooks_rejected_total",
            &[("source", "memory"), ("reason", "memory")]
        ),
        1
    );

    // 1000 bytes with a Content-Length fit...
    let small = format!("s1\n{}", "x".repeat(997));
    let fits = client
        .post(server.url())
        .header("x-token", "ok")
        .body(small.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(fits.status(), 200);
    assert_eq!(server.stored().await, 2); // `s1` and the line of x's
    // ...but the same body without one (chunked) reserves the body limit (4096) and does not.
    let chunks = futures::stream::iter([Ok::<_, std::io::Error>(small.into_bytes())]);
    let chunked = client
        .post(server.url())
        .header("x-token", "ok")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status(), 503);
    assert_eq!(server.stored().await, 2);

    // Once the slow sender is gone, its bytes are back and a normal delivery is stored, then 200.
    drop(holder);
    server.budget_in_use(0).await;
    let normal = client
        .post(server.url())
        .header("x-token", "ok")
        .body("n1")
        .send()
        .await
        .unwrap();
    assert_eq!(normal.status(), 200);
    let rows = server
        .store
        .list(&EventFilter::new(), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.event_id.as_str().to_owned())
        .collect::<Vec<_>>();
    assert!(rows.contains(&"n1".to_owned()), "{rows:?}");
    assert_eq!(
        counter(
            "chatport_webhooks_rejected_total",
            &[("source", "memory"), ("reason", "memory")]
        ),
        2
    );
    server.stop().await;
}

#[tokio::test]
async fn a_content_length_over_the_limit_is_413_without_reading_the_body() {
    let server = Server::start(
        "too-large",
        BodyBudget::new(10_000),
        long(),
        ServeOptions::new().header_read_timeout(long()),
    )
    .await;
    // Announces 5000 bytes (limit 4096) and sends none: answered at once, nothing reserved.
    let mut stream = server.stalled(&head(5000, b"")).await;
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(server.budget.in_use(), 0);
    assert_eq!(server.stored().await, 0);
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_body_on_another_route_fails_after_the_body_idle_timeout() {
    // A route merged into the router (as the bridge merges the Creatio webhook and the handoff
    // endpoint) reads its body with axum's own extractor: the server's idle timeout covers it.
    let store: Arc<dyn Outbox> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let other = axum::Router::new().route(
        "/other",
        axum::routing::post(|body: bytes::Bytes| async move { format!("{} bytes", body.len()) }),
    );
    let app = router(IngressState::new(store)).merge(other);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let options = ServeOptions::new()
        .header_read_timeout(long())
        .body_read_timeout(Duration::from_millis(100));
    let task = tokio::spawn(serve_with(listener, app, shutdown.clone(), options));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /other HTTP/1.1\r\nhost: test\r\ncontent-length: 100\r\n\r\nabc")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A complete body on that route is served as usual.
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/other"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "5 bytes");
    shutdown.cancel();
    tokio::time::timeout(BOUND, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
