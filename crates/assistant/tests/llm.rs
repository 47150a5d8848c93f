//! The model-backed implementations against the testkit's Chat Completions emulator: the OK
//! paths, every failure mode ending in the rule result with `fallback = true` and counted,
//! lookup values never invented, redaction, the size cap, custom prompts, Azure-style auth.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use chatport_assistant::Error;
use chatport_assistant::classify::{
    Classification, Classifier, ClassifierConfig, MessageFacts, RuleClassifier,
};
use chatport_assistant::extract::{DocumentFacts, Extractor, NoExtraction};
use chatport_assistant::fields::{
    FieldFiller, FieldKind, FieldSpec, FieldValue, LookupValue, LookupValues, NoFields,
};
use chatport_assistant::llm::{
    Assistant, LlmClassifier, LlmExtractor, LlmFieldFiller, LlmSummariser, Prompts, Redaction,
    RetryPolicy,
};
use chatport_assistant::summary::{
    HandoffReason, RuleSummariser, Sentiment, Summariser, SummaryInput,
};
use chatport_testkit::chat::{ChatEmulator, ChatFailure};
use chatport_whatsapp::conversation::{Direction, LoggedMessage};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::{Value, json};

const KEY: &str = "sk-test-secret-key";

async fn emulator() -> ChatEmulator {
    ChatEmulator::builder()
        .api_key(KEY)
        .retry_after_secs(0)
        .slow_answer(Duration::from_secs(20))
        .start()
        .await
        .unwrap()
}

fn assistant(chat: &ChatEmulator) -> Assistant {
    Assistant::builder(chat.base_url(), "gpt-4o-mini")
        .api_key(KEY)
        .timeout(Duration::from_millis(500))
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

/// A per-test metrics recorder (thread-local: `#[tokio::test]` runs on the test's thread).
struct Metrics {
    snapshotter: Snapshotter,
    _guard: metrics::LocalRecorderGuard<'static>,
}

/// A series: name, labels, value.
type Series = (String, Vec<(String, String)>, u64);

fn metrics() -> Metrics {
    let recorder: &'static DebuggingRecorder = Box::leak(Box::new(DebuggingRecorder::new()));
    Metrics {
        snapshotter: recorder.snapshotter(),
        _guard: metrics::set_default_local_recorder(recorder),
    }
}

impl Metrics {
    /// Every counter series as (name, sorted labels) → value, and the histogram counts.
    fn counters(&self) -> Vec<Series> {
        self.snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| {
                let n = match value {
                    DebugValue::Counter(n) => n,
                    DebugValue::Histogram(v) => v.len() as u64,
                    DebugValue::Gauge(_) => return None,
                };
                let key = key.key();
                let mut labels: Vec<(String, String)> = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                labels.sort();
                Some((key.name().to_owned(), labels, n))
            })
            .collect()
    }
}

fn count(all: &[Series], name: &str, labels: &[(&str, &str)]) -> u64 {
    all.iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| *v)
        .sum()
}

fn config() -> ClassifierConfig {
    toml::from_str(
        r#"
[[issue_types]]
name = "billing"
keywords = ["invoice"]
[[issue_types]]
name = "delivery"
keywords = ["parcel"]
[[priorities]]
name = "high"
keywords = ["urgent"]
[[product_lines]]
name = "routers"
keywords = ["router"]
[regions]
"49" = "EMEA"
"1" = "NA"
"#,
    )
    .unwrap()
}

fn llm_classifier(chat: &ChatEmulator) -> (LlmClassifier, Arc<RuleClassifier>) {
    let rules = Arc::new(RuleClassifier::new(config()));
    (
        LlmClassifier::new(assistant(chat), &config(), rules.clone()),
        rules,
    )
}

