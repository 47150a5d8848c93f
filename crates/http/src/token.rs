//! The single-flight token cache, its one lifetime rule, the 401 replay, and the OAuth token
//! answer.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The one lifetime rule of every cached credential (OAuth token, login token, forms session).
///
/// A credential fetched at `t` with lifetime `L` is used until `t + L - refresh_margin` and fetched
/// again after that (`t` is when the fetch **started**, so the network time counts against the
/// lifetime). When `L` is not longer than the margin, every use fetches a new one. An answer
/// without a lifetime (no `expires_in`, no timeout) is given [`TokenLifetime::default_lifetime`].
/// A credential the server refuses is dropped at once ([`TokenCache::invalidate`]).
///
/// Defaults: margin 60 s, default lifetime 3600 s (the common OAuth token lifetime).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenLifetime {
    /// How long before its expiry a credential is fetched again.
    pub refresh_margin: Duration,
    /// The lifetime assumed for an answer that does not state one.
    pub default_lifetime: Duration,
}

impl Default for TokenLifetime {
    fn default() -> Self {
        Self {
            refresh_margin: Duration::from_secs(60),
            default_lifetime: Duration::from_secs(3600),
        }
    }
}

impl TokenLifetime {
    /// Sets the refresh margin.
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Sets the lifetime assumed for an answer without one.
    pub fn with_default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime;
        self
    }

    /// How long after the fetch started a credential with `lifetime` is used.
    pub fn usable_for(&self, lifetime: Option<Duration>) -> Duration {
        lifetime
            .unwrap_or(self.default_lifetime)
            .saturating_sub(self.refresh_margin)
    }
}

/// A freshly fetched credential and the lifetime its answer stated (`None`: not stated).
#[derive(Clone, Debug)]
pub struct Fetched<T> {
    value: T,
    lifetime: Option<Duration>,
}

impl<T> Fetched<T> {
    /// `value`, valid for `lifetime` from the start of its fetch (`None` when the answer did not
    /// say).
    pub fn new(value: T, lifetime: Option<Duration>) -> Self {
        Self { value, lifetime }
    }
}

/// A cached credential as handed to one request: the value and the generation it belongs to, so
/// that a refusal invalidates exactly this credential, not a newer one another task fetched
/// meanwhile.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Lease<T> {
    /// The credential.
    pub value: T,
    /// Its generation (1 for the first fetch, then counting up).
    pub generation: u64,
}

struct Cached<T> {
    value: T,
    refresh_at: Instant,
    generation: u64,
}

struct State<T> {
    current: Option<Cached<T>>,
    generation: u64,
}

/// A single-flight cache of one credential (an OAuth token, a login token, a session's cookies).
///
/// [`TokenCache::get`] hands out the cached credential while [`TokenLifetime`] says it is fresh,
/// and otherwise runs the caller's fetch. The fetch runs under a lock, so concurrent callers that
/// find no fresh credential share **one** fetch: the first fetches, the others wait and receive
/// its result. A failed fetch caches nothing (the next caller fetches again).
/// [`TokenCache::send_with_replay`] is the 401 replay built on it.
///
/// `T` is cloned for each request; use a cheap clone (`SecretString`, an `Arc`). `Debug` shows
/// the lifetime rule and the fetch count, never a credential.
pub struct TokenCache<T> {
    lifetime: TokenLifetime,
    state: Mutex<State<T>>,
    fetches: AtomicU64,
}

impl<T> fmt::Debug for TokenCache<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("lifetime", &self.lifetime)
            .field("fetches", &self.fetches())
            .finish_non_exhaustive()
    }
}

impl<T> TokenCache<T> {
    /// How many fetches succeeded so far (a probe for tests and metrics: a refresh storm shows
    /// up here).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }
}

impl<T: Clone> TokenCache<T> {
    /// An empty cache with this lifetime rule.
    pub fn new(lifetime: TokenLifetime) -> Self {
        Self {
            lifetime,
            state: Mutex::new(State {
                current: None,
                generation: 0,
            }),
            fetches: AtomicU64::new(0),
        }
    }

    /// The lifetime rule.
    pub fn lifetime(&self) -> TokenLifetime {
        self.lifetime
    }

