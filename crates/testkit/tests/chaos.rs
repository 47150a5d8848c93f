//! Seeded chaos on the CMS, Orange Logic and Creatio emulators over HTTP (the Graph emulator's is
//! in `graph_emulation.rs`): every kind answers in the vendor's shape, a chaos answer (except
//! "slow") leaves the emulator's state untouched, and a seed reproduces the run.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::creatio::CreatioEmulator;
use chatport_testkit::orangelogic::{OrangeLogicEmulator, ROOT_FOLDER};
use chatport_testkit::{Chaos, ChaosCounts, Failure};
use serde_json::{Value, json};

/// What one request ended with, as a client sees it.
async fn outcome(r: reqwest::Result<reqwest::Response>) -> (String, Option<Value>) {
    let Ok(r) = r else {
        return ("dropped".into(), None);
    };
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    match r.bytes().await {
        Err(_) => ("dropped".into(), None),
        Ok(bytes) => {
            if status == 429 {
                assert_eq!(retry_after.as_deref(), Some("2"), "429 carries Retry-After");
            }
            (status.to_string(), serde_json::from_slice(&bytes).ok())
        }
    }
}

fn mixed(seed: u64) -> Chaos {
    Chaos::seeded(seed)
        .throttled(0.15)
        .server_error(0.15)
        .dropped(0.1)
        .slow(0.1, Duration::from_millis(1))
        .retry_after_secs(2)
}

fn tally(outcomes: &[String]) -> impl Fn(&str) -> usize + '_ {
    move |s| outcomes.iter().filter(|o| *o == s).count()
}

// ---------------------------------------------------------------------------------------------
// CMS

