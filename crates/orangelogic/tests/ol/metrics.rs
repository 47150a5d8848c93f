//! Connector request metrics: one count per attempt by operation and class, and a duration.

use chatport_orangelogic::{Client, Query, SearchRequest};
use chatport_testkit::Failure;
use chatport_testkit::orangelogic::OrangeLogicEmulator;
use metrics_exporter_prometheus::PrometheusBuilder;
use secrecy::SecretString;

use crate::common::fast_retry;

use chatport_testkit::prometheus::value as series;

#[tokio::test]
async fn requests_are_counted_per_attempt_with_their_class() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let emu = OrangeLogicEmulator::start().await.unwrap();
    let client = Client::builder()
        .base_url(&emu.base_url())
        .client_credentials(
            emu.client_id(),
            SecretString::from(emu.client_secret().to_owned()),
        )
        .retry_policy(fast_retry())
        .build()
        .unwrap();
    let search = || SearchRequest::new(Query::text("anything"));

    client.search_page(&search(), 1).await.unwrap();
    // A 503 ("server not accepting API calls": throttling for OrangeDAM) then success: two
    // attempts of the (safe, retried) search.
    emu.fail_next(1, Failure::Status(503));
    client.search_page(&search(), 1).await.unwrap();
    // HTTP 200 with an error code in the body: permanent.
    client
        .search_page(&SearchRequest::new(Query::raw("Title:(")), 1)
        .await
        .unwrap_err();

    let text = handle.render();
    let count = |operation: &str, class: &str| {
        series(
            &text,
            "chatport_connector_requests_total",
            &[
                ("connector", "orangelogic"),
                ("operation", operation),
                ("class", class),
            ],
        )
    };
    assert_eq!(count("token", "ok"), Some(1.0), "{text}");
    assert_eq!(count("search", "ok"), Some(2.0), "{text}");
    assert_eq!(count("search", "throttled"), Some(1.0), "{text}");
    assert_eq!(count("search", "permanent"), Some(1.0), "{text}");
    assert_eq!(
        series(
            &text,
            "chatport_connector_request_duration_seconds_count",
            &[("connector", "orangelogic"), ("operation", "search")],
        ),
        Some(4.0),
        "{text}"
    );
}
