//! `X-Hub-Signature-256` headers are outside input. For arbitrary header strings and bodies: the
//! verifier never panics, accepts only the correct HMAC, and always accepts the correct one.
//! Input layout: first byte = header length, then the header bytes (lossy UTF-8), then the body.
#![no_main]

use chatport_whatsapp::webhook::{SignatureVerifier, sign};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

const SECRET: &str = "fuzz-app-secret";

fuzz_target!(|data: &[u8]| {
    let Some((&len, rest)) = data.split_first() else {
        return;
    };
    let (header, body) = rest.split_at(usize::from(len).min(rest.len()));
    let header = String::from_utf8_lossy(header);

    let verifier = SignatureVerifier::new([
        SecretString::from("an-older-secret"),
        SecretString::from(SECRET),
    ])
    .expect("two non-blank secrets");
    let expected = sign(SECRET.as_bytes(), body);

    let _ = SignatureVerifier::check_header(Some(&header));
    match verifier.verify(Some(&header), body) {
        Ok(()) => assert!(
            header.trim().eq_ignore_ascii_case(&expected)
                || header
                    .trim()
                    .eq_ignore_ascii_case(&sign(b"an-older-secret", body)),
            "accepted a header that is not the HMAC of the body"
        ),
        Err(e) => assert!(
            !e.to_string().contains(&expected[7..]),
            "error reveals the MAC"
        ),
    }
    verifier
        .verify(Some(&expected), body)
        .expect("the correct signature is accepted");
});
