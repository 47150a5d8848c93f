//! Webhook authentication: the verification GET and the `X-Hub-Signature-256` HMAC of the POST.
//!
//! Meta: webhooks/create-webhook-endpoint ("Verification requests", "Validating payloads").

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{Error, MalformedSignature, SubscriptionError};

type HmacSha256 = Hmac<Sha256>;

/// Longest `hub.challenge` echoed back, in bytes. Meta's challenges are short numeric strings.
pub const MAX_CHALLENGE_LEN: usize = 1024;

/// Answers Meta's verification GET `?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`.
///
/// Returns the challenge, which the endpoint must send back as the body of an HTTP 200 (as
/// `text/plain`); any error should become a 4xx (Meta: webhooks/create-webhook-endpoint). The token is
/// compared in constant time (`subtle`); the error never contains either token.
///
/// # Errors
/// - [`Error::Config`] when `expected` is blank (a blank token would accept a blank query);
/// - [`Error::Subscription`] with [`SubscriptionError`]: mode missing or not `subscribe`, token
///   missing or different, challenge missing, empty, longer than [`MAX_CHALLENGE_LEN`] bytes or
///   containing control characters.
pub fn verify_subscription(
    mode: Option<&str>,
    verify_token: Option<&str>,
    challenge: Option<&str>,
    expected: &SecretString,
) -> Result<String, Error> {
    let expected = expected.expose_secret();
    if expected.trim().is_empty() {
        return Err(Error::Config("the webhook verify token is blank".into()));
    }
    match mode {
        None => return Err(Error::Subscription(SubscriptionError::ModeMissing)),
        Some("subscribe") => {}
        Some(_) => return Err(Error::Subscription(SubscriptionError::WrongMode)),
    }
    let Some(token) = verify_token else {
        return Err(Error::Subscription(SubscriptionError::TokenMissing));
    };
    if !bool::from(token.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(Error::Subscription(SubscriptionError::TokenMismatch));
    }
    let challenge = match challenge {
        Some(c) if !c.is_empty() => c,
        _ => return Err(Error::Subscription(SubscriptionError::ChallengeMissing)),
    };
    if challenge.len() > MAX_CHALLENGE_LEN || challenge.chars().any(char::is_control) {
        return Err(Error::Subscription(SubscriptionError::ChallengeInvalid));
    }
    Ok(challenge.to_owned())
}

/// The `X-Hub-Signature-256` value Meta sends for `body`: `sha256=` followed by the lower-case hex
/// HMAC-SHA256 of the raw bytes keyed with the app secret.
///
/// Used by tests, simulators and `chatport webhook sign`. Sign the exact bytes you send: Meta signs
/// its own serialisation, which escapes non-ASCII as `\u00e4`, so re-serialised JSON does not verify.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, body).finalize().into_bytes())
    )
}

fn mac(secret: &[u8], body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length (longer ones are hashed), so this never takes the fallback; it
    // exists only to avoid a panic path.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => <HmacSha256 as KeyInit>::new(&Default::default()),
    };
    mac.update(body);
    mac
}

/// Verifies `X-Hub-Signature-256` headers against one or more app secrets.
///
/// Several secrets are accepted so that an app secret can be rotated without dropping deliveries:
/// configure old and new, then remove the old one. The HMAC-SHA256 is computed over the **raw** body
/// bytes and compared in constant time (`Mac::verify_slice`). Cheap to clone; its `Debug` shows only
/// how many secrets it holds.
///
/// The signature carries no timestamp or nonce, so a captured delivery stays valid for ever: replay is
/// limited only by deduplication (and by mTLS, if enabled) (Meta: webhooks/overview).
#[derive(Clone)]
pub struct SignatureVerifier {
    secrets: Vec<SecretString>,
}

impl fmt::Debug for SignatureVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureVerifier")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl SignatureVerifier {
    /// Builds a verifier accepting any of `secrets`.
    ///
    /// # Errors
    /// [`Error::Config`] when the list is empty or a secret is blank (empty or whitespace only): a
    /// blank secret would let anyone sign.
    pub fn new(secrets: impl IntoIterator<Item = impl Into<SecretString>>) -> Result<Self, Error> {
        let secrets: Vec<SecretString> = secrets.into_iter().map(Into::into).collect();
        if secrets.is_empty() {
            return Err(Error::Config("no webhook app secret configured".into()));
        }
        if let Some(i) = secrets
            .iter()
            .position(|s| s.expose_secret().trim().is_empty())
        {
            return Err(Error::Config(format!(
                "webhook app secret #{} is blank",
                i + 1
            )));
        }
        Ok(Self { secrets })
    }

    /// How many secrets are accepted.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Always false: a verifier holds at least one secret.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Checks `header` (the `X-Hub-Signature-256` value, `sha256=<64 hex digits>`) against `body`, the
    /// raw request bytes. Surrounding whitespace is ignored, the prefix and the hex digits are
    /// accepted in either case.
    ///
    /// To refuse a missing or malformed header before buffering a large body, call
    /// [`SignatureVerifier::check_header`] first.
    ///
    /// # Errors
    /// [`Error::SignatureMissing`], [`Error::SignatureMalformed`] (not `sha256=`, bad hex, wrong
    /// length) or [`Error::SignatureMismatch`]; none of them reveals the expected value.
    pub fn verify(&self, header: Option<&str>, body: &[u8]) -> Result<(), Error> {
        let digest = parse_header(header)?;
        let mut ok = false;
        for secret in &self.secrets {
            // Evaluate every secret: which one matched is not secret, but the loop stays simple.
            ok |= mac(secret.expose_secret().as_bytes(), body)
                .verify_slice(&digest)
                .is_ok();
        }
        if ok {
            Ok(())
        } else {
            Err(Error::SignatureMismatch)
        }
    }

    /// Checks only the form of the header (present, `sha256=`, 64 hex digits), so an endpoint can
    /// refuse a request before reading its body.
    ///
    /// # Errors
    /// [`Error::SignatureMissing`] or [`Error::SignatureMalformed`].
    pub fn check_header(header: Option<&str>) -> Result<(), Error> {
        parse_header(header).map(|_| ())
    }
}

