//! The agents' transcript page in a real browser (headless Chromium): a hostile conversation —
//! `<script>`, an `onerror` image, a `javascript:` link, markup in a file name — renders as inert
//! text. Chromium runs the page from a file and prints the DOM after scripts would have run; a
//! payload that executed would leave its mark on `<body>`. The page's only links and images are
//! the attachment links chatport builds itself (`{case}/media/{n}?exp=…&sig=…`).
//!
//! Needs `chromium` (Debian package `chromium`; `.ci/run` installs it) or a browser named by
//! `CHATPORT_TEST_BROWSER`. Without one the test prints `SKIPPED` and passes, except under CI,
//! where it fails. With `CHATPORT_TRANSCRIPT_SCREENSHOT=path.png` it also writes the screenshot
//! used in `docs/flows/C1.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use chatport_bridge::flows::creatio::transcript::{PageLink, render};
use chatport_whatsapp::conversation::{Direction, LoggedMessage, MediaRef};
use chrono::{TimeZone, Utc};
use uuid::Uuid;

fn browser() -> Option<PathBuf> {
    if let Some(named) = std::env::var_os("CHATPORT_TEST_BROWSER").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(named));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"]
                .into_iter()
                .map(move |name| dir.join(name))
        })
        .find(|candidate| candidate.is_file())
}

fn conversation() -> Vec<LoggedMessage> {
    let at = |m| Utc.with_ymd_and_hms(2026, 12, 7, 9, m, 0).unwrap();
    let mut hello = LoggedMessage::new(Direction::Inbound, "wamid.1", at(1), "text");
    hello.author =
        Some("<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">".into());
    hello.text = Some(
        "My order has not arrived.\n<script>document.body.setAttribute('data-pwned','script')</script>"
            .into(),
    );
    let mut link = LoggedMessage::new(Direction::Inbound, "wamid.2", at(2), "text");
    link.text = Some("<a id=\"evil\" href=\"javascript:document.body.setAttribute('data-pwned','link')\">track</a>".into());
    let mut invoice = LoggedMessage::new(Direction::Inbound, "wamid.3", at(3), "document");
    let mut media = MediaRef::default();
    media.filename =
        Some("\"><svg onload=\"document.body.setAttribute('data-pwned','svg')\">.pdf".into());
    media.mime_type = Some("application/pdf".into());
    media.id = Some("1029384756".into());
    invoice.media = Some(media);
    let mut photo = LoggedMessage::new(Direction::Inbound, "wamid.5", at(5), "image");
    let mut picture = MediaRef::default();
    picture.id = Some("5647382910".into());
    picture.mime_type = Some("image/jpeg".into());
    picture.filename = Some("<b onmouseover=alert(1)>parcel.jpg".into());
    photo.media = Some(picture);
    let mut reply = LoggedMessage::new(Direction::Outbound, "wamid.4", at(4), "text");
    reply.text = Some("Thanks, a colleague will take over shortly.".into());
    vec![hello, link, invoice, reply, photo]
}

#[test]
fn a_hostile_conversation_renders_inert_in_a_real_browser() {
    let Some(browser) = browser() else {
        assert!(
            !chatport_testkit::postgres::under_ci(),
            "CI must run the browser test: install chromium or set CHATPORT_TEST_BROWSER"
        );
        eprintln!("SKIPPED: no chromium on PATH and CHATPORT_TEST_BROWSER unset");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("transcript.html");
    let signed = PageLink::new(1_900_000_000, "ab12");
    std::fs::write(&page, render(Uuid::nil(), &conversation(), Some(&signed))).unwrap();
    let url = format!("file://{}", page.display());
    let profile = dir.path().join("profile");
    let common = |cmd: &mut Command| {
        cmd.arg("--headless")
            .arg("--no-sandbox")
            .arg("--disable-gpu")
            .arg("--no-first-run")
            .arg(format!("--user-data-dir={}", profile.display()));
    };

    let mut dump = Command::new(&browser);
    common(&mut dump);
    let out = dump
        .arg("--virtual-time-budget=2000")
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("the browser runs");
    assert!(out.status.success(), "{browser:?} failed: {out:?}");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("WhatsApp conversation"),
        "no page rendered: {dom}"
    );
    // A payload that ran would show as an attribute of <body>: `<body data-pwned="…">`.
    assert!(!dom.contains("data-pwned=\""), "a payload ran: {dom}");
    assert!(
        dom.contains("<body><h1>"),
        "<body> gained attributes: {dom}"
    );
    for element in ["<script", "<svg", "<b "] {
        assert!(!dom.contains(element), "{element} became an element: {dom}");
    }
    // The only links and images are chatport's own attachment links: the PDF's (message 2) and
    // the photo's (message 4), whose thumbnail is the only image.
    let own = "00000000-0000-0000-0000-000000000000/media/";
    assert_eq!(dom.matches("<a ").count(), 2, "{dom}");
    assert_eq!(dom.matches(&format!("<a href=\"{own}")).count(), 2, "{dom}");
    assert!(dom.contains(&format!("href=\"{own}2?exp=1900000000&amp;sig=ab12\"")));
    assert_eq!(dom.matches("<img ").count(), 1, "{dom}");
    assert!(dom.contains(&format!("<img src=\"{own}4?exp=")), "{dom}");
    assert!(
        dom.contains("&lt;script&gt;document.body.setAttribute"),
        "{dom}"
    );
    assert!(
        dom.contains("&lt;a id=\"evil\" href=\"javascript:"),
        "{dom}"
    );
    assert!(dom.contains("My order has not arrived."), "{dom}");
    assert!(dom.contains("(application/pdf)"), "{dom}");

    if let Some(target) = std::env::var_os("CHATPORT_TRANSCRIPT_SCREENSHOT") {
        let mut shot = Command::new(&browser);
        common(&mut shot);
        let status = shot
            .arg("--hide-scrollbars")
            .arg("--window-size=900,640")
            .arg(format!("--screenshot={}", PathBuf::from(target).display()))
            .arg(&url)
            .status()
            .expect("the browser runs");
        assert!(status.success());
    }
}
