//! The read-only transcript page chatport serves for agents, behind a signed, expiring link.
//!
//! The link is `{public_url}{transcript_path}/{case id}?exp={unix seconds}&sig={hex}` where `sig`
//! is HMAC-SHA256 over `transcript:{case id}:{exp}` with the configured `transcript_secret`. The
//! page checks the signature in constant time (403 when wrong), the expiry (410 when past), looks
//! the conversation up by the case (404 when unknown), and renders every message of the
//! conversation store as escaped HTML with `Cache-Control: no-store` and
//! `Referrer-Policy: no-referrer`. No phone number appears in the URL.
//!
//! **Attachments:** a message with a WhatsApp media id links to
//! `{transcript_path}/{case id}/media/{n}?exp=…&sig=…` (`n` is the message's position in the
//! conversation, the link's own `exp` and `sig` repeated, so the media expires with the page).
//! That route checks the link as the page does, downloads the media through the Cloud API
//! (`GET /{media-id}`, then its URL; at most `flows.c1.max_attachment_bytes`, spooled to a
//! temporary file) and streams it back with `X-Content-Type-Options: nosniff`, a sandboxing
//! `Content-Security-Policy` and `Cache-Control: no-store`. Only JPEG, PNG and WebP images are
//! served inline under their own type (and shown as thumbnails on the page); every other type is
//! `application/octet-stream` with `Content-Disposition: attachment`, so no uploaded HTML, SVG or
//! PDF ever runs in chatport's origin. Meta keeps media about 30 days: an expired id answers 410.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;
use tokio::io::AsyncSeekExt as _;
use uuid::Uuid;

use super::state::CreatioState;
use chatport_whatsapp::DownloadOptions;
use chatport_whatsapp::conversation::{ConversationStore, Direction, LoggedMessage, MediaRef};

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

/// The link parameters of one opened page (`exp`, `sig`), repeated on its attachment links.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageLink {
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// The hex HMAC-SHA256 signature of the page link.
    pub sig: String,
}

impl PageLink {
    /// The parameters of a verified page link.
    pub fn new(exp: i64, sig: impl Into<String>) -> Self {
        Self {
            exp,
            sig: sig.into(),
        }
    }

    /// The relative link of the attachment of message `n` (resolved against the page's URL).
    fn media_href(&self, case_id: Uuid, n: usize) -> String {
        format!("{case_id}/media/{n}?exp={}&sig={}", self.exp, self.sig)
    }
}

/// Media types served inline (and shown as thumbnails): raster images a browser cannot run.
const INLINE_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];

fn inline_type(media: &MediaRef) -> Option<&'static str> {
    let mime = media.mime_type.as_deref()?.split(';').next()?.trim();
    INLINE_TYPES
        .into_iter()
        .find(|t| t.eq_ignore_ascii_case(mime))
}

fn has_media_id(media: &MediaRef) -> bool {
    media.id.as_deref().is_some_and(|id| !id.trim().is_empty())
}

#[derive(Clone)]
struct PageState {
    links: TranscriptLinks,
    state: CreatioState,
    store: ConversationStore,
    whatsapp: Option<chatport_whatsapp::Client>,
    max_media_bytes: u64,
}

#[derive(Deserialize)]
struct LinkQuery {
    exp: Option<i64>,
    sig: Option<String>,
}

/// Where the transcript page's attachments come from (see the module docs for what is served and how).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Attachments {
    /// The Cloud API client that downloads a message's media by its media id.
    pub whatsapp: chatport_whatsapp::Client,
    /// The largest attachment served, in bytes (`flows.c1.max_attachment_bytes`); larger ones
    /// answer 413.
    pub max_bytes: u64,
}

impl Attachments {
    /// Attachments downloaded with `whatsapp`, at most `max_bytes` each.
    pub fn new(whatsapp: chatport_whatsapp::Client, max_bytes: u64) -> Self {
        Self {
            whatsapp,
            max_bytes,
        }
    }
}

