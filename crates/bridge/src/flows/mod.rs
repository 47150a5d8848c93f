//! The flows of the catalogue (`docs/flows/`). Each flow is a handler of stored events that composes
//! connectors through idempotent steps.

pub mod o1;
