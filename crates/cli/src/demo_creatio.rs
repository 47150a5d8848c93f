//! The Creatio part of `chatport demo` (flows C1–C5): a customer asks for a person and gets a
//! case; a customer whose 24-hour window closed gets a template instead of the agent's free text;
//! agents answer in the Creatio emulator, which calls chatport like a business process; a case is
//! resolved and the customer told.

use std::time::Duration;

use chatport_core::redact;
use chatport_testkit::creatio::CreatioEmulator;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, WebhookSimulator};
use serde_json::{Value, json};
use uuid::Uuid;

const WEBHOOK_SECRET: &str = "demo-creatio-webhook-secret";
const SHEENA: &str = "16505551234";
const LENA: &str = "447700900123";
const RESOLVED: &str = "ae7f411e-f46b-1410-009b-0050ba5d6c38";

/// Starts the Creatio emulator (it calls chatport's endpoint with the webhook secret).
pub(crate) async fn start() -> Result<CreatioEmulator, String> {
    CreatioEmulator::builder()
        .webhook_secret(WEBHOOK_SECRET)
        .start()
        .await
        .map_err(|e| format!("Creatio emulator: {e}"))
}

/// The configuration variables of the `[creatio]` and `[flows.c*]` sections.
pub(crate) fn vars(creatio: &CreatioEmulator, public_url: &str) -> Vec<(String, String)> {
    [
        ("CREATIO_URL", creatio.base_url()),
        ("CREATIO_CLIENT_ID", creatio.client_id().to_owned()),
        ("CREATIO_CLIENT_SECRET", creatio.client_secret().to_owned()),
        ("CREATIO_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        ("CHATPORT_PUBLIC_URL", public_url.to_owned()),
        ("TRANSCRIPT_SECRET", "demo-transcript-secret".to_owned()),
        ("HANDOFF_TOKEN", "demo-handoff-token".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// What the Creatio scenario did.
pub(crate) struct CreatioReport {
    /// Events stored through chatport's endpoints (WhatsApp webhooks and Creatio calls).
    pub(crate) accepted: u64,
    /// Webhook POSTs made (both directions).
    pub(crate) deliveries: u64,
    pub(crate) log: Vec<String>,
    pub(crate) problems: Vec<String>,
    pub(crate) json: Value,
    pub(crate) text: String,
}

fn stored(body: &str) -> u64 {
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    ["inserted", "dead"]
        .iter()
        .filter_map(|k| body.get(*k).and_then(Value::as_u64))
        .sum()
}

/// Runs the scenario. `drain` waits until the outbox is empty.
pub(crate) async fn run<F, Fut>(
    creatio: &CreatioEmulator,
    graph: &GraphEmulator,
    simulator: &WebhookSimulator,
    (waba, pnid, display): (&str, &str, &str),
    base: &str,
    drain: F,
) -> Result<CreatioReport, String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    creatio.set_webhook_url(Some(format!("{base}/creatio/events")));
    let mut r = CreatioReport {
        accepted: 0,
        deliveries: 0,
        log: Vec::new(),
        problems: Vec::new(),
        json: Value::Null,
        text: String::new(),
    };
    let now = chrono::Utc::now().timestamp();
    let messages = [
        (
            "C1: Sheena asks for a person",
            SHEENA,
            "wamid.demo-sheena-0003",
            now - 60,
            "Can I please talk to a person? The router still drops every hour.",
            "Sheena Nelson",
        ),
        (
            "C1: Lena, 25 h ago (window closed)",
            LENA,
            "wamid.demo-lena-0001",
            now - 25 * 3600,
            "I need to speak with a person about my contract renewal.",
            "Lena Fischer",
        ),
    ];
    for (what, from, wamid, ts, text, name) in messages {
        let body = Delivery::new(waba)
            .message(
                pnid,
                display,
                MessageSpec::text(from, wamid, ts, text).profile_name(name),
            )
            .build();
        let result = simulator
            .deliver(&body)
            .await
            .map_err(|e| format!("webhook delivery: {e}"))?;
        r.deliveries += 1;
        r.accepted += stored(&result.body);
        if result.status != 200 {
            r.problems.push(format!("{what}: HTTP {}", result.status));
        }
        r.log
            .push(format!("  POST {what:<40} → HTTP {}", result.status));
    }
    drain().await?;

    let cases = creatio.records("Case");
    let case_of = |contact_phone: &str| -> Option<Uuid> {
        let contact = creatio
            .records("Contact")
            .into_iter()
            .find(|c| c["MobilePhone"].as_str() == Some(&format!("+{contact_phone}")))?;
        cases
            .iter()
            .find(|c| c["ContactId"] == contact["Id"])
            .and_then(|c| c["Id"].as_str())
            .and_then(|id| id.parse().ok())
    };
    let (Some(sheena_case), Some(lena_case)) = (case_of(SHEENA), case_of(LENA)) else {
        r.problems.push(format!(
            "expected a Creatio case per customer, found {}",
            cases.len()
        ));
        r.json = json!({ "cases": cases.len() });
        return Ok(r);
    };

    // Agents answer in Creatio; the emulated business process calls chatport.
    let replies = [
        (
            sheena_case,
            "Hi Sheena, a technician will call you today between 2 and 4 pm.",
        ),
        (
            lena_case,
            "Hello Lena, your contract is renewed until 2027.",
        ),
    ];
    for (case, text) in replies {
        let (_, call) = creatio
            .post_agent_reply(case, text)
            .await
            .map_err(|e| format!("agent reply: {e}"))?;
        r.deliveries += 1;
        match call.and_then(|c| c.status) {
            Some(200) => r.accepted += 1,
            other => r
                .problems
                .push(format!("the business process call answered {other:?}")),
        }
        r.log.push(format!(
            "  Creatio → POST /creatio/events (new_activity)   → agent reply on case {case}"
        ));
    }
    drain().await?;
    // Sheena's case is resolved.
    let call = creatio
        .set_case_status(sheena_case, RESOLVED.parse().unwrap_or_default())
        .await
        .map_err(|e| format!("closure: {e}"))?;
    r.deliveries += 1;
    match call.and_then(|c| c.status) {
        Some(200) => r.accepted += 1,
        other => r
            .problems
            .push(format!("the closure call answered {other:?}")),
    }
    r.log
        .push("  Creatio → POST /creatio/events (case_closed)    → case resolved".into());
    drain().await?;
    tokio::time::sleep(Duration::from_millis(50)).await;

    // What WhatsApp and Creatio hold now.
    let to_sheena = graph.sent_to(SHEENA);
    let to_lena = graph.sent_to(LENA);
    let count = |msgs: &[chatport_testkit::graph::SentMessage], needle: &str| {
        msgs.iter()
            .filter(|m| m.text_body().is_some_and(|t| t.contains(needle)))
            .count()
    };
    if count(&to_sheena, "a technician will call you") != 1 {
        r.problems
            .push("the agent's reply did not reach Sheena exactly once".into());
    }
    if count(&to_sheena, "is resolved") != 1 {
        r.problems
            .push("Sheena was not told exactly once that her case is resolved".into());
    }
    let templates = to_lena
        .iter()
        .filter(|m| m.template_name() == Some("reopen_conversation"))
        .count();
    if templates != 1 || to_lena.iter().any(|m| m.text_body().is_some()) {
        r.problems.push(format!(
            "Lena (window closed) should get one template and no free text; got {} message(s)",
            to_lena.len()
        ));
    }
    let activities = creatio.records("Activity");
    let on = |case: Uuid| {
        activities
            .iter()
            .filter(|a| a["CaseId"] == case.to_string())
            .count()
    };
    let window_note = activities.iter().any(|a| {
        a["CaseId"] == lena_case.to_string()
            && a["Title"]
                .as_str()
                .is_some_and(|t| t.contains("24-hour window closed"))
    });
    if !window_note {
        r.problems
            .push("no activity tells the agent why Lena's reply was not sent".into());
    }
    let cases = creatio.records("Case");
    if cases.len() != 2 {
        r.problems
            .push(format!("{} Creatio cases (expected 2)", cases.len()));
    }
    r.json = json!({
        "cases": cases.len(),
        "activities": activities.len(),
        "activities_on_sheenas_case": on(sheena_case),
        "agent_replies_delivered": count(&to_sheena, "a technician will call you"),
        "window_templates_sent": templates,
        "closures_notified": count(&to_sheena, "is resolved"),
    });
    let mut t = String::new();
    t.push_str(&format!(
        "\nCreatio (emulator {}) now holds {} case(s) and {} activit(ies):\n",
        creatio.base_url(),
        cases.len(),
        activities.len()
    ));
    for case in &cases {
        t.push_str(&format!(
            "  {:<12} {:<60} activities={}\n",
            case["Number"].as_str().unwrap_or("?"),
            case["Subject"]
                .as_str()
                .unwrap_or("?")
                .chars()
                .take(60)
                .collect::<String>(),
            case["Id"]
                .as_str()
                .and_then(|i| i.parse().ok())
                .map_or(0, on)
        ));
    }
    t.push_str(&format!(
        "  to {}: agent reply delivered, case closure announced; to {}: window closed → template \"reopen_conversation\", agent told why\n",
        redact::phone(SHEENA),
        redact::phone(LENA)
    ));
    r.text = t;
    Ok(r)
}
