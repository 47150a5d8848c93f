//! The client against the testkit's CMS + CSS emulator over real HTTP: every endpoint family
//! end to end, the filter builder's output parsed by an independent implementation, paging and
//! the 5 requests/s limit.

use chatport_core::{Classify, ErrorClass};
use chatport_opentext::filter::{Field, Filter, Literal, SortBy};
use chatport_opentext::{
    Category, Client, DeleteOptions, DownloadOptions, InstanceDraft, InstancePatch, ListQuery,
    RenditionDraft, ShareLinkRequest, TypeDefinitionQuery, UploadOptions,
};
use chatport_testkit::cms::CmsEmulator;
use futures::TryStreamExt;
use secrecy::SecretString;
use serde_json::{Map, json};

fn client_for(cms: &CmsEmulator) -> Client {
    Client::builder()
        .tenant_id(cms.tenant_id())
        .auth_base(&cms.auth_base())
        .cms_base(&cms.cms_base())
        .css_base(&cms.css_base())
        .client_credentials(cms.client_id(), SecretString::from(cms.client_secret()))
        .no_rate_limit()
        .build()
        .expect("valid configuration")
}

#[tokio::test]
async fn definitions_instances_versions_contents_history() {
    let cms = CmsEmulator::start().await.unwrap();
    cms.seed_type_definition(json!({
        "name": "ca_invoice", "category": "file", "namespace": "ca",
        "attributes": [{"name": "invoice_no", "data_type": "string", "required": true}]
    }));
    cms.seed_trait_definition(json!({
        "name": "ca_retention", "attributes": [{"name": "rule", "data_type": "string"}]
    }));
    let c = client_for(&cms);

    let types = c
        .list_type_definitions(&TypeDefinitionQuery::new().category(Category::File))
        .await
        .unwrap();
    assert_eq!(types.items[0].name, "ca_invoice");
    let all = c.type_attributes_all("ca_invoice").await.unwrap();
    assert!(
        all.iter()
            .any(|a| a.name == "create_time" && a.system == Some(true))
    );
    assert_eq!(
        c.trait_attributes("ca_retention").await.unwrap()[0].name,
        "rule"
    );

    // A required attribute is enforced.
    let err = c
        .create_instance(
            Category::File,
            "ca_invoice",
            &InstanceDraft::new("no number"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));

    let folder = c
        .create_instance(
            Category::Folder,
            "cms_folder",
            &InstanceDraft::new("Invoices"),
        )
        .await
        .unwrap();
    let archive = c
        .create_instance(
            Category::Folder,
            "cms_folder",
            &InstanceDraft::new("Archive"),
        )
        .await
        .unwrap();

    // Upload content, then create a file with it as the primary rendition.
    let pdf: &'static [u8] = b"%PDF-1.7 invoice 12345";
    let blob = c
        .upload_content(
            pdf,
            &UploadOptions::new("inv.pdf").mime_type("application/pdf"),
        )
        .await
        .unwrap();
    let mut retention = Map::new();
    retention.insert("rule".into(), json!("7y"));
    let draft = InstanceDraft::new("Invoice 12345")
        .parent_folder_id(&folder.id)
        .property("invoice_no", "12345")
        .property("tags", json!(["urgent", "eu"]))
        .trait_instance("ca_retention", "default", retention)
        .extra(
            "renditions",
            json!([RenditionDraft::primary("inv.pdf", blob.blob_id()).to_value()]),
        );
    let file = c
        .create_instance(Category::File, "ca_invoice", &draft)
        .await
        .unwrap();
    let contents = c
        .list_contents("ca_invoice", &file.id, &ListQuery::new())
        .await
        .unwrap();
    assert_eq!(contents.items[0].content_size, Some(pdf.len() as u64));
    let mut downloaded = Vec::new();
    c.download_href(&contents.items[0].download_href().unwrap(), &mut downloaded)
        .await
        .unwrap();
    assert_eq!(downloaded, pdf);

    // Filters built by the client, parsed by the emulator.
    let by = |f: Filter| ListQuery::new().filter(f);
    for (filter, hits) in [
        (Filter::eq("invoice_no", "12345"), 1),
        (Filter::contains("tags", "eu"), 1),
        (Filter::contains("tags", "us"), 0),
        (
            Filter::eq(Field::trait_attr("ca_retention", "rule"), "7y"),
            1,
        ),
        (Filter::like(Field::lower("name"), "%invoice%"), 1),
        (
            Filter::gt("create_time", Literal::date("2000-01-01T00:00:00Z"))
                .and(Filter::eq("invoice_no", "1").or(Filter::eq("invoice_no", "12345"))),
            1,
        ),
        (Filter::ids([file.id.as_str(), "nope"]), 1),
    ] {
        let text = filter.to_string();
        let page = c
            .list_instances(Category::File, "ca_invoice", &by(filter))
            .await
            .unwrap();
        assert_eq!(page.items.len(), hits, "{text}");
    }

    // Patch: property and trait removal; full update; move.
    let patched = c
        .patch_instance(
            Category::File,
            "ca_invoice",
            &file.id,
            &InstancePatch::new()
                .property("status", "APPROVED")
                .remove_trait("ca_retention"),
        )
        .await
        .unwrap();
    assert_eq!(patched.property("status"), Some(&json!("APPROVED")));
    assert_eq!(patched.property("invoice_no"), Some(&json!("12345")));
    assert!(patched.traits.is_empty());
    let replaced = c
        .update_instance(
            Category::File,
            "ca_invoice",
            &file.id,
            &InstanceDraft::new("Invoice 12345 (final)")
                .parent_folder_id(&folder.id)
                .property("invoice_no", "12345"),
        )
        .await
        .unwrap();
    assert_eq!(
        replaced.property("status"),
        None,
        "PUT replaces every property"
    );
    c.move_instance(Category::File, "ca_invoice", &file.id, &archive.id)
        .await
        .unwrap();
    let parent = c
        .get_parent(Category::File, "ca_invoice", &file.id)
        .await
        .unwrap();
    assert_eq!(parent.id, archive.id);

    // A new version.
    let v2 = c
        .next_version(
            "ca_invoice",
            &file.id,
            &InstanceDraft::new("Invoice 12345 v2").property("invoice_no", "12345"),
        )
        .await
        .unwrap();
    assert_eq!(v2.extra["version_no"], 2);
    let versions = c
        .list_versions(
            "ca_invoice",
            &file.id,
            &ListQuery::new().sortby(SortBy::desc("version_no")),
        )
        .await
        .unwrap();
    assert_eq!(versions.items.len(), 2);
    assert_eq!(versions.items[0].id, v2.id);
    assert_eq!(versions.items[1].extra["latest"], false);

    // History of the first version.
    let history: Vec<_> = c
        .history(
            Category::File,
            "ca_invoice",
            &file.id,
            &ListQuery::new().items_per_page(2),
        )
        .items()
        .try_collect()
        .await
        .unwrap();
    let events: Vec<_> = history.iter().filter_map(|h| h.event()).collect();
    assert_eq!(
        events,
        ["create", "patch", "update", "move", "next_version"]
    );

    // Soft delete all versions, then the folder (hard, recursive).
    c.soft_delete_instance(
        Category::File,
        "ca_invoice",
        &file.id,
        DeleteOptions::new().all_versions(true),
    )
    .await
    .unwrap();
    assert_eq!(cms.deleted_instances().len(), 2);
    let err = c
        .get_instance(Category::File, "ca_invoice", &file.id)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);
    c.delete_instance(
        Category::Folder,
        "cms_folder",
        &folder.id,
        DeleteOptions::new(),
    )
    .await
    .unwrap();
    assert!(cms.instance(&folder.id).is_none());
}

