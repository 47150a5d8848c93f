use std::time::Duration;

use chatport_orangelogic::{
    Error, LinkConfig, LinkExpiry, PresignedLinkRequest, PublicShareRequest,
};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

#[tokio::test]
async fn presigned_links_carry_the_expiry_and_per_asset_errors() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/webapi/test/presigned"))
        .and(header("authorization", "Bearer tok-1"))
        .and(body_json(json!({
            "expiration": "1d2h3m",
            "assets": [
                {"recordID": "2RBKT7U02J51", "format": "TR1", "generateIfNeeded": true, "skipExistenceCheck": false},
                {"recordID": "2RBKT7U02J99", "format": "TR1", "generateIfNeeded": true, "skipExistenceCheck": false}
            ]
        })))
        .respond_with(ok("presigned_links.json"))
        .expect(1)
        .mount(&server)
        .await;
    let client = builder(&server)
        .link_config(LinkConfig::default().presigned_path("/webapi/test/presigned"))
        .build()
        .unwrap();
    let expiry = LinkExpiry::from_duration(Duration::from_secs(26 * 3600 + 180)).unwrap();
    let links = client
        .presigned_links(
            &[
                PresignedLinkRequest::new("2RBKT7U02J51", "TR1"),
                PresignedLinkRequest::new("2RBKT7U02J99", "TR1"),
            ],
            expiry,
        )
        .await
        .unwrap();
    assert_eq!(links.len(), 2);
    assert_eq!(
        links[0].url.as_deref(),
        Some("https://storage.example/tr1.jpg?sig=abc&exp=93780")
    );
    assert_eq!(links[0].record_id.as_deref(), Some("2RBKT7U02J51"));
    assert_eq!(links[1].url, None);
    assert_eq!(links[1].error.as_deref(), Some("Asset not found"));
}

#[tokio::test]
async fn link_calls_without_configured_paths_are_not_configured() {
    let server = MockServer::start().await;
    let client = client(&server);
    let err = client
        .presigned_links(
            &[PresignedLinkRequest::new("R", "TR1")],
            LinkExpiry::DEFAULT,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotConfigured("links.presigned_path")));
    let err = client
        .public_share_link(&PublicShareRequest::new("R"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::NotConfigured("links.public_share_path")
    ));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn public_share_link_where_configured() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/webapi/test/share"))
        .and(body_json(json!({
            "recordID": "R1", "allowDownload": true, "format": "TR1",
            "expirationDate": "2026-12-01T00:00:00Z"
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"link": "https://dam.example/share/abc"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = builder(&server)
        .link_config(LinkConfig::default().public_share_path("/webapi/test/share"))
        .build()
        .unwrap();
    let mut request = PublicShareRequest::new("R1");
    request.format = Some("TR1".into());
    request.expires_at = Some("2026-12-01T00:00:00Z".parse().unwrap());
    let link = client.public_share_link(&request).await.unwrap();
    assert_eq!(link.url, "https://dam.example/share/abc");
}

#[tokio::test]
async fn embed_links_are_sent_as_json_patch_with_the_documented_body() {
    use chatport_orangelogic::{EmbedLinkRecord, EmbedLinksRequest};
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(
            "/webapi/objectmanagement/share/batchupsertassetlinkswithcustomroute_41FD_v1",
        ))
        .and(header("authorization", "Bearer tok-1"))
        .and(header("content-type", "application/json-patch+json"))
        .and(body_json(json!({
            "records": [{
                "title": "Instagram",
                "customRoute": "/public/Promenade-des-Anglais-Nice-TR1.auto",
                "assetID": "Q1N3620", "format": "TR1", "fileExtension": ".auto",
                "transformations": ["c_x_0,c_y_129,c_w_656,c_h_364,c_whu_Pixel", "r_a_10"]
            }, {
                "customRoute": "/public/Nice-coastline-TR1.auto", "assetID": "Q1N3622", "format": "TR1"
            }],
            "executionOptions": {"executeAsynchronously": false}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"customRoute": "/public/Promenade-des-Anglais-Nice-TR1.auto", "assetID": "Q1N3620",
             "url": "https://dam.example/public/Promenade-des-Anglais-Nice-TR1.auto"},
            {"customRoute": "/public/Nice-coastline-TR1.auto", "assetID": "Q1N3622",
             "error": "asset not found"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let answer = c
        .upsert_embed_links(&EmbedLinksRequest::new(vec![
            EmbedLinkRecord::new(
                "/public/Promenade-des-Anglais-Nice-TR1.auto",
                "Q1N3620",
                "TR1",
            )
            .title("Instagram")
            .file_extension(".auto")
            .transformation("c_x_0,c_y_129,c_w_656,c_h_364,c_whu_Pixel")
            .transformation("r_a_10"),
            EmbedLinkRecord::new("/public/Nice-coastline-TR1.auto", "Q1N3622", "TR1"),
        ]))
        .await
        .unwrap();
    assert_eq!(answer.results.len(), 2);
    assert_eq!(answer.results[0].asset_id.as_deref(), Some("Q1N3620"));
    assert!(answer.results[0].url.is_some());
    assert_eq!(answer.results[1].error.as_deref(), Some("asset not found"));
    assert_eq!(
        c.embed_link_url("/public/x-TR1.auto").unwrap().as_str(),
        format!("{}/public/x-TR1.auto", server.uri())
    );
}

#[tokio::test]
async fn an_asynchronous_embed_batch_may_answer_plain_text() {
    use chatport_orangelogic::{EmbedLinkRecord, EmbedLinksRequest};
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(
            "/webapi/objectmanagement/share/batchupsertassetlinkswithcustomroute_41FD_v1",
        ))
        .and(body_json(json!({
            "records": [{"customRoute": "/public/a-TR1.auto", "assetID": "A1", "format": "TR1"}],
            "executionOptions": {"executeAsynchronously": true}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_raw("Queued", "text/plain"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/webapi/objectmanagement/share/batchupsertassetlinkswithcustomroute_41FD_v1",
        ))
        .and(body_json(json!({
            "records": [{"customRoute": "/public/b-TR1.auto", "assetID": "B1", "format": "TR1"}],
            "executionOptions": {"executeAsynchronously": true}
        })))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"error": "forbidden"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let answer = c
        .upsert_embed_links(
            &EmbedLinksRequest::new(vec![EmbedLinkRecord::new(
                "/public/a-TR1.auto",
                "A1",
                "TR1",
            )])
            .asynchronously(true),
        )
        .await
        .unwrap();
    assert!(answer.results.is_empty());
    assert_eq!(answer.raw, json!("Queued"));
    let err = c
        .upsert_embed_links(
            &EmbedLinksRequest::new(vec![EmbedLinkRecord::new(
                "/public/b-TR1.auto",
                "B1",
                "TR1",
            )])
            .asynchronously(true),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Http { status: 403, .. }), "{err:?}");
}
