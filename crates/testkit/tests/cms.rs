//! The OpenText CMS emulator over real HTTP.

use std::{collections::BTreeSet, time::Duration};

use chatport_testkit::{Failure, cms::CmsEmulator};
use serde_json::{Map, Value, json};

struct Http {
    client: reqwest::Client,
}

impl Http {
    fn new() -> Self {
        Self {
            client: reqwest::Client::new(),
        }
    }

    async fn token(&self, cms: &CmsEmulator) -> String {
        let response = self
            .client
            .post(cms.token_url())
            .json(&json!({
                "client_id": cms.client_id(),
                "client_secret": cms.client_secret(),
                "grant_type": "client_credentials",
            }))
            .send()
            .await
            .expect("token request sent");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("token answer is JSON");
        body["access_token"]
            .as_str()
            .expect("access_token is a string")
            .to_owned()
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("response body read");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, body)
    }

    async fn create(
        &self,
        cms: &CmsEmulator,
        token: &str,
        type_name: &str,
        body: &Value,
    ) -> (u16, Value) {
        let (status, _, body) = self
            .send(
                self.client
                    .post(format!("{}/instances/object/{type_name}", cms.cms_base()))
                    .bearer_auth(token)
                    .json(body),
            )
            .await;
        (status, body)
    }

    async fn get(&self, token: &str, url: &str) -> (u16, Value) {
        let (status, _, body) = self.send(self.client.get(url).bearer_auth(token)).await;
        (status, body)
    }

    async fn list(
        &self,
        cms: &CmsEmulator,
        token: &str,
        type_name: &str,
        query: &[(&str, &str)],
    ) -> (u16, Value) {
        let (status, _, body) = self
            .send(
                self.client
                    .get(format!("{}/instances/object/{type_name}", cms.cms_base()))
                    .query(query)
                    .bearer_auth(token),
            )
            .await;
        (status, body)
    }
}

fn names(page: &Value) -> Vec<String> {
    page["_embedded"]["collection"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["name"].as_str().expect("instance has a name").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn token_flow_json_form_basic_and_password() {
    let cms = CmsEmulator::builder()
        .tenant_id("tenant-42")
        .client("app", "s3cret")
        .user("agent@example.com", "pw")
        .token_ttl(Duration::from_secs(120))
        .start()
        .await
        .unwrap();
    assert_eq!(cms.auth_base(), cms.base_url());
    assert_eq!(cms.cms_base(), format!("{}/cms", cms.base_url()));
    assert_eq!(
        cms.token_url(),
        format!("{}/tenants/tenant-42/oauth2/token", cms.base_url())
    );
    let http = Http::new();

    // JSON body, as the official samples send it.
    let (status, _, body) = http
        .send(http.client.post(cms.token_url()).json(&json!({
            "client_id": "app", "client_secret": "s3cret", "grant_type": "client_credentials"
        })))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 120);
    assert!(body["access_token"].as_str().unwrap().len() >= 20);

    // Form body.
    let (status, _, body) = http
        .send(http.client.post(cms.token_url()).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "app"),
            ("client_secret", "s3cret"),
        ]))
        .await;
    assert_eq!(status, 200, "{body}");

    // Form body with HTTP Basic client authentication.
    let (status, _, body) = http
        .send(
            http.client
                .post(cms.token_url())
                .basic_auth("app", Some("s3cret"))
                .form(&[("grant_type", "client_credentials")]),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Password grant.
    let (status, _, body) = http
        .send(http.client.post(cms.token_url()).json(&json!({
            "client_id": "app", "client_secret": "s3cret", "grant_type": "password",
            "username": "agent@example.com", "password": "pw"
        })))
        .await;
    assert_eq!(status, 200, "{body}");
    let user_token = body["access_token"].as_str().unwrap().to_owned();
    let (status, created) = http
        .create(&cms, &user_token, "ca_case", &json!({ "name": "by user" }))
        .await;
    assert_eq!(status, 201);
    assert_eq!(created["created_by"], "agent@example.com");

    let (status, _, body) = http
        .send(http.client.post(cms.token_url()).json(&json!({
            "client_id": "app", "client_secret": "s3cret", "grant_type": "password",
            "username": "agent@example.com", "password": "wrong"
        })))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");

    // Wrong client.
    let (status, _, body) = http
        .send(http.client.post(cms.token_url()).json(&json!({
            "client_id": "app", "client_secret": "nope", "grant_type": "client_credentials"
        })))
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");

    // Unsupported grant, missing grant, unknown tenant.
    let (status, _, body) = http
        .send(http.client.post(cms.token_url()).form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "app"),
            ("client_secret", "s3cret"),
        ]))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, _, body) = http
        .send(
            http.client
                .post(cms.token_url())
                .json(&json!({ "client_id": "app", "client_secret": "s3cret" })),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _, _) = http
        .send(http.client.post(format!("{}/tenants/other/oauth2/token", cms.base_url())).json(&json!({
            "client_id": "app", "client_secret": "s3cret", "grant_type": "client_credentials"
        })))
        .await;
    assert_eq!(status, 404);

    assert_eq!(cms.token_requests(), 9);
    assert_eq!(cms.tokens_issued(), 4);
}

