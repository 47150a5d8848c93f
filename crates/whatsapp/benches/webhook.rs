//! Webhook ingestion benchmarks: parsing a batched POST of 1,000 updates into events, and
//! verifying its `X-Hub-Signature-256`. Run: `cargo bench -p chatport-whatsapp --bench webhook`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use chatport_whatsapp::webhook::{Notification, SignatureVerifier, sign};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use secrecy::SecretString;

/// A Meta-shaped POST with `n` updates: messages (text, image, interactive) and statuses (with
/// pricing), 50 updates per change, non-ASCII escaped like Meta does.
fn batched_body(n: usize) -> Vec<u8> {
    let mut changes = Vec::new();
    let mut i = 0;
    while i < n {
        let mut messages = Vec::new();
        let mut statuses = Vec::new();
        for _ in 0..50.min(n - i) {
            let from = format!("49170{:07}", i);
            match i % 4 {
                0 => messages.push(format!(r#"{{"from":"{from}","id":"wamid.IN{i}","timestamp":"1751247548","type":"text","text":{{"body":"Gr\u00fc\u00dfe, ich brauche Hilfe mit Rechnung {i} \ud83d\ude00"}}}}"#)),
                1 => messages.push(format!(r#"{{"from":"{from}","id":"wamid.IN{i}","timestamp":"1751247548","type":"image","image":{{"id":"1037{i}","mime_type":"image/jpeg","sha256":"SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=","caption":"Beleg {i}"}}}}"#)),
                2 => messages.push(format!(r#"{{"from":"{from}","id":"wamid.IN{i}","timestamp":"1751247548","type":"interactive","context":{{"from":"15550783881","id":"wamid.OUT{i}"}},"interactive":{{"type":"button_reply","button_reply":{{"id":"yes","title":"Yes"}}}}}}"#)),
                _ => statuses.push(format!(r#"{{"id":"wamid.OUT{i}","status":"delivered","timestamp":"1751247600","recipient_id":"{from}","pricing":{{"billable":true,"pricing_model":"PMP","type":"regular","category":"utility"}}}}"#)),
            }
            i += 1;
        }
        changes.push(format!(
            r#"{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}},"contacts":[{{"profile":{{"name":"Test User"}},"wa_id":"4917000000"}}],"messages":[{}],"statuses":[{}]}}}}"#,
            messages.join(","),
            statuses.join(",")
        ));
    }
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","time":1751247548,"changes":[{}]}}]}}"#,
        changes.join(",")
    )
    .into_bytes()
}

fn benches(c: &mut Criterion) {
    let body = batched_body(1000);
    assert_eq!(Notification::parse(&body).unwrap().events().len(), 1000);

    let mut group = c.benchmark_group("parse_1000_updates");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("events_per_second", |b| {
        b.iter(|| Notification::parse(black_box(&body)).unwrap().events())
    });
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("bytes_per_second", |b| {
        b.iter(|| Notification::parse(black_box(&body)).unwrap().events())
    });
    group.finish();

    let verifier = SignatureVerifier::new([SecretString::from("app-secret")]).unwrap();
    let header = sign(b"app-secret", &body);
    let mut group = c.benchmark_group("signature");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("verify_1000_update_body", |b| {
        b.iter(|| {
            verifier
                .verify(Some(black_box(&header)), black_box(&body))
                .unwrap()
        })
    });
    let small = &body[..2048];
    let small_header = sign(b"app-secret", small);
    group.throughput(Throughput::Bytes(small.len() as u64));
    group.bench_function("verify_2_kib_body", |b| {
        b.iter(|| {
            verifier
                .verify(Some(black_box(&small_header)), black_box(small))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(webhook, benches);
criterion_main!(webhook);
