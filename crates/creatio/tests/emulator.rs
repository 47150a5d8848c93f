//! The client against the stateful Creatio emulator of `chatport-testkit`: both sides implement
//! the wire format independently, so these tests check them against each other.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chatport_core::{EventId, IdempotencyKey};
use chatport_creatio::{
    Activity, Batch, BatchOutcome, Case, CaseFile, Client, ClientBuilder, Contact, Entity, Error,
    Order, Platform, Query, RetryPolicy, Upload, filter,
};
use chatport_testkit::Failure;
use chatport_testkit::creatio::{CreatioEmulator, CsrfStyle, ExpirySignal};
use futures::TryStreamExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fast() -> RetryPolicy {
    RetryPolicy::default().with_delays(Duration::from_millis(5), Duration::from_millis(20))
}

fn forms(emu: &CreatioEmulator) -> ClientBuilder {
    Client::builder()
        .base_url(&emu.base_url())
        .forms_auth(
            emu.username(),
            SecretString::from(emu.password().to_owned()),
        )
        .retry_policy(fast())
}

fn oauth(emu: &CreatioEmulator) -> ClientBuilder {
    Client::builder()
        .base_url(&emu.base_url())
        .identity_url(&emu.identity_url())
        .oauth_client_credentials(
            emu.client_id(),
            SecretString::from(emu.client_secret().to_owned()),
        )
        .retry_policy(fast())
}

#[tokio::test]
async fn forms_crud_with_every_csrf_style_and_both_paths() {
    for (style, platform) in [
        (CsrfStyle::Legacy, Platform::NetFramework),
        (CsrfStyle::Modern, Platform::NetCore),
        (CsrfStyle::Both, Platform::NetFramework),
        (CsrfStyle::Disabled, Platform::NetCore),
    ] {
        let emu = CreatioEmulator::builder()
            .csrf(style)
            .start()
            .await
            .unwrap();
        let client = forms(&emu).platform(platform).build().unwrap();
        let contact = Contact {
            name: Some("Anna O'Brien".into()),
            mobile_phone: Some("+4915112345678".into()),
            ..Contact::new()
        };
        let created: Contact = client.create(Contact::SET, &contact).await.unwrap();
        let id = created.id.unwrap();
        let found = client
            .list::<Contact>(
                Contact::SET,
                &Query::new().filter(filter::eq("Name", "Anna O'Brien")),
            )
            .await
            .unwrap();
        assert_eq!(found.value.len(), 1, "{style:?}");
        client
            .update(Contact::SET, id, &json!({"Email": "anna@example.com"}))
            .await
            .unwrap();
        let read: Contact = client.get(Contact::SET, id, &Query::new()).await.unwrap();
        assert_eq!(read.email.as_deref(), Some("anna@example.com"));
        client.delete(Contact::SET, id).await.unwrap();
        assert!(
            client
                .find::<Contact>(Contact::SET, id, &Query::new())
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(emu.logins(), 1);
    }
}

#[tokio::test]
async fn wrong_password_is_refused_with_http_200() {
    let emu = CreatioEmulator::start().await.unwrap();
    let client = Client::builder()
        .base_url(&emu.base_url())
        .forms_auth(emu.username(), SecretString::from("wrong"))
        .build()
        .unwrap();
    let err = client.authenticate().await.unwrap_err();
    assert!(
        matches!(err, Error::LoginRefused { code: 1, .. }),
        "{err:?}"
    );
    assert_eq!(emu.login_requests(), 1);
}

#[tokio::test]
async fn every_expiry_signal_leads_to_one_relogin() {
    for signal in [
        ExpirySignal::Unauthorized,
        ExpirySignal::Forbidden,
        ExpirySignal::RedirectToLogin,
        ExpirySignal::HtmlLoginPage,
    ] {
        let emu = CreatioEmulator::start().await.unwrap();
        let case = emu.seed("Case", json!({"Subject": "s"})).unwrap();
        let id = Uuid::parse_str(case["Id"].as_str().unwrap()).unwrap();
        let client = forms(&emu).build().unwrap();
        client.authenticate().await.unwrap();
        emu.expire_sessions(signal);
        let reads = futures::future::join_all((0..10).map(|_| {
            let client = client.clone();
            async move { client.get::<Case>(Case::SET, id, &Query::new()).await }
        }))
        .await;
        assert!(reads.iter().all(Result::is_ok), "{signal:?}: {reads:?}");
        assert_eq!(emu.logins(), 2, "{signal:?}: one re-login for 10 requests");
    }
}

#[tokio::test]
async fn oauth_token_refresh_after_expiry() {
    let emu = CreatioEmulator::start().await.unwrap();
    let client = oauth(&emu).build().unwrap();
    let _: Vec<Case> = client
        .list::<Case>(Case::SET, &Query::new())
        .await
        .unwrap()
        .value;
    emu.expire_tokens();
    let _ = client.list::<Case>(Case::SET, &Query::new()).await.unwrap();
    assert_eq!(emu.tokens_issued(), 2);
}

#[tokio::test]
async fn filters_paging_and_row_cap() {
    let emu = CreatioEmulator::builder().row_cap(7).start().await.unwrap();
    let case = Uuid::new_v4();
    for i in 0..25 {
        emu.seed(
            "Activity",
            json!({"Title": format!("msg {i:02}"), "CaseId": if i % 2 == 0 { case.to_string() } else { Uuid::nil().to_string() }}),
        )
        .unwrap();
    }
    let client = forms(&emu).row_cap(7).build().unwrap();
    let all: Vec<Activity> = client
        .entities(
            Activity::SET,
            &Query::new().order_by("Title", Order::Asc),
            100,
        )
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 25);
    assert_eq!(all[24].title.as_deref(), Some("msg 24"));
    let of_case: Vec<Activity> = client
        .entities(
            Activity::SET,
            &Query::new()
                .filter(filter::lookup_eq("Case", case).and(filter::contains("Title", "MSG 1")))
                .order_by("Title", Order::Desc),
            3,
        )
        .items()
        .try_collect()
        .await
        .unwrap();
    let titles: Vec<_> = of_case.iter().filter_map(|a| a.title.clone()).collect();
    assert_eq!(titles, ["msg 18", "msg 16", "msg 14", "msg 12", "msg 10"]);
}

