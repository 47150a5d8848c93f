//! `chatport serve` as an operator runs it: no ANSI colour codes in its log when standard error
//! is not a terminal (a file, a pipe, journald), one JSON object per line with
//! `CHATPORT_LOG_FORMAT=json`, and SIGTERM obeyed within `[service] shutdown_timeout_secs` even
//! while a client stalls mid-request.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Runs `chatport serve` on a minimal configuration (no flows, a SQLite store in a temporary
/// directory) with standard error piped, waits for its "serving" line, stops it with SIGTERM and
/// returns every line it wrote to standard error.
fn serve_log(format: Option<&str>) -> Vec<String> {
    serve_with(format, "", |_| {})
}

/// Like [`serve_log`], with `extra` appended to `[service]` and `while_serving` run with the
/// listen address before SIGTERM.
fn serve_with(
    format: Option<&str>,
    extra: &str,
    while_serving: impl FnOnce(std::net::SocketAddr),
) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("chatport.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[service]
listen = "127.0.0.1:{port}"
{extra}

[store]
path = "{store}"

[whatsapp]
access_token = "${{LOG_TEST_TOKEN}}"
app_secrets = ["${{LOG_TEST_SECRET}}"]
verify_token = "${{LOG_TEST_VERIFY}}"

[flows.o1]
enabled = false
"#,
            store = dir.path().join("chatport.sqlite").display(),
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_chatport"));
    command
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("LOG_TEST_TOKEN", "token")
        .env("LOG_TEST_SECRET", "secret")
        .env("LOG_TEST_VERIFY", "verify")
        .env("CHATPORT_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match format {
        Some(format) => command.env("CHATPORT_LOG_FORMAT", format),
        None => command.env_remove("CHATPORT_LOG_FORMAT"),
    };
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    // Bounded only so that a regression fails instead of hanging.
    while let Ok(line) = lines_rx.recv_timeout(Duration::from_secs(60)) {
        let serving = line.contains("serving; stop with");
        lines.push(line);
        if serving {
            break;
        }
    }
    assert!(
        lines.iter().any(|l| l.contains("serving; stop with")),
        "chatport serve did not log that it serves: {lines:?}"
    );
    while_serving(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // Bounded only so that a regression fails instead of hanging.
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if waited > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chatport serve did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
        waited += Duration::from_millis(50);
    };
    reader.join().unwrap();
    lines.extend(lines_rx.try_iter());
    assert!(status.success(), "{status:?}: {lines:?}");
    lines
}

#[test]
fn text_logs_have_no_colour_codes_when_stderr_is_not_a_terminal() {
    let lines = serve_log(None);
    assert!(lines.iter().any(|l| l.contains("INFO")), "{lines:?}");
    for line in &lines {
        assert!(!line.contains('\u{1b}'), "ANSI escape in {line:?}");
    }
    // `text` is the same format.
    let lines = serve_log(Some("text"));
    assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "{lines:?}");
}

#[test]
fn chatport_log_format_json_writes_one_json_object_per_line() {
    let lines = serve_log(Some("json"));
    let mut serving = false;
    for line in &lines {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line:?}"));
        assert!(value["level"].is_string(), "{line}");
        assert!(value["timestamp"].is_string(), "{line}");
        if value["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("serving; stop with"))
        {
            serving = true;
            assert_eq!(value["level"], "INFO");
            assert!(value["fields"]["addr"].is_string(), "{line}");
        }
    }
    assert!(serving, "{lines:?}");
}

#[test]
fn sigterm_is_obeyed_while_clients_stall_mid_request() {
    use std::io::{Read, Write};
    let mut stalled = Vec::new();
    let lines = serve_with(
        None,
        "shutdown_timeout_secs = 1\nheader_read_timeout_secs = 3600\nbody_read_timeout_secs = 3600",
        |addr| {
            // One client stops in its headers, one in its body (a signed-looking delivery whose
            // body never completes); neither ever closes its side.
            let mut head = std::net::TcpStream::connect(addr).unwrap();
            head.write_all(b"POST /webhooks/whatsapp HTTP/1.1\r\nhost: x\r\n")
                .unwrap();
            let mut body = std::net::TcpStream::connect(addr).unwrap();
            body.write_all(
                b"POST /webhooks/whatsapp HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"object\":",
            )
            .unwrap();
            // The body's request has reached the service: a complete request on a third
            // connection is answered after it (one accept loop, in order).
            let mut probe = std::net::TcpStream::connect(addr).unwrap();
            probe
                .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .unwrap();
            let mut answer = String::new();
            probe.read_to_string(&mut answer).unwrap();
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            stalled.push(head);
            stalled.push(body);
        },
    );
    // serve_with waited for the exit (bounded) and checked the exit status 0; the stalled
    // connections were closed by the service without an answer.
    for mut stream in stalled {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    }
    assert!(
        lines.iter().any(|l| l.contains("shutting down")),
        "{lines:?}"
    );
}
