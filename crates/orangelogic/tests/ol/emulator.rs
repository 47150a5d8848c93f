//! The client end to end against the testkit's Orange Logic emulator (real HTTP on loopback).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use chatport_core::{Classify, ErrorClass};
use chatport_orangelogic::{
    AssetRef, ChunkedEndpoints, Client, ClientBuilder, Error, LinkConfig, LinkExpiry,
    PresignedLinkRequest, PublicShareRequest, Query, RecentEvents, SearchRequest, UploadConfig,
    UploadPath, UploadRequest, WebhookAuthenticator, WebhookFields, date_range_query, parse_events,
};
use chatport_testkit::Failure;
use chatport_testkit::orangelogic::{
    CHUNKED_COMPLETE_PATH, CHUNKED_REGISTER_PATH, CHUNKED_TRANSACTION_PATH, OrangeLogicEmulator,
    PRESIGNED_LINKS_PATH, PUBLIC_SHARE_PATH, ROOT_FOLDER, webhook_url,
};
use futures::TryStreamExt;
use secrecy::SecretString;
use serde_json::{Map, json};

use crate::common::fast_retry;

fn builder(emu: &OrangeLogicEmulator) -> ClientBuilder {
    Client::builder()
        .base_url(&emu.base_url())
        .client_credentials(
            emu.client_id(),
            SecretString::from(emu.client_secret().to_owned()),
        )
        .retry_policy(fast_retry())
        .upload_config(
            UploadConfig::default()
                .chunked_threshold(300_000)
                .chunk_size(131_072)
                .chunked_endpoints(ChunkedEndpoints::new(
                    CHUNKED_TRANSACTION_PATH,
                    CHUNKED_REGISTER_PATH,
                    CHUNKED_COMPLETE_PATH,
                )),
        )
        .link_config(
            LinkConfig::default()
                .presigned_path(PRESIGNED_LINKS_PATH)
                .public_share_path(PUBLIC_SHARE_PATH),
        )
}

fn fields(pairs: &[(&str, serde_json::Value)]) -> Map<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

#[tokio::test]
async fn search_listing_pages_items_across_pages_and_query_subset() {
    let emu = OrangeLogicEmulator::start().await.unwrap();
    let folder = emu.seed_folder("Campaigns", ROOT_FOLDER);
    for i in 0..7 {
        emu.seed_asset(
            &format!("Spring {i}"),
            &folder,
            fields(&[
                (
                    "CoreField.Keywords",
                    json!(["spring launch", format!("n{i}")]),
                ),
                ("MAY.Rights-End", json!(format!("2026-03-{:02}", 10 + i))),
            ]),
            None,
        );
    }
    emu.seed_asset("Other", &folder, Map::new(), None);
    let client = builder(&emu).build().unwrap();

    let request = SearchRequest::new(Query::term("Keyword", "spring launch"))
        .fields(["SystemIdentifier", "Title"])
        .page_size(3);
    let pages: Vec<_> = client.search(&request).pages().try_collect().await.unwrap();
    assert_eq!(
        pages.iter().map(|p| p.items.len()).collect::<Vec<_>>(),
        [3, 3, 1]
    );
    assert_eq!(pages[0].total_count, Some(7));
    // The items stream crosses the page boundaries (3 + 3 + 1), drained without pinning.
    let mut stream = client.search(&request).items();
    let mut items = Vec::new();
    while let Some(item) = stream.try_next().await.unwrap() {
        items.push(item);
    }
    assert_eq!(items.len(), 7);
    assert_eq!(items[0].text("Title").as_deref(), Some("Spring 0"));

    let window = date_range_query(
        "MAY.Rights-End",
        chrono::NaiveDate::from_ymd_opt(2026, 3, 12).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 3, 14).unwrap(),
    );
    let hits: Vec<_> = client
        .search(&SearchRequest::new(
            window.and(Query::term("ParentFolderIdentifier", &folder)),
        ))
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(hits.len(), 3);

    // A query outside the subset: HTTP 200 with an error code.
    let err = client
        .search_page(&SearchRequest::new(Query::raw("Title:(")), 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("INVALID_QUERY"));
    assert_eq!(err.status(), Some(200));
    assert_eq!(client.token_requests().await, 1);
}