#[tokio::test]
async fn cms_needs_a_valid_unexpired_token() {
    let cms = CmsEmulator::start().await.unwrap();
    let http = Http::new();
    let url = format!("{}/instances/object/ca_case", cms.cms_base());

    let (status, _, body) = http.send(http.client.get(&url)).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["fault"]["detail"]["errorcode"],
        "oauth.v2.InvalidAccessToken"
    );
    assert!(body["fault"]["faultstring"].is_string());

    let (status, body) = http.get("made-up", &url).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["fault"]["detail"]["errorcode"],
        "keymanagement.service.invalid_access_token"
    );

    let token = http.token(&cms).await;
    let (status, _) = http.get(&token, &url).await;
    assert_eq!(status, 200);

    cms.expire_tokens();
    let (status, body) = http.get(&token, &url).await;
    assert_eq!(status, 401);
    assert_eq!(body["fault"]["faultstring"], "Access Token expired");
    assert_eq!(
        body["fault"]["detail"]["errorcode"],
        "keymanagement.service.access_token_expired"
    );

    let fresh = http.token(&cms).await;
    assert_ne!(fresh, token);
    let (status, _) = http.get(&fresh, &url).await;
    assert_eq!(status, 200);
    assert_eq!(cms.token_requests(), 2);
    assert_eq!(cms.cms_requests(), 5);
}

#[tokio::test]
async fn token_ttl_zero_expires_immediately() {
    let cms = CmsEmulator::builder()
        .token_ttl(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let http = Http::new();
    let token = http.token(&cms).await;
    let (status, body) = http
        .get(&token, &format!("{}/instances/object/x", cms.cms_base()))
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        body["fault"]["detail"]["errorcode"],
        "keymanagement.service.access_token_expired"
    );
}

