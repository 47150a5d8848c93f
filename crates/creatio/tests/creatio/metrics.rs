//! Connector request metrics: one count per attempt by operation and class, and a duration.

use chatport_creatio::{Client, Query};
use chatport_testkit::Failure;
use chatport_testkit::creatio::CreatioEmulator;
use metrics_exporter_prometheus::PrometheusBuilder;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::common::fast_retry;

use chatport_testkit::prometheus::value as series;

#[tokio::test]
async fn requests_are_counted_per_attempt_with_their_class() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let emu = CreatioEmulator::start().await.unwrap();
    let client = Client::builder()
        .base_url(&emu.base_url())
        .identity_url(&emu.base_url())
        .oauth_client_credentials(emu.client_id(), SecretString::from(emu.client_secret()))
        .retry_policy(fast_retry())
        .build()
        .unwrap();

    let created: Value = client
        .create("Contact", &json!({ "Name": "Ada" }))
        .await
        .unwrap();
    let id = created["Id"].as_str().unwrap().parse().unwrap();
    // A 503 then success on a read: two attempts.
    emu.fail_next(1, Failure::Status(503));
    let _: Value = client.get("Contact", id, &Query::new()).await.unwrap();
    // A 400 on a create: permanent, one attempt.
    emu.fail_next(1, Failure::Status(400));
    client
        .create::<Value, _>("Contact", &json!({ "Name": "Bob" }))
        .await
        .unwrap_err();

    let text = handle.render();
    let count = |operation: &str, class: &str| {
        series(
            &text,
            "chatport_connector_requests_total",
            &[
                ("connector", "creatio"),
                ("operation", operation),
                ("class", class),
            ],
        )
    };
    assert_eq!(count("token", "ok"), Some(1.0), "{text}");
    assert_eq!(count("odata_post", "ok"), Some(1.0), "{text}");
    assert_eq!(count("odata_post", "permanent"), Some(1.0), "{text}");
    assert_eq!(count("odata_get", "server"), Some(1.0), "{text}");
    assert_eq!(count("odata_get", "ok"), Some(1.0), "{text}");
    assert_eq!(
        series(
            &text,
            "chatport_connector_request_duration_seconds_count",
            &[("connector", "creatio"), ("operation", "odata_get")],
        ),
        Some(2.0),
        "{text}"
    );
    assert!(
        !text.contains(&id.to_string()),
        "no id reaches a label: {text}"
    );
}