/// The transcript routes: `GET {path}/{case id}?exp=…&sig=…` (the page) and, with a `media`
/// source, `GET {path}/{case id}/media/{n}?exp=…&sig=…` (message `n`'s attachment). Without a
/// media source the page names attachments without linking them.
pub fn router(
    links: TranscriptLinks,
    state: CreatioState,
    store: ConversationStore,
    media: Option<Attachments>,
) -> Router {
    let path = format!("{}/{{case_id}}", links.path());
    let media_path = format!("{path}/media/{{n}}");
    let (whatsapp, max_media_bytes) = match media {
        Some(m) => (Some(m.whatsapp), m.max_bytes),
        None => (None, 0),
    };
    Router::new()
        .route(&path, get(page))
        .route(&media_path, get(attachment))
        .with_state(Arc::new(PageState {
            links,
            state,
            store,
            whatsapp,
            max_media_bytes,
        }))
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], text).into_response()
}

/// Checks a request's link for `case_id` and reads the case's conversation; the error is the
/// answer to send.
async fn authorised_messages(
    s: &PageState,
    case_id: &str,
    q: LinkQuery,
) -> Result<(Uuid, PageLink, Vec<LoggedMessage>), Response> {
    let (Ok(case_id), Some(exp), Some(sig)) = (Uuid::parse_str(case_id), q.exp, q.sig) else {
        return Err(plain(StatusCode::FORBIDDEN, "invalid link\n"));
    };
    match s.links.verify(case_id, exp, &sig, Utc::now()) {
        Err(LinkError::BadSignature) => {
            return Err(plain(StatusCode::FORBIDDEN, "invalid link\n"));
        }
        Err(LinkError::Expired) => {
            return Err(plain(
                StatusCode::GONE,
                "this link expired; open the latest link on the case\n",
            ));
        }
        Ok(()) => {}
    }
    let conv = match s.state.conversation_of(case_id).await {
        Ok(Some(conv)) => conv,
        Ok(None) => {
            return Err(plain(
                StatusCode::NOT_FOUND,
                "no conversation for this case\n",
            ));
        }
        Err(error) => {
            tracing::warn!(%error, "transcript page: store error");
            return Err(plain(StatusCode::SERVICE_UNAVAILABLE, "try again later\n"));
        }
    };
    match s.store.messages(&conv).await {
        Ok(messages) => Ok((case_id, PageLink::new(exp, sig), messages)),
        Err(error) => {
            tracing::warn!(%error, "transcript page: store error");
            Err(plain(StatusCode::SERVICE_UNAVAILABLE, "try again later\n"))
        }
    }
}

async fn page(
    State(s): State<Arc<PageState>>,
    Path(case_id): Path<String>,
    Query(q): Query<LinkQuery>,
) -> Response {
    let (case_id, link, messages) = match authorised_messages(&s, &case_id, q).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let link = s.whatsapp.is_some().then_some(&link);
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
            ),
        ],
        render(case_id, &messages, link),
    )
        .into_response()
}

