//! Seeded chaos shared by the four emulators ([`Chaos`], also re-exported at the crate root and
//! as `graph::Chaos`).
//!
//! Each emulator takes a `chaos(Chaos)` setting on its builder
//! ([`crate::graph::GraphEmulatorBuilder::chaos`], [`crate::cms::CmsEmulatorBuilder::chaos`],
//! [`crate::orangelogic::OrangeLogicEmulatorBuilder::chaos`],
//! [`crate::creatio::CreatioEmulatorBuilder::chaos`]). For every API request that has no queued
//! [`crate::Failure`] (a queued failure takes precedence and consumes no draw), the emulator draws
//! one number from a seeded RNG and answers a configured share of requests with a failure in its
//! vendor's error shape:
//!
//! | Kind | Answer | Effect on the emulator |
//! |---|---|---|
//! | `throttled` | HTTP 429 with `Retry-After: <retry_after_secs>` and the vendor's throttling body | none |
//! | `server_error` | HTTP 503 (no `Retry-After`) with the vendor's error body | none |
//! | `dropped` | status line and headers of a 200, then the connection is cut before any body byte (the client sees a body/transport error) | none: the request is **not** processed |
//! | `slow` | the request is **processed normally** (its effect happens at once), then answered after `slow_delay` | the normal effect |
//!
//! Vendor bodies: Graph `{"error":{"code":4|2,…}}` (Meta's shape, code 4 "Application request
//! limit reached", code 2 "Service temporarily unavailable"); CMS the gateway's spike-arrest
//! fault `{"fault":{"faultstring","detail":{"errorcode":"policies.ratelimit.SpikeArrestViolation"}}}`
//! for 429 and the service shape `{"exception","message"}` for 503; Orange Logic the legacy
//! envelope `{"APIResponse":{"Code","Message"}}`; Creatio the OData error
//! `{"error":{"code":"","message"}}`.
//!
//! Only the request counters and the chaos counters ([`ChaosCounts`]) change when a request is
//! answered by chaos (except `slow`, which is processed). Which API requests are subject to chaos is
//! the same set `fail_next` applies to (token and login endpoints are not; see each emulator).
//! With several clients in parallel the **sequence** of draws is reproducible, but which request
//! gets which draw depends on their arrival order.

use std::{sync::Mutex, time::Duration};

use axum::{
    body::{Body, Bytes},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    failure::{Vendor, graph_error_body},
    util::lock,
};

/// Chaos settings of an emulator: shares (0.0–1.0) of API requests answered with a failure instead
/// of being processed, drawn from a seeded RNG so a run is reproducible (see the
/// [module docs](self) for what each kind answers per vendor).
///
/// Checked in this order for each request (one draw per request): `throttled` → HTTP 429 with
/// `Retry-After: <retry_after_secs>`; `server_error` → HTTP 503; `dropped` → the connection is
/// cut after the status line (the client sees a body error; the request had **no effect**);
/// `slow` → processed normally, answered after `slow_delay`. The shares add up; the rest is
/// answered normally. A sum of 1.0 or more makes every request fail (or be slow).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Chaos {
    /// RNG seed.
    pub seed: u64,
    /// Share of 429 + Retry-After.
    pub throttled: f64,
    /// Share of 503.
    pub server_error: f64,
    /// Share of dropped connections.
    pub dropped: f64,
    /// Share of slow answers.
    pub slow: f64,
    /// Delay of a slow answer (default 200 ms).
    pub slow_delay: Duration,
    /// `Retry-After` of a 429, seconds (default 1).
    pub retry_after_secs: u64,
}

impl Chaos {
    /// No chaos yet, with this seed; set the shares with the builder methods.
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed,
            throttled: 0.0,
            server_error: 0.0,
            dropped: 0.0,
            slow: 0.0,
            slow_delay: Duration::from_millis(200),
            retry_after_secs: 1,
        }
    }

    /// Share of 429 answers.
    #[must_use]
    pub fn throttled(mut self, share: f64) -> Self {
        self.throttled = share;
        self
    }

    /// Share of 503 answers.
    #[must_use]
    pub fn server_error(mut self, share: f64) -> Self {
        self.server_error = share;
        self
    }

    /// Share of dropped connections.
    #[must_use]
    pub fn dropped(mut self, share: f64) -> Self {
        self.dropped = share;
        self
    }

    /// Share of slow answers, and their delay.
    #[must_use]
    pub fn slow(mut self, share: f64, delay: Duration) -> Self {
        self.slow = share;
        self.slow_delay = delay;
        self
    }

    /// The `Retry-After` of a 429 answer, in seconds.
    #[must_use]
    pub fn retry_after_secs(mut self, secs: u64) -> Self {
        self.retry_after_secs = secs;
        self
    }

    /// The combined share of requests chaos touches (sum of the four shares).
    pub fn total_share(&self) -> f64 {
        self.throttled + self.server_error + self.dropped + self.slow
    }
}

