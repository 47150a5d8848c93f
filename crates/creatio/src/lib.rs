//! chatport-creatio: Creatio CRM client (under construction, issue 6).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