#[tokio::test]
async fn create_get_and_validation() {
    let cms = CmsEmulator::start().await.unwrap();
    let http = Http::new();
    let token = http.token(&cms).await;

    let (status, created) = http
        .create(
            &cms,
            &token,
            "ca_case",
            &json!({
                "name": "Complaint 1",
                "description": "late delivery",
                "parent_folder_id": "folder-1",
                "acl_id": "acl-9",
                "properties": { "customer_id": "C-1", "priority": 2 },
                "id": "client-chosen ids are ignored",
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "id is a UUID: {id}");
    assert_eq!(created["name"], "Complaint 1");
    assert_eq!(created["category"], "object");
    assert_eq!(created["type"], "ca_case");
    assert_eq!(created["parent_folder_id"], "folder-1");
    assert_eq!(
        created["acl_id"], "acl-9",
        "unknown request fields are kept"
    );
    assert_eq!(created["description"], "late delivery");
    assert_eq!(
        created["properties"],
        json!({ "customer_id": "C-1", "priority": 2 })
    );
    assert_eq!(created["traits"], json!({}));
    assert_eq!(created["created_by"], "test-client");
    for time in ["create_time", "update_time"] {
        assert!(chrono::DateTime::parse_from_rfc3339(created[time].as_str().unwrap()).is_ok());
    }
    let self_href = created["_links"]["self"]["href"].as_str().unwrap();
    assert_eq!(
        self_href,
        format!("{}/instances/object/ca_case/{id}", cms.cms_base())
    );

    let (status, fetched) = http.get(&token, self_href).await;
    assert_eq!(status, 200);
    assert_eq!(fetched, created);
    let (status, fetched) = http
        .get(
            &token,
            &format!("{}/instances/any/cms_any/{id}", cms.cms_base()),
        )
        .await;
    assert_eq!((status, &fetched), (200, &created));

    let (status, body) = http
        .get(
            &token,
            &format!("{}/instances/object/ca_other/{id}", cms.cms_base()),
        )
        .await;
    assert_eq!(status, 404);
    assert!(body["exception"].is_string() && body["message"].is_string());
    let (status, _) = http
        .get(
            &token,
            &format!(
                "{}/instances/object/ca_case/{}",
                cms.cms_base(),
                uuid::Uuid::new_v4()
            ),
        )
        .await;
    assert_eq!(status, 404);

    let (status, body) = http
        .create(&cms, &token, "ca_case", &json!({ "properties": {} }))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "name is required");
    assert!(body["exception"].is_string());
    let (status, _) = http
        .create(&cms, &token, "ca_case", &json!({ "name": "  " }))
        .await;
    assert_eq!(status, 400);
    let (status, _) = http
        .create(
            &cms,
            &token,
            "ca_case",
            &json!({ "name": "x", "properties": [1] }),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _, _) = http
        .send(
            http.client
                .post(format!("{}/instances/any/ca_case", cms.cms_base()))
                .bearer_auth(&token)
                .json(&json!({ "name": "x" })),
        )
        .await;
    assert_eq!(status, 400);

    // A file gets version fields.
    let (status, _, file) = http
        .send(
            http.client
                .post(format!("{}/instances/file/ca_doc", cms.cms_base()))
                .bearer_auth(&token)
                .json(&json!({ "name": "a.pdf" })),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        (file["version_no"].as_i64(), file["latest"].as_bool()),
        (Some(1), Some(true))
    );

    assert_eq!(cms.instances().len(), 2);
    assert_eq!(cms.instances_of_type("ca_case"), vec![created]);
    assert_eq!(cms.instances_of_type("ca_doc").len(), 1);
}

#[tokio::test]
async fn filter_subset_with_escaped_quotes() {
    let cms = CmsEmulator::start().await.unwrap();
    let http = Http::new();
    let token = http.token(&cms).await;
    for (name, customer, key) in [
        ("Case A", "O'Brien & Co", "k-1"),
        ("Case B", "ACME", "k-2"),
        ("Case C", "ACME", "k-3"),
    ] {
        let (status, _) = http
            .create(&cms, &token, "ca_case", &json!({ "name": name, "properties": { "customer": customer, "idempotency_key": key } }))
            .await;
        assert_eq!(status, 201);
    }
    let (status, _) = http
        .create(
            &cms,
            &token,
            "ca_other",
            &json!({ "name": "Other", "properties": { "customer": "ACME" } }),
        )
        .await;
    assert_eq!(status, 201);

    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("customer eq 'O''Brien & Co'", vec!["Case A"]),
        ("customer eq \"O'Brien & Co\"", vec!["Case A"]),
        ("idempotency_key eq 'k-2'", vec!["Case B"]),
        ("customer eq 'ACME'", vec!["Case B", "Case C"]),
        ("customer eq 'ACME' and name eq 'Case C'", vec!["Case C"]),
        ("name eq 'Case A' AND properties.customer eq 'ACME'", vec![]),
        ("idempotency_key eq 'k-404'", vec![]),
        ("customer ne 'ACME'", vec!["Case A"]),
        (
            "customer eq 'ACME' or name eq 'Case A'",
            vec!["Case A", "Case B", "Case C"],
        ),
        ("LOWER(name) like '%a%'", vec!["Case A", "Case B", "Case C"]),
        ("name like 'Case _'", vec![]),
        (
            "(name eq 'Case A' or name eq 'Case B') and customer eq 'ACME'",
            vec!["Case B"],
        ),
    ];
    for (filter, expected) in cases {
        let (status, page) = http
            .list(
                &cms,
                &token,
                "ca_case",
                &[("filter", filter), ("include-total", "true")],
            )
            .await;
        assert_eq!(status, 200, "{filter}: {page}");
        assert_eq!(names(&page), expected, "{filter}");
        assert_eq!(page["total"], expected.len(), "{filter}");
        if expected.is_empty() {
            assert!(
                page.get("_embedded").is_none(),
                "no _embedded when nothing matches: {page}"
            );
        }
    }

    // cms_any spans types.
    let (_, page) = http
        .list(&cms, &token, "cms_any", &[("filter", "customer eq 'ACME'")])
        .await;
    assert_eq!(names(&page), ["Case B", "Case C", "Other"]);
    assert!(
        page.get("total").is_none(),
        "total only with include-total=true"
    );

    for bad in [
        "customer sw 'ACME'",
        "customer eq 'ACME' or",
        "UPPER(name) like '%a%'",
        "customer eq ACME",
        "",
    ] {
        let (status, body) = http.list(&cms, &token, "ca_case", &[("filter", bad)]).await;
        assert_eq!(status, 400, "{bad:?} must be refused, got {body}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn paging_follows_next_links_across_three_pages() {
    let cms = CmsEmulator::start().await.unwrap();
    let http = Http::new();
    let token = http.token(&cms).await;
    for n in 1..=7 {
        let mut properties = Map::new();
        properties.insert("n".to_owned(), json!(n));
        properties.insert("region".to_owned(), json!("EU"));
        cms.seed_instance("object", "ca_case", &format!("Case {n}"), properties);
    }
    cms.seed_instance("object", "ca_case", "Not EU", Map::new());

    let (status, first) = http
        .list(
            &cms,
            &token,
            "ca_case",
            &[
                ("filter", "region eq 'EU'"),
                ("items-per-page", "3"),
                ("include-total", "true"),
                ("sortby", "n desc"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert!(
        first["_links"]["self"]["href"]
            .as_str()
            .unwrap()
            .starts_with(&cms.cms_base())
    );
    assert!(first["_links"].get("previous").is_none());

    let mut pages = vec![first];
    while let Some(next) = pages.last().unwrap()["_links"]["next"]["href"]
        .as_str()
        .map(str::to_owned)
    {
        assert!(pages.len() < 10, "runaway paging");
        let (status, page) = http.get(&token, &next).await;
        assert_eq!(status, 200, "{page}");
        assert!(page["_links"]["previous"]["href"].is_string());
        pages.push(page);
    }
    assert_eq!(pages.len(), 3);
    let sizes: Vec<usize> = pages.iter().map(|p| names(p).len()).collect();
    assert_eq!(sizes, [3, 3, 1]);
    for page in &pages {
        assert_eq!(
            page["total"], 7,
            "filter, total and sort survive the next links"
        );
    }
    let all: Vec<String> = pages.iter().flat_map(names).collect();
    assert_eq!(
        all,
        (1..=7)
            .rev()
            .map(|n| format!("Case {n}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 7);

    // Past the end: empty, no _embedded, no next.
    let (status, past) = http
        .list(
            &cms,
            &token,
            "ca_case",
            &[("items-per-page", "3"), ("page", "9")],
        )
        .await;
    assert_eq!(status, 200);
    assert!(past.get("_embedded").is_none());
    assert!(past["_links"].get("next").is_none());

    for (key, value) in [
        ("page", "0"),
        ("page", "x"),
        ("items-per-page", "0"),
        ("include-total", "maybe"),
        ("sortby", "n sideways"),
    ] {
        let (status, _) = http.list(&cms, &token, "ca_case", &[(key, value)]).await;
        assert_eq!(status, 400, "{key}={value}");
    }
}

#[tokio::test]
async fn failure_injection_and_rate_limit() {
    let cms = CmsEmulator::start().await.unwrap();
    let http = Http::new();
    cms.fail_next_token(1, Failure::Status(503));
    let (status, _, body) = http
        .send(http.client.post(cms.token_url()).json(&json!({
            "client_id": cms.client_id(), "client_secret": cms.client_secret(), "grant_type": "client_credentials"
        })))
        .await;
    assert_eq!(status, 503);
    assert!(body["exception"].is_string());
    let token = http.token(&cms).await;

    cms.fail_next(1, Failure::Status(500));
    cms.enqueue_failures(
        1,
        Failure::Http429 {
            retry_after_secs: 3,
        },
    );
    cms.enqueue_failures(1, Failure::NonJson(504));
    cms.enqueue_failures(1, Failure::cms_error(409, "ConflictException", "busy"));
    assert_eq!(cms.pending_failures(), 4);
    let create = json!({ "name": "retry me" });
    let (status, body) = http.create(&cms, &token, "ca_case", &create).await;
    assert_eq!(status, 500);
    assert!(body["message"].is_string());
    let (status, headers, _) = http
        .send(
            http.client
                .post(format!("{}/instances/object/ca_case", cms.cms_base()))
                .bearer_auth(&token)
                .json(&create),
        )
        .await;
    assert_eq!(
        (status, headers["retry-after"].to_str().unwrap()),
        (429, "3")
    );
    let (status, body) = http.create(&cms, &token, "ca_case", &create).await;
    assert_eq!(status, 504);
    assert!(body.is_string(), "HTML, not JSON");
    let (status, body) = http.create(&cms, &token, "ca_case", &create).await;
    assert_eq!(
        (status, body["exception"].as_str()),
        (409, Some("ConflictException"))
    );
    assert!(cms.instances().is_empty(), "failed requests have no effect");
    assert_eq!(cms.pending_failures(), 0);
    let (status, _) = http.create(&cms, &token, "ca_case", &create).await;
    assert_eq!(status, 201);
    assert_eq!(cms.instances().len(), 1);
    cms.fail_next(50, Failure::Status(503));
    cms.fail_next(0, Failure::Status(503));
    assert_eq!(cms.pending_failures(), 0, "fail_next(0, _) cancels");
    let (status, _) = http.create(&cms, &token, "ca_case", &create).await;
    assert_eq!(status, 201);

    let limited = CmsEmulator::builder()
        .rate_limit_per_sec(Some(1))
        .start()
        .await
        .unwrap();
    let token = http.token(&limited).await;
    let mut statuses = Vec::new();
    let mut fault = Value::Null;
    for _ in 0..10 {
        let (status, body) = http.list(&limited, &token, "ca_case", &[]).await;
        if status == 429 {
            fault = body;
        }
        statuses.push(status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(
        fault["fault"]["detail"]["errorcode"],
        "policies.ratelimit.SpikeArrestViolation"
    );

    assert!(matches!(
        CmsEmulator::builder()
            .rate_limit_per_sec(Some(0))
            .start()
            .await,
        Err(chatport_testkit::Error::Config(_))
    ));
}