/// How many requests chaos answered, per kind (see [`Chaos`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChaosCounts {
    /// 429 answers.
    pub throttled: usize,
    /// 503 answers.
    pub server_error: usize,
    /// Dropped connections.
    pub dropped: usize,
    /// Slow answers (processed, then delayed).
    pub slow: usize,
}

impl ChaosCounts {
    /// All kinds together.
    pub fn total(&self) -> usize {
        self.throttled + self.server_error + self.dropped + self.slow
    }
}

/// splitmix64: a tiny, seedable, reproducible RNG (no cryptographic use).
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A float in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What chaos does with one request.
pub(crate) enum ChaosAction {
    /// Answer with this response instead of processing the request.
    Respond(Response),
    /// Process the request, then wait this long before answering.
    Slow(Duration),
}

struct EngineState {
    rng: Rng,
    counts: ChaosCounts,
}

/// An emulator's chaos: the setting, its RNG and its counters.
pub(crate) struct ChaosEngine {
    config: Option<Chaos>,
    vendor: Vendor,
    state: Mutex<EngineState>,
}

impl ChaosEngine {
    pub(crate) fn new(config: Option<Chaos>, vendor: Vendor) -> Self {
        let seed = config.as_ref().map_or(0, |c| c.seed);
        Self {
            config,
            vendor,
            state: Mutex::new(EngineState {
                rng: Rng::new(seed),
                counts: ChaosCounts::default(),
            }),
        }
    }

    /// The counters so far.
    pub(crate) fn counts(&self) -> ChaosCounts {
        lock(&self.state).counts
    }

    /// Restarts the RNG from its seed and zeroes the counters.
    pub(crate) fn reset(&self) {
        let seed = self.config.as_ref().map_or(0, |c| c.seed);
        let mut state = lock(&self.state);
        state.rng = Rng::new(seed);
        state.counts = ChaosCounts::default();
    }

    /// Draws the chaos outcome of one request (`None`: answer normally).
    pub(crate) fn roll(&self) -> Option<ChaosAction> {
        let chaos = self.config.as_ref()?;
        let mut state = lock(&self.state);
        let draw = state.rng.next_f64();
        let mut edge = chaos.throttled;
        if draw < edge {
            state.counts.throttled += 1;
            let mut r = throttled(self.vendor);
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(chaos.retry_after_secs),
            );
            return Some(ChaosAction::Respond(r));
        }
        edge += chaos.server_error;
        if draw < edge {
            state.counts.server_error += 1;
            return Some(ChaosAction::Respond(server_error(self.vendor)));
        }
        edge += chaos.dropped;
        if draw < edge {
            state.counts.dropped += 1;
            return Some(ChaosAction::Respond(dropped()));
        }
        edge += chaos.slow;
        if draw < edge {
            state.counts.slow += 1;
            return Some(ChaosAction::Slow(chaos.slow_delay));
        }
        None
    }
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// The vendor's 429 body (the `Retry-After` header is added by the caller).
fn throttled(vendor: Vendor) -> Response {
    let status = StatusCode::TOO_MANY_REQUESTS;
    match vendor {
        Vendor::Graph => json(
            status,
            graph_error_body(4, "Application request limit reached", "chaos: throttled"),
        ),
        Vendor::Cms => json(
            status,
            json!({ "fault": {
                "faultstring": "Spike arrest violation (chaos)",
                "detail": { "errorcode": "policies.ratelimit.SpikeArrestViolation" },
            } }),
        ),
        Vendor::OrangeLogic => json(
            status,
            json!({ "APIResponse": { "Code": "TooManyRequests", "Message": "chaos: throttled" } }),
        ),
        Vendor::Creatio => json(
            status,
            json!({ "error": { "code": "", "message": "chaos: too many requests" } }),
        ),
    }
}

