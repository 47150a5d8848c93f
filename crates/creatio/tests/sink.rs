//! The sink conformance suite (`chatport_core::conformance`) for [`EntitySink`] against the
//! testkit's Creatio emulator, for every typed entity the handoff writes.
// Test code: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use chatport_core::conformance::{self, SinkHarness};
use chatport_core::{EventId, IdempotencyKey, Sink};
use chatport_creatio::{
    Activity, Case, CaseFile, Client, Contact, Entity, EntitySink, RetryPolicy,
};
use chatport_testkit::Failure;
use chatport_testkit::creatio::CreatioEmulator;
use secrecy::SecretString;
use uuid::Uuid;

struct Harness<E: Entity> {
    crm: CreatioEmulator,
    sink: EntitySink<E>,
    item: fn(u32) -> E,
}

fn client(crm: &CreatioEmulator) -> Client {
    Client::builder()
        .base_url(&crm.base_url())
        .identity_url(&crm.identity_url())
        .oauth_client_credentials(
            crm.client_id(),
            SecretString::from(crm.client_secret().to_owned()),
        )
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap()
}

impl<E: Entity + Send + Sync + 'static> Harness<E> {
    async fn start(item: fn(u32) -> E) -> Self {
        let crm = CreatioEmulator::start().await.unwrap();
        let sink = EntitySink::<E>::new(client(&crm));
        Self { crm, sink, item }
    }
}

#[async_trait]
impl<E: Entity + Send + Sync + 'static> SinkHarness for Harness<E> {
    type Sink = EntitySink<E>;

    fn sink(&self) -> &EntitySink<E> {
        &self.sink
    }

    fn item(&self, n: u32) -> E {
        (self.item)(n)
    }

    async fn effects(&self) -> usize {
        self.crm.records(E::SET).len()
    }

    async fn fail_next_write(&self) {
        // The sink's first request for a key is the create: a 503 before anything is stored.
        self.crm.fail_next(1, Failure::Status(503));
    }
}

#[tokio::test]
async fn contact_sink_conforms() {
    let h = Harness::start(|n| Contact {
        name: Some(format!("Customer {n}")),
        ..Contact::new()
    })
    .await;
    conformance::run_all(&h).await;
}

#[tokio::test]
async fn case_sink_conforms() {
    let h = Harness::start(|n| Case {
        subject: Some(format!("Parcel {n} damaged")),
        ..Case::new()
    })
    .await;
    conformance::run_all(&h).await;
}

#[tokio::test]
async fn activity_sink_conforms() {
    let h = Harness::start(|n| Activity {
        title: Some(format!("Message {n}")),
        case_id: Some(Uuid::from_u128(7)),
        ..Activity::new()
    })
    .await;
    conformance::run_all(&h).await;
}

#[tokio::test]
async fn case_file_sink_conforms() {
    let h = Harness::start(|n| CaseFile {
        name: Some(format!("photo-{n}.jpg")),
        case_id: Some(Uuid::from_u128(7)),
        ..CaseFile::new()
    })
    .await;
    conformance::run_all(&h).await;
}

fn key(n: &str) -> IdempotencyKey {
    IdempotencyKey::derive("test", "sink", &EventId::new(n))
}

#[tokio::test]
async fn the_receipt_is_the_key_uuid_and_the_record_is_returned() {
    let h = Harness::start(|_| Case::new()).await;
    let case = Case {
        subject: Some("Broken screen".into()),
        ..Case::new()
    };
    let created = h.sink.create(&case, &key("a")).await.unwrap();
    assert_eq!(created.id, key("a").uuid());
    assert!(!created.existed);
    assert!(created.record.number.is_some(), "the 201 body is returned");
    let again = h.sink.create(&case, &key("a")).await.unwrap();
    assert!(again.existed);
    assert_eq!(again.record.number, created.record.number);
    let stored = h.crm.record("Case", created.id).unwrap();
    assert_eq!(stored["Subject"], "Broken screen");
}

#[tokio::test]
async fn an_ambiguous_create_that_took_effect_is_found() {
    let crm = CreatioEmulator::start().await.unwrap();
    let client = Client::builder()
        .base_url(&crm.base_url())
        .identity_url(&crm.identity_url())
        .oauth_client_credentials(
            crm.client_id(),
            SecretString::from(crm.client_secret().to_owned()),
        )
        .retry_policy(RetryPolicy::none())
        .timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap();
    let sink = EntitySink::<Contact>::new(client);
    sink.check().await.unwrap();
    // The create is applied, then answered too late: the client times out (in doubt).
    crm.fail_next(1, Failure::Delay(std::time::Duration::from_secs(30)));
    let contact = Contact {
        name: Some("Ada".into()),
        ..Contact::new()
    };
    let id = sink.write(&contact, &key("slow")).await.unwrap();
    assert_eq!(id, key("slow").uuid());
    assert_eq!(crm.records("Contact").len(), 1);
}

#[tokio::test]
async fn a_custom_entity_set_is_checked_and_used() {
    let crm = CreatioEmulator::start().await.unwrap();
    assert!(
        EntitySink::<Case>::builder(client(&crm))
            .entity_set("Case; DROP")
            .build()
            .is_err()
    );
    let sink = EntitySink::<Case>::builder(client(&crm))
        .entity_set("UsrWhatsAppCase")
        .build()
        .unwrap();
    assert_eq!(sink.entity_set(), "UsrWhatsAppCase");
    sink.write(&Case::new(), &key("custom")).await.unwrap();
    assert_eq!(crm.records("UsrWhatsAppCase").len(), 1);
    assert!(crm.records("Case").is_empty());
}