#[tokio::test]
async fn datatable_updates_keywords_moves_and_folders() {
    let emu = OrangeLogicEmulator::start().await.unwrap();
    emu.seed_keywords(["approved"]);
    let inbox = emu.seed_folder("Inbox", ROOT_FOLDER);
    let asset = emu.seed_asset("Shot", &inbox, Map::new(), None);
    let client = builder(&emu).build().unwrap();
    let by_id = AssetRef::Identifier(asset.identifier.clone());

    client
        .set_fields(
            &by_id,
            [
                ("CoreField.Title", "Site visit & notes"),
                ("MAY.Project", "P-7"),
            ],
        )
        .await
        .unwrap();
    client
        .add_keywords(&by_id, ["approved"], false)
        .await
        .unwrap();
    let err = client
        .add_keywords(&by_id, ["brand-new"], false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("UNKNOWN_TAG"));
    client
        .add_keywords(&by_id, ["brand-new", "approved"], true)
        .await
        .unwrap();

    let project = client
        .ensure_folder("Default", "Project P-7", ROOT_FOLDER)
        .await
        .unwrap();
    let again = client
        .ensure_folder("Default", "Project P-7", ROOT_FOLDER)
        .await
        .unwrap();
    assert_eq!(project, again, "ensure_folder finds the existing folder");
    client
        .move_to_folder(&by_id, &AssetRef::RecordId(project.clone()))
        .await
        .unwrap();

    let stored = emu.asset(&asset.record_id).unwrap();
    assert_eq!(stored.fields["CoreField.Title"], "Site visit & notes");
    assert_eq!(stored.fields["MAY.Project"], "P-7");
    assert_eq!(
        stored.fields["CoreField.Keywords"],
        json!(["approved", "brand-new"])
    );
    assert_eq!(stored.fields["CoreField.Parent-folder"], json!(project));
    // back to the root, the folder named by its unique identifier (CoreField.Unique-Identifier)
    let root_identifier = emu.asset(ROOT_FOLDER).unwrap().identifier;
    client
        .move_to_folder(&by_id, &AssetRef::Identifier(root_identifier))
        .await
        .unwrap();
    assert_eq!(
        emu.asset(&asset.record_id).unwrap().fields["CoreField.Parent-folder"],
        json!(ROOT_FOLDER)
    );
    client
        .move_to_folder(&by_id, &AssetRef::RecordId(project.clone()))
        .await
        .unwrap();

    let read = client.read_asset(&by_id).await.unwrap().unwrap();
    assert_eq!(read.record_id().as_deref(), Some(asset.record_id.as_str()));
    assert!(
        client
            .read_asset(&AssetRef::Identifier("NOPE".into()))
            .await
            .unwrap()
            .is_none()
    );
    let err = client
        .set_fields(
            &AssetRef::Identifier("NOPE".into()),
            [("CoreField.Title", "x")],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("RECORD_NOT_FOUND"));
}

