use std::time::Duration;

use chatport_opentext::{Client, ClientBuilder, RetryPolicy};
use secrecy::SecretString;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) const TENANT: &str = "tenant-0001";
pub(crate) const TOKEN_PATH: &str = "/tenants/tenant-0001/oauth2/token";
pub(crate) const CASE_ID: &str = "2f6a3c1e-8d3b-4b7e-9a57-0d1f4e2b7c90";

pub(crate) fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// Quick retries so that tests do not wait for the production delays.
pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy::default().with_delays(Duration::from_millis(5), Duration::from_millis(20))
}

pub(crate) fn builder(server: &MockServer) -> ClientBuilder {
    Client::builder()
        .tenant_id(TENANT)
        .auth_base(&server.uri())
        .cms_base(&format!("{}/cms", server.uri()))
        .client_credentials("chatport-app", SecretString::from("client-secret-value"))
        .retry_policy(fast_retry())
        .no_rate_limit()
}

pub(crate) fn client(server: &MockServer) -> Client {
    builder(server).build().expect("valid test configuration")
}

/// The token endpoint answering `token.json` (`tok-1`, 899 s), expected `times` times.
pub(crate) async fn mount_token(server: &MockServer, times: u64) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("token.json")))
        .expect(times)
        .named("token endpoint")
        .mount(server)
        .await;
}

pub(crate) fn case_path() -> String {
    format!("/cms/instances/object/ca_case/{CASE_ID}")
}