fn parse_header(header: Option<&str>) -> Result<[u8; 32], Error> {
    let header = header.ok_or(Error::SignatureMissing)?.trim();
    if header.is_empty() {
        return Err(Error::SignatureMissing);
    }
    let hex_part = match header.split_at_checked(7) {
        Some((prefix, rest)) if prefix.eq_ignore_ascii_case("sha256=") => rest,
        _ => return Err(Error::SignatureMalformed(MalformedSignature::NotSha256)),
    };
    if !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::SignatureMalformed(MalformedSignature::BadHex));
    }
    if hex_part.len() != 64 {
        return Err(Error::SignatureMalformed(MalformedSignature::WrongLength));
    }
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut digest)
        .map_err(|_| Error::SignatureMalformed(MalformedSignature::BadHex))?;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn rfc4231_case_2() {
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn construction_refuses_blank_and_empty() {
        assert!(matches!(
            SignatureVerifier::new(Vec::<SecretString>::new()),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            SignatureVerifier::new([secret("good"), secret(" \t")]),
            Err(Error::Config(m)) if m.contains("#2")
        ));
        assert!(matches!(
            SignatureVerifier::new([secret("")]),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn distinct_errors_without_secrets() {
        let v = SignatureVerifier::new([secret("topsecret")]).unwrap();
        let body = b"{}";
        let good = sign(b"topsecret", body);
        assert!(v.verify(Some(&good), body).is_ok());
        assert!(v.verify(Some(&good.to_uppercase()), body).is_ok());
        assert!(v.verify(Some(&format!("  {good} ")), body).is_ok());
        assert!(matches!(v.verify(None, body), Err(Error::SignatureMissing)));
        assert!(matches!(
            v.verify(Some(""), body),
            Err(Error::SignatureMissing)
        ));
        assert!(matches!(
            v.verify(Some(&good.replace("sha256=", "sha1=")), body),
            Err(Error::SignatureMalformed(MalformedSignature::NotSha256))
        ));
        assert!(matches!(
            v.verify(Some("sha256=zz"), body),
            Err(Error::SignatureMalformed(MalformedSignature::BadHex))
        ));
        assert!(matches!(
            v.verify(Some("sha256=abcd"), body),
            Err(Error::SignatureMalformed(MalformedSignature::WrongLength))
        ));
        assert!(matches!(
            v.verify(Some("sha256=é"), body),
            Err(Error::SignatureMalformed(MalformedSignature::BadHex))
        ));
        let wrong = sign(b"other", body);
        let err = v.verify(Some(&wrong), body).unwrap_err();
        assert!(matches!(err, Error::SignatureMismatch));
        let expected_hex = &good["sha256=".len()..];
        assert!(!err.to_string().contains(expected_hex));
        assert!(!format!("{err:?}").contains(expected_hex));
        assert!(!format!("{v:?}").contains("topsecret"));
    }

    #[test]
    fn rotation_accepts_any_secret() {
        let v = SignatureVerifier::new([secret("old"), secret("new")]).unwrap();
        assert_eq!(v.len(), 2);
        assert!(v.verify(Some(&sign(b"old", b"x")), b"x").is_ok());
        assert!(v.verify(Some(&sign(b"new", b"x")), b"x").is_ok());
        assert!(v.verify(Some(&sign(b"gone", b"x")), b"x").is_err());
    }

    #[test]
    fn subscription() {
        let token = secret("verify-me");
        assert_eq!(
            verify_subscription(
                Some("subscribe"),
                Some("verify-me"),
                Some("1158201444"),
                &token
            )
            .unwrap(),
            "1158201444"
        );
        let refused = |m, t, c| match verify_subscription(m, t, c, &token) {
            Err(Error::Subscription(e)) => e,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(
            refused(None, Some("verify-me"), Some("1")),
            SubscriptionError::ModeMissing
        );
        assert_eq!(
            refused(Some("unsubscribe"), Some("verify-me"), Some("1")),
            SubscriptionError::WrongMode
        );
        assert_eq!(
            refused(Some("subscribe"), None, Some("1")),
            SubscriptionError::TokenMissing
        );
        assert_eq!(
            refused(Some("subscribe"), Some("verify-mf"), Some("1")),
            SubscriptionError::TokenMismatch
        );
        assert_eq!(
            refused(Some("subscribe"), Some(""), Some("1")),
            SubscriptionError::TokenMismatch
        );
        assert_eq!(
            refused(Some("subscribe"), Some("verify-me"), None),
            SubscriptionError::ChallengeMissing
        );
        assert_eq!(
            refused(Some("subscribe"), Some("verify-me"), Some("")),
            SubscriptionError::ChallengeMissing
        );
        assert_eq!(
            refused(Some("subscribe"), Some("verify-me"), Some("a\nb")),
            SubscriptionError::ChallengeInvalid
        );
        let err = verify_subscription(Some("subscribe"), Some("x"), Some("1"), &token).unwrap_err();
        assert!(!err.to_string().contains("verify-me"));
        assert!(matches!(
            verify_subscription(Some("subscribe"), Some(""), Some("1"), &secret(" ")),
            Err(Error::Config(_))
        ));
    }
}
