//! The store conformance suite: the behaviour every [`Outbox`] (and [`KvStore`],
//! [`IdempotencyLedger`]) backend must show. Enabled by the `conformance` feature; not part of the
//! stable API.
//!
//! Each case is an `async fn` taking a **fresh, empty** store and panicking on a violation. A
//! backend's test file runs them all with [`outbox_conformance_tests!`](crate::outbox_conformance_tests),
//! given an async factory that returns the store and a guard kept alive until the case ends (a
//! temporary directory, a scratch database schema, or `()`):
//!
//! ```text
//! async fn fresh() -> (Arc<MyStore>, ScratchSchema) {
//!     let schema = ScratchSchema::create(test_url()).await;
//!     (Arc::new(MyStore::connect(schema.url()).await.unwrap()), schema)
//! }
//! chatport_runtime::outbox_conformance_tests!(fresh); // MyStore: Outbox + KvStore + IdempotencyLedger
//! ```
//!
//! Durations are small (leases of a few hundred milliseconds) and nothing asserts speed.

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use chatport_core::{EventId, IdempotencyKey, IdempotencyLedger, LedgerEntry};
use chrono::Utc;

use crate::store::{
    EventFilter, EventStatus, KvStore, LeaseToken, NewEvent, Outbox, Resolution, ResolveRequest,
    StoreError, StoredEvent,
};

/// A short lease that the suite lets expire by sleeping past it.
const SHORT_LEASE: Duration = Duration::from_millis(150);
/// A lease that never expires during a test.
const LONG_LEASE: Duration = Duration::from_secs(600);

fn ok<T, E: Display>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{what}: {error}"),
    }
}

fn event(id: &str) -> NewEvent {
    NewEvent::new(
        "test",
        EventId::new(id),
        "message",
        "F1",
        format!("{{\"id\":\"{id}\"}}").into_bytes(),
    )
}

fn keyed(id: &str, key: &str) -> NewEvent {
    event(id).ordering_key(key)
}

async fn all(outbox: &Arc<dyn Outbox>) -> Vec<StoredEvent> {
    ok(outbox.list(&EventFilter::new(), 10_000).await, "list")
}

async fn row(outbox: &Arc<dyn Outbox>, event_id: &str) -> StoredEvent {
    all(outbox)
        .await
        .into_iter()
        .find(|e| e.event_id.as_str() == event_id)
        .unwrap_or_else(|| panic!("row {event_id} is missing"))
}

fn ids(claimed: &[crate::store::Claimed]) -> Vec<String> {
    claimed
        .iter()
        .map(|c| c.event.event_id.as_str().to_owned())
        .collect()
}

/// The same event twice (two calls) gives one row; the second call reports a duplicate.
pub async fn dedup_across_calls(outbox: Arc<dyn Outbox>) {
    let first = ok(outbox.enqueue(vec![event("e1")]).await, "enqueue");
    assert_eq!((first.inserted, first.duplicates), (1, 0));
    let second = ok(outbox.enqueue(vec![event("e1")]).await, "enqueue again");
    assert_eq!((second.inserted, second.duplicates), (0, 1));
    assert_eq!(all(&outbox).await.len(), 1);
}

/// A duplicate inside one call is dropped and counted; the same id from another source is not a
/// duplicate.
pub async fn dedup_within_call(outbox: Arc<dyn Outbox>) {
    let mut other_source = event("e1");
    other_source.source = "other".into();
    let report = ok(
        outbox
            .enqueue(vec![event("e1"), event("e2"), event("e1"), other_source])
            .await,
        "enqueue",
    );
    assert_eq!((report.inserted, report.duplicates, report.dead), (3, 1, 0));
    assert_eq!(all(&outbox).await.len(), 3);
}

/// One call with five events stores all five, in call order (increasing ids), pending.
pub async fn enqueue_five_in_one_call(outbox: Arc<dyn Outbox>) {
    let events: Vec<_> = (1..=5).map(|i| event(&format!("b{i}"))).collect();
    let report = ok(outbox.enqueue(events).await, "enqueue");
    assert_eq!(report.inserted, 5);
    let rows = all(&outbox).await;
    let names: Vec<_> = rows
        .iter()
        .map(|r| r.event_id.as_str().to_owned())
        .collect();
    assert_eq!(names, ["b1", "b2", "b3", "b4", "b5"]);
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id));
    assert!(
        rows.iter()
            .all(|r| r.status == EventStatus::Pending && r.attempts == 0)
    );
    assert_eq!(
        ok(outbox.enqueue(Vec::new()).await, "empty enqueue").inserted,
        0
    );
}

