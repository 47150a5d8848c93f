use std::time::Duration;

use chatport_orangelogic::{Client, ClientBuilder, RetryPolicy};
use secrecy::SecretString;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) const CC_PATH: &str =
    "/webapi/security/clientcredentialsauthentication/authenticate_46H_v1";
pub(crate) const SEARCH: &str = "/API/Search/v4.0/Search";

pub(crate) fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("fixture is JSON")
}

pub(crate) fn ok(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(fixture(name))
}

pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy::default().with_delays(Duration::from_millis(5), Duration::from_millis(20))
}

pub(crate) fn builder(server: &MockServer) -> ClientBuilder {
    Client::builder()
        .base_url(&server.uri())
        .client_credentials("chatport-app", SecretString::from("client-secret-value"))
        .retry_policy(fast_retry())
}

pub(crate) fn client(server: &MockServer) -> Client {
    builder(server).build().expect("valid test configuration")
}

/// The client-credentials endpoint answering `token.json` (`tok-1`), expected `times` times.
pub(crate) async fn mount_token(server: &MockServer, times: u64) {
    Mock::given(method("POST"))
        .and(path(CC_PATH))
        .respond_with(ok("token.json"))
        .expect(times)
        .named("token endpoint")
        .mount(server)
        .await;
}
