use std::time::{Duration, Instant};

use chatport_opentext::{Category, Error, RateLimit};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

#[tokio::test]
async fn limiter_is_on_by_default_and_shared_by_clones() {
    let server = MockServer::start().await;
    let c = builder(&server).requests_per_second(5).build().unwrap();
    let limit = c.rate_limit().expect("a limiter by default");
    assert_eq!(limit.requests_per_second(), 5);
    assert!(c.clone().rate_limit().unwrap().same_as(limit));
    let default = chatport_opentext::Client::builder()
        .tenant_id("t")
        .auth_base("http://127.0.0.1:1")
        .cms_base("http://127.0.0.1:1/cms")
        .client_credentials("id", secrecy::SecretString::from("s"))
        .build()
        .unwrap();
    assert_eq!(
        default.rate_limit().unwrap().requests_per_second(),
        chatport_opentext::DEFAULT_REQUESTS_PER_SECOND
    );
    assert!(
        builder(&server)
            .no_rate_limit()
            .build()
            .unwrap()
            .rate_limit()
            .is_none()
    );
    assert!(matches!(
        builder(&server).requests_per_second(0).build(),
        Err(Error::Config(_))
    ));
}

/// Two clients of one tenant share a limiter of 2 requests per second: the 5th request of the
/// two together cannot start before one second has passed. (A lower bound only: a slow machine
/// makes it later, never earlier.)
#[tokio::test]
async fn a_shared_limiter_spaces_requests_of_several_clients() {
    let server = MockServer::start().await;
    mount_token(&server, 2).await;
    Mock::given(method("GET"))
        .and(path(case_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("instance_case.json")))
        .expect(5)
        .mount(&server)
        .await;
    let shared = RateLimit::per_second(2).unwrap();
    let a = builder(&server).rate_limit(shared.clone()).build().unwrap();
    let b = builder(&server).rate_limit(shared.clone()).build().unwrap();
    assert!(a.rate_limit().unwrap().same_as(b.rate_limit().unwrap()));
    let started = Instant::now();
    for c in [&a, &b, &a, &b, &a] {
        c.get_instance(Category::Object, "ca_case", CASE_ID)
            .await
            .unwrap();
    }
    // Burst of 2, then one every 500 ms: the 5th request waits for 1.5 s of budget.
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
}