/// Stored fields round-trip; a claim sets in flight and counts the attempt.
pub async fn claim_round_trips_fields(outbox: Arc<dyn Outbox>) {
    let occurred = Utc::now() - chrono::Duration::minutes(3);
    let payload = "{\"text\":\"Grüße 👋\"}".as_bytes().to_vec();
    let mut new = NewEvent::new(
        "whatsapp",
        EventId::new("wamid.X"),
        "status",
        "O1",
        payload.clone(),
    )
    .ordering_key("k")
    .occurred_at(occurred);
    new.kind = "status".into();
    ok(outbox.enqueue(vec![new]).await, "enqueue");
    let claimed = ok(outbox.claim("owner-a", 10, LONG_LEASE).await, "claim");
    assert_eq!(claimed.len(), 1);
    let e = &claimed[0].event;
    assert_eq!(e.source, "whatsapp");
    assert_eq!(e.event_id.as_str(), "wamid.X");
    assert_eq!(e.kind, "status");
    assert_eq!(e.flow, "O1");
    assert_eq!(e.ordering_key.as_deref(), Some("k"));
    assert_eq!(e.payload, payload);
    assert_eq!(
        e.occurred_at.timestamp_micros(),
        occurred.timestamp_micros()
    );
    assert_eq!(e.status, EventStatus::InFlight);
    assert_eq!(e.attempts, 1);
    assert_eq!(claimed[0].lease.owner, "owner-a");
    assert!(e.received_at >= occurred);
    let fetched = ok(outbox.get(e.id).await, "get").unwrap_or_else(|| panic!("row vanished"));
    assert_eq!(fetched.status, EventStatus::InFlight);
    assert_eq!(ok(outbox.get(e.id + 1000).await, "get missing"), None);
    assert!(
        ok(
            outbox.claim("owner-b", 10, LONG_LEASE).await,
            "second claim"
        )
        .is_empty(),
        "an in-flight row with a live lease was claimed twice"
    );
    assert!(ok(outbox.claim("owner-b", 0, LONG_LEASE).await, "claim 0").is_empty());
}

/// `claim` honours `max`, in arrival order.
pub async fn claim_honours_max(outbox: Arc<dyn Outbox>) {
    let events: Vec<_> = (1..=5).map(|i| event(&format!("m{i}"))).collect();
    ok(outbox.enqueue(events).await, "enqueue");
    let first = ok(outbox.claim("w", 2, LONG_LEASE).await, "claim");
    assert_eq!(ids(&first), ["m1", "m2"]);
    let rest = ok(outbox.claim("w", 10, LONG_LEASE).await, "claim");
    assert_eq!(ids(&rest), ["m3", "m4", "m5"]);
}

/// A retry due later is not claimable; one due now is, and counts a second attempt.
pub async fn claim_respects_next_attempt_at(outbox: Arc<dyn Outbox>) {
    ok(outbox.enqueue(vec![event("r1")]).await, "enqueue");
    let c = ok(outbox.claim("w", 1, LONG_LEASE).await, "claim").remove(0);
    let later = Utc::now() + chrono::Duration::hours(1);
    ok(
        outbox
            .resolve(
                &c.lease,
                c.event.id,
                Resolution::Retry {
                    at: later,
                    error: "503 from CMS".into(),
                },
            )
            .await,
        "resolve retry",
    );
    let stored = row(&outbox, "r1").await;
    assert_eq!(stored.status, EventStatus::Pending);
    assert_eq!(stored.attempts, 1);
    assert_eq!(stored.last_error.as_deref(), Some("503 from CMS"));
    assert_eq!(
        stored.next_attempt_at.timestamp_micros(),
        later.timestamp_micros()
    );
    assert!(ok(outbox.claim("w", 10, LONG_LEASE).await, "claim").is_empty());

    // Due now: claimable again.
    let c = {
        ok(
            outbox.replay(&EventFilter::new().ids([stored.id])).await,
            "replay",
        );
        ok(outbox.claim("w", 1, LONG_LEASE).await, "claim").remove(0)
    };
    ok(
        outbox
            .resolve(
                &c.lease,
                c.event.id,
                Resolution::Retry {
                    at: Utc::now() - chrono::Duration::seconds(1),
                    error: "again".into(),
                },
            )
            .await,
        "resolve retry due",
    );
    let again = ok(outbox.claim("w", 1, LONG_LEASE).await, "claim due");
    assert_eq!(ids(&again), ["r1"]);
    assert_eq!(again[0].event.attempts, 2);
}

