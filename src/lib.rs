//! # chatport
//!
//! Facade re-exporting the chatport crates, one feature per connector.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "bridge")]
pub use chatport_bridge as bridge;
pub use chatport_core as core;
#[cfg(feature = "creatio")]
pub use chatport_creatio as creatio;
#[cfg(feature = "opentext")]
pub use chatport_opentext as opentext;
#[cfg(feature = "orangelogic")]
pub use chatport_orangelogic as orangelogic;
#[cfg(feature = "runtime")]
pub use chatport_runtime as runtime;
#[cfg(feature = "whatsapp")]
pub use chatport_whatsapp as whatsapp;
