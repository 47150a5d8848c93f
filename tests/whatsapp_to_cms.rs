//! A flow built by hand from the connector crates, through the `chatport` facade, the way a
//! library user wires one without chatport's service: a signed WhatsApp webhook →
//! [`WhatsAppWebhook`] (verify, parse) → one CMS case per message through [`InstanceSink`] → one
//! reply with the case id through [`MessageSink`].
//!
//! Meta redelivers a webhook it thinks was missed, and a worker may run an event twice: the test
//! delivers the same body twice and runs the flow for every event it yields. The sinks' keys make
//! that one case and one reply.
// Test code: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

mod support;

use chatport::core::webhook::{WebhookAdapter, WebhookRequest};
use chatport::core::{Envelope, IdempotencyKey, Sink};
use chatport::opentext::{Category, Client as CmsClient, InstanceDraft, InstanceSink};
use chatport::whatsapp::sink::{MessageSink, Outbound, SendOnce};
use chatport::whatsapp::webhook::{Event, SIGNATURE_HEADER, SignatureVerifier, WhatsAppWebhook};
use chatport::whatsapp::{OutgoingMessage, Recipient};
use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, sign};
use http::{HeaderMap, HeaderValue};
use secrecy::SecretString;

const APP_SECRET: &str = "facade-test-app-secret";
use support::PHONE_NUMBER_ID;
const CASE_TYPE: &str = "ca_support_case";

/// The hand-built flow: its sources and sinks, nothing of the bridge.
struct CaseIntake {
    webhook: WhatsAppWebhook,
    cases: InstanceSink,
    replies: MessageSink,
}

impl CaseIntake {
    /// Verifies and parses one delivery into its envelopes.
    fn receive(&self, body: &[u8], signature: &str) -> Vec<Envelope<Vec<u8>>> {
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(signature).unwrap());
        self.webhook
            .verify(&WebhookRequest::new("/webhooks/whatsapp", &headers), body)
            .unwrap();
        let batch = self.webhook.parse(body, chrono::Utc::now()).unwrap();
        assert!(batch.unreadable.is_empty(), "every part of the body parses");
        batch.events
    }

    /// Handles one envelope: a case for a text message, then the reply naming it.
    async fn handle(&self, envelope: &Envelope<Vec<u8>>) -> Option<(String, SendOnce)> {
        let event: Event = serde_json::from_slice(&envelope.payload).unwrap();
        let message = event.message()?;
        let (sender, text) = (message.sender()?, message.text_body()?);
        let case = self
            .cases
            .write(
                &InstanceDraft::new(text).property("channel", "whatsapp"),
                &IdempotencyKey::derive("T1", "case", &envelope.id),
            )
            .await
            .unwrap();
        let reply = Outbound::new(
            PHONE_NUMBER_ID,
            OutgoingMessage::text(
                Recipient::phone(sender),
                format!("Thank you, your case is {}", case.id),
            ),
        );
        let sent = self
            .replies
            .write(&reply, &IdempotencyKey::derive("T1", "reply", &envelope.id))
            .await
            .unwrap();
        Some((case.id, sent))
    }
}

async fn flow(graph: &GraphEmulator, cms: &CmsEmulator) -> CaseIntake {
    let cms_client = CmsClient::builder()
        .tenant_id(cms.tenant_id())
        .auth_base(&cms.auth_base())
        .cms_base(&cms.cms_base())
        .client_credentials(cms.client_id(), SecretString::from(cms.client_secret()))
        .no_rate_limit()
        .build()
        .unwrap();
    CaseIntake {
        webhook: WhatsAppWebhook::new(
            SignatureVerifier::new([SecretString::from(APP_SECRET)]).unwrap(),
            SecretString::from("verify-token"),
        ),
        cases: InstanceSink::builder(cms_client)
            .category(Category::Object)
            .type_name(CASE_TYPE)
            .key_property("chatport_key")
            .build()
            .unwrap(),
        replies: support::message_sink(graph),
    }
}

fn delivery(wamid: &str, text: &str) -> Vec<u8> {
    let now = chrono::Utc::now().timestamp();
    let payload = Delivery::new("102290129340398")
        .message(
            PHONE_NUMBER_ID,
            "15550783881",
            MessageSpec::text("16505551234", wamid, now, text),
        )
        .build();
    serde_json::to_vec(&payload).unwrap()
}

#[tokio::test]
async fn a_redelivered_webhook_makes_one_case_and_one_reply() {
    let (graph, cms) = (
        GraphEmulator::start().await.unwrap(),
        CmsEmulator::start().await.unwrap(),
    );
    let intake = flow(&graph, &cms).await;
    let body = delivery("wamid.facade-1", "My parcel arrived damaged");
    let signature = sign(APP_SECRET.as_bytes(), &body);

    let first = intake.receive(&body, &signature);
    let again = intake.receive(&body, &signature);
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].id, again[0].id,
        "a redelivery has the same event id"
    );

    let mut outcomes = Vec::new();
    for envelope in first.iter().chain(&again) {
        outcomes.push(intake.handle(envelope).await.unwrap());
    }

    let cases = cms.instances_of_type(CASE_TYPE);
    assert_eq!(cases.len(), 1, "one case for one message");
    assert_eq!(
        outcomes[0].0, outcomes[1].0,
        "the second run finds the case"
    );
    let sent = graph.sent();
    assert_eq!(sent.len(), 1, "one reply for one message");
    let text = sent[0].text_body().unwrap();
    assert!(text.ends_with(&outcomes[0].0), "{text}");
    assert!(
        matches!(&outcomes[1].1, SendOnce::Sent(wamid) if matches!(&outcomes[0].1, SendOnce::Sent(w) if w == wamid)),
        "the second write answers the first wamid: {:?}",
        outcomes
    );
}

#[tokio::test]
async fn two_messages_make_two_cases_and_a_forged_body_is_refused() {
    let (graph, cms) = (
        GraphEmulator::start().await.unwrap(),
        CmsEmulator::start().await.unwrap(),
    );
    let intake = flow(&graph, &cms).await;
    for (wamid, text) in [
        ("wamid.facade-2", "Late delivery"),
        ("wamid.facade-3", "Refund"),
    ] {
        let body = delivery(wamid, text);
        for envelope in intake.receive(&body, &sign(APP_SECRET.as_bytes(), &body)) {
            intake.handle(&envelope).await.unwrap();
        }
    }
    assert_eq!(cms.instances_of_type(CASE_TYPE).len(), 2);
    assert_eq!(graph.sent().len(), 2);

    let body = delivery("wamid.facade-4", "Forged");
    let mut headers = HeaderMap::new();
    headers.insert(
        SIGNATURE_HEADER,
        HeaderValue::from_str(&sign(b"another-secret", &body)).unwrap(),
    );
    let refused = intake
        .webhook
        .verify(&WebhookRequest::new("/webhooks/whatsapp", &headers), &body);
    assert!(
        refused.is_err(),
        "a body signed with another secret is refused"
    );
}