#[tokio::test]
async fn paging_listing_three_pages_and_css_links() {
    let cms = CmsEmulator::start().await.unwrap();
    for n in 1..=7 {
        let mut props = Map::new();
        props.insert("n".into(), json!(n));
        cms.seed_instance("object", "ca_case", &format!("case {n}"), props);
    }
    let c = client_for(&cms);
    let pages: Vec<_> = c
        .instances(
            Category::Object,
            "ca_case",
            &ListQuery::new().items_per_page(3).sortby("n desc"),
        )
        .pages()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 3);
    let names: Vec<String> = pages
        .iter()
        .flat_map(|p| p.items.iter().map(|i| i.name.clone()))
        .collect();
    assert_eq!(names[0], "case 7");
    assert_eq!(names.len(), 7);

    // Raw and v3 uploads, download, share link with expiry.
    let raw: &'static [u8] = b"jpeg bytes";
    let a = c
        .upload_content_raw(
            raw,
            &UploadOptions::new("p.jpg")
                .mime_type("image/jpeg")
                .length(10),
        )
        .await
        .unwrap();
    let v3: &'static [u8] = b"mp4 bytes";
    let b = c
        .upload_content_v3(v3, &UploadOptions::new("v.mp4").mime_type("video/mp4"))
        .await
        .unwrap();
    assert_eq!(cms.content(a.blob_id()).unwrap(), raw);
    assert_eq!(cms.content(b.blob_id()).unwrap(), v3);
    let mut out = Vec::new();
    c.download_content(b.blob_id(), &DownloadOptions::new(), &mut out)
        .await
        .unwrap();
    assert_eq!(out, v3);
    let link = c
        .create_share_link(
            a.blob_id(),
            &ShareLinkRequest::expiring_at(chrono::Utc::now() + chrono::Duration::hours(1)),
        )
        .await
        .unwrap();
    let url = link.url.expect("a public URL");
    let http = reqwest::Client::new();
    let got = http.get(&url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(&got.bytes().await.unwrap()[..], raw);
    cms.expire_share_links();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 410);
}