#[tokio::test]
async fn batch_continue_on_error_against_the_emulator() {
    let emu = CreatioEmulator::start().await.unwrap();
    let existing = emu.seed("Activity", json!({"Title": "old"})).unwrap();
    let client = forms(&emu).build().unwrap();
    let mut batch = Batch::new().continue_on_error(true);
    batch.create(Activity::SET, &json!({"Title": "a"})).unwrap();
    batch
        .create(
            Activity::SET,
            &json!({"Id": existing["Id"], "Title": "dup"}),
        )
        .unwrap();
    batch.create(Activity::SET, &json!({"Title": "c"})).unwrap();
    let results = client.batch(&batch).await.unwrap();
    assert!(results[0].is_ok());
    match &results[1].outcome {
        BatchOutcome::Failed(e) => assert!(e.is_duplicate_key(), "{e:?}"),
        other => panic!("{other:?}"),
    }
    assert!(results[2].is_ok());
    assert_eq!(emu.records("Activity").len(), 3);

    let mut stop = Batch::new();
    stop.create(Activity::SET, &json!({"Id": existing["Id"]}))
        .unwrap();
    stop.create(Activity::SET, &json!({"Title": "never"}))
        .unwrap();
    let results = client.batch(&stop).await.unwrap();
    assert!(matches!(results[1].outcome, BatchOutcome::NotExecuted));
    assert_eq!(emu.records("Activity").len(), 3);
}

fn key() -> IdempotencyKey {
    IdempotencyKey::derive("C1", "create_case", &EventId::new("wamid.emulator"))
}

#[tokio::test]
async fn retried_create_does_not_duplicate_the_case() {
    let emu = CreatioEmulator::start().await.unwrap();
    let client = forms(&emu).build().unwrap();
    let draft = Case {
        subject: Some("WhatsApp handoff".into()),
        ..Case::new()
    };
    let first = client
        .create_with_key::<Case, _>(Case::SET, &key(), &draft)
        .await
        .unwrap();
    assert!(!first.existed);
    assert!(first.record.number.as_deref().unwrap().starts_with("SR"));
    let again = client
        .create_with_key::<Case, _>(Case::SET, &key(), &draft)
        .await
        .unwrap();
    assert!(again.existed);
    assert_eq!(again.id, first.id);
    assert_eq!(emu.records("Case").len(), 1);
}

#[tokio::test]
async fn create_that_times_out_is_found_not_repeated() {
    let emu = CreatioEmulator::start().await.unwrap();
    let client = forms(&emu)
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    client.authenticate().await.unwrap();
    emu.fail_next(1, Failure::Delay(Duration::from_secs(2)));
    let created = client
        .create_with_key::<Case, _>(Case::SET, &key(), &Case::new())
        .await
        .unwrap();
    assert!(created.existed);
    assert_eq!(emu.records("Case").len(), 1);
}

#[tokio::test]
async fn injected_server_errors_are_retried_on_reads() {
    let emu = CreatioEmulator::start().await.unwrap();
    let client = forms(&emu).build().unwrap();
    client.authenticate().await.unwrap();
    emu.fail_next(2, Failure::Status(503));
    let page = client.list::<Case>(Case::SET, &Query::new()).await.unwrap();
    assert!(page.value.is_empty());
    emu.fail_next(1, Failure::Status(503));
    let err = client
        .create::<Case, _>(Case::SET, &Case::new())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "creates are not retried in-client");
}