/// An expired lease makes the row claimable by another owner; the first owner's resolve and
/// release are then refused with `LeaseLost`.
pub async fn lease_expiry_reclaim_and_lost_lease(outbox: Arc<dyn Outbox>) {
    ok(outbox.enqueue(vec![event("l1")]).await, "enqueue");
    let a = ok(outbox.claim("owner-a", 1, SHORT_LEASE).await, "claim a").remove(0);
    assert!(
        ok(
            outbox.claim("owner-b", 1, SHORT_LEASE).await,
            "claim b early"
        )
        .is_empty()
    );
    tokio::time::sleep(SHORT_LEASE * 2).await;
    let b = ok(outbox.claim("owner-b", 1, LONG_LEASE).await, "claim b");
    assert_eq!(ids(&b), ["l1"]);
    let b = &b[0];
    assert_eq!(b.event.attempts, 2);
    assert_ne!(a.lease, b.lease);

    let lost = outbox
        .resolve(&a.lease, a.event.id, Resolution::Done { receipt: None })
        .await;
    assert_eq!(lost, Err(StoreError::LeaseLost { row_id: a.event.id }));
    let lost = outbox.release(&a.lease, a.event.id).await;
    assert_eq!(lost, Err(StoreError::LeaseLost { row_id: a.event.id }));

    ok(
        outbox
            .resolve(
                &b.lease,
                b.event.id,
                Resolution::Done {
                    receipt: Some(serde_json::json!({"id": "case-1"})),
                },
            )
            .await,
        "resolve b",
    );
    let done = row(&outbox, "l1").await;
    assert_eq!(done.status, EventStatus::Done);
    assert_eq!(done.receipt, Some(serde_json::json!({"id": "case-1"})));
    // A second resolve with the same (now released) lease is refused too.
    let twice = outbox
        .resolve(&b.lease, b.event.id, Resolution::Done { receipt: None })
        .await;
    assert_eq!(twice, Err(StoreError::LeaseLost { row_id: b.event.id }));
}

/// `renew_many` extends a held lease past its first expiry (another owner cannot claim the row
/// meanwhile), and answers only the rows still held under the given lease: not after a resolve,
/// not for a stale token.
pub async fn renew_many_extends_held_leases(outbox: Arc<dyn Outbox>) {
    ok(
        outbox.enqueue(vec![event("r1"), event("r2")]).await,
        "enqueue",
    );
    let claimed = ok(outbox.claim("owner-a", 2, SHORT_LEASE).await, "claim");
    assert_eq!(ids(&claimed), ["r1", "r2"]);
    let (a1, a2) = (&claimed[0], &claimed[1]);
    assert!(
        ok(
            outbox.renew_many(Vec::new(), LONG_LEASE).await,
            "renew none"
        )
        .is_empty(),
        "nothing held, nothing renewed"
    );
    let renewed = ok(
        outbox
            .renew_many(
                vec![
                    (a1.lease.clone(), a1.event.id),
                    (a2.lease.clone(), a2.event.id),
                ],
                LONG_LEASE,
            )
            .await,
        "renew",
    );
    let mut renewed = renewed;
    renewed.sort_unstable();
    assert_eq!(renewed, [a1.event.id, a2.event.id]);
    // Past the first lease: the renewed rows are still held.
    tokio::time::sleep(SHORT_LEASE * 2).await;
    assert!(
        ok(outbox.claim("owner-b", 2, LONG_LEASE).await, "claim b").is_empty(),
        "renewed leases keep their rows"
    );
    ok(
        outbox
            .resolve(&a1.lease, a1.event.id, Resolution::Done { receipt: None })
            .await,
        "resolve r1",
    );
    let stale = LeaseToken::new("owner-a");
    let renewed = ok(
        outbox
            .renew_many(
                vec![(a1.lease.clone(), a1.event.id), (stale, a2.event.id)],
                LONG_LEASE,
            )
            .await,
        "renew after resolve",
    );
    assert!(
        renewed.is_empty(),
        "resolved row and stale token: {renewed:?}"
    );
    ok(
        outbox
            .resolve(&a2.lease, a2.event.id, Resolution::Done { receipt: None })
            .await,
        "resolve r2 under its renewed lease",
    );
}

/// A lease that expired but was not re-claimed is still honoured.
pub async fn expired_but_unclaimed_lease_resolves(outbox: Arc<dyn Outbox>) {
    ok(outbox.enqueue(vec![event("x1")]).await, "enqueue");
    let a = ok(outbox.claim("owner-a", 1, SHORT_LEASE).await, "claim").remove(0);
    tokio::time::sleep(SHORT_LEASE * 2).await;
    ok(
        outbox
            .resolve(&a.lease, a.event.id, Resolution::Done { receipt: None })
            .await,
        "resolve after expiry",
    );
    assert_eq!(row(&outbox, "x1").await.status, EventStatus::Done);
}

