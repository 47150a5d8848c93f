//! The read-only transcript page chatport serves for agents, behind a signed, expiring link.
//!
//! The link is `{public_url}{transcript_path}/{case id}?exp={unix seconds}&sig={hex}` where `sig`
//! is HMAC-SHA256 over `transcript:{case id}:{exp}` with the configured `transcript_secret`. The
//! page checks the signature in constant time (403 when wrong), the expiry (410 when past), looks
//! the conversation up by the case (404 when unknown), and renders every message of the
//! conversation store as escaped HTML with `Cache-Control: no-store` and
//! `Referrer-Policy: no-referrer`. No phone number appears in the URL.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;
use uuid::Uuid;

use super::state::CreatioState;
use chatport_whatsapp::conversation::{ConversationStore, Direction, LoggedMessage};

type HmacSha256 = Hmac<Sha256>;

/// Why a transcript link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The signature does not match (or is not hex).
    #[error("the link's signature is invalid")]
    BadSignature,
    /// The link expired.
    #[error("the link expired")]
    Expired,
}

/// Signs and checks transcript links.
#[derive(Clone)]
pub struct TranscriptLinks {
    secret: SecretString,
    public_url: String,
    path: String,
    ttl: Duration,
}

impl std::fmt::Debug for TranscriptLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranscriptLinks")
            .field("public_url", &self.public_url)
            .field("path", &self.path)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TranscriptLinks {
    /// Links under `public_url` + `path`, valid for `ttl`, signed with `secret`.
    pub fn new(secret: SecretString, public_url: &str, path: &str, ttl: Duration) -> Self {
        Self {
            secret,
            public_url: public_url.trim_end_matches('/').to_owned(),
            path: format!("/{}", path.trim_matches('/')),
            ttl,
        }
    }

    /// The route path (`/creatio/transcript`).
    pub fn path(&self) -> &str {
        &self.path
    }

    fn mac(&self, case_id: Uuid, exp: i64) -> HmacSha256 {
        let mut mac = match HmacSha256::new_from_slice(self.secret.expose_secret().as_bytes()) {
            Ok(m) => m,
            Err(_) => <HmacSha256 as KeyInit>::new(&Default::default()),
        };
        mac.update(format!("transcript:{case_id}:{exp}").as_bytes());
        mac
    }

    /// The link for `case_id`, valid from `now` for the configured time.
    pub fn url(&self, case_id: Uuid, now: DateTime<Utc>) -> String {
        let exp = now.timestamp() + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let sig = hex::encode(self.mac(case_id, exp).finalize().into_bytes());
        format!(
            "{}{}/{case_id}?exp={exp}&sig={sig}",
            self.public_url, self.path
        )
    }

    /// Checks a link's `exp` and `sig` for `case_id` at `now` (signature first, in constant time).
    ///
    /// # Errors
    /// [`LinkError`].
    pub fn verify(
        &self,
        case_id: Uuid,
        exp: i64,
        sig: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LinkError> {
        let bytes = hex::decode(sig).map_err(|_| LinkError::BadSignature)?;
        self.mac(case_id, exp)
            .verify_slice(&bytes)
            .map_err(|_| LinkError::BadSignature)?;
        if now.timestamp() >= exp {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

#[derive(Clone)]
struct PageState {
    links: TranscriptLinks,
    state: CreatioState,
    store: ConversationStore,
}

#[derive(Deserialize)]
struct LinkQuery {
    exp: Option<i64>,
    sig: Option<String>,
}

/// The transcript route: `GET {path}/{case id}?exp=…&sig=…`.
pub fn router(links: TranscriptLinks, state: CreatioState, store: ConversationStore) -> Router {
    let path = format!("{}/{{case_id}}", links.path());
    Router::new()
        .route(&path, get(page))
        .with_state(Arc::new(PageState {
            links,
            state,
            store,
        }))
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], text).into_response()
}

async fn page(
    State(s): State<Arc<PageState>>,
    Path(case_id): Path<String>,
    Query(q): Query<LinkQuery>,
) -> Response {
    let (Ok(case_id), Some(exp), Some(sig)) = (Uuid::parse_str(&case_id), q.exp, q.sig) else {
        return plain(StatusCode::FORBIDDEN, "invalid link\n");
    };
    match s.links.verify(case_id, exp, &sig, Utc::now()) {
        Err(LinkError::BadSignature) => return plain(StatusCode::FORBIDDEN, "invalid link\n"),
        Err(LinkError::Expired) => {
            return plain(
                StatusCode::GONE,
                "this link expired; open the latest link on the case\n",
            );
        }
        Ok(()) => {}
    }
    let conv = match s.state.conversation_of(case_id).await {
        Ok(Some(conv)) => conv,
        Ok(None) => return plain(StatusCode::NOT_FOUND, "no conversation for this case\n"),
        Err(error) => {
            tracing::warn!(%error, "transcript page: store error");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "try again later\n");
        }
    };
    let messages = match s.store.messages(&conv).await {
        Ok(m) => m,
        Err(error) => {
            tracing::warn!(%error, "transcript page: store error");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "try again later\n");
        }
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        render(case_id, &messages),
    )
        .into_response()
}