    /// The cached credential while it is fresh, else the result of `fetch` (cached for its
    /// lifetime). Concurrent callers share one fetch.
    ///
    /// # Errors
    ///
    /// The error of `fetch`; nothing is cached then.
    pub async fn get<E, F, Fut>(&self, fetch: F) -> Result<Lease<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched<T>, E>>,
    {
        let mut state = self.state.lock().await;
        if let Some(c) = &state.current
            && Instant::now() < c.refresh_at
        {
            return Ok(Lease {
                value: c.value.clone(),
                generation: c.generation,
            });
        }
        let started = Instant::now();
        let fetched = fetch().await?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        state.generation += 1;
        let generation = state.generation;
        let usable = self.lifetime.usable_for(fetched.lifetime);
        tracing::debug!(generation, lifetime = ?fetched.lifetime, "fetched a credential");
        state.current = Some(Cached {
            value: fetched.value.clone(),
            refresh_at: started + usable,
            generation,
        });
        Ok(Lease {
            value: fetched.value,
            generation,
        })
    }

    /// Forgets the cached credential if it is still the one of `generation` (after the server
    /// refused it); a newer one is kept.
    pub async fn invalidate(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state
            .current
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            state.current = None;
        }
    }

    /// The 401 replay: runs `send` with a credential from [`TokenCache::get`]; when `refused`
    /// says the result is an authentication refusal (a 401, a login page, an auth error code in
    /// the body), invalidates that credential and runs `send` **once** more with a fresh one.
    /// A second refusal is returned as it is, for the caller to map. A refused request was
    /// rejected before the server applied it, so replaying a create is safe.
    ///
    /// # Errors
    ///
    /// The error of `fetch`, or whatever `send` returned last.
    pub async fn send_with_replay<R, E, F, Fut, S, SFut, P>(
        &self,
        fetch: F,
        send: S,
        refused: P,
    ) -> Result<R, E>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Fetched<T>, E>>,
        S: Fn(Lease<T>) -> SFut,
        SFut: Future<Output = Result<R, E>>,
        P: Fn(&Result<R, E>) -> bool,
    {
        let mut replayed = false;
        loop {
            let lease = self.get(&fetch).await?;
            let generation = lease.generation;
            let result = send(lease).await;
            if !replayed && refused(&result) {
                tracing::debug!(
                    generation,
                    "credential refused; fetching a new one and replaying once"
                );
                self.invalidate(generation).await;
                replayed = true;
                continue;
            }
            return result;
        }
    }
}

/// An OAuth 2.0 token endpoint's answer (RFC 6749 §5.1): `{"access_token", "token_type",
/// "expires_in"}`, other fields ignored.
///
/// Lenient where servers differ: `expires_in` may be a number, a fraction or a numeric string
/// (`"3600"`); `token_type` may be missing. `Debug` shows the token redacted.
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct TokenAnswer {
    /// The access token.
    pub access_token: SecretString,
    /// `token_type` (`bearer` in any case), when given.
    #[serde(default)]
    pub token_type: Option<String>,
    /// `expires_in` in whole seconds, when given and readable.
    #[serde(default, deserialize_with = "lenient_seconds_field")]
    pub expires_in: Option<u64>,
}

impl TokenAnswer {
    /// Sends a token request and reads its answer: a 2xx body as a `TokenAnswer`; anything
    /// else becomes the caller's error through `transport` (the request or the body read
    /// failed), `refused` (a non-2xx answer, whole) or `undecodable` (a 2xx body that is not a
    /// token answer: its status and the JSON error).
    ///
    /// # Errors
    ///
    /// As described: whatever the three mappers make.
    pub async fn request<E>(
        request: reqwest::RequestBuilder,
        transport: impl Fn(reqwest::Error) -> E,
        refused: impl FnOnce(&crate::Answer) -> E,
        undecodable: impl FnOnce(u16, serde_json::Error) -> E,
    ) -> Result<Self, E> {
        let response = request.send().await.map_err(&transport)?;
        let answer = crate::Answer::read(response).await.map_err(&transport)?;
        if !answer.is_success() {
            return Err(refused(&answer));
        }
        serde_json::from_slice(&answer.body).map_err(|e| undecodable(answer.status, e))
    }

    /// The stated lifetime as a [`Duration`].
    pub fn lifetime(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }

