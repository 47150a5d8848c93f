//! `[orangelogic]` connector keys (`login_path`, `folder_identifier_field`,
//! `register_uploader_field` / `register_uploader`, `embed_links_path`): a non-default value in
//! the configuration reaches the Orange Logic emulator through the client the bridge builds, and
//! an empty value is refused with the key's name.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeMap;

use chatport_bridge::config::Config;
use chatport_bridge::flows::orangelogic::client;
use chatport_orangelogic::{AssetRef, EmbedLinkRecord, EmbedLinksRequest, UploadRequest};
use chatport_testkit::orangelogic::{
    CHUNKED_COMPLETE_PATH, CHUNKED_REGISTER_PATH, CHUNKED_TRANSACTION_PATH, OrangeLogicEmulator,
    ROOT_FOLDER,
};
use serde_json::{Map, json};

const BASE: &str = r#"
[whatsapp]
api_base = "http://127.0.0.1:9"
access_token = "${WA_TOKEN}"
app_secrets = ["${WA_SECRET}"]
verify_token = "${WA_VERIFY}"

[flows.o1]
enabled = false
"#;

fn vars(ol: &OrangeLogicEmulator) -> BTreeMap<String, String> {
    [
        ("WA_TOKEN", "t".to_owned()),
        ("WA_SECRET", "s".to_owned()),
        ("WA_VERIFY", "v".to_owned()),
        ("OL_URL", ol.base_url()),
        ("OL_CLIENT", ol.client_id().to_owned()),
        ("OL_SECRET", ol.client_secret().to_owned()),
        ("OL_LOGIN", "alice".to_owned()),
        ("OL_PASSWORD", "wonderland".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn config(section: &str) -> Config {
    Config::from_toml_str(&format!(
        "{BASE}\n[orangelogic]\nbase_url = \"${{OL_URL}}\"\n{section}"
    ))
    .unwrap()
}

async fn emulator() -> OrangeLogicEmulator {
    OrangeLogicEmulator::builder()
        .user("alice", "wonderland")
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn login_path_selects_the_login_version_the_emulator_sees() {
    let ol = emulator().await;
    let asset = ol.seed_asset("A", ROOT_FOLDER, Map::new(), None);
    let login = "auth = \"login\"\nlogin = \"${OL_LOGIN}\"\npassword = \"${OL_PASSWORD}\"\n";

    let default = client(&config(login), &vars(&ol)).unwrap().unwrap();
    default
        .read_asset(&AssetRef::RecordId(asset.record_id.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((ol.logins("v2.0"), ol.logins("v1.0")), (1, 0));

    let v1 = config(&format!(
        "{login}login_path = \"/API/Authentication/v1.0/Login\"\n"
    ));
    let v1 = client(&v1, &vars(&ol)).unwrap().unwrap();
    v1.read_asset(&AssetRef::RecordId(asset.record_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((ol.logins("v2.0"), ol.logins("v1.0")), (1, 1));
}

const CREDS: &str = "client_id = \"${OL_CLIENT}\"\nclient_secret = \"${OL_SECRET}\"\n";

#[tokio::test]
async fn folder_identifier_field_names_the_field_a_folder_is_found_by() {
    let ol = emulator().await;
    let folder = ol.seed_folder("Campaign", ROOT_FOLDER);
    assert!(ol.set_field(&folder, "Custom.Folder-Key", json!("KEY-7")));
    let asset = ol.seed_asset("A", ROOT_FOLDER, Map::new(), None);
    let by_key = AssetRef::Identifier("KEY-7".into());
    let parent = |ol: &OrangeLogicEmulator| {
        ol.asset(&asset.record_id).unwrap().fields["CoreField.Parent-folder"].clone()
    };

    // The default field (`CoreField.Unique-Identifier`) does not hold `KEY-7`: nothing moves.
    let default = client(&config(CREDS), &vars(&ol)).unwrap().unwrap();
    let _ = default
        .move_to_folder(&AssetRef::RecordId(asset.record_id.clone()), &by_key)
        .await;
    assert_eq!(parent(&ol), json!(ROOT_FOLDER));

    let custom = config(&format!(
        "{CREDS}folder_identifier_field = \"Custom.Folder-Key\"\n"
    ));
    let custom = client(&custom, &vars(&ol)).unwrap().unwrap();
    custom
        .move_to_folder(&AssetRef::RecordId(asset.record_id.clone()), &by_key)
        .await
        .unwrap();
    assert_eq!(parent(&ol), json!(folder));
}

#[tokio::test]
async fn register_uploader_reaches_the_register_call() {
    let ol = emulator().await;
    let section = format!(
        "{CREDS}chunked_threshold_bytes = 1\nchunked_transaction_path = \"{CHUNKED_TRANSACTION_PATH}\"\n\
         chunked_register_path = \"{CHUNKED_REGISTER_PATH}\"\nchunked_complete_path = \"{CHUNKED_COMPLETE_PATH}\"\n\
         register_uploader_field = \"uploader\"\nregister_uploader = \"chatport bridge\"\n"
    );
    let client = client(&config(&section), &vars(&ol)).unwrap().unwrap();
    let bytes = b"chunked bytes".to_vec();
    let request = UploadRequest::new(ROOT_FOLDER, "photo.jpg", bytes.len() as u64);
    client
        .upload(&request, std::io::Cursor::new(bytes))
        .await
        .unwrap();
    assert_eq!(
        ol.register_uploaders(),
        vec![Some("chatport bridge".to_owned())]
    );
}

#[tokio::test]
async fn embed_links_path_is_the_path_called() {
    let ol = emulator().await;
    let asset = ol.seed_asset("A", ROOT_FOLDER, Map::new(), Some(b"x".to_vec()));
    let request = EmbedLinksRequest::new(vec![EmbedLinkRecord::new(
        "/public/a-TRX",
        &asset.identifier,
        "TRX",
    )]);
    // A path the emulator does not serve: the call fails and no link exists.
    let elsewhere = config(&format!(
        "{CREDS}embed_links_path = \"/webapi/objectmanagement/share/elsewhere_v1\"\n"
    ));
    let elsewhere = client(&elsewhere, &vars(&ol)).unwrap().unwrap();
    assert!(elsewhere.upsert_embed_links(&request).await.is_err());
    assert!(ol.embed_routes().is_empty());
    // The default is the documented path, which the emulator serves.
    let default = client(&config(CREDS), &vars(&ol)).unwrap().unwrap();
    default.upsert_embed_links(&request).await.unwrap();
    assert_eq!(ol.embed_routes(), ["/public/a-TRX"]);
}

#[test]
fn empty_values_are_refused_with_the_key() {
    for key in [
        "login_path",
        "folder_identifier_field",
        "register_uploader_field",
        "register_uploader",
        "embed_links_path",
    ] {
        let text = format!(
            "{BASE}\n[orangelogic]\nbase_url = \"https://dam.example\"\n{CREDS}{key} = \" \"\n"
        );
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains(&format!("orangelogic.{key}")), "{key}: {err}");
    }
    let text = format!(
        "{BASE}\n[orangelogic]\nbase_url = \"https://dam.example\"\n{CREDS}login_path = \"api/Login\"\n"
    );
    let err = Config::from_toml_str(&text).unwrap_err().to_string();
    assert!(err.contains("orangelogic.login_path"), "{err}");
}