fn message(direction: Direction, id: &str, text: &str) -> LoggedMessage {
    let mut m = LoggedMessage::new(
        direction,
        id,
        chrono::DateTime::parse_from_rfc3339("2026-03-04T10:15:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc),
        "text",
    );
    m.text = Some(text.to_owned());
    m
}

fn user_content(request: &Value) -> String {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn classifier_ok_uses_the_models_values_from_the_configured_lists() {
    let metrics = metrics();
    let chat = emulator().await;
    let (classifier, _) = llm_classifier(&chat);
    let c = classifier
        .classify(&MessageFacts::new(
            Some("4915112345678"),
            "The delivery of my routers is late, high priority",
        ))
        .await;
    // The emulator picks the first allowed value whose words occur in the text.
    assert_eq!(c.issue_type, "delivery");
    assert_eq!(c.priority, "high");
    assert_eq!(c.product_line, "routers");
    assert_eq!(c.region, "EMEA", "the number's region stays with the rules");
    assert!(!c.fallback);
    let p = c.provenance.clone().unwrap();
    assert_eq!(p.model, "gpt-4o-mini");
    assert_eq!(p.prompt, "classify");
    assert_eq!(p.prompt_version, Prompts::shipped().classify.version);

    let requests = chat.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r["model"], "gpt-4o-mini");
    assert_eq!(r["response_format"]["type"], "json_schema");
    assert_eq!(r["response_format"]["json_schema"]["strict"], true);
    assert_eq!(
        r["response_format"]["json_schema"]["schema"]["properties"]["issue_type"]["enum"],
        json!(["general", "billing", "delivery"])
    );
    assert!(!r.to_string().contains("4915112345678"));

    let all = metrics.counters();
    assert_eq!(
        count(
            &all,
            "chatport_assistant_calls_total",
            &[("task", "classify"), ("outcome", "ok")]
        ),
        1
    );
    assert_eq!(count(&all, "chatport_assistant_fallbacks_total", &[]), 0);
    assert!(
        count(
            &all,
            "chatport_assistant_tokens_total",
            &[("direction", "in")]
        ) > 0
    );
    assert!(
        count(
            &all,
            "chatport_assistant_tokens_total",
            &[("direction", "out")]
        ) > 0
    );
    assert_eq!(
        count(
            &all,
            "chatport_assistant_call_duration_seconds",
            &[("task", "classify")]
        ),
        1
    );
    chat.shutdown().await;
}

#[tokio::test]
async fn a_model_value_outside_the_configured_lists_falls_back() {
    let metrics = metrics();
    let chat = emulator().await;
    chat.answer_with(|_| {
        Some(json!({"issue_type": "fraud", "priority": "high", "product_line": "routers", "region": "unknown"}))
    });
    let (classifier, rules) = llm_classifier(&chat);
    let facts = MessageFacts::new(Some("16505551234"), "my invoice");
    let c = classifier.classify(&facts).await;
    let mut expected = rules.classify_rules(&facts);
    expected.fallback = true;
    assert_eq!(c, expected);
    assert_eq!(c.issue_type, "billing");
    let all = metrics.counters();
    assert_eq!(
        count(
            &all,
            "chatport_assistant_calls_total",
            &[("outcome", "off_schema")]
        ),
        1
    );
    chat.shutdown().await;
}

/// Every failure mode of the emulator ends in the rule result, marked and counted.
#[tokio::test]
async fn every_failure_falls_back_to_the_rules_and_is_counted() {
    let metrics = metrics();
    let chat = emulator().await;
    let (classifier, rules) = llm_classifier(&chat);
    let facts = MessageFacts::new(Some("4915112345678"), "URGENT: my invoice is wrong");
    let cases = [
        (ChatFailure::RateLimited, "error"),
        (ChatFailure::ServerError, "error"),
        (ChatFailure::Unavailable, "error"),
        (ChatFailure::Timeout, "timeout"),
        (ChatFailure::Malformed, "error"),
        (ChatFailure::OffSchema, "off_schema"),
        (ChatFailure::Refusal, "refused"),
    ];
    let mut expected = rules.classify_rules(&facts);
    expected.fallback = true;
    for (failure, _) in &cases {
        chat.fail_next(1, failure.clone());
        let c: Classification = classifier.classify(&facts).await;
        assert_eq!(c, expected, "{failure:?}");
        assert!(c.provenance.is_none());
    }
    let all = metrics.counters();
    for outcome in ["error", "timeout", "off_schema", "refused"] {
        let want = cases.iter().filter(|(_, o)| *o == outcome).count() as u64;
        assert_eq!(
            count(
                &all,
                "chatport_assistant_calls_total",
                &[("task", "classify"), ("outcome", outcome)]
            ),
            want,
            "{outcome}"
        );
    }
    assert_eq!(
        count(
            &all,
            "chatport_assistant_fallbacks_total",
            &[("task", "classify")]
        ),
        cases.len() as u64
    );
    assert_eq!(
        count(&all, "chatport_assistant_calls_total", &[("outcome", "ok")]),
        0
    );
    chat.shutdown().await;
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_through_the_retry_policy() {
    let metrics = metrics();
    let chat = emulator().await;
    let assistant = Assistant::builder(chat.base_url(), "gpt-4o-mini")
        .api_key(KEY)
        .retry(
            RetryPolicy::default()
                .with_attempts(3)
                .with_delays(Duration::from_millis(1), Duration::from_millis(5)),
        )
        .build()
        .unwrap();
    let rules = Arc::new(RuleClassifier::new(config()));
    let classifier = LlmClassifier::new(assistant, &config(), rules);
    chat.fail_next(1, ChatFailure::RateLimited);
    chat.fail_next(1, ChatFailure::ServerError);
    let c = classifier
        .classify(&MessageFacts::new(None, "delivery"))
        .await;
    assert!(!c.fallback);
    assert_eq!(c.issue_type, "delivery");
    assert_eq!(chat.requests().len(), 3);
    // A refusal is the model's answer, not a transport failure: never repeated.
    chat.fail_next(1, ChatFailure::Refusal);
    let c = classifier
        .classify(&MessageFacts::new(None, "parcel"))
        .await;
    assert!(c.fallback);
    assert_eq!(chat.requests().len(), 4);
    let all = metrics.counters();
    assert_eq!(
        count(&all, "chatport_assistant_calls_total", &[("outcome", "ok")]),
        1
    );
    assert_eq!(
        count(
            &all,
            "chatport_assistant_calls_total",
            &[("outcome", "refused")]
        ),
        1
    );
    chat.shutdown().await;
}

fn conversation() -> Vec<LoggedMessage> {
    vec![
        message(
            Direction::Inbound,
            "1",
            "Hallo, mein Router ist kaputt. Ruf mich an: +49 151 2345 6789 oder anna.schmidt@example.org",
        ),
        message(
            Direction::Outbound,
            "2",
            "Das tut uns leid. Haben Sie eine Rechnung?",
        ),
        message(
            Direction::Inbound,
            "3",
            "Ja, bezahlt 49.90 am 2026-03-04. Ich will mit einem Menschen sprechen",
        ),
    ]
}

#[tokio::test]
async fn summariser_ok_writes_the_models_summary_with_provenance() {
    let metrics = metrics();
    let chat = emulator().await;
    chat.answer_with(|_| {
        Some(json!({
            "subject": "Broken router, customer wants a person",
            "summary": "The customer's router is broken. They paid on 2026-03-04.",
            "intent": "Get the router replaced.",
            "action_items": ["Check the invoice", "Offer a replacement"],
            "language": "de",
            "sentiment": "negative",
            "handoff_reason": "customer_asked",
            "handoff_topic": null
        }))
    });
    let summariser = LlmSummariser::new(assistant(&chat), Arc::new(RuleSummariser));
    let messages = conversation();
    let reason = HandoffReason::Phrase {
        phrase: "mit einem menschen sprechen".into(),
    };
    let classification = Classification::new("general", "normal", "EMEA", "routers");
    let s = summariser
        .summarise(
            &SummaryInput::new(&messages, &reason, &classification).customer_name(Some("Anna")),
        )
        .await;
    assert!(!s.fallback);
    assert_eq!(s.subject, "Broken router, customer wants a person");
    assert_eq!(s.intent.as_deref(), Some("Get the router replaced."));
    assert_eq!(
        s.action_items,
        vec!["Check the invoice", "Offer a replacement"]
    );
    assert_eq!(s.language.as_deref(), Some("de"));
    assert_eq!(s.sentiment, Some(Sentiment::Negative));
    assert_eq!(s.handoff_reason, Some(HandoffReason::CustomerAsked));
    let p = s.provenance.clone().unwrap();
    assert_eq!(p.prompt, "summary");
    assert!(
        s.description
            .starts_with("The customer's router is broken.")
    );
    assert!(s.description.contains("- Offer a replacement\n"));
    assert!(s.description.contains("Language: de; sentiment: negative."));
    assert!(
        s.description
            .contains("the customer asked for a person (\"mit einem menschen sprechen\")")
    );
    assert!(
        s.description
            .contains(&format!("Written by the assistant ({p})."))
    );
    // The customer's name is not sent.
    assert!(!chat.requests()[0].to_string().contains("Anna"));
    let all = metrics.counters();
    assert_eq!(
        count(
            &all,
            "chatport_assistant_calls_total",
            &[("task", "summary"), ("outcome", "ok")]
        ),
        1
    );
    chat.shutdown().await;
}

#[tokio::test]
async fn summariser_falls_back_to_the_rule_summary() {
    let metrics = metrics();
    let chat = emulator().await;
    let summariser = LlmSummariser::new(assistant(&chat), Arc::new(RuleSummariser));
    let messages = conversation();
    let reason = HandoffReason::Manual { note: None };
    let classification = Classification::new("general", "normal", "EMEA", "routers");
    let input = SummaryInput::new(&messages, &reason, &classification);
    let rule = RuleSummariser.summary(&input);
    for failure in [
        ChatFailure::OffSchema,
        ChatFailure::Timeout,
        ChatFailure::Refusal,
    ] {
        chat.fail_next(1, failure);
        let s = summariser.summarise(&input).await;
        assert!(s.fallback);
        assert_eq!(
            (s.subject.as_str(), s.description.as_str()),
            (rule.subject.as_str(), rule.description.as_str())
        );
        assert!(s.provenance.is_none());
    }
    // The emulator's default answer fits the schema (its "language" is no BCP 47 tag: dropped).
    let s = summariser.summarise(&input).await;
    assert!(!s.fallback);
    assert_eq!(s.language, None);
    assert!(s.subject.starts_with("Customer says:"));
    let all = metrics.counters();
    assert_eq!(
        count(
            &all,
            "chatport_assistant_fallbacks_total",
            &[("task", "summary")]
        ),
        3
    );
    chat.shutdown().await;
}

fn specs() -> Vec<FieldSpec> {
    vec![
        FieldSpec::new("UsrCategory", "Category", FieldKind::Lookup, "The product"),
        FieldSpec::new("UsrAmount", "Amount", FieldKind::Number, "The amount paid"),
        FieldSpec::new("UsrPaidOn", "Paid on", FieldKind::Date, "When it was paid"),
        FieldSpec::new("UsrNote", "Note", FieldKind::Text, "Anything else"),
    ]
}

fn lookups() -> LookupValues {
    let mut l = LookupValues::new();
    l.insert(
        "UsrCategory".into(),
        vec![
            LookupValue::new("6f1c0000-0000-0000-0000-000000000001", "Phones"),
            LookupValue::new("6f1c0000-0000-0000-0000-000000000002", "Router"),
        ],
    );
    l
}

#[tokio::test]
async fn field_filler_fills_each_kind_from_the_conversation() {
    let chat = emulator().await;
    let filler = LlmFieldFiller::new(assistant(&chat), Arc::new(NoFields));
    let messages = conversation();
    let reason = HandoffReason::Manual { note: None };
    let classification = Classification::new("general", "normal", "EMEA", "routers");
    let input = SummaryInput::new(&messages, &reason, &classification);
    let filled = filler.fill(&specs(), &lookups(), &input).await;
    assert!(!filled.fallback);
    assert_eq!(filled.provenance.as_ref().unwrap().prompt, "fields");
    assert_eq!(
        filled.get("UsrCategory"),
        Some(&FieldValue::Lookup(LookupValue::new(
            "6f1c0000-0000-0000-0000-000000000002",
            "Router"
        )))
    );
    // The emulator answers the first number of the user content (here a transcript timestamp).
    assert!(matches!(filled.get("UsrAmount"), Some(FieldValue::Number(n)) if n.is_finite()));
    assert_eq!(
        filled.get("UsrPaidOn").map(FieldValue::to_plain).as_deref(),
        Some("2026-03-04")
    );
    assert!(
        matches!(filled.get("UsrNote"), Some(FieldValue::Text(t)) if t.starts_with("Customer says:"))
    );
    let schema = &chat.requests()[0]["response_format"]["json_schema"]["schema"];
    assert_eq!(
        schema["properties"]["UsrCategory"]["enum"],
        json!(["Phones", "Router", null])
    );
    chat.shutdown().await;
}

#[tokio::test]
async fn lookup_values_are_never_invented_and_bad_values_are_dropped() {
    let chat = emulator().await;
    chat.answer_with(|_| {
        Some(json!({
            "UsrCategory": "Tablets",
            "UsrAmount": "about fifty",
            "UsrPaidOn": "4 March",
            "UsrNote": "Wants a replacement"
        }))
    });
    let filler = LlmFieldFiller::new(assistant(&chat), Arc::new(NoFields));
    let messages = conversation();
    let reason = HandoffReason::Manual { note: None };
    let classification = Classification::new("general", "normal", "EMEA", "routers");
    let input = SummaryInput::new(&messages, &reason, &classification);
    let filled = filler.fill(&specs(), &lookups(), &input).await;
    assert!(!filled.fallback);
    assert_eq!(filled.values.len(), 1, "{filled:?}");
    assert_eq!(
        filled.get("UsrNote"),
        Some(&FieldValue::Text("Wants a replacement".into()))
    );
    // A lookup field without allowed values is never filled either.
    let filled = filler.fill(&specs(), &LookupValues::new(), &input).await;
    assert_eq!(filled.get("UsrCategory"), None);
    // An unknown key is off-schema: the fallback (nothing) answers.
    chat.answer_with(|_| Some(json!({"UsrCategory": "Router", "UsrInvented": "x"})));
    let filled = filler.fill(&specs(), &lookups(), &input).await;
    assert!(filled.fallback);
    assert!(filled.is_empty());
    chat.shutdown().await;
}

#[tokio::test]
async fn field_filler_and_extractor_fall_back_on_failures() {
    let metrics = metrics();
    let chat = emulator().await;
    let filler = LlmFieldFiller::new(assistant(&chat), Arc::new(NoFields));
    let extractor = LlmExtractor::new(assistant(&chat), Arc::new(NoExtraction));
    let messages = conversation();
    let reason = HandoffReason::Manual { note: None };
    let classification = Classification::new("general", "normal", "EMEA", "routers");
    let input = SummaryInput::new(&messages, &reason, &classification);
    chat.fail_next(1, ChatFailure::Malformed);
    let filled = filler.fill(&specs(), &lookups(), &input).await;
    assert!(filled.fallback && filled.is_empty() && filled.provenance.is_none());
    chat.fail_next(1, ChatFailure::RateLimited);
    let doc = DocumentFacts::new().caption(Some("Invoice for the Router"));
    let extracted = extractor.extract(&specs(), &lookups(), &doc).await;
    assert!(extracted.fallback && extracted.is_empty());
    let all = metrics.counters();
    assert_eq!(
        count(
            &all,
            "chatport_assistant_fallbacks_total",
            &[("task", "fields")]
        ),
        1
    );
    assert_eq!(
        count(
            &all,
            "chatport_assistant_fallbacks_total",
            &[("task", "extract")]
        ),
        1
    );
    chat.shutdown().await;
}

#[tokio::test]
async fn extractor_reads_caption_file_name_and_text() {
    let chat = emulator().await;
    let extractor = LlmExtractor::new(assistant(&chat), Arc::new(NoExtraction));
    let text = "INVOICE\nPhones Ltd.\nTotal due 120.00 by 2026-05-31";
    let doc = DocumentFacts::new()
        .caption(Some("Invoice for the phones"))
        .file_name(Some("invoice.pdf"))
        .mime(Some("application/pdf"))
        .text(Some(text));
    let filled = extractor.extract(&specs(), &lookups(), &doc).await;
    assert!(!filled.fallback);
    assert_eq!(filled.provenance.as_ref().unwrap().prompt, "extract");
    assert!(matches!(filled.get("UsrCategory"), Some(FieldValue::Lookup(v)) if v.name == "Phones"));
    let user = user_content(&chat.requests()[0]);
    assert!(user.contains("Caption: Invoice for the phones"));
    assert!(user.contains("File name: invoice.pdf"));
    assert!(user.contains("Total due 120.00 by 2026-05-31"));
    let system = chat.requests()[0]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        system.contains("- UsrCategory (lookup, Category): The product [allowed: Phones, Router]")
    );
    assert!(!user.contains("[allowed:"));
    chat.shutdown().await;
}

#[tokio::test]
async fn no_phone_number_or_email_reaches_the_endpoint() {
    let chat = emulator().await;
    let a = assistant(&chat);
    let messages = conversation();
    let reason = HandoffReason::Manual {
        note: Some("call back on +1 650 555 1234".into()),
    };
    let classification = Classification::new("general", "normal", "EMEA", "routers");
    let input = SummaryInput::new(&messages, &reason, &classification);
    let rules = Arc::new(RuleClassifier::new(config()));
    LlmClassifier::new(a.clone(), &config(), rules)
        .classify(&MessageFacts::new(
            Some("4915123456789"),
            "call me at 0151-2345 6789 or mail anna.schmidt@example.org",
        ))
        .await;
    LlmSummariser::new(a.clone(), Arc::new(RuleSummariser))
        .summarise(&input)
        .await;
    LlmFieldFiller::new(a.clone(), Arc::new(NoFields))
        .fill(&specs(), &lookups(), &input)
        .await;
    let doc = DocumentFacts::new()
        .caption(Some("from anna.schmidt@example.org, +49 151 2345 6789"))
        .file_name(Some("scan-4915123456789.pdf"))
        .text(Some(
            "Contact: anna.schmidt@example.org Tel. (0151) 2345-6789",
        ))
        .conversation(&messages);
    LlmExtractor::new(a, Arc::new(NoExtraction))
        .extract(&specs(), &lookups(), &doc)
        .await;
    let requests = chat.requests();
    assert_eq!(requests.len(), 4);
    let sent = serde_json::to_string(&requests).unwrap();
    for personal in [
        "anna.schmidt@example.org",
        "example.org",
        "2345 6789",
        "2345-6789",
        "23456789",
        "4915123456789",
        "555 1234",
    ] {
        assert!(!sent.contains(personal), "{personal} reached the endpoint");
    }
    assert!(sent.contains("[phone]") && sent.contains("[email]"));
    // The text around them is sent.
    assert!(sent.contains("mein Router ist kaputt"));
    assert!(sent.contains("2026-03-04"), "dates are not phone numbers");

    // With redaction off, the same text goes out as it is.
    let plain = Assistant::builder(chat.base_url(), "m")
        .api_key(KEY)
        .redaction(Redaction::none())
        .build()
        .unwrap();
    LlmSummariser::new(plain, Arc::new(RuleSummariser))
        .summarise(&input)
        .await;
    let last = chat.requests().pop().unwrap().to_string();
    assert!(last.contains("anna.schmidt@example.org"));
    chat.shutdown().await;
}

#[tokio::test]
async fn the_size_cap_keeps_the_newest_messages() {
    let chat = emulator().await;
    let a = Assistant::builder(chat.base_url(), "m")
        .api_key(KEY)
        .max_prompt_chars(600)
        .build()
        .unwrap();
    let messages: Vec<LoggedMessage> = (0..60)
        .map(|i| {
            message(
                Direction::Inbound,
                &i.to_string(),
                &format!("message number {i:02} with some padding text"),
            )
        })
        .collect();
    let reason = HandoffReason::Manual { note: None };
    let classification = Classification::new("general", "normal", "EMEA", "routers");
    let input = SummaryInput::new(&messages, &reason, &classification);
    LlmSummariser::new(a.clone(), Arc::new(RuleSummariser))
        .summarise(&input)
        .await;
    let long: String = "word ".repeat(400) + "the newest words";
    LlmClassifier::new(a, &config(), Arc::new(RuleClassifier::new(config())))
        .classify(&MessageFacts::new(None, &long))
        .await;
    let requests = chat.requests();
    let summary_user = user_content(&requests[0]);
    assert!(
        summary_user.chars().count() <= 600,
        "{}",
        summary_user.chars().count()
    );
    assert!(summary_user.contains("message number 59"));
    assert!(!summary_user.contains("message number 00"));
    assert!(summary_user.contains("earlier message(s) left out"));
    let classify_user = user_content(&requests[1]);
    assert!(classify_user.chars().count() <= 600 + "Message:\n".len());
    assert!(classify_user.ends_with("the newest words"));
    chat.shutdown().await;
}

#[tokio::test]
async fn prompts_from_a_folder_change_the_prompt_and_its_version() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("summary.md"),
        "version: ops-7\nSummarise for the night shift.\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("fields.md"), "Fill the fields.\n").unwrap();
    let prompts = Prompts::load(dir.path()).unwrap();
    let shipped = Prompts::shipped();
    assert_eq!(prompts.summary.version, "ops-7");
    assert_ne!(prompts.fields.version, shipped.fields.version);
    assert_eq!(
        prompts.classify, shipped.classify,
        "a missing file keeps the shipped prompt"
    );

    let chat = emulator().await;
    let a = Assistant::builder(chat.base_url(), "local-llama")
        .api_key(KEY)
        .prompts(prompts)
        .build()
        .unwrap();
    let messages = conversation();
    let reason = HandoffReason::Manual { note: None };
    let classification = Classification::new("general", "normal", "EMEA", "routers");
    let s = LlmSummariser::new(a, Arc::new(RuleSummariser))
        .summarise(&SummaryInput::new(&messages, &reason, &classification))
        .await;
    assert_eq!(
        s.provenance.unwrap().to_string(),
        "model local-llama, prompt summary@ops-7"
    );
    let system = &chat.requests()[0]["messages"][0];
    assert_eq!(system["role"], "system");
    assert_eq!(system["content"], "Summarise for the night shift.\n");

    // A prompt file that cannot be read is an error (a directory in its place).
    let bad = tempfile::tempdir().unwrap();
    std::fs::create_dir(bad.path().join("classify.md")).unwrap();
    assert!(matches!(
        Prompts::load(bad.path()),
        Err(Error::Prompt { .. })
    ));
    chat.shutdown().await;
}