    /// The answer as a cache entry ([`Fetched`]) of its access token.
    pub fn into_fetched(self) -> Fetched<SecretString> {
        let lifetime = self.lifetime();
        Fetched::new(self.access_token, lifetime)
    }
}

/// A count of seconds as servers write it: a non-negative number (a fraction is cut to whole
/// seconds) or a numeric string; anything else is `None`.
pub fn lenient_seconds(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn lenient_seconds_field<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?
        .as_ref()
        .and_then(lenient_seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU32;

    fn rule() -> TokenLifetime {
        TokenLifetime::default()
            .with_refresh_margin(Duration::from_secs(60))
            .with_default_lifetime(Duration::from_secs(600))
    }

    async fn fetch_n(n: &AtomicU32, lifetime: Option<Duration>) -> Result<Fetched<u32>, String> {
        Ok(Fetched::new(n.fetch_add(1, Ordering::SeqCst) + 1, lifetime))
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_a_margin_before_expiry() {
        let cache = TokenCache::new(rule());
        let n = AtomicU32::new(0);
        let life = Some(Duration::from_secs(900));
        let a = cache.get(|| fetch_n(&n, life)).await.unwrap();
        assert_eq!((a.value, a.generation), (1, 1));
        tokio::time::advance(Duration::from_secs(839)).await;
        assert_eq!(cache.get(|| fetch_n(&n, life)).await.unwrap().value, 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        let b = cache.get(|| fetch_n(&n, life)).await.unwrap();
        assert_eq!((b.value, b.generation), (2, 2));
        assert_eq!(cache.fetches(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_without_lifetime_gets_the_default() {
        let cache = TokenCache::new(rule());
        let n = AtomicU32::new(0);
        cache.get(|| fetch_n(&n, None)).await.unwrap();
        tokio::time::advance(Duration::from_secs(539)).await;
        assert_eq!(cache.get(|| fetch_n(&n, None)).await.unwrap().value, 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(cache.get(|| fetch_n(&n, None)).await.unwrap().value, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lifetime_inside_the_margin_fetches_every_time() {
        let cache = TokenCache::new(rule());
        let n = AtomicU32::new(0);
        let short = Some(Duration::from_secs(30));
        for expected in 1..=3 {
            assert_eq!(
                cache.get(|| fetch_n(&n, short)).await.unwrap().value,
                expected
            );
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(TokenCache::new(rule()));
        let n = Arc::new(AtomicU32::new(0));
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (cache, n, mut rx) = (cache.clone(), n.clone(), rx.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get(|| async move {
                        // Hold the fetch open until every task has asked.
                        let _ = rx.wait_for(|go| *go).await;
                        fetch_n(&n, None).await
                    })
                    .await
                    .map(|l| l.value)
            }));
        }
        tokio::task::yield_now().await;
        tx.send(true).unwrap();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), 1);
        }
        assert_eq!(n.load(Ordering::SeqCst), 1);
        drop(rx);
    }

    #[tokio::test]
    async fn failures_are_not_cached_and_invalidation_is_by_generation() {
        let cache = TokenCache::new(rule());
        let err = cache
            .get(|| async { Err::<Fetched<u32>, _>("down".to_owned()) })
            .await;
        assert_eq!(err.unwrap_err(), "down");
        assert_eq!(cache.fetches(), 0);
        let n = AtomicU32::new(0);
        let first = cache.get(|| fetch_n(&n, None)).await.unwrap();
        cache.invalidate(first.generation).await;
        let second = cache.get(|| fetch_n(&n, None)).await.unwrap();
        assert_eq!(second.value, 2);
        // A late refusal of the first token does not drop the second.
        cache.invalidate(first.generation).await;
        assert_eq!(cache.get(|| fetch_n(&n, None)).await.unwrap().value, 2);
    }

    #[tokio::test]
    async fn replays_a_refused_request_once() {
        let cache = TokenCache::new(rule());
        let n = AtomicU32::new(0);
        let sent = AtomicU32::new(0);
        // The first token is refused, the second accepted.
        let r = cache
            .send_with_replay(
                || fetch_n(&n, None),
                |lease| {
                    sent.fetch_add(1, Ordering::SeqCst);
                    let token = lease.value;
                    async move { Ok::<_, String>(if token == 1 { 401 } else { 200 }) }
                },
                |r| matches!(r, Ok(401)),
            )
            .await;
        assert_eq!(r, Ok(200));
        assert_eq!(sent.load(Ordering::SeqCst), 2);
        assert_eq!(cache.fetches(), 2);
        // Refused twice: the second refusal is returned, no third send.
        sent.store(0, Ordering::SeqCst);
        let r = cache
            .send_with_replay(
                || fetch_n(&n, None),
                |_| {
                    sent.fetch_add(1, Ordering::SeqCst);
                    async { Ok::<u16, String>(401) }
                },
                |r| matches!(r, Ok(401)),
            )
            .await;
        assert_eq!(r, Ok(401));
        assert_eq!(sent.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn replay_against_a_token_endpoint() {
        use wiremock::matchers::{header, method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"access_token": "t1", "expires_in": "900"})),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"access_token": "t2"})),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/data"))
            .and(header("authorization", "Bearer t1"))
            .respond_with(ResponseTemplate::new(401))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/data"))
            .and(header("authorization", "Bearer t2"))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&server)
            .await;
        let http = reqwest::Client::new();
        let cache = TokenCache::<SecretString>::new(TokenLifetime::default());
        let fetch = || async {
            let answer = TokenAnswer::request(
                http.post(format!("{}/token", server.uri())),
                |e| e.to_string(),
                |a| format!("refused: {}", a.status),
                |status, e| format!("{status}: {e}"),
            )
            .await?;
            Ok::<_, String>(answer.into_fetched())
        };
        let status = cache
            .send_with_replay(
                fetch,
                |lease| {
                    let request = http
                        .get(format!("{}/data", server.uri()))
                        .bearer_auth(lease.value.expose_secret());
                    async move {
                        request
                            .send()
                            .await
                            .map(|r| r.status().as_u16())
                            .map_err(|e| e.to_string())
                    }
                },
                |r| matches!(r, Ok(401)),
            )
            .await;
        assert_eq!(status, Ok(200));
        assert_eq!(cache.fetches(), 2);
    }

    #[tokio::test]
    async fn token_requests_map_every_failure() {
        use wiremock::matchers::path;
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(path("/refused"))
            .respond_with(ResponseTemplate::new(401).set_body_string("no"))
            .mount(&server)
            .await;
        Mock::given(path("/garbage"))
            .respond_with(ResponseTemplate::new(200).set_body_string("<html/>"))
            .mount(&server)
            .await;
        let http = reqwest::Client::new();
        let ask = |p: &str| {
            TokenAnswer::request(
                http.post(format!("{}{p}", server.uri())),
                |_| "transport".to_owned(),
                |a| format!("refused {} {}", a.status, String::from_utf8_lossy(&a.body)),
                |status, _| format!("undecodable {status}"),
            )
        };
        assert_eq!(ask("/refused").await.unwrap_err(), "refused 401 no");
        assert_eq!(ask("/garbage").await.unwrap_err(), "undecodable 200");
        let closed = TokenAnswer::request(
            http.post("http://127.0.0.1:9/token"),
            |_| "transport".to_owned(),
            |_| "refused".to_owned(),
            |_, _| "undecodable".to_owned(),
        )
        .await;
        assert_eq!(closed.unwrap_err(), "transport");
    }

    #[test]
    fn token_answer_is_lenient() {
        let t: TokenAnswer =
            serde_json::from_str(r#"{"access_token":"abc","expires_in":"900"}"#).unwrap();
        assert_eq!(t.expires_in, Some(900));
        assert_eq!(t.access_token.expose_secret(), "abc");
        let t: TokenAnswer = serde_json::from_str(
            r#"{"access_token":"abc","token_type":"bearer","expires_in":899.5,"scope":"x"}"#,
        )
        .unwrap();
        assert_eq!(t.lifetime(), Some(Duration::from_secs(899)));
        assert_eq!(t.token_type.as_deref(), Some("bearer"));
        let t: TokenAnswer = serde_json::from_str(r#"{"access_token":"abc"}"#).unwrap();
        assert_eq!(t.expires_in, None);
        let t: TokenAnswer =
            serde_json::from_str(r#"{"access_token":"abc","expires_in":-3}"#).unwrap();
        assert_eq!(t.expires_in, None);
        assert!(serde_json::from_str::<TokenAnswer>(r#"{"token_type":"bearer"}"#).is_err());
        assert!(!format!("{t:?}").contains("abc"));
    }
}
