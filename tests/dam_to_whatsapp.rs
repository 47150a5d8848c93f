//! A notification flow built by hand from the connector crates, through the `chatport` facade:
//! the Orange Logic search poller ([`AssetSearchSource`]) finds assets waiting for review, and
//! each approver gets one WhatsApp template per asset through [`MessageSink`].
//!
//! The poller has no checkpoint: every round is a full search. What makes the notification
//! happen once is the event id the flow chooses (`review:<record id>`) and the idempotency key
//! derived from it, so a second round (or a restart) finds the same assets and sends nothing new.
// Test code: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

mod support;

use chatport::core::{IdempotencyKey, Sink, Source};
use chatport::orangelogic::source::AssetSearchSource;
use chatport::orangelogic::{Client as DamClient, Query, SearchItem};
use chatport::whatsapp::sink::{MessageSink, Outbound};
use chatport::whatsapp::{OutgoingMessage, Recipient, Template};
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::orangelogic::{OrangeLogicEmulator, ROOT_FOLDER};
use futures::TryStreamExt;
use secrecy::SecretString;
use serde_json::{Map, json};

use support::PHONE_NUMBER_ID;
const APPROVER: &str = "4915112345678";

/// One polling round: every asset found, one template each; returns the event ids seen.
async fn round(source: &AssetSearchSource, sink: &MessageSink) -> Vec<String> {
    let found: Vec<_> = source
        .poll(None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut seen = Vec::new();
    for (envelope, checkpoint) in found {
        assert!(
            checkpoint.is_none(),
            "the search poller keeps no checkpoint"
        );
        let notice = envelope.payload;
        let title = notice
            .data
            .get("title")
            .and_then(|v| v.as_str())
            .unwrap_or("-")
            .to_owned();
        let template = Template::new("dam_review_request", "en_US").body_parameters(vec![title]);
        let message = OutgoingMessage::template(Recipient::phone(APPROVER), template);
        sink.write(
            &Outbound::new(PHONE_NUMBER_ID, message),
            &IdempotencyKey::derive("T2", "review", &envelope.id),
        )
        .await
        .unwrap();
        seen.push(envelope.id.as_str().to_owned());
    }
    seen.sort();
    seen
}

#[tokio::test]
async fn assets_in_review_are_announced_once_across_rounds() {
    let graph = GraphEmulator::start().await.unwrap();
    let dam = OrangeLogicEmulator::start().await.unwrap();
    let in_review = |title: &str| {
        let mut fields = Map::new();
        fields.insert("CustomField.Review".into(), json!("InReview"));
        dam.seed_asset(title, ROOT_FOLDER, fields, None).record_id
    };
    let poster = in_review("Spring poster");
    let banner = in_review("Web banner");
    let mut approved = Map::new();
    approved.insert("CustomField.Review".into(), json!("Approved"));
    dam.seed_asset("Old flyer", ROOT_FOLDER, approved, None);

    let client = DamClient::builder()
        .base_url(&dam.base_url())
        .client_credentials(
            dam.client_id(),
            SecretString::from(dam.client_secret().to_owned()),
        )
        .build()
        .unwrap();
    let source = AssetSearchSource::new(
        client,
        || Query::any_of("CustomField.Review", ["InReview"]),
        vec!["CoreField.Title".to_owned()],
        |item: &SearchItem| {
            let record = item.record_id()?;
            let mut data = Map::new();
            if let Some(title) = item.text("CoreField.Title") {
                data.insert("title".into(), json!(title));
            }
            Some((format!("review:{record}"), data))
        },
    );
    let sink = support::message_sink(&graph);

    let first = round(&source, &sink).await;
    let mut expected = vec![format!("review:{poster}"), format!("review:{banner}")];
    expected.sort();
    assert_eq!(
        first, expected,
        "the two assets in review, not the approved one"
    );
    let second = round(&source, &sink).await;
    assert_eq!(second, first, "a second round finds the same assets");

    let sent = graph.sent();
    assert_eq!(sent.len(), 2, "one template per asset, whatever the rounds");
    let mut titles: Vec<String> = sent
        .iter()
        .map(|m| {
            m.body
                .pointer("/template/components/0/parameters/0/text")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    titles.sort();
    assert_eq!(titles, ["Spring poster", "Web banner"]);
}