#[tokio::test]
async fn the_limiter_keeps_the_client_under_the_emulated_5_per_second() {
    let cms = CmsEmulator::builder()
        .rate_limit_per_sec(Some(5))
        .start()
        .await
        .unwrap();
    let id = cms.seed_instance("object", "ca_case", "c", Map::new())["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Without a limiter and without retries, a burst beyond 5 in one second gets 429s.
    let unlimited = Client::builder()
        .tenant_id(cms.tenant_id())
        .auth_base(&cms.auth_base())
        .cms_base(&cms.cms_base())
        .client_credentials(cms.client_id(), SecretString::from(cms.client_secret()))
        .no_rate_limit()
        .retry_policy(chatport_opentext::RetryPolicy::none())
        .build()
        .unwrap();
    let mut throttled = 0;
    for _ in 0..8 {
        if let Err(e) = unlimited
            .get_instance(Category::Object, "ca_case", &id)
            .await
        {
            assert!(matches!(e.class(), ErrorClass::Throttled { .. }), "{e:?}");
            throttled += 1;
        }
    }
    assert!(throttled > 0);
    // With the default limiter (5/s, here a little lower to leave room for window edges) and no
    // retries, the same burst passes.
    let limited = Client::builder()
        .tenant_id(cms.tenant_id())
        .auth_base(&cms.auth_base())
        .cms_base(&cms.cms_base())
        .client_credentials(cms.client_id(), SecretString::from(cms.client_secret()))
        .requests_per_second(2)
        .retry_policy(chatport_opentext::RetryPolicy::none())
        .build()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for _ in 0..8 {
        limited
            .get_instance(Category::Object, "ca_case", &id)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn acls_and_the_recycle_bin_against_the_emulator() {
    let cms = CmsEmulator::start().await.unwrap();
    let acl_id = cms.seed_acl(json!({
        "name": "created", "description": "new contracts",
        "permits": [{"identity": "owner", "identity_type": "user_alias",
                     "permissions": ["browse", "read_content", "write"]}]
    }));
    cms.seed_acl(json!({"name": "approved"}));
    let c = client_for(&cms);

    let acl = c.find_acl("created").await.unwrap().expect("seeded");
    assert_eq!(acl.id, acl_id);
    assert_eq!(
        acl.permits[0].identity_type,
        chatport_opentext::IdentityType::UserAlias
    );
    assert_eq!(c.get_acl(&acl_id).await.unwrap().name, "created");
    let all: Vec<_> = c
        .acls(&ListQuery::new())
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 2);

    let folder = c
        .create_instance(
            Category::Folder,
            "cms_folder",
            &InstanceDraft::new("Contracts"),
        )
        .await
        .unwrap();
    let doc = c
        .create_instance(
            Category::Object,
            "ca_case",
            &InstanceDraft::new("Case 1").extra("parent_folder_id", folder.id.clone()),
        )
        .await
        .unwrap();
    c.set_instance_acl(
        Category::Folder,
        "cms_folder",
        &folder.id,
        &acl_id,
        chatport_opentext::AclOptions::new().recursive(true),
    )
    .await
    .unwrap();
    assert_eq!(cms.instance(&doc.id).unwrap()["acl_id"], acl_id.as_str());
    let on_doc = c
        .get_instance_acl(Category::Object, "ca_case", &doc.id)
        .await
        .unwrap();
    assert_eq!(on_doc.id, acl_id);
    let err = c
        .set_instance_acl(
            Category::Object,
            "ca_case",
            &doc.id,
            "no-such-acl",
            chatport_opentext::AclOptions::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));

    c.soft_delete_instance(
        Category::Folder,
        "cms_folder",
        &folder.id,
        DeleteOptions::new().recursive(true),
    )
    .await
    .unwrap();
    assert!(cms.instance(&doc.id).is_none());
    let bin: Vec<_> = c
        .deleted(&ListQuery::new().items_per_page(1))
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(bin.len(), 2);
    assert_eq!(c.get_deleted(&doc.id).await.unwrap().name, "Case 1");
    c.restore_deleted(&folder.id, DeleteOptions::new().recursive(true))
        .await
        .unwrap();
    assert!(cms.instance(&doc.id).is_some());
    assert!(cms.deleted_instances().is_empty());
    let err = c
        .restore_deleted(&folder.id, DeleteOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn v3_documents_round_trip_through_the_emulator() {
    let cms = CmsEmulator::start().await.unwrap();
    let c = client_for(&cms);
    let sink = chatport_opentext::DocumentSink::builder(c.clone())
        .type_name("ca_invoice")
        .upload_api(chatport_opentext::CssApi::V3)
        .build()
        .unwrap();
    let key = chatport_core::IdempotencyKey::derive(
        "test",
        "doc",
        &chatport_core::EventId::new("wamid.v3"),
    );
    let bytes = b"%PDF-1.7 v3 body".to_vec();
    let doc = chatport_opentext::Document::from_bytes(
        InstanceDraft::new("Invoice v3"),
        "inv.pdf",
        bytes.clone(),
    )
    .mime_type("application/pdf");
    let receipt = chatport_core::Sink::write(&sink, &doc, &key).await.unwrap();
    let file_id = receipt.blob_id.clone().unwrap();
    let renditions = cms.renditions(&receipt.id);
    assert_eq!(renditions[0]["source"], "FILE_ID");
    assert_eq!(renditions[0]["blob_id"], file_id.as_str());
    let mut out = Vec::new();
    c.download_file_v3(&file_id, &mut out).await.unwrap();
    assert_eq!(out, bytes);
    let contents = c
        .list_contents("ca_invoice", &receipt.id, &ListQuery::new())
        .await
        .unwrap();
    let href = contents.items[0].download_href().unwrap();
    assert!(href.contains("/v3/files/"), "{href}");
    let mut again = Vec::new();
    c.download_href(&href, &mut again).await.unwrap();
    assert_eq!(again, bytes);
}