const STYLE: &str = "body{font-family:sans-serif;max-width:48em;margin:2em auto}\
    .m{margin:.5em 0;padding:.5em .8em;border-radius:.5em}.in{background:#eef}\
    .out{background:#efe;margin-left:4em}.meta{color:#666;font-size:.8em}\
    .text{white-space:pre-wrap;overflow-wrap:anywhere}\
    .media{margin-top:.3em;padding:.3em .5em;border:1px solid #ccd;border-radius:.3em;font-size:.9em}";

/// The transcript page's HTML, rendered through `maud`: every value from a message (author, text,
/// template name, media file name and type) is escaped by the template engine, nothing is written
/// as markup by hand, and the page has no script, no link and no remote resource (its
/// `Content-Security-Policy` also forbids them). Line breaks in a text are kept by CSS
/// (`white-space: pre-wrap`), not by inserted markup. A media message shows its kind, file name
/// and type as text; the file itself is attached to the case by C4 when configured.
pub fn render(case_id: Uuid, messages: &[LoggedMessage]) -> String {
    let page = maud::html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="robots" content="noindex";
                title { "WhatsApp conversation" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                h1 { "WhatsApp conversation" }
                p.meta { "Case " (case_id) " · " (messages.len()) " message(s) · read-only" }
                @for m in messages {
                    @let (class, who) = match m.direction {
                        Direction::Inbound => ("m in", m.author.as_deref().unwrap_or("Customer")),
                        _ => ("m out", "Sent by chatport"),
                    };
                    div class=(class) {
                        div.meta { (who) " · " (m.at.format("%Y-%m-%d %H:%M:%S UTC")) " · " (m.kind) }
                        @if let Some(text) = &m.text {
                            div.text { (text) }
                        }
                        @if let Some(template) = &m.template {
                            div { "(template " (template) ")" }
                        }
                        @if let Some(media) = &m.media {
                            div.media {
                                "Attachment: "
                                (media.filename.as_deref().filter(|n| !n.trim().is_empty()).unwrap_or("media"))
                                @if let Some(mime) = media.mime_type.as_deref().filter(|t| !t.is_empty()) {
                                    span.meta { " (" (mime) ")" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> TranscriptLinks {
        TranscriptLinks::new(
            SecretString::from("s3cret"),
            "https://chatport.example.com/",
            "creatio/transcript",
            Duration::from_secs(3600),
        )
    }

    fn parts(url: &str) -> (i64, String) {
        let q = url.split_once('?').unwrap().1;
        let mut exp = 0;
        let mut sig = String::new();
        for pair in q.split('&') {
            let (k, v) = pair.split_once('=').unwrap();
            match k {
                "exp" => exp = v.parse().unwrap(),
                "sig" => sig = v.to_owned(),
                _ => {}
            }
        }
        (exp, sig)
    }

    #[test]
    fn a_link_verifies_until_it_expires_and_only_for_its_case() {
        let l = links();
        let case = Uuid::new_v4();
        let now = Utc::now();
        let url = l.url(case, now);
        assert!(url.starts_with(&format!(
            "https://chatport.example.com/creatio/transcript/{case}?exp="
        )));
        let (exp, sig) = parts(&url);
        assert_eq!(l.verify(case, exp, &sig, now), Ok(()));
        assert_eq!(
            l.verify(case, exp, &sig, now + chrono::Duration::hours(2)),
            Err(LinkError::Expired)
        );
        assert_eq!(
            l.verify(Uuid::new_v4(), exp, &sig, now),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            l.verify(case, exp + 3600, &sig, now),
            Err(LinkError::BadSignature),
            "a longer expiry is not accepted"
        );
        assert_eq!(l.verify(case, exp, "zz", now), Err(LinkError::BadSignature));
        let other = TranscriptLinks::new(
            SecretString::from("other"),
            "https://x",
            "/creatio/transcript",
            Duration::from_secs(3600),
        );
        assert_eq!(
            other.verify(case, exp, &sig, now),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn every_message_value_is_escaped_and_the_page_has_no_active_content() {
        let mut m = LoggedMessage::new(Direction::Inbound, "1", Utc::now(), "text");
        m.text =
            Some("<script>alert('x')</script>\n<a href=\"javascript:alert(1)\">click</a>".into());
        m.author = Some("<img src=x onerror=alert(2)>".into());
        let mut doc = LoggedMessage::new(Direction::Inbound, "2", Utc::now(), "document");
        let mut media = chatport_whatsapp::conversation::MediaRef::default();
        media.filename = Some("\"><svg onload=alert(3)>.pdf".into());
        media.mime_type = Some("application/pdf".into());
        doc.media = Some(media);
        let html = render(Uuid::nil(), &[m, doc]);
        for active in ["<script", "<a ", "<img", "<svg", "href=\""] {
            assert!(!html.contains(active), "{active} in {html}");
        }
        assert!(
            html.contains("&lt;script&gt;alert('x')&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("&lt;a href=&quot;javascript:alert(1)&quot;&gt;click&lt;/a&gt;"));
        assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;"));
        assert!(html.contains("&quot;&gt;&lt;svg onload=alert(3)&gt;.pdf"));
        assert!(html.contains("(application/pdf)"));
        assert!(html.starts_with("<!DOCTYPE html>"));
    }
}