#[tokio::test]
async fn both_upload_paths_store_the_exact_bytes() {
    let emu = OrangeLogicEmulator::start().await.unwrap();
    let folder = emu.seed_folder("Field", ROOT_FOLDER);
    let client = builder(&emu).build().unwrap();

    let small = content(10_000);
    let out = client
        .upload(
            &UploadRequest::new(&folder, "site.jpg", small.len() as u64),
            std::io::Cursor::new(small.clone()),
        )
        .await
        .unwrap();
    assert_eq!(out.path, UploadPath::Single);
    let id = out.identifier.unwrap();
    assert_eq!(emu.asset_bytes(&id).unwrap(), small);
    assert_eq!(emu.asset(&id).unwrap().fields["MediaType"], "Image");

    let big = content(700_001);
    let out = client
        .upload(
            &UploadRequest::new(&folder, "walkthrough.mov", big.len() as u64),
            std::io::Cursor::new(big.clone()),
        )
        .await
        .unwrap();
    assert_eq!(out.path, UploadPath::Chunked { chunks: 6 });
    let id = out.identifier.unwrap();
    assert_eq!(
        emu.asset_bytes(&id).unwrap(),
        big,
        "chunks assembled in order"
    );
    assert_eq!(out.record_id.unwrap(), emu.asset(&id).unwrap().record_id);
    // Register went as a form with `files` JSON-serialised and the uploader name.
    assert_eq!(
        emu.register_uploaders(),
        [Some("Cortex Uploader".to_owned())]
    );
    let chunks = emu.chunks();
    assert_eq!(chunks.len(), 6);
    let mut expected_start = 0;
    for c in &chunks {
        assert_eq!(c.start, expected_start);
        assert_eq!(c.start % 131_072, 0);
        assert!((c.end + 1) % 131_072 == 0 || c.end + 1 == 700_001);
        assert_eq!(c.len, c.end - c.start + 1);
        assert_eq!(c.total_length, 700_001);
        expected_start = c.end + 1;
    }
    assert_eq!(expected_start, 700_001);
    assert!(!out.already_existed);

    // The same file again: "Complete" answers AlreadyExists with the first asset's record id.
    let record_id = emu.asset(&id).unwrap().record_id;
    let again = client
        .upload(
            &UploadRequest::new(&folder, "walkthrough.mov", big.len() as u64),
            std::io::Cursor::new(big.clone()),
        )
        .await
        .unwrap();
    assert!(again.already_existed);
    assert_eq!(again.record_id.as_deref(), Some(record_id.as_str()));
    assert_eq!(again.identifier.as_deref(), Some(id.as_str()));

    let err = client
        .upload(
            &UploadRequest::new("NO-SUCH-FOLDER", "x.jpg", 3),
            std::io::Cursor::new(vec![1, 2, 3]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("FOLDER_NOT_FOUND"));
}

#[tokio::test]
async fn links_expire() {
    let emu = OrangeLogicEmulator::start().await.unwrap();
    let asset = emu.seed_asset(
        "Hero",
        ROOT_FOLDER,
        Map::new(),
        Some(b"jpeg-bytes".to_vec()),
    );
    let client = builder(&emu).build().unwrap();
    let links = client
        .presigned_links(
            &[
                PresignedLinkRequest::new(&asset.record_id, "TR1"),
                PresignedLinkRequest::new("MISSING", "TR1"),
            ],
            LinkExpiry::from_duration(Duration::from_secs(3600)).unwrap(),
        )
        .await
        .unwrap();
    let url = links[0].url.clone().unwrap();
    assert_eq!(links[1].error.as_deref(), Some("Asset not found"));
    let http = reqwest::Client::new();
    let got = http.get(&url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"jpeg-bytes");

    let share = client
        .public_share_link(&PublicShareRequest::new(&asset.record_id))
        .await
        .unwrap();
    assert_eq!(http.get(&share.url).send().await.unwrap().status(), 200);

    // batch public embed links: the asset named by its identifier, one missing asset
    let answer = client
        .upsert_embed_links(&chatport_orangelogic::EmbedLinksRequest::new(vec![
            chatport_orangelogic::EmbedLinkRecord::new(
                "/public/Hero-TR1.auto",
                &asset.identifier,
                "TR1",
            )
            .title("Instagram")
            .file_extension(".auto"),
            chatport_orangelogic::EmbedLinkRecord::new("/public/None-TR1.auto", "MISSING", "TR1"),
        ]))
        .await
        .unwrap();
    assert_eq!(answer.results.len(), 2);
    assert_eq!(answer.results[1].error.as_deref(), Some("asset not found"));
    let embed = client.embed_link_url("/public/Hero-TR1.auto").unwrap();
    assert_eq!(answer.results[0].url.as_deref(), Some(embed.as_str()));
    let got = http.get(embed.clone()).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"jpeg-bytes");
    assert_eq!(emu.embed_routes(), ["/public/Hero-TR1.auto"]);

    emu.expire_links();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 403);
    assert_eq!(http.get(&share.url).send().await.unwrap().status(), 410);
    assert_eq!(http.get(embed).send().await.unwrap().status(), 410);
}

#[tokio::test]
async fn injected_failures_and_token_expiry() {
    let emu = OrangeLogicEmulator::start().await.unwrap();
    emu.seed_asset("A", ROOT_FOLDER, Map::new(), None);
    let client = builder(&emu).build().unwrap();
    let request = SearchRequest::new(Query::text("A"));

    emu.fail_next(2, Failure::Status(503));
    assert_eq!(
        client.search_page(&request, 1).await.unwrap().items.len(),
        1
    );
    assert_eq!(emu.api_requests(), 3);

    // HTTP 200 with a busy code: throttled, so the read is retried and succeeds.
    emu.fail_next(
        1,
        OrangeLogicEmulator::envelope_error("SERVER_BUSY", "try later"),
    );
    assert_eq!(
        client.search_page(&request, 1).await.unwrap().items.len(),
        1
    );
    assert_eq!(emu.pending_failures(), 0);

    // HTTP 200 with another code: a permanent error, not retried.
    emu.fail_next(2, OrangeLogicEmulator::envelope_error("ERROR", "bad"));
    let err = client.search_page(&request, 1).await.unwrap_err();
    assert_eq!(err.code(), Some("ERROR"));
    assert_eq!(err.status(), Some(200));
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(emu.pending_failures(), 1);
    emu.fail_next(0, Failure::Status(500));

    emu.expire_tokens();
    client.search_page(&request, 1).await.unwrap();
    assert_eq!(emu.token_requests(), 2, "the 401 fetched a new token");

    emu.fail_next(1, Failure::NonJson(502));
    emu.enqueue_failures(5, Failure::Status(500));
    let err = client.search_page(&request, 1).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Server);
}