/// The vendor's 503 body.
fn server_error(vendor: Vendor) -> Response {
    let status = StatusCode::SERVICE_UNAVAILABLE;
    match vendor {
        Vendor::Graph => json(
            status,
            graph_error_body(2, "Service temporarily unavailable", "chaos: server error"),
        ),
        Vendor::Cms => json(
            status,
            json!({ "exception": "ServiceUnavailable", "message": "chaos: server error" }),
        ),
        Vendor::OrangeLogic => json(
            status,
            json!({ "APIResponse": { "Code": "ServiceUnavailable", "Message": "chaos: server error" } }),
        ),
        Vendor::Creatio => json(
            status,
            json!({ "error": { "code": "", "message": "chaos: service unavailable" } }),
        ),
    }
}

/// A 200 whose body stream fails before the first byte: the connection is reset mid-answer.
fn dropped() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "chaos: dropped connection",
        ))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_reproducible_and_uniform_enough() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<f64> = (0..1000).map(|_| a.next_f64()).collect();
        let ys: Vec<f64> = (0..1000).map(|_| b.next_f64()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let low = xs.iter().filter(|x| **x < 0.5).count();
        assert!((400..600).contains(&low), "{low}");
    }

    fn kinds(engine: &ChaosEngine, n: usize) -> Vec<&'static str> {
        (0..n)
            .map(|_| match engine.roll() {
                None => "ok",
                Some(ChaosAction::Slow(_)) => "slow",
                Some(ChaosAction::Respond(r)) => match r.status().as_u16() {
                    429 => "429",
                    503 => "503",
                    _ => "dropped",
                },
            })
            .collect()
    }

    #[test]
    fn shares_are_seeded_and_counted() {
        let chaos = Chaos::seeded(9)
            .throttled(0.1)
            .server_error(0.1)
            .dropped(0.05)
            .slow(0.05, Duration::from_millis(1));
        let a = ChaosEngine::new(Some(chaos.clone()), Vendor::Cms);
        let b = ChaosEngine::new(Some(chaos), Vendor::Creatio);
        let first = kinds(&a, 2000);
        assert_eq!(first, kinds(&b, 2000), "same seed, same draws");
        let counts = a.counts();
        assert_eq!(counts, b.counts());
        assert_eq!(counts.total(), first.iter().filter(|k| **k != "ok").count());
        // 30 % in all, within a generous band around the expectation (600 of 2000)
        assert!((450..750).contains(&counts.total()), "{counts:?}");
        assert!(counts.throttled > 0 && counts.server_error > 0);
        assert!(counts.dropped > 0 && counts.slow > 0);
        a.reset();
        assert_eq!(a.counts(), ChaosCounts::default());
        assert_eq!(kinds(&a, 2000), first, "reset restarts from the seed");
    }

    #[test]
    fn full_share_fails_everything_and_none_fails_nothing() {
        let all = ChaosEngine::new(Some(Chaos::seeded(1).server_error(1.0)), Vendor::Graph);
        assert!(kinds(&all, 100).iter().all(|k| *k == "503"));
        let off = ChaosEngine::new(None, Vendor::Graph);
        assert!(kinds(&off, 100).iter().all(|k| *k == "ok"));
        assert_eq!(off.counts().total(), 0);
    }

    #[tokio::test]
    async fn bodies_follow_each_vendor() {
        async fn body(vendor: Vendor, throttle: bool) -> (u16, Option<String>, serde_json::Value) {
            let chaos = if throttle {
                Chaos::seeded(3).throttled(1.0).retry_after_secs(7)
            } else {
                Chaos::seeded(3).server_error(1.0)
            };
            let Some(ChaosAction::Respond(r)) = ChaosEngine::new(Some(chaos), vendor).roll() else {
                panic!("expected an answer");
            };
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.to_str().unwrap().to_owned());
            let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
            (status, retry_after, serde_json::from_slice(&bytes).unwrap())
        }
        let (s, ra, b) = body(Vendor::Graph, true).await;
        assert_eq!((s, ra.as_deref()), (429, Some("7")));
        assert_eq!(b["error"]["code"], 4);
        let (s, ra, b) = body(Vendor::Graph, false).await;
        assert_eq!((s, ra), (503, None));
        assert_eq!(b["error"]["code"], 2);
        let (_, _, b) = body(Vendor::Cms, true).await;
        assert_eq!(
            b["fault"]["detail"]["errorcode"],
            "policies.ratelimit.SpikeArrestViolation"
        );
        let (_, _, b) = body(Vendor::Cms, false).await;
        assert_eq!(b["exception"], "ServiceUnavailable");
        let (_, _, b) = body(Vendor::OrangeLogic, false).await;
        assert_eq!(b["APIResponse"]["Code"], "ServiceUnavailable");
        let (s, _, b) = body(Vendor::Creatio, true).await;
        assert_eq!(s, 429);
        assert!(b["error"]["message"].is_string());
    }
}
