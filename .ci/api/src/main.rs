//! Prints the public API of a crate from its rustdoc JSON, one item per line, sorted: the item
//! path, its kind and, for functions, the full signature (what `cargo public-api` prints,
//! without the blanket impls).
//!
//! Usage: `chatport-api-snapshot <crate.json>`; the text goes to stdout. Fails (exit 2) when the
//! JSON's `format_version` is not the one this reader's `rustdoc-types` understands, naming both.
#![forbid(unsafe_code)]

use std::process::ExitCode;

#[derive(serde::Deserialize)]
struct Header {
    format_version: u32,
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("usage: chatport-api-snapshot <crate.json>");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let header: Header = match serde_json::from_str(&text) {
        Ok(header) => header,
        Err(e) => {
            eprintln!("{path} is not rustdoc JSON: {e}");
            return ExitCode::from(2);
        }
    };
    if header.format_version != rustdoc_types::FORMAT_VERSION {
        eprintln!(
            "{path} has rustdoc JSON format_version {}, this reader understands {} \
             (public-api pinned in .ci/api/Cargo.toml): pin the public-api release of format {}",
            header.format_version,
            rustdoc_types::FORMAT_VERSION,
            header.format_version
        );
        return ExitCode::from(2);
    }
    let api = match public_api::Builder::from_rustdoc_json(&path)
        // `impl<T> From<T> for T` and the like on every type: noise, not this crate's choice.
        // Auto traits (`Send`, `Sync`, `Unpin`) and derived impls stay: losing one breaks users.
        .omit_blanket_impls(true)
        .build()
    {
        Ok(api) => api,
        Err(e) => {
            eprintln!("cannot read the public API of {path}: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{api}");
    ExitCode::SUCCESS
}
