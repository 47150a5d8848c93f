use chatport_core::{Classify, ErrorClass};

/// Errors of the bridge: configuration, connectors, the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid (the message names the key and, for TOML errors, the line).
    #[error("configuration: {0}")]
    Config(String),
    /// A WhatsApp Cloud API error.
    #[error("whatsapp: {0}")]
    WhatsApp(#[from] chatport_whatsapp::Error),
    /// An OpenText CMS error.
    #[error("opentext: {0}")]
    OpenText(#[from] chatport_opentext::Error),
    /// A Creatio error.
    #[error("creatio: {0}")]
    Creatio(#[from] chatport_creatio::Error),
    /// An Orange Logic (OrangeDAM) error.
    #[error("orangelogic: {0}")]
    OrangeLogic(#[from] chatport_orangelogic::Error),
    /// The outbox or key-value store failed.
    #[error("store: {0}")]
    Store(#[from] chatport_runtime::StoreError),
    /// The idempotency ledger or the key-value state store failed.
    #[error(transparent)]
    State(#[from] chatport_core::StateError),
    /// A stored event payload could not be decoded (a bug or a schema change, never retried).
    #[error("stored event payload: {0}")]
    Payload(String),
    /// A local file operation failed (a temporary file holding media between download and upload).
    #[error("local i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Binding or serving the HTTP listener failed.
    #[error("server: {0}")]
    Server(String),
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Error::Config(_) | Error::Payload(_) => ErrorClass::Permanent,
            Error::WhatsApp(e) => e.class(),
            Error::OpenText(e) => e.class(),
            Error::Creatio(e) => e.class(),
            Error::OrangeLogic(e) => e.class(),
            Error::Store(e) => e.class(),
            Error::State(e) => e.class(),
            Error::Server(_) | Error::Io(_) => ErrorClass::Transient,
        }
    }
}
