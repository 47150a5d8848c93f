//! The activity poller ([`ActivitySource`]) against the testkit's Creatio emulator: an agent's
//! activity is found with the webhook's event id, the caller's own activities are skipped (by
//! the provider and by the integration contact), closed cases are reported, the checkpoint
//! advances, and a provider failure keeps its class.
// Test code: helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Mutex;

use async_trait::async_trait;
use chatport_core::{Checkpoint, Classify, Envelope, ErrorClass, Source};
use chatport_creatio::source::{ActivitySource, OpenCases};
use chatport_creatio::webhook::{CreatioEvent, SOURCE};
use chatport_creatio::{Client, Error};
use chatport_testkit::creatio::{CreatioEmulator, INTEGRATION_CONTACT_ID};
use futures::TryStreamExt;
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

fn client(crm: &CreatioEmulator) -> Client {
    Client::builder()
        .base_url(&crm.base_url())
        .identity_url(&crm.identity_url())
        .oauth_client_credentials(
            crm.client_id(),
            SecretString::from(crm.client_secret().to_owned()),
        )
        .build()
        .unwrap()
}

/// Watches fixed cases; the activities in `own` are the caller's.
#[derive(Default)]
struct Cases {
    open: Vec<Uuid>,
    own: Mutex<BTreeSet<Uuid>>,
    own_files: Mutex<BTreeSet<Uuid>>,
    fail: Option<ErrorClass>,
}

#[derive(Debug, thiserror::Error)]
#[error("store unavailable")]
struct StoreDown(ErrorClass);

impl Classify for StoreDown {
    fn class(&self) -> ErrorClass {
        self.0
    }
}

#[async_trait]
impl OpenCases for Cases {
    type Error = StoreDown;

    async fn open_cases(&self) -> Result<Vec<Uuid>, StoreDown> {
        match self.fail {
            Some(class) => Err(StoreDown(class)),
            None => Ok(self.open.clone()),
        }
    }

    async fn is_own(&self, activity_id: Uuid) -> Result<bool, StoreDown> {
        Ok(self.own.lock().unwrap().contains(&activity_id))
    }

    async fn is_own_file(&self, file_id: Uuid) -> Result<bool, StoreDown> {
        Ok(self.own_files.lock().unwrap().contains(&file_id))
    }
}

fn case(crm: &CreatioEmulator, subject: &str) -> Uuid {
    let record = crm.seed("Case", json!({ "Subject": subject })).unwrap();
    record["Id"].as_str().unwrap().parse().unwrap()
}

async fn reply(crm: &CreatioEmulator, case_id: Uuid, text: &str) -> Uuid {
    let (activity, _) = crm.post_agent_reply(case_id, text).await.unwrap();
    activity["Id"].as_str().unwrap().parse().unwrap()
}

async fn attach(crm: &CreatioEmulator, case_id: Uuid, name: &str) -> Uuid {
    let (record, _) = crm
        .post_agent_file(case_id, name, "application/pdf", b"%PDF-1.4 test")
        .await
        .unwrap();
    record["Id"].as_str().unwrap().parse().unwrap()
}

type Found = Vec<(Envelope<CreatioEvent>, Option<Checkpoint>)>;