async fn cms_token(cms: &CmsEmulator, http: &reqwest::Client) -> String {
    let answer: Value = http
        .post(format!(
            "{}/tenants/{}/oauth2/token",
            cms.base_url(),
            cms.tenant_id()
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", cms.client_id()),
            ("client_secret", cms.client_secret()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

async fn cms_run(chaos: Chaos, n: usize) -> (Vec<String>, Vec<Option<Value>>, CmsEmulator) {
    let cms = CmsEmulator::builder().chaos(chaos).start().await.unwrap();
    let http = reqwest::Client::new();
    let token = cms_token(&cms, &http).await;
    let (mut kinds, mut bodies) = (Vec::new(), Vec::new());
    for i in 0..n {
        let r = http
            .post(format!("{}/cms/instances/object/ca_case", cms.base_url()))
            .bearer_auth(&token)
            .json(&json!({ "name": format!("case {i}") }))
            .send()
            .await;
        let (kind, body) = outcome(r).await;
        kinds.push(kind);
        bodies.push(body);
    }
    (kinds, bodies, cms)
}

#[tokio::test]
async fn cms_chaos_is_seeded_shaped_and_without_effect() {
    let (a, bodies, cms) = cms_run(mixed(11), 80).await;
    let count = tally(&a);
    assert!(
        count("429") > 0 && count("503") > 0 && count("dropped") > 0,
        "{a:?}"
    );
    let counts = cms.chaos_counts();
    assert_eq!(counts.throttled, count("429"));
    assert_eq!(counts.server_error, count("503"));
    assert_eq!(counts.dropped, count("dropped"));
    assert!(counts.slow > 0);
    assert_eq!(cms.chaos_count(), counts.total());
    // Only processed requests (answered normally or slowly) created an instance.
    assert_eq!(cms.instances().len(), count("201") + count("200"));
    assert_eq!(
        cms.instances().len(),
        80 - counts.throttled - counts.server_error - counts.dropped
    );
    for (kind, body) in a.iter().zip(&bodies) {
        match kind.as_str() {
            "429" => assert_eq!(
                body.as_ref().unwrap()["fault"]["detail"]["errorcode"],
                "policies.ratelimit.SpikeArrestViolation"
            ),
            "503" => assert_eq!(body.as_ref().unwrap()["exception"], "ServiceUnavailable"),
            _ => {}
        }
    }
    let (b, _, _) = cms_run(mixed(11), 80).await;
    assert_eq!(a, b, "the same seed gives the same run");
    let (c, _, _) = cms_run(mixed(12), 80).await;
    assert_ne!(a, c, "another seed gives another run");
}

#[tokio::test]
async fn cms_full_share_fails_every_request_and_queued_failures_come_first() {
    let (kinds, _, cms) = cms_run(Chaos::seeded(1).server_error(1.0), 10).await;
    assert!(kinds.iter().all(|k| k == "503"), "{kinds:?}");
    assert!(cms.instances().is_empty());
    assert_eq!(cms.chaos_count(), 10);
    // A queued failure is answered instead of a chaos draw.
    cms.fail_next(1, Failure::Status(418));
    let http = reqwest::Client::new();
    let token = cms_token(&cms, &http).await;
    let r = http
        .get(format!("{}/cms/instances/object/ca_case", cms.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 418);
    assert_eq!(cms.chaos_count(), 10, "no draw for a queued failure");
    let token_requests_ok = cms_token(&cms, &http).await;
    assert!(
        !token_requests_ok.is_empty(),
        "the token endpoint is not subject to chaos"
    );
}

// ---------------------------------------------------------------------------------------------
// Orange Logic

async fn ol_run(chaos: Chaos, n: usize) -> (Vec<String>, Vec<Option<Value>>, OrangeLogicEmulator) {
    let ol = OrangeLogicEmulator::builder()
        .static_token("static-token")
        .chaos(chaos)
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let (mut kinds, mut bodies) = (Vec::new(), Vec::new());
    for i in 0..n {
        let form = reqwest::multipart::Form::new().part(
            "InputStream",
            reqwest::multipart::Part::bytes(vec![1u8, 2, 3]).file_name(format!("f{i}.jpg")),
        );
        let r = http
            .post(format!(
                "{}/API/UploadMedia/v3.0/UploadNewMedia?FolderRecordID={ROOT_FOLDER}&FileName=f{i}.jpg",
                ol.base_url()
            ))
            .bearer_auth("static-token")
            .multipart(form)
            .send()
            .await;
        let (kind, body) = outcome(r).await;
        kinds.push(kind);
        bodies.push(body);
    }
    (kinds, bodies, ol)
}

#[tokio::test]
async fn orangelogic_chaos_is_seeded_shaped_and_without_effect() {
    let before = OrangeLogicEmulator::start().await.unwrap().assets().len();
    let (a, bodies, ol) = ol_run(mixed(21), 80).await;
    let count = tally(&a);
    assert!(
        count("429") > 0 && count("503") > 0 && count("dropped") > 0,
        "{a:?}"
    );
    let counts: ChaosCounts = ol.chaos_counts();
    assert_eq!(
        (counts.throttled, counts.server_error, counts.dropped),
        (count("429"), count("503"), count("dropped"))
    );
    assert!(counts.slow > 0);
    assert_eq!(ol.assets().len() - before, count("200"));
    for (kind, body) in a.iter().zip(&bodies) {
        match kind.as_str() {
            "429" => assert_eq!(
                body.as_ref().unwrap()["APIResponse"]["Code"],
                "TooManyRequests"
            ),
            "503" => assert_eq!(
                body.as_ref().unwrap()["APIResponse"]["Code"],
                "ServiceUnavailable"
            ),
            "200" => assert_eq!(body.as_ref().unwrap()["APIResponse"]["Code"], "SUCCESS"),
            _ => {}
        }
    }
    assert_eq!(
        ol_run(mixed(21), 80).await.0,
        a,
        "the same seed gives the same run"
    );
    let (all, _, ol) = ol_run(Chaos::seeded(5).throttled(1.0).retry_after_secs(2), 10).await;
    assert!(all.iter().all(|k| k == "429"), "{all:?}");
    assert_eq!(ol.assets().len(), before);
}

// ---------------------------------------------------------------------------------------------
// Creatio

async fn creatio_run(chaos: Chaos, n: usize) -> (Vec<String>, Vec<Option<Value>>, CreatioEmulator) {
    let creatio = CreatioEmulator::builder()
        .chaos(chaos)
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(creatio.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", chatport_testkit::creatio::DEFAULT_CLIENT_ID),
            (
                "client_secret",
                chatport_testkit::creatio::DEFAULT_CLIENT_SECRET,
            ),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let (mut kinds, mut bodies) = (Vec::new(), Vec::new());
    for i in 0..n {
        let r = http
            .post(format!("{}/0/odata/Contact", creatio.base_url()))
            .bearer_auth(&token)
            .json(&json!({ "Name": format!("Contact {i}") }))
            .send()
            .await;
        let (kind, body) = outcome(r).await;
        kinds.push(kind);
        bodies.push(body);
    }
    (kinds, bodies, creatio)
}

#[tokio::test]
async fn creatio_chaos_is_seeded_shaped_and_without_effect() {
    let (a, bodies, creatio) = creatio_run(mixed(31), 80).await;
    let count = tally(&a);
    assert!(
        count("429") > 0 && count("503") > 0 && count("dropped") > 0,
        "{a:?}"
    );
    let counts = creatio.chaos_counts();
    assert_eq!(
        (counts.throttled, counts.server_error, counts.dropped),
        (count("429"), count("503"), count("dropped"))
    );
    assert!(counts.slow > 0);
    assert_eq!(creatio.records("Contact").len(), count("201"));
    for (kind, body) in a.iter().zip(&bodies) {
        if kind == "429" || kind == "503" {
            assert!(
                body.as_ref().unwrap()["error"]["message"].is_string(),
                "{body:?}"
            );
        }
    }
    assert_eq!(
        creatio_run(mixed(31), 80).await.0,
        a,
        "the same seed gives the same run"
    );
    let (all, _, creatio) = creatio_run(Chaos::seeded(5).dropped(1.0), 10).await;
    assert!(all.iter().all(|k| k == "dropped"), "{all:?}");
    assert!(creatio.records("Contact").is_empty());
    assert_eq!(creatio.chaos_count(), 10);
}
