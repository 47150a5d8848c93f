//! Property tests of the delivery state machine and of the pacing limiters (on governor's fake
//! clock: no timed assertions).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chatport_whatsapp::webhook::{Status, StatusKind};
use chatport_whatsapp::{DeliveryState, DeliveryTracker, PaceLimit, Pacer, PacingConfig};
use governor::clock::FakeRelativeClock;
use proptest::prelude::*;

fn state() -> impl Strategy<Value = DeliveryState> {
    prop_oneof![
        Just(DeliveryState::Sent),
        Just(DeliveryState::Delivered),
        Just(DeliveryState::Read),
        Just(DeliveryState::Played),
        Just(DeliveryState::Failed),
    ]
}

fn status(s: DeliveryState) -> Status {
    let kind = match s {
        DeliveryState::Sent => "sent",
        DeliveryState::Delivered => "delivered",
        DeliveryState::Read => "read",
        DeliveryState::Played => "played",
        _ => "failed",
    };
    serde_json::from_value(serde_json::json!({
        "id": "wamid.X", "status": kind, "timestamp": "1751247548", "recipient_id": "16505551234"
    }))
    .unwrap()
}

/// What the final state must be for a set of updates, whatever their order: failed if any
/// failed arrived, else the highest state.
fn expected(updates: &[DeliveryState]) -> DeliveryState {
    if updates.contains(&DeliveryState::Failed) {
        return DeliveryState::Failed;
    }
    updates
        .iter()
        .copied()
        .max()
        .unwrap_or(DeliveryState::Accepted)
}

proptest! {
    #[test]
    fn never_moves_backwards(updates in proptest::collection::vec(state(), 0..12)) {
        let mut current = DeliveryState::Accepted;
        for u in &updates {
            let next = current.advance(*u);
            if current == DeliveryState::Failed {
                prop_assert_eq!(next, DeliveryState::Failed, "failed is final");
            }
            prop_assert!(next >= current, "{:?} -> {:?}", current, next);
            prop_assert!(next >= *u || current == DeliveryState::Failed);
            current = next;
        }
    }

    #[test]
    fn order_and_duplicates_do_not_matter(
        updates in proptest::collection::vec(state(), 1..10),
        seed in any::<u64>(),
    ) {
        // the same multiset delivered in two orders, with duplicates, ends in the same state
        let mut shuffled = updates.clone();
        shuffled.extend(updates.iter().take(3).copied());
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut a = DeliveryTracker::new();
        let mut b = DeliveryTracker::new();
        for u in &updates { a.apply(&status(*u)); }
        for u in &shuffled { b.apply(&status(*u)); }
        prop_assert_eq!(a.state("wamid.X"), b.state("wamid.X"));
        prop_assert_eq!(a.state("wamid.X"), Some(expected(&updates)));
    }

    #[test]
    fn throughput_bucket_allows_exactly_mps_per_second(mps in 1u32..1500) {
        let clock = FakeRelativeClock::default();
        let pacer = Pacer::with_clock(PacingConfig::standard().messages_per_second(mps), clock.clone()).unwrap();
        // distinct users: only the number's bucket applies
        for i in 0..mps {
            prop_assert!(pacer.check("pn", &format!("user{i}")).is_ok(), "send {}", i);
        }
        let w = pacer.check("pn", "another").unwrap_err();
        prop_assert_eq!(w.limit, PaceLimit::Throughput);
        prop_assert!(w.wait > Duration::ZERO && w.wait <= Duration::from_secs(1));
        // another business number has its own bucket
        prop_assert!(pacer.check("pn2", "another").is_ok());
        clock.advance(w.wait);
        prop_assert!(pacer.check("pn", "another").is_ok());
    }

    #[test]
    fn pair_limit_bursts_then_one_per_interval(
        burst in 1u32..60,
        interval_s in 1u64..20,
        steps in 1u64..200,
    ) {
        let clock = FakeRelativeClock::default();
        let interval = Duration::from_secs(interval_s);
        let pacer = Pacer::with_clock(
            PacingConfig::high_throughput().pair_limit(interval, burst),
            clock.clone(),
        ).unwrap();
        for _ in 0..burst {
            prop_assert!(pacer.check("pn", "+49 170 1234567").is_ok());
        }
        // same user written differently is the same pair
        let w = pacer.check("pn", "491701234567").unwrap_err();
        prop_assert_eq!(w.limit, PaceLimit::Pair);
        prop_assert!(w.wait <= interval);
        prop_assert!(pacer.check("pn", "someone else").is_ok());
        // over a horizon, never more than burst + elapsed / interval sends
        let mut sent = u64::from(burst);
        let step = Duration::from_millis(interval_s * 1000 / 3 + 1);
        for _ in 0..steps {
            clock.advance(step);
            while pacer.check("pn", "491701234567").is_ok() {
                sent += 1;
            }
        }
        let elapsed = step.as_millis() as u64 * steps;
        let allowed = u64::from(burst) + elapsed / (interval_s * 1000);
        prop_assert!(sent <= allowed, "sent {} > allowed {}", sent, allowed);
        prop_assert!(sent + 1 >= allowed, "sent {} far below allowed {}", sent, allowed);
    }

    #[test]
    fn pair_backoff_grows_4_pow_x(failures in 0u32..12) {
        let clock = FakeRelativeClock::default();
        let pacer = Pacer::with_clock(PacingConfig::standard(), clock).unwrap();
        let mut last = Duration::ZERO;
        for x in 0..=failures {
            let wait = pacer.pair_rate_limited("pn", "u");
            prop_assert_eq!(wait, Duration::from_secs(4u64.pow(x.min(8))));
            prop_assert!(wait >= last);
            last = wait;
        }
    }
}

#[test]
fn standard_pair_limit_is_45_then_6_seconds() {
    let clock = FakeRelativeClock::default();
    let pacer = Pacer::with_clock(PacingConfig::standard(), clock.clone()).unwrap();
    for _ in 0..45 {
        pacer.check("pn", "u").unwrap();
    }
    let w = pacer.check("pn", "u").unwrap_err();
    assert_eq!(w.limit, PaceLimit::Pair);
    assert_eq!(w.wait, Duration::from_secs(6));
    clock.advance(Duration::from_secs(6));
    assert!(pacer.check("pn", "u").is_ok());
    assert!(pacer.check("pn", "u").is_err());
    let _ = StatusKind::Sent; // the webhook model's value enumerates the same states
}