#[tokio::test]
async fn chunked_upload_is_assembled_into_a_case_file() {
    let emu = CreatioEmulator::start().await.unwrap();
    let client = forms(&emu).upload_chunk_size(1000).build().unwrap();
    let case: Case = client.create(Case::SET, &Case::new()).await.unwrap();
    let case_id = case.id.unwrap();
    let data: Vec<u8> = (0..3500u32).map(|i| (i % 253) as u8).collect();
    let upload = Upload::case_file(case_id, "voice.ogg", "audio/ogg", data.len() as u64);
    let file_id = client.upload_file(&upload, &data[..]).await.unwrap();
    assert!(emu.file_complete(file_id));
    assert_eq!(emu.file_bytes(file_id).unwrap(), data);
    let files = client
        .list::<CaseFile>(
            CaseFile::SET,
            &Query::new().filter(filter::lookup_eq("Case", case_id)),
        )
        .await
        .unwrap();
    assert_eq!(files.value.len(), 1);
    assert_eq!(files.value[0].name.as_deref(), Some("voice.ogg"));
    assert_eq!(files.value[0].size(), Some(3500));

    // Download: the OData `Data` stream gives back the bytes the upload stored.
    let download = client.download_case_file(file_id).await.unwrap();
    assert_eq!(download.content_type.as_deref(), Some("audio/ogg"));
    assert_eq!(download.length, Some(3500));
    assert_eq!(download.file_name.as_deref(), Some("voice.ogg"));
    let mut out = Vec::new();
    assert_eq!(download.write_to(&mut out).await.unwrap(), 3500);
    assert_eq!(out, data);
    let spooled = client
        .download_file(CaseFile::SET, file_id)
        .await
        .unwrap()
        .spool()
        .await
        .unwrap();
    assert_eq!(spooled.length, 3500);
    assert_eq!(std::fs::read(spooled.path()).unwrap(), data);
    let path = spooled.path().to_owned();
    drop(spooled);
    assert!(!path.exists(), "the temporary file is deleted on drop");

    // A record without stored content is an empty download; a missing record is a 404.
    let empty: CaseFile = client
        .create(
            CaseFile::SET,
            &serde_json::json!({"Name": "empty.txt", "CaseId": case_id}),
        )
        .await
        .unwrap();
    let mut none = Vec::new();
    let d = client.download_case_file(empty.id.unwrap()).await.unwrap();
    assert_eq!(d.length, Some(0));
    assert_eq!(d.write_to(&mut none).await.unwrap(), 0);
    client.delete(CaseFile::SET, file_id).await.unwrap();
    let err = client.download_case_file(file_id).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn agent_reply_calls_the_configured_endpoint_and_the_activity_can_be_fetched() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/creatio/webhook/tok"))
        .respond_with(ResponseTemplate::new(202))
        .expect(2)
        .mount(&receiver)
        .await;
    let emu = CreatioEmulator::builder()
        .webhook_url(format!("{}/creatio/webhook/tok", receiver.uri()))
        .webhook_secret("s3cret")
        .start()
        .await
        .unwrap();
    let client = oauth(&emu).build().unwrap();
    let case: Case = client.create(Case::SET, &Case::new()).await.unwrap();
    let case_id = case.id.unwrap();
    let (activity, call) = emu
        .post_agent_reply(case_id, "Hello, we are on it")
        .await
        .unwrap();
    let call = call.unwrap();
    assert_eq!(call.status, Some(202));
    let received = &receiver.received_requests().await.unwrap()[0];
    assert_eq!(
        received.headers.get("X-Connector-Secret").unwrap(),
        "s3cret"
    );
    let body: Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(body["event_type"], "new_activity");
    assert_eq!(body["caseId"], case_id.to_string());
    assert_eq!(body["caseNumber"], case.number.clone().unwrap());
    let activity_id = Uuid::parse_str(body["activityId"].as_str().unwrap()).unwrap();
    assert_eq!(activity["Id"], body["activityId"]);
    // The receiver does not trust the body: it reads the activity back.
    let fetched: Activity = client
        .get(Activity::SET, activity_id, &Query::new())
        .await
        .unwrap();
    assert_eq!(fetched.notes.as_deref(), Some("Hello, we are on it"));
    assert_eq!(fetched.case_id, Some(case_id));
    assert_ne!(
        fetched.created_by_id.unwrap().to_string(),
        chatport_testkit::creatio::INTEGRATION_CONTACT_ID
    );

    let closed = emu
        .set_case_status(case_id, client.lookups().case_status_resolved)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed.body["event_type"], "case_closed");
}
