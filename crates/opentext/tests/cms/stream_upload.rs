//! A 200 MB upload generated on the fly, streamed through the client's multipart upload to a
//! local server that parses the multipart framing as it arrives, counts and hashes the file
//! bytes. Neither side ever holds the file: the source is a pattern reader, the server keeps a
//! small look-behind buffer. (Memory stays flat by construction; nothing here is timed.)

#![allow(clippy::unwrap_used)] // test helpers (the server handler) may panic on a poisoned lock

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};
use wiremock::MockServer;

use crate::common::*;

const SIZE: u64 = 200 * 1024 * 1024;

/// Yields `len` bytes of a repeating 251-byte pattern, at most 64 KiB per read.
struct PatternReader {
    pos: u64,
    len: u64,
}

fn pattern_byte(pos: u64) -> u8 {
    u8::try_from(pos % 251).unwrap_or(0)
}

impl AsyncRead for PatternReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let left = self.len - self.pos;
        let n = usize::try_from(left.min(64 * 1024))
            .unwrap()
            .min(buf.remaining());
        let start = self.pos;
        let chunk: Vec<u8> = (0..n as u64).map(|i| pattern_byte(start + i)).collect();
        buf.put_slice(&chunk);
        self.pos += n as u64;
        Poll::Ready(Ok(()))
    }
}

#[derive(Default)]
struct Seen {
    bytes: u64,
    sha256: String,
    field_ok: bool,
    max_buffer: usize,
}

/// Parses one multipart part as it streams: headers up to the blank line, then the content up
/// to the closing delimiter `\r\n--{boundary}--\r\n`, holding back only the delimiter's length.
async fn receive(
    State(seen): State<Arc<Mutex<Seen>>>,
    Path(_tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> impl IntoResponse {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Some(boundary) = content_type.split("boundary=").nth(1) else {
        return (StatusCode::BAD_REQUEST, "no boundary").into_response();
    };
    let closing = format!("\r\n--{boundary}--\r\n").into_bytes();
    let mut head: Vec<u8> = Vec::new();
    let mut in_content = false;
    let mut hold: Vec<u8> = Vec::new();
    let mut hasher = Sha256::new();
    let mut count = 0u64;
    let mut max_buffer = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return (StatusCode::BAD_REQUEST, "body error").into_response();
        };
        let mut data: &[u8] = &chunk;
        if !in_content {
            head.extend_from_slice(data);
            let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let headers_text = String::from_utf8_lossy(&head[..end]).into_owned();
            seen.lock().unwrap().field_ok = headers_text.starts_with(&format!("--{boundary}\r\n"))
                && headers_text.contains("name=\"file\"; filename=\"big.bin\"");
            hold = head.split_off(end + 4);
            in_content = true;
            data = &[];
        }
        hold.extend_from_slice(data);
        if hold.len() > closing.len() {
            let release = hold.len() - closing.len();
            hasher.update(&hold[..release]);
            count += release as u64;
            hold.drain(..release);
        }
        max_buffer = max_buffer.max(hold.len() + chunk.len());
    }
    if hold != closing {
        return (StatusCode::BAD_REQUEST, "missing closing delimiter").into_response();
    }
    {
        let mut s = seen.lock().unwrap();
        s.bytes = count;
        s.sha256 = hex::encode(hasher.finalize());
        s.max_buffer = max_buffer;
    }
    (
        StatusCode::CREATED,
        axum::Json(
            serde_json::json!({"entries": [{"id": "big-1", "blobId": "big-1", "size": count}]}),
        ),
    )
        .into_response()
}

#[tokio::test]
async fn a_200_mb_upload_streams_from_a_reader_to_the_server() {
    let auth = MockServer::start().await;
    mount_token(&auth, 1).await;

    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = Router::new()
        .route("/v2/tenant/{tenant}/content", post(receive))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let css = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // The expected hash, computed from the same generator without materialising the file.
    let mut expected = Sha256::new();
    let mut block = vec![0u8; 251 * 256];
    for (i, b) in block.iter_mut().enumerate() {
        *b = pattern_byte(i as u64);
    }
    let mut left = SIZE;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        expected.update(&block[..n]);
        left -= n as u64;
    }
    let expected = hex::encode(expected.finalize());

    let client = builder(&auth)
        .css_base(&css)
        .timeout(std::time::Duration::from_secs(600))
        .build()
        .unwrap();
    let blob = client
        .upload_content(
            PatternReader { pos: 0, len: SIZE },
            &chatport_opentext::UploadOptions::new("big.bin").length(SIZE),
        )
        .await
        .unwrap();
    assert_eq!(blob.blob_id(), "big-1");
    assert_eq!(blob.size, Some(SIZE));
    let s = seen.lock().unwrap();
    assert!(
        s.field_ok,
        "the part is the `file` field with its file name"
    );
    assert_eq!(s.bytes, SIZE);
    assert_eq!(s.sha256, expected);
    // The server side never buffered more than a chunk plus the delimiter.
    assert!(s.max_buffer < 4 * 1024 * 1024, "{}", s.max_buffer);
    server.abort();
}