async fn poll<C: OpenCases>(source: &ActivitySource<C>, resume: Option<Checkpoint>) -> Found {
    source
        .poll(resume)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

fn ids(found: &Found) -> Vec<String> {
    found
        .iter()
        .map(|(e, _)| e.id.as_str().to_owned())
        .collect()
}

fn since(checkpoint: &Checkpoint) -> chrono::DateTime<chrono::Utc> {
    checkpoint.0["since"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn finds_agent_activities_skips_own_ones_and_reports_closed_cases() {
    let crm = CreatioEmulator::start().await.unwrap();
    let (watched, closed, other) = (
        case(&crm, "watched"),
        case(&crm, "closed"),
        case(&crm, "not watched"),
    );
    let agent = reply(&crm, watched, "We are on it").await;
    let echo = reply(&crm, watched, "an echo of chatport's own note").await;
    reply(&crm, other, "elsewhere").await;
    // Written by the integration user (the emulator's seeding contact): left out by the query.
    crm.seed(
        "Activity",
        json!({ "Title": "transcript", "CaseId": watched.to_string() }),
    )
    .unwrap();
    let resolved = Uuid::new_v4();
    crm.set_case_status(closed, client(&crm).lookups().case_status_closed)
        .await
        .unwrap();
    let cases = Cases {
        open: vec![watched, closed],
        ..Cases::default()
    };
    cases.own.lock().unwrap().insert(echo);
    let source = ActivitySource::builder(client(&crm), cases)
        .integration_contact(Some(INTEGRATION_CONTACT_ID.parse().unwrap()))
        .closed_statuses([resolved])
        .build()
        .unwrap();
    source.check().await.unwrap();
    assert!(source.is_closed_status(Some(resolved)));
    assert!(!source.is_closed_status(None));

    let found = poll(&source, None).await;
    let closed_status = client(&crm).lookups().case_status_closed;
    assert_eq!(
        ids(&found),
        [
            format!("activity:{agent}"),
            format!("case:{closed}:status:{closed_status}")
        ]
    );
    let (activity, first_cp) = &found[0];
    assert_eq!(activity.source, SOURCE);
    assert_eq!(activity.kind, "activity.added");
    assert_eq!(
        activity.ordering_key.as_deref(),
        Some(format!("creatio:{watched}").as_str())
    );
    assert_eq!(
        activity.payload,
        CreatioEvent::ActivityAdded {
            activity_id: agent,
            case_id: Some(watched)
        }
    );
    assert!(first_cp.is_none(), "only the round's last event carries it");
    assert!(found[1].1.is_some());
}

#[tokio::test]
async fn with_files_an_agents_attachment_is_found_and_own_files_are_skipped() {
    let crm = CreatioEmulator::start().await.unwrap();
    let (watched, other) = (case(&crm, "watched"), case(&crm, "not watched"));
    let sent = attach(&crm, watched, "offer.pdf").await;
    let mine = attach(&crm, watched, "transcript.pdf").await;
    attach(&crm, other, "elsewhere.pdf").await;
    let cases = Cases {
        open: vec![watched],
        ..Cases::default()
    };
    cases.own_files.lock().unwrap().insert(mine);
    let without = ActivitySource::builder(
        client(&crm),
        Cases {
            open: vec![watched],
            ..Cases::default()
        },
    )
    .build()
    .unwrap();
    assert!(poll(&without, None).await.is_empty(), "files are opt-in");
    let source = ActivitySource::builder(client(&crm), cases)
        .files(true)
        .build()
        .unwrap();
    let found = poll(&source, None).await;
    assert_eq!(ids(&found), [format!("file:{sent}")]);
    let (event, checkpoint) = &found[0];
    assert_eq!(event.kind, "file.added");
    assert_eq!(
        event.payload,
        CreatioEvent::FileAdded {
            file_id: sent,
            case_id: Some(watched)
        }
    );
    assert_eq!(
        event.ordering_key.as_deref(),
        Some(format!("creatio:{watched}").as_str())
    );
    assert!(checkpoint.is_some());
}

#[tokio::test]
async fn the_checkpoint_advances_and_the_next_round_reads_from_it() {
    let crm = CreatioEmulator::start().await.unwrap();
    let watched = case(&crm, "watched");
    let first_reply = reply(&crm, watched, "first").await;
    let source = ActivitySource::builder(
        client(&crm),
        Cases {
            open: vec![watched],
            ..Cases::default()
        },
    )
    .build()
    .unwrap();

    let first = poll(&source, None).await;
    assert_eq!(ids(&first), [format!("activity:{first_reply}")]);
    let cp1 = first[0].1.clone().unwrap();

    let second_reply = reply(&crm, watched, "second").await;
    let second = poll(&source, Some(cp1.clone())).await;
    assert!(
        ids(&second).contains(&format!("activity:{second_reply}")),
        "{:?}",
        ids(&second)
    );
    let cp2 = second.last().and_then(|(_, c)| c.clone()).unwrap();
    assert!(since(&cp2) >= since(&cp1), "the checkpoint moved back");

    // Nothing new, nothing watched: no events and so no checkpoint to commit.
    let idle = ActivitySource::builder(client(&crm), Cases::default())
        .build()
        .unwrap();
    assert!(poll(&idle, Some(cp2)).await.is_empty());
}

#[tokio::test]
async fn a_provider_failure_keeps_its_class() {
    let crm = CreatioEmulator::start().await.unwrap();
    let source = ActivitySource::builder(
        client(&crm),
        Cases {
            fail: Some(ErrorClass::Transient),
            ..Cases::default()
        },
    )
    .build()
    .unwrap();
    let err = source.poll(None).await.err().unwrap();
    assert!(matches!(err, Error::Provider { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.to_string(), "the open-case provider failed");
    assert!(
        ActivitySource::builder(client(&crm), Cases::default())
            .page_size(0)
            .build()
            .is_err()
    );
}
