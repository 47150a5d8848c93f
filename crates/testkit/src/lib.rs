//! # chatport-testkit
//!
//! Stateful local emulators of the services chatport talks to, and a webhook simulator that signs
//! deliveries the way Meta does. They serve real HTTP on `127.0.0.1` with a free port, so the
//! production clients are exercised end to end (serialisation, headers, status codes, retries)
//! without any account or network.
//!
//! The testkit depends on **no** chatport crate: it is an independent implementation of each
//! vendor's wire format, so a test that passes against it is a real check of the clients.
//!
//! | Module | What it emulates |
//! |---|---|
//! | [`graph`] | WhatsApp Cloud API (Graph): messages, read receipts, media, templates; opt-in 24-hour window and pair rate limit |
//! | [`cms`] | OpenText tenant OAuth, CMS definitions and instances of every category, CSS content and share links |
//! | [`orangelogic`] | Orange Logic OrangeDAM: auth, search, DataTable, both upload paths, links, asset webhooks |
//! | [`creatio`] | Creatio: forms and OAuth auth, OData 4 CRUD, `$batch`, file upload, business-process calls |
//! | [`chat`] | OpenAI Chat Completions (and compatible servers): schema-driven deterministic answers, bearer or `api-key` auth; 429, 5xx, slow, malformed, off-schema and refusal answers |
//! | [`documents`] | Test documents: a one-page PDF with a chosen text layer |
//! | [`chaos`] | Seeded failures for every emulator: 429 + `Retry-After`, 503, dropped connections, slow answers |
//! | [`webhook`] | Meta-style signed webhook deliveries: payload builders, [`webhook::meta_json`], [`webhook::sign`] |
//!
//! Every emulator keeps its state behind `Arc<Mutex<..>>` and offers inspection methods
//! (`sent()`, `instances()`, counters), failure injection (`fail_next(n, Failure)`, see
//! [`Failure`]) and seeded chaos (`builder().chaos(Chaos)`, see [`chaos`]: a share of 429 +
//! `Retry-After`, 503, dropped connections and slow answers, in each vendor's error shape). An emulator serves until it is dropped or `shutdown()` is awaited.
//!
//! ```
//! use chatport_testkit::graph::GraphEmulator;
//! use chatport_testkit::webhook::{Delivery, MessageSpec, sign};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), chatport_testkit::Error> {
//! let graph = GraphEmulator::builder().access_token("secret-token").start().await?;
//! // point the WhatsApp client at graph.base_url() with graph.access_token() ...
//! assert!(graph.base_url().starts_with("http://127.0.0.1:"));
//! assert!(graph.sent().is_empty());
//!
//! // ... and feed the code under test a delivery signed the way Meta signs it
//! let body = Delivery::new("102290129340398")
//!     .message("106540352242922", "15550783881", MessageSpec::text("16505551234", "wamid.1", 1_751_247_548, "hi"))
//!     .build();
//! let bytes = serde_json::to_vec(&body).unwrap_or_default();
//! assert!(sign(b"app-secret", &bytes).starts_with("sha256="));
//! graph.shutdown().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod chaos;
pub mod chat;
pub mod cms;
pub mod creatio;
pub mod documents;
mod error;
pub mod failure;
pub mod graph;
pub mod orangelogic;
pub mod postgres;
pub mod prometheus;
mod server;
mod util;
pub mod webhook;

pub use chaos::{Chaos, ChaosCounts};
pub use error::Error;
pub use failure::Failure;

/// The README's example, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