/// Three events of one key: only the first is claimable until it is resolved; other keys and
/// unkeyed events go in parallel; a retry keeps the key blocked; a dead row does not.
pub async fn ordering_key_exclusive_and_in_order(outbox: Arc<dyn Outbox>) {
    ok(
        outbox
            .enqueue(vec![
                keyed("k1-a", "k1"),
                keyed("k1-b", "k1"),
                keyed("k2-a", "k2"),
                keyed("k1-c", "k1"),
                event("free"),
                keyed("k2-b", "k2"),
            ])
            .await,
        "enqueue",
    );
    let first = ok(outbox.claim("w", 10, LONG_LEASE).await, "claim");
    assert_eq!(ids(&first), ["k1-a", "k2-a", "free"]);
    assert!(ok(outbox.claim("w", 10, LONG_LEASE).await, "claim").is_empty());

    let by_id = |id: &str| {
        first
            .iter()
            .find(|c| c.event.event_id.as_str() == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not claimed"))
    };
    let k1a = by_id("k1-a");
    ok(
        outbox
            .resolve(&k1a.lease, k1a.event.id, Resolution::Done { receipt: None })
            .await,
        "resolve k1-a",
    );
    let next = ok(outbox.claim("w", 10, LONG_LEASE).await, "claim");
    assert_eq!(ids(&next), ["k1-b"]);

    // k1-b retries later: k1-c stays blocked behind it.
    ok(
        outbox
            .resolve(
                &next[0].lease,
                next[0].event.id,
                Resolution::Retry {
                    at: Utc::now() + chrono::Duration::hours(1),
                    error: "later".into(),
                },
            )
            .await,
        "retry k1-b",
    );
    assert!(ok(outbox.claim("w", 10, LONG_LEASE).await, "claim").is_empty());
    ok(
        outbox
            .replay(&EventFilter::new().ids([next[0].event.id]))
            .await,
        "replay k1-b",
    );
    let k1b = ok(outbox.claim("w", 10, LONG_LEASE).await, "claim");
    assert_eq!(ids(&k1b), ["k1-b"]);
    // k1-b dies: the key is free again for k1-c.
    ok(
        outbox
            .resolve(
                &k1b[0].lease,
                k1b[0].event.id,
                Resolution::Dead {
                    error: "rejected".into(),
                },
            )
            .await,
        "dead k1-b",
    );
    let k2a = by_id("k2-a");
    ok(
        outbox
            .resolve(&k2a.lease, k2a.event.id, Resolution::Done { receipt: None })
            .await,
        "resolve k2-a",
    );
    let last = ok(outbox.claim("w", 10, LONG_LEASE).await, "claim");
    assert_eq!(ids(&last), ["k1-c", "k2-b"]);
}

/// A replayed earlier row never runs beside a later row of its key that holds a live lease.
pub async fn ordering_key_replay_waits_for_live_lease(outbox: Arc<dyn Outbox>) {
    ok(
        outbox.enqueue(vec![keyed("a", "k"), keyed("b", "k")]).await,
        "enqueue",
    );
    let a = ok(outbox.claim("w", 10, LONG_LEASE).await, "claim").remove(0);
    ok(
        outbox
            .resolve(&a.lease, a.event.id, Resolution::Done { receipt: None })
            .await,
        "done a",
    );
    let b = ok(outbox.claim("w", 10, LONG_LEASE).await, "claim b").remove(0);
    assert_eq!(b.event.event_id.as_str(), "b");
    ok(
        outbox.replay(&EventFilter::new().ids([a.event.id])).await,
        "replay a",
    );
    assert!(
        ok(outbox.claim("w", 10, LONG_LEASE).await, "claim").is_empty(),
        "two rows of one key in flight"
    );
    ok(
        outbox
            .resolve(&b.lease, b.event.id, Resolution::Done { receipt: None })
            .await,
        "done b",
    );
    assert_eq!(
        ids(&ok(outbox.claim("w", 10, LONG_LEASE).await, "claim")),
        ["a"]
    );
}

/// Dead: resolved dead rows and rows enqueued with a dead reason are never claimed.
pub async fn dead_rows(outbox: Arc<dyn Outbox>) {
    let report = ok(
        outbox
            .enqueue(vec![
                event("d1"),
                event("bad").dead("expected value at line 1"),
            ])
            .await,
        "enqueue",
    );
    assert_eq!((report.inserted, report.dead), (2, 1));
    let bad = row(&outbox, "bad").await;
    assert_eq!(bad.status, EventStatus::Dead);
    assert_eq!(bad.attempts, 0);
    assert_eq!(bad.last_error.as_deref(), Some("expected value at line 1"));
    let c = ok(outbox.claim("w", 10, LONG_LEASE).await, "claim");
    assert_eq!(ids(&c), ["d1"]);
    ok(
        outbox
            .resolve(
                &c[0].lease,
                c[0].event.id,
                Resolution::Dead {
                    error: "policy".into(),
                },
            )
            .await,
        "dead",
    );
    let d1 = row(&outbox, "d1").await;
    assert_eq!(d1.status, EventStatus::Dead);
    assert_eq!(d1.last_error.as_deref(), Some("policy"));
    assert!(ok(outbox.claim("w", 10, LONG_LEASE).await, "claim").is_empty());
}

/// `set_flow` relabels an in-flight row (and only an in-flight row); filters and stats see the new flow.
pub async fn set_flow_relabels_in_flight_rows(outbox: Arc<dyn Outbox>) {
    ok(
        outbox.enqueue(vec![event("r1"), event("r2")]).await,
        "enqueue",
    );
    let pending = row(&outbox, "r2").await;
    assert!(matches!(
        outbox.set_flow(pending.id, "O2").await,
        Err(crate::StoreError::LeaseLost { .. })
    ));
    let c = ok(outbox.claim("w", 1, LONG_LEASE).await, "claim");
    assert_eq!(ids(&c), ["r1"]);
    ok(outbox.set_flow(c[0].event.id, "O2").await, "set_flow");
    ok(
        outbox
            .resolve(
                &c[0].lease,
                c[0].event.id,
                Resolution::Done { receipt: None },
            )
            .await,
        "resolve",
    );
    let relabelled = ok(
        outbox.list(&EventFilter::default().flow("O2"), 10).await,
        "list",
    );
    assert_eq!(relabelled.len(), 1);
    assert_eq!(relabelled[0].event_id.as_str(), "r1");
    assert_eq!(relabelled[0].status, EventStatus::Done);
    assert_eq!(
        row(&outbox, "r2").await.flow,
        pending.flow,
        "other rows keep their flow"
    );
}

/// Replay puts dead (and done) rows back to pending with zero attempts; in-flight rows are left
/// alone.
pub async fn replay(outbox: Arc<dyn Outbox>) {
    ok(
        outbox
            .enqueue(vec![event("p1"), event("p2"), event("p3")])
            .await,
        "enqueue",
    );
    let c = ok(outbox.claim("w", 2, LONG_LEASE).await, "claim");
    ok(
        outbox
            .resolve(
                &c[0].lease,
                c[0].event.id,
                Resolution::Dead { error: "no".into() },
            )
            .await,
        "dead p1",
    );
    // p2 stays in flight, p3 pending.
    let n = ok(
        outbox
            .replay(&EventFilter::new().status(EventStatus::Dead))
            .await,
        "replay dead",
    );
    assert_eq!(n, 1);
    let p1 = row(&outbox, "p1").await;
    assert_eq!((p1.status, p1.attempts), (EventStatus::Pending, 0));
    assert!(p1.next_attempt_at <= Utc::now());
    let untouched = ok(
        outbox
            .replay(&EventFilter::new().ids([c[1].event.id]))
            .await,
        "replay in flight",
    );
    assert_eq!(untouched, 0);
    assert_eq!(row(&outbox, "p2").await.status, EventStatus::InFlight);
    // p2's lease still holds.
    ok(
        outbox
            .resolve(
                &c[1].lease,
                c[1].event.id,
                Resolution::Done { receipt: None },
            )
            .await,
        "done p2",
    );
    let n = ok(
        outbox
            .replay(&EventFilter::new().flow("F1").status(EventStatus::Done))
            .await,
        "replay done",
    );
    assert_eq!(n, 1);
    assert_eq!(row(&outbox, "p2").await.status, EventStatus::Pending);
    let claimed = ok(outbox.claim("w", 10, LONG_LEASE).await, "claim");
    assert_eq!(ids(&claimed), ["p1", "p2", "p3"]);
    assert!(claimed.iter().all(|c| c.event.attempts == 1));
}

/// Purge deletes dead rows (and their history) by default and done rows when asked; pending and
/// in-flight rows are never deleted, and asking for them is refused.
pub async fn purge(outbox: Arc<dyn Outbox>) {
    ok(
        outbox
            .enqueue(vec![
                event("q1"),
                event("q2"),
                event("q3").dead("bad body"),
                event("q4"),
            ])
            .await,
        "enqueue",
    );
    let c = ok(outbox.claim("w", 2, LONG_LEASE).await, "claim");
    ok(
        outbox
            .resolve(
                &c[0].lease,
                c[0].event.id,
                Resolution::Dead { error: "no".into() },
            )
            .await,
        "dead q1",
    );
    ok(
        outbox
            .resolve(
                &c[1].lease,
                c[1].event.id,
                Resolution::Done { receipt: None },
            )
            .await,
        "done q2",
    );
    assert!(matches!(
        outbox
            .purge(&EventFilter::new().status(EventStatus::Pending))
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        outbox
            .purge(&EventFilter::new().status(EventStatus::InFlight))
            .await,
        Err(StoreError::Invalid(_))
    ));
    let n = ok(
        outbox.purge(&EventFilter::new().ids([c[0].event.id])).await,
        "purge one",
    );
    assert_eq!(n, 1);
    assert!(ok(outbox.attempts(c[0].event.id).await, "attempts").is_empty());
    let n = ok(outbox.purge(&EventFilter::new()).await, "purge all dead");
    assert_eq!(n, 1);
    let left: Vec<_> = all(&outbox)
        .await
        .into_iter()
        .map(|e| e.event_id.as_str().to_owned())
        .collect();
    assert_eq!(left, ["q2", "q4"]);
    // Retention: done rows go only when asked for by status, with their history.
    let q2 = c[1].event.id;
    let n = ok(
        outbox
            .purge(
                &EventFilter::new()
                    .status(EventStatus::Done)
                    .until(Utc::now() + chrono::Duration::hours(1)),
            )
            .await,
        "purge done",
    );
    assert_eq!(n, 1);
    assert!(ok(outbox.attempts(q2).await, "attempts").is_empty());
    let left: Vec<_> = all(&outbox)
        .await
        .into_iter()
        .map(|e| e.event_id.as_str().to_owned())
        .collect();
    assert_eq!(left, ["q4"], "the pending row stays");
}

/// Every resolve appends to the attempt history; release does not.
pub async fn attempts_history(outbox: Arc<dyn Outbox>) {
    ok(outbox.enqueue(vec![event("h1")]).await, "enqueue");
    let c = ok(outbox.claim("w", 1, LONG_LEASE).await, "claim").remove(0);
    ok(outbox.release(&c.lease, c.event.id).await, "release");
    let released = row(&outbox, "h1").await;
    assert_eq!(
        (released.status, released.attempts),
        (EventStatus::Pending, 0)
    );
    let c = ok(outbox.claim("w", 1, LONG_LEASE).await, "claim").remove(0);
    assert_eq!(c.event.attempts, 1);
    ok(
        outbox
            .resolve(
                &c.lease,
                c.event.id,
                Resolution::Retry {
                    at: Utc::now(),
                    error: "timeout".into(),
                },
            )
            .await,
        "retry",
    );
    let c = ok(outbox.claim("w", 1, LONG_LEASE).await, "claim").remove(0);
    ok(
        outbox
            .resolve(&c.lease, c.event.id, Resolution::Done { receipt: None })
            .await,
        "done",
    );
    let history = ok(outbox.attempts(c.event.id).await, "attempts");
    let summary: Vec<_> = history
        .iter()
        .map(|a| (a.row_id, a.attempt, a.outcome.as_str(), a.error.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            (c.event.id, 1, "retry", Some("timeout")),
            (c.event.id, 2, "done", None)
        ]
    );
    assert!(history[0].at <= history[1].at);
}

/// `resolve_many` resolves a batch like one `resolve` per entry: every outcome kind, history
/// entries, one answer per request in order, a lost lease (stale token, repeated row) failing only
/// its own entry; the next row of a key becomes claimable.
pub async fn resolve_many_batches(outbox: Arc<dyn Outbox>) {
    ok(
        outbox
            .enqueue(vec![
                event("b1"),
                event("b2"),
                event("b3"),
                keyed("b4", "k"),
                keyed("b5", "k"),
                event("b6"),
            ])
            .await,
        "enqueue",
    );
    let claimed = ok(outbox.claim("w", 10, LONG_LEASE).await, "claim");
    assert_eq!(
        ids(&claimed),
        ["b1", "b2", "b3", "b4", "b6"],
        "b5 waits for b4"
    );
    assert!(outbox.resolve_many(Vec::new()).await.is_empty());
    let by_id = |id: &str| {
        claimed
            .iter()
            .find(|c| c.event.event_id.as_str() == id)
            .unwrap_or_else(|| panic!("{id} was not claimed"))
    };
    let at = Utc::now() + chrono::Duration::hours(1);
    let receipt = serde_json::json!({"n": 1});
    let request = |id: &str, resolution: Resolution| {
        let c = by_id(id);
        ResolveRequest::new(c.lease.clone(), c.event.id, resolution)
    };
    let stale = ResolveRequest::new(
        LeaseToken::new("w"),
        by_id("b6").event.id,
        Resolution::Done { receipt: None },
    );
    let results = outbox
        .resolve_many(vec![
            request(
                "b1",
                Resolution::Done {
                    receipt: Some(receipt.clone()),
                },
            ),
            stale,
            request(
                "b2",
                Resolution::Retry {
                    at,
                    error: "busy".into(),
                },
            ),
            request(
                "b3",
                Resolution::Dead {
                    error: "bad".into(),
                },
            ),
            request("b4", Resolution::Done { receipt: None }),
            request("b4", Resolution::Done { receipt: None }),
        ])
        .await;
    assert_eq!(results.len(), 6, "one answer per request");
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(
        matches!(results[1], Err(StoreError::LeaseLost { row_id }) if row_id == by_id("b6").event.id),
        "a stale token fails its own entry: {:?}",
        results[1]
    );
    for (i, result) in results.iter().enumerate().skip(2).take(3) {
        assert!(result.is_ok(), "entry {i}: {result:?}");
    }
    assert!(
        matches!(results[5], Err(StoreError::LeaseLost { .. })),
        "a row resolved earlier in the batch is no longer held: {:?}",
        results[5]
    );
    let b1 = row(&outbox, "b1").await;
    assert_eq!((b1.status, b1.receipt), (EventStatus::Done, Some(receipt)));
    let b2 = row(&outbox, "b2").await;
    assert_eq!(b2.status, EventStatus::Pending);
    assert_eq!(b2.last_error.as_deref(), Some("busy"));
    assert_eq!(b2.next_attempt_at.timestamp_micros(), at.timestamp_micros());
    let b3 = row(&outbox, "b3").await;
    assert_eq!(
        (b3.status, b3.last_error.as_deref()),
        (EventStatus::Dead, Some("bad"))
    );
    assert_eq!(row(&outbox, "b4").await.status, EventStatus::Done);
    assert_eq!(
        row(&outbox, "b6").await.status,
        EventStatus::InFlight,
        "untouched"
    );
    for (id, outcome) in [
        ("b1", "done"),
        ("b2", "retry"),
        ("b3", "dead"),
        ("b4", "done"),
    ] {
        let history = ok(outbox.attempts(by_id(id).event.id).await, "attempts");
        let summary: Vec<_> = history
            .iter()
            .map(|a| (a.attempt, a.outcome.as_str()))
            .collect();
        assert_eq!(summary, [(1, outcome)], "history of {id}");
    }
    assert!(ok(outbox.attempts(by_id("b6").event.id).await, "attempts").is_empty());
    // b4 is done: b5, next of key k, is claimable now.
    let next = ok(outbox.claim("w", 10, LONG_LEASE).await, "claim again");
    assert_eq!(ids(&next), ["b5"]);
}

/// Counts per status and flow, the oldest unresolved row, `is_drained`.
pub async fn stats(outbox: Arc<dyn Outbox>) {
    let empty = ok(outbox.stats().await, "stats");
    assert!(empty.is_drained());
    assert_eq!(empty.total(), 0);
    assert_eq!(empty.oldest_pending_at, None);
    let mut other = event("s4");
    other.flow = "F2".into();
    ok(
        outbox
            .enqueue(vec![event("s1"), event("s2"), event("s3").dead("x"), other])
            .await,
        "enqueue",
    );
    let c = ok(outbox.claim("w", 1, LONG_LEASE).await, "claim").remove(0);
    ok(
        outbox
            .resolve(&c.lease, c.event.id, Resolution::Done { receipt: None })
            .await,
        "done s1",
    );
    let _in_flight = ok(outbox.claim("w", 1, LONG_LEASE).await, "claim s2");
    let stats = ok(outbox.stats().await, "stats");
    assert_eq!(
        (stats.pending, stats.in_flight, stats.done, stats.dead),
        (1, 1, 1, 1)
    );
    let f1 = stats.by_flow.get("F1").copied().unwrap_or_default();
    assert_eq!((f1.pending, f1.in_flight, f1.done, f1.dead), (0, 1, 1, 1));
    let f2 = stats.by_flow.get("F2").copied().unwrap_or_default();
    assert_eq!(f2.pending, 1);
    assert!(!stats.is_drained());
    assert!(stats.oldest_pending_at.is_some());
    assert!(stats.oldest_pending_age.is_some());
    ok(outbox.ping().await, "ping");
}

/// `list` filters by status, flow, source, ids and time, and honours the limit.
pub async fn list_filters(outbox: Arc<dyn Outbox>) {
    let before = Utc::now() - chrono::Duration::seconds(5);
    let mut wa = event("f2");
    wa.source = "whatsapp".into();
    wa.flow = "O1".into();
    ok(
        outbox
            .enqueue(vec![event("f1"), wa, event("f3").dead("x")])
            .await,
        "enqueue",
    );
    let names = |rows: Vec<StoredEvent>| -> Vec<String> {
        rows.into_iter()
            .map(|e| e.event_id.as_str().to_owned())
            .collect()
    };
    let list = |filter: EventFilter, limit: usize| {
        let outbox = Arc::clone(&outbox);
        async move { ok(outbox.list(&filter, limit).await, "list") }
    };
    assert_eq!(names(list(EventFilter::new(), 2).await), ["f1", "f2"]);
    assert_eq!(ok(outbox.count(&EventFilter::new()).await, "count"), 3);
    assert_eq!(
        ok(
            outbox
                .count(&EventFilter::new().status(EventStatus::Dead))
                .await,
            "count dead"
        ),
        1
    );
    assert_eq!(
        names(list(EventFilter::new().status(EventStatus::Dead), 10).await),
        ["f3"]
    );
    assert_eq!(names(list(EventFilter::new().flow("O1"), 10).await), ["f2"]);
    assert_eq!(
        names(list(EventFilter::new().source("test"), 10).await),
        ["f1", "f3"]
    );
    let f2 = row(&outbox, "f2").await.id;
    assert_eq!(names(list(EventFilter::new().ids([f2]), 10).await), ["f2"]);
    assert_eq!(
        names(list(EventFilter::new().since(before), 10).await).len(),
        3
    );
    assert!(
        list(
            EventFilter::new().since(Utc::now() + chrono::Duration::hours(1)),
            10
        )
        .await
        .is_empty()
    );
    // `until` is exclusive and composes with `since` as a half-open interval.
    assert!(list(EventFilter::new().until(before), 10).await.is_empty());
    let later = Utc::now() + chrono::Duration::hours(1);
    assert_eq!(
        names(list(EventFilter::new().since(before).until(later), 10).await).len(),
        3
    );
    // The boundary itself is excluded: no row received at or after f1's time matches `until`.
    let f1_received = row(&outbox, "f1").await.received_at;
    assert!(
        !names(list(EventFilter::new().until(f1_received), 10).await).contains(&"f1".to_owned())
    );
    let newest = row(&outbox, "f3")
        .await
        .received_at
        .max(row(&outbox, "f2").await.received_at);
    assert_eq!(
        names(
            list(
                EventFilter::new().until(newest + chrono::Duration::milliseconds(1)),
                10
            )
            .await
        ),
        ["f1", "f2", "f3"]
    );
}

/// Key-value store: put/get/overwrite, put_if_absent, delete, prefix list, namespaces.
pub async fn kv_store(kv: Arc<dyn KvStore>) {
    assert_eq!(ok(kv.get("conv", "a").await, "get"), None);
    ok(kv.put("conv", "a", b"1").await, "put");
    ok(kv.put("conv", "a", b"2").await, "overwrite");
    assert_eq!(ok(kv.get("conv", "a").await, "get"), Some(b"2".to_vec()));
    assert_eq!(ok(kv.get("other", "a").await, "get other ns"), None);
    assert!(ok(kv.put_if_absent("seen", "x", b"").await, "first marker"));
    assert!(!ok(
        kv.put_if_absent("seen", "x", b"y").await,
        "second marker"
    ));
    assert_eq!(ok(kv.get("seen", "x").await, "marker"), Some(Vec::new()));
    for key in ["cp/b", "cp/a", "cq", "cp", "c"] {
        ok(kv.put("ns", key, key.as_bytes()).await, "put");
    }
    let listed = ok(kv.list("ns", "cp").await, "list");
    let keys: Vec<_> = listed.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["cp", "cp/a", "cp/b"]);
    assert_eq!(listed[1].1, b"cp/a".to_vec());
    assert_eq!(ok(kv.list("ns", "").await, "list all").len(), 5);
    ok(kv.delete("ns", "cp").await, "delete");
    ok(kv.delete("ns", "missing").await, "delete missing");
    assert_eq!(ok(kv.get("ns", "cp").await, "get deleted"), None);
}