/// Characters written as-is in an RFC 5987 `filename*` value (RFC 5987 `attr-char`).
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition` of an attachment: an ASCII `filename` fallback and the exact name as
/// RFC 5987 `filename*` (RFC 6266 §4.3).
fn disposition(kind: &str, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{kind}; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(name, ATTR_CHAR)
    )
}

async fn attachment(
    State(s): State<Arc<PageState>>,
    Path((case_id, n)): Path<(String, usize)>,
    Query(q): Query<LinkQuery>,
) -> Response {
    let Some(whatsapp) = &s.whatsapp else {
        return plain(StatusCode::NOT_FOUND, "attachments are not served\n");
    };
    let messages = match authorised_messages(&s, &case_id, q).await {
        Ok((_, _, messages)) => messages,
        Err(answer) => return answer,
    };
    let Some((message, media)) = messages
        .get(n)
        .and_then(|m| m.media.as_ref().map(|media| (m, media)))
        .filter(|(_, media)| has_media_id(media))
    else {
        return plain(StatusCode::NOT_FOUND, "no attachment here\n");
    };
    let media_id = media.id.as_deref().unwrap_or_default();
    let spool = match tempfile::tempfile() {
        Ok(file) => file,
        Err(error) => {
            tracing::warn!(%error, "transcript attachment: no temporary file");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "try again later\n");
        }
    };
    let mut file = tokio::fs::File::from_std(spool);
    let options = DownloadOptions::new().max_bytes(s.max_media_bytes);
    let downloaded = match whatsapp
        .download_media_by_id(media_id, None, &mut file, &options)
        .await
    {
        Ok(downloaded) => downloaded,
        Err(chatport_whatsapp::Error::MediaTooLarge { .. }) => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the attachment is larger than this service serves\n",
            );
        }
        Err(error) if media_gone(&error) => {
            return plain(
                StatusCode::GONE,
                "WhatsApp no longer has this attachment (media is kept about 30 days)\n",
            );
        }
        Err(error) => {
            tracing::warn!(%error, "transcript attachment: download failed");
            return plain(
                StatusCode::BAD_GATEWAY,
                "WhatsApp did not deliver the attachment; try again later\n",
            );
        }
    };
    if let Err(error) = file.rewind().await {
        tracing::warn!(%error, "transcript attachment: spool unreadable");
        return plain(StatusCode::SERVICE_UNAVAILABLE, "try again later\n");
    }
    let name = media
        .filename
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map_or_else(|| format!("whatsapp-{}-{n}", message.kind), str::to_owned);
    let (content_type, disposition) = match inline_type(media) {
        Some(mime) => (mime, disposition("inline", &name)),
        None => ("application/octet-stream", disposition("attachment", &name)),
    };
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut answer = Response::new(body);
    let headers = answer.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (header::CONTENT_DISPOSITION, disposition),
        (header::CONTENT_LENGTH, downloaded.bytes.to_string()),
        (header::CACHE_CONTROL, "no-store".to_owned()),
        (header::REFERRER_POLICY, "no-referrer".to_owned()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox".to_owned(),
        ),
    ] {
        if let Ok(value) = header::HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    }
    answer
}

/// Whether a download failure means Meta no longer has the media (unknown or expired id).
fn media_gone(error: &chatport_whatsapp::Error) -> bool {
    match error {
        chatport_whatsapp::Error::Api(api) => api.http_status == 404 || api.code == 100,
        chatport_whatsapp::Error::UnexpectedBody { http_status, .. } => *http_status == 404,
        _ => false,
    }
}

const STYLE: &str = "body{font-family:sans-serif;max-width:48em;margin:2em auto}\
    .m{margin:.5em 0;padding:.5em .8em;border-radius:.5em}.in{background:#eef}\
    .out{background:#efe;margin-left:4em}.meta{color:#666;font-size:.8em}\
    .text{white-space:pre-wrap;overflow-wrap:anywhere}\
    .media{margin-top:.3em;padding:.3em .5em;border:1px solid #ccd;border-radius:.3em;font-size:.9em}\
    .media img{display:block;max-width:16em;max-height:12em;margin-top:.3em}";

/// The transcript page's HTML, rendered through `maud`: every value from a message (author, text,
/// template name, media file name and type) is escaped by the template engine, nothing is written
/// as markup by hand, and the page has no script, no link and no remote resource (its
/// `Content-Security-Policy` also forbids them). Line breaks in a text are kept by CSS
/// (`white-space: pre-wrap`), not by inserted markup. A media message shows its file name and
/// type as text; with `link` (the opened page's own `exp`/`sig`) and a WhatsApp media id, the name
/// links to the attachment route and a JPEG, PNG or WebP image also shows as a thumbnail. Links
/// are relative (`{case id}/media/{n}?exp=…&sig=…`) and built only from the case id, the message's
/// position and the verified link parameters, never from message content.
pub fn render(case_id: Uuid, messages: &[LoggedMessage], link: Option<&PageLink>) -> String {
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
                @for (n, m) in messages.iter().enumerate() {
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
                            @let name = media.filename.as_deref().filter(|n| !n.trim().is_empty()).unwrap_or("media");
                            @let href = link.filter(|_| has_media_id(media)).map(|l| l.media_href(case_id, n));
                            div.media {
                                "Attachment: "
                                @if let Some(href) = &href {
                                    a href=(href) { (name) }
                                } @else {
                                    (name)
                                }
                                @if let Some(mime) = media.mime_type.as_deref().filter(|t| !t.is_empty()) {
                                    span.meta { " (" (mime) ")" }
                                }
                                @if let (Some(href), Some(_)) = (&href, inline_type(media)) {
                                    img src=(href) alt=(name) loading="lazy";
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
        let html = render(Uuid::nil(), &[m, doc], None);
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
        assert!(!html.contains("<a"), "no media id, no link: {html}");
    }

    fn media_message(id: Option<&str>, mime: &str, name: &str) -> LoggedMessage {
        let mut m = LoggedMessage::new(Direction::Inbound, "m", Utc::now(), "document");
        let mut media = MediaRef::default();
        media.id = id.map(str::to_owned);
        media.mime_type = Some(mime.to_owned());
        media.filename = Some(name.to_owned());
        m.media = Some(media);
        m
    }

    #[test]
    fn attachments_link_to_the_media_route_and_only_raster_images_show_inline() {
        let case = Uuid::nil();
        let link = PageLink::new(1_900_000_000, "c0ffee");
        let messages = [
            media_message(Some("111"), "image/png", "shot.png"),
            media_message(Some("222"), "image/svg+xml", "logo.svg"),
            media_message(None, "image/jpeg", "lost.jpg"),
            media_message(Some("444"), "application/pdf", "x\" onclick=\"alert(1).pdf"),
        ];
        let html = render(case, &messages, Some(&link));
        let href = |n: usize| format!("{case}/media/{n}?exp=1900000000&amp;sig=c0ffee");
        assert!(
            html.contains(&format!("<a href=\"{}\">shot.png</a>", href(0))),
            "{html}"
        );
        assert!(html.contains(&format!("<img src=\"{}\" alt=\"shot.png\"", href(0))));
        assert!(html.contains(&format!("<a href=\"{}\">logo.svg</a>", href(1))));
        assert!(
            !html.contains(&format!("<img src=\"{}\"", href(1))),
            "SVG is not inline"
        );
        assert!(!html.contains(&href(2)), "no media id, no link");
        assert!(html.contains("lost.jpg"));
        assert!(html.contains(&format!(
            "<a href=\"{}\">x&quot; onclick=&quot;alert(1).pdf</a>",
            href(3)
        )));
        assert_eq!(html.matches("<img").count(), 1);
        // Without a link (no WhatsApp client for downloads) the names stay plain text.
        let plain = render(case, &messages, None);
        assert!(!plain.contains("<a") && !plain.contains("<img"), "{plain}");
    }

    #[test]
    fn inline_types_and_dispositions() {
        let mut media = MediaRef::default();
        for (mime, inline) in [
            ("image/jpeg", Some("image/jpeg")),
            ("IMAGE/PNG", Some("image/png")),
            ("image/webp; q=1", Some("image/webp")),
            ("image/svg+xml", None),
            ("text/html", None),
            ("application/pdf", None),
        ] {
            media.mime_type = Some(mime.to_owned());
            assert_eq!(inline_type(&media), inline, "{mime}");
        }
        media.mime_type = None;
        assert_eq!(inline_type(&media), None);
        assert_eq!(
            disposition("attachment", "Rechnung März \"2026\".pdf"),
            "attachment; filename=\"Rechnung M_rz _2026_.pdf\"; filename*=UTF-8''Rechnung%20M%C3%A4rz%20%222026%22.pdf"
        );
    }
}
