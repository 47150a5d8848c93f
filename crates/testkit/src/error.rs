/// Errors of the testkit: starting an emulator or delivering a webhook.
///
/// The testkit does not depend on `chatport-core`, so this enum does not implement its `Classify`
/// trait; a test that needs a class can match on the variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The emulator could not bind its listener on `127.0.0.1:0` or read its local address.
    #[error("could not bind the emulator on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
    /// A webhook delivery could not be sent or its answer not read (connection refused, timeout,
    /// body read error). An HTTP error status is **not** an error: it is returned in
    /// [`crate::webhook::DeliveryResult::status`].
    #[error("webhook delivery failed: {0}")]
    Http(#[source] reqwest::Error),
    /// A builder was given an unusable setting (for example an empty access token).
    #[error("invalid emulator configuration: {0}")]
    Config(String),
}
