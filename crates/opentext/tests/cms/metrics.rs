//! Connector request metrics: one count per attempt by operation and class, and a duration.

use std::time::Duration;

use chatport_opentext::{Category, Client, InstanceDraft, RetryPolicy};
use chatport_testkit::Failure;
use chatport_testkit::cms::CmsEmulator;
use metrics_exporter_prometheus::PrometheusBuilder;
use secrecy::SecretString;

use chatport_testkit::prometheus::value as series;

#[tokio::test]
async fn cms_requests_are_counted_per_attempt_with_their_class() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let cms = CmsEmulator::start().await.unwrap();
    let client = Client::builder()
        .tenant_id(cms.tenant_id())
        .auth_base(&cms.auth_base())
        .cms_base(&cms.cms_base())
        .client_credentials(cms.client_id(), SecretString::from(cms.client_secret()))
        .retry_policy(
            RetryPolicy::default().with_delays(Duration::from_millis(5), Duration::from_millis(20)),
        )
        .no_rate_limit()
        .build()
        .unwrap();

    let created = client
        .create_instance(Category::Object, "ca_case", &InstanceDraft::new("one"))
        .await
        .unwrap();
    // A validation error: permanent, one attempt.
    cms.fail_next(1, Failure::cms_error(400, "ValidationException", "bad"));
    client
        .create_instance(Category::Object, "ca_case", &InstanceDraft::new("two"))
        .await
        .unwrap_err();
    // A 503 then success on a read: two attempts, one per class.
    cms.fail_next(1, Failure::Status(503));
    client
        .get_instance(Category::Object, "ca_case", &created.id)
        .await
        .unwrap();

    let text = handle.render();
    let total = "chatport_connector_requests_total";
    let count = |operation: &str, class: &str| {
        series(
            &text,
            total,
            &[
                ("connector", "opentext"),
                ("operation", operation),
                ("class", class),
            ],
        )
    };
    assert_eq!(count("token", "ok"), Some(1.0), "{text}");
    assert_eq!(count("instances_post", "ok"), Some(1.0), "{text}");
    assert_eq!(count("instances_post", "permanent"), Some(1.0), "{text}");
    assert_eq!(count("instances_get", "server"), Some(1.0), "{text}");
    assert_eq!(count("instances_get", "ok"), Some(1.0), "{text}");
    assert_eq!(
        series(
            &text,
            "chatport_connector_request_duration_seconds_count",
            &[("connector", "opentext"), ("operation", "instances_post")],
        ),
        Some(2.0),
        "{text}"
    );
    assert!(!text.contains(&created.id), "no id reaches a label: {text}");
}