#[tokio::test]
async fn login_and_static_tokens_against_the_emulator() {
    let emu = OrangeLogicEmulator::builder()
        .user("robot@example.com", "pw")
        .static_token("static-123")
        .start()
        .await
        .unwrap();
    let login = Client::builder()
        .base_url(&emu.base_url())
        .user_login("robot@example.com", SecretString::from("pw"))
        .build()
        .unwrap();
    login
        .read_asset(&AssetRef::RecordId(ROOT_FOLDER.into()))
        .await
        .unwrap()
        .unwrap();
    let bad = Client::builder()
        .base_url(&emu.base_url())
        .user_login("robot@example.com", SecretString::from("wrong"))
        .retry_policy(fast_retry())
        .build()
        .unwrap();
    let err = bad.authenticate().await.unwrap_err();
    assert!(matches!(err, Error::Token(_)));
    assert_eq!(err.class(), ErrorClass::Auth);
    // both logins went to the documented v2.0 path
    assert_eq!(emu.logins("v2.0"), 2);
    assert_eq!(emu.logins("v1.0"), 0);
    let v1 = Client::builder()
        .base_url(&emu.base_url())
        .user_login("robot@example.com", SecretString::from("pw"))
        .login_path(chatport_orangelogic::LOGIN_PATH_V1)
        .build()
        .unwrap();
    v1.authenticate().await.unwrap();
    assert_eq!(emu.logins("v1.0"), 1);
    let bearer = Client::builder()
        .base_url(&emu.base_url())
        .bearer_token(SecretString::from("static-123"))
        .build()
        .unwrap();
    assert!(
        bearer
            .read_asset(&AssetRef::RecordId(ROOT_FOLDER.into()))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(emu.token_requests(), 3);
}

#[derive(Clone)]
struct Receiver {
    auth: WebhookAuthenticator,
    seen: Arc<Mutex<RecentEvents>>,
    effects: Arc<Mutex<Vec<(String, String)>>>,
}

async fn receive(
    State(rx): State<Receiver>,
    Path(token): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: axum::body::Bytes,
) -> StatusCode {
    if rx.auth.authenticate(&token, peer.ip()).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(events) = parse_events(&body, &WebhookFields::default()) else {
        return StatusCode::BAD_REQUEST;
    };
    for e in events {
        if rx.seen.lock().expect("lock").first_time(e.event_id()) {
            rx.effects.lock().expect("lock").push((
                e.kind.as_str().to_owned(),
                e.record_id.clone().unwrap_or_default(),
            ));
        }
    }
    StatusCode::OK
}

#[tokio::test]
async fn webhooks_reach_an_authenticated_receiver_and_redeliveries_dedup() {
    let rx = Receiver {
        auth: WebhookAuthenticator::new(SecretString::from("path-token-0123456789"))
            .allow("127.0.0.0/8")
            .unwrap(),
        seen: Arc::new(Mutex::new(RecentEvents::new(100))),
        effects: Arc::new(Mutex::new(Vec::new())),
    };
    let app = axum::Router::new()
        .route("/hooks/orangelogic/{token}", axum::routing::post(receive))
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let base = format!("http://{addr}/hooks/orangelogic");
    let url = webhook_url(&base, "path-token-0123456789");

    let emu = OrangeLogicEmulator::start().await.unwrap();
    emu.subscribe_webhooks(&url);
    let client = builder(&emu).build().unwrap();
    let out = client
        .upload(
            &UploadRequest::new(ROOT_FOLDER, "a.jpg", 3),
            std::io::Cursor::new(vec![1, 2, 3]),
        )
        .await
        .unwrap();
    let id = out.identifier.unwrap();
    client
        .set_fields(
            &AssetRef::Identifier(id.clone()),
            [("CoreField.Title", "x")],
        )
        .await
        .unwrap();
    // Automatic deliveries run in the background: wait until both were answered.
    for _ in 0..200 {
        if emu.webhook_deliveries().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let deliveries = emu.webhook_deliveries();
    assert_eq!(deliveries.len(), 2);
    assert!(
        deliveries
            .iter()
            .all(|d| d.result.as_ref().unwrap().status == 200)
    );

    // Redeliver the first event: no second effect.
    let first = deliveries
        .iter()
        .find(|d| d.payload["eventType"] == "Asset.Created")
        .unwrap()
        .clone();
    let again = emu.redeliver(&url, &first.payload).await.unwrap();
    assert_eq!(again.result.as_ref().unwrap().status, 200);
    assert_eq!(again.event_id(), first.event_id());
    let effects = rx.effects.lock().unwrap().clone();
    assert_eq!(effects.len(), 2, "{effects:?}");
    assert!(effects.contains(&("created".to_owned(), emu.asset(&id).unwrap().record_id)));
    assert!(effects.iter().any(|(k, _)| k == "edited"));

    // A wrong path token is refused.
    let wrong = emu
        .fire_asset_event(&webhook_url(&base, "guess"), "deleted", &id)
        .await
        .unwrap();
    assert_eq!(wrong.result.unwrap().status, 401);
    assert_eq!(rx.effects.lock().unwrap().len(), 2);
}