#[tokio::test]
async fn probe_checks_url_key_and_azure_style_auth() {
    let chat = emulator().await;
    assistant(&chat).probe().await.unwrap();
    let wrong = Assistant::builder(chat.base_url(), "m")
        .api_key("sk-wrong-key")
        .build()
        .unwrap();
    let e = wrong.probe().await.unwrap_err();
    assert!(matches!(e, Error::Status { status: 401, .. }), "{e:?}");
    assert!(!e.to_string().contains("sk-wrong-key"));
    assert!(!format!("{e:?}").contains("sk-wrong-key"));
    assert!(!format!("{wrong:?}").contains("sk-wrong-key"));

    let azure = Assistant::builder(
        format!("{}/openai/deployments/gpt-4o-mini/", chat.root_url()),
        "gpt-4o-mini",
    )
    .api_key(KEY)
    .azure_api_version("2024-10-21")
    .build()
    .unwrap();
    azure.probe().await.unwrap();
    assert_eq!(
        chat.paths().last().unwrap(),
        "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
    );
    assert!(matches!(
        Assistant::builder("not a url", "m").build(),
        Err(Error::Config(_))
    ));
    chat.shutdown().await;
}

#[cfg(feature = "pdf")]
#[test]
fn pdf_text_reads_a_generated_pdf() {
    use chatport_assistant::extract::pdf_text;

    let bytes = chatport_testkit::documents::pdf_with_text("Invoice 0423 total 120.00").unwrap();
    let text = pdf_text(&bytes, 1000).unwrap();
    assert!(text.contains("Invoice 0423 total 120.00"), "{text:?}");
    assert_eq!(pdf_text(&bytes, 7).unwrap(), "Invoice");
    assert_eq!(pdf_text(b"%PDF-1.5 not really", 100), None);
    assert_eq!(pdf_text(b"hello", 100), None);
}

#[tokio::test]
async fn a_request_limit_holds_the_next_request_back() {
    let chat = emulator().await;
    let limited = Assistant::builder(chat.base_url(), "gpt-4o-mini")
        .api_key(KEY)
        .requests_per_minute(1)
        .build()
        .unwrap();
    limited.probe().await.unwrap();
    // The bucket refills one request per minute: the second waits (far longer than this).
    let second = tokio::time::timeout(Duration::from_millis(300), limited.clone().probe()).await;
    assert!(second.is_err(), "the second request was not held back");
    assert_eq!(chat.requests().len(), 1);
    // Without a limit the same two requests go straight out.
    let free = assistant(&chat);
    free.probe().await.unwrap();
    free.probe().await.unwrap();
    assert_eq!(chat.requests().len(), 3);
    chat.shutdown().await;
}