/// Idempotency ledger: started → in doubt; release → started again; completed keeps its receipt.
pub async fn ledger(ledger: Arc<dyn IdempotencyLedger>) {
    let key = IdempotencyKey::derive("O1", "reply", &EventId::new("wamid.L"));
    assert_eq!(ok(ledger.begin(&key).await, "begin"), LedgerEntry::Started);
    assert_eq!(ok(ledger.begin(&key).await, "begin"), LedgerEntry::InDoubt);
    ok(ledger.release(&key).await, "release");
    assert_eq!(ok(ledger.begin(&key).await, "begin"), LedgerEntry::Started);
    let receipt = serde_json::json!({"messages": [{"id": "wamid.out"}]});
    ok(ledger.complete(&key, &receipt).await, "complete");
    ok(ledger.release(&key).await, "release completed");
    assert_eq!(
        ok(ledger.begin(&key).await, "begin"),
        LedgerEntry::Completed(receipt)
    );
}

/// Runs every conformance case as its own `#[tokio::test]`. `$make` is an async factory
/// (`fn() -> impl Future<Output = (Arc<S>, G)>`) giving a fresh, empty store and a guard `G` that
/// lives until the case ends, where `S: Outbox + KvStore + IdempotencyLedger`.
///
/// `outbox_conformance_tests!(optional: $make)` takes a factory returning
/// `Option<(Arc<S>, G)>` instead: `None` ends the case early (for a backend whose server is not
/// configured; the factory prints why, so the skip is visible).
#[macro_export]
macro_rules! outbox_conformance_tests {
    ($make:expr) => {
        $crate::outbox_conformance_tests!(@list @cases $make);
    };
    (optional: $make:expr) => {
        $crate::outbox_conformance_tests!(@list @optional $make);
    };
    // The one list of cases, so that every backend runs all of them.
    (@list @$form:ident $make:expr) => {
        $crate::outbox_conformance_tests!(@$form $make;
            dedup_across_calls, dedup_within_call, enqueue_five_in_one_call,
            claim_round_trips_fields, claim_honours_max, claim_respects_next_attempt_at,
            lease_expiry_reclaim_and_lost_lease, expired_but_unclaimed_lease_resolves,
            ordering_key_exclusive_and_in_order, ordering_key_replay_waits_for_live_lease,
            dead_rows, set_flow_relabels_in_flight_rows, replay, purge, attempts_history,
            resolve_many_batches, renew_many_extends_held_leases, stats, list_filters, kv_store,
            ledger);
    };
    (@optional $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some((store, guard)) = ($make)().await else {
                    return;
                };
                $crate::conformance::$case(store).await;
                drop(guard);
            }
        )*
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (store, guard) = ($make)().await;
                $crate::conformance::$case(store).await;
                drop(guard);
            }
        )*
    };
}
