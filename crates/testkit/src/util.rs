//! Small helpers shared by the emulators.

use std::sync::{Mutex, MutexGuard, PoisonError};

use base64::Engine as _;

/// Locks a state mutex; a panic in another holder does not make the state unusable for a test.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `n` random bytes (from v4 UUIDs, which use the OS random source).
pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 16);
    while out.len() < n {
        out.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    out.truncate(n);
    out
}

/// A Graph `fbtrace_id`: 23 URL-safe base64 characters, like `Az8or2yhqkZfEZ-_4Qn_Bam`.
pub(crate) fn fbtrace_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes(17))
}

/// An opaque random token of URL-safe base64 characters.
pub(crate) fn token(bytes: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes(bytes))
}

/// A fresh WhatsApp message id shaped like Meta's: `wamid.` + standard base64 of a small binary
/// record carrying the recipient's digits and 16 random bytes as upper-case hex, e.g.
/// `wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI...`.
pub(crate) fn wamid(recipient_digits: &str) -> String {
    let digits: String = recipient_digits
        .chars()
        .filter(char::is_ascii_digit)
        .take(32)
        .collect();
    let hex = hex::encode_upper(random_bytes(16));
    let mut record = Vec::with_capacity(digits.len() + hex.len() + 12);
    record.extend_from_slice(&[0x1c, 0x18]);
    record.push(u8::try_from(digits.len()).unwrap_or(0));
    record.extend_from_slice(digits.as_bytes());
    record.extend_from_slice(&[0x15, 0x02, 0x00, 0x11, 0x18, 0x20]);
    record.extend_from_slice(hex.as_bytes());
    record.push(0x00);
    format!(
        "wamid.{}",
        base64::engine::general_purpose::STANDARD.encode(record)
    )
}

/// The current time as an RFC 3339 string with milliseconds and `Z`.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
