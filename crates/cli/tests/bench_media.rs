//! `chatport bench media`: the media relay benchmark, run as a user runs it (small size, debug
//! build). Asserts what was moved and that the measurements are present, never how fast.

use std::process::Command;

use serde_json::Value;

fn bench_media(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_chatport"))
        .args(["bench", "media"])
        .args(args)
        .output()
        .expect("the chatport binary runs")
}

#[test]
fn relays_8_mb_into_the_css_and_reports_the_documented_json() {
    let output = bench_media(&["--size-mb", "8", "--json"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON object: {stdout}");
    let report: Value = serde_json::from_str(lines[0]).expect("JSON");

    // MB are decimal (Meta's unit): 8 MB = 8,000,000 bytes, checked by the parent in the CSS
    // emulator itself, with the document's SHA-256.
    assert_eq!(report["bytes"], 8_000_000, "{report}");
    assert_eq!(report["sha256_ok"], true, "{report}");
    let sha = report["sha256"].as_str().expect("sha256");
    assert!(
        sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
        "{sha}"
    );
    assert!(
        report["seconds"].as_f64().expect("seconds") > 0.0,
        "{report}"
    );
    assert!(
        report["throughput_mb_per_s"].as_f64().expect("throughput") > 0.0,
        "{report}"
    );

    if cfg!(target_os = "linux") {
        let peak = report["peak_rss_mb"].as_f64().expect("peak RSS on Linux");
        let before = report["rss_before_mb"].as_f64().expect("RSS before");
        assert!(peak > 0.0 && peak >= before, "{report}");
    } else {
        assert!(report["peak_rss_mb"].is_null(), "{report}");
    }
}

/// The relay's memory does not grow with the document: relaying 40 MB peaks no higher than
/// relaying 4 MB plus a margin far below the 36 MB difference. (Absolute numbers depend on the
/// build: a debug build with every feature starts near 40 MB before relaying anything.)
#[test]
#[cfg(target_os = "linux")]
fn peak_memory_does_not_grow_with_the_document() {
    let peak = |size: &str| {
        let output = bench_media(&["--size-mb", size, "--json"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        assert_eq!(report["sha256_ok"], true, "{report}");
        report["peak_rss_mb"].as_f64().expect("peak RSS on Linux")
    };
    let small = peak("4");
    let large = peak("40");
    assert!(
        large - small < 12.0,
        "peak RSS grew with the document: {small} MB for 4 MB, {large} MB for 40 MB"
    );
}

#[test]
fn refuses_sizes_the_emulator_cannot_take() {
    for size in ["0", "537"] {
        let output = bench_media(&["--size-mb", size, "--json"]);
        assert!(!output.status.success(), "--size-mb {size}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--size-mb must be 1 to 536"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}
