use std::time::Duration;

use chatport_creatio::{Client, ClientBuilder, RetryPolicy};
use secrecy::SecretString;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub(crate) const LOGIN_PATH: &str = "/ServiceModel/AuthService.svc/Login";
pub(crate) const CONTACT_ID: &str = "c4ed336c-3e9b-40fe-8b82-5632476472b4";
pub(crate) const CASE_ID: &str = "0a9a1e6b-3f34-4f7e-a0b8-5b1f9a8b6c11";

pub(crate) fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("fixture is JSON")
}

pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy::default().with_delays(Duration::from_millis(5), Duration::from_millis(20))
}

pub(crate) fn forms_builder(server: &MockServer) -> ClientBuilder {
    Client::builder()
        .base_url(&server.uri())
        .forms_auth("Supervisor", SecretString::from("pass-word-1"))
        .retry_policy(fast_retry())
}

pub(crate) fn oauth_builder(server: &MockServer) -> ClientBuilder {
    Client::builder()
        .base_url(&server.uri())
        .identity_url(&format!("{}/is", server.uri()))
        .oauth_client_credentials("chatport-app", SecretString::from("client-secret-value"))
        .retry_policy(fast_retry())
}

/// A login answer setting the session cookie `.ASPXAUTH=<session>` and the given CSRF cookies.
pub(crate) fn login_response(session: &str, csrf: &[(&str, &str)]) -> ResponseTemplate {
    let mut t = ResponseTemplate::new(200)
        .set_body_json(fixture("login_ok.json"))
        .append_header("Set-Cookie", "BPMLOADER=loader-1; path=/0; HttpOnly")
        .append_header(
            "Set-Cookie",
            format!(".ASPXAUTH={session}; path=/0; HttpOnly").as_str(),
        )
        .append_header("Set-Cookie", "UserName=83|117; path=/; HttpOnly");
    for (name, value) in csrf {
        t = t.append_header("Set-Cookie", format!("{name}={value}; path=/").as_str());
    }
    t
}

/// Mounts a login endpoint that answers `session` with a `BPMCSRF` cookie, `times` times.
pub(crate) async fn mount_login(server: &MockServer, session: &str, times: u64) {
    Mock::given(method("POST"))
        .and(path(LOGIN_PATH))
        .respond_with(login_response(session, &[("BPMCSRF", "csrf-1")]))
        .expect(times)
        .named("login")
        .mount(server)
        .await;
}

/// Matches requests whose `Cookie` header contains `needle`.
pub(crate) struct CookieHas(pub(crate) &'static str);

impl wiremock::Match for CookieHas {
    fn matches(&self, request: &Request) -> bool {
        request
            .headers
            .get_all("cookie")
            .iter()
            .any(|v| v.to_str().is_ok_and(|s| s.contains(self.0)))
    }
}

/// Matches requests without a header of that name.
pub(crate) struct NoHeader(pub(crate) &'static str);

impl wiremock::Match for NoHeader {
    fn matches(&self, request: &Request) -> bool {
        !request.headers.contains_key(self.0)
    }
}

pub(crate) fn contact_path() -> String {
    format!("/0/odata/Contact({CONTACT_ID})")
}

pub(crate) fn contact_body() -> Value {
    serde_json::json!({"Id": CONTACT_ID, "Name": "Anna"})
}
