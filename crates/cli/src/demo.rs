//! `chatport demo`: every flow end to end on this machine, against the testkit's emulators.
//!
//! It starts the Graph API and CMS emulators, runs the real service (ingress, SQLite outbox in a
//! temporary directory, workers) on loopback, sends a scripted set of signed deliveries the way Meta
//! sends them, waits until the outbox drains, and reports what each system now holds. It exits
//! non-zero when an accepted event was lost, an expected record is missing, or a record was
//! duplicated.

use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chatport_bridge::config::Config;
use chatport_bridge::service::Service;
use chatport_core::redact;
use chatport_runtime::{EventFilter, EventStatus, Outbox, SqliteStore};
use chatport_testkit::chat::ChatEmulator;
use chatport_testkit::cms::CmsEmulator;
use chatport_testkit::graph::GraphEmulator;
use chatport_testkit::webhook::{Delivery, MessageSpec, StatusSpec, WebhookSimulator};
use serde_json::{Value, json};

/// The configuration the demo runs with (references filled in from the emulators).
pub(crate) const DEMO_CONFIG: &str = concat!(
    include_str!("demo.toml"),
    include_str!("demo_orangelogic.toml")
);

const WABA_ID: &str = "102290129340398";
const PHONE_NUMBER_ID: &str = "106540352242922";
const DISPLAY_NUMBER: &str = "15550783881";
const APP_SECRET: &str = "demo-app-secret-5b1f0c";
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// A customer message the demo sends, and what O1 should make of it.
struct Scripted {
    wamid: &'static str,
    expect_case: bool,
}

/// The configuration variables (`${GRAPH_URL}`, `${WHATSAPP_*}`, `${OPENTEXT_*}`) that point a
/// service configuration at the Graph API and CMS emulators: their base URLs, the Graph access
/// token, the CMS tenant and OAuth client, and the given WhatsApp app secret and verify token.
/// Shared by `chatport demo` and `chatport bench e2e`.
pub(crate) fn emulator_vars(
    graph: &GraphEmulator,
    cms: &CmsEmulator,
    app_secret: &str,
    verify_token: &str,
) -> BTreeMap<String, String> {
    [
        ("GRAPH_URL", graph.base_url()),
        ("WHATSAPP_TOKEN", graph.access_token().to_owned()),
        ("WHATSAPP_APP_SECRET", app_secret.to_owned()),
        ("WHATSAPP_VERIFY_TOKEN", verify_token.to_owned()),
        ("OPENTEXT_URL", cms.base_url()),
        ("OPENTEXT_TENANT", cms.tenant_id().to_owned()),
        ("OPENTEXT_CLIENT_ID", cms.client_id().to_owned()),
        ("OPENTEXT_CLIENT_SECRET", cms.client_secret().to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

pub(crate) async fn run(json_output: bool, assistant: bool) -> ExitCode {
    match run_demo(assistant).await {
        Ok(report) => {
            let ok = report.problems.is_empty();
            if json_output {
                println!("{}", report.json);
            } else {
                print!("{}", report.text);
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("chatport demo: {error}");
            ExitCode::from(2)
        }
    }
}

struct Report {
    json: Value,
    text: String,
    problems: Vec<String>,
}

fn ts(offset: i64) -> i64 {
    chrono::Utc::now().timestamp() - 600 + offset
}

/// The Chat Completions emulator's key in `chatport demo --assistant`.
const ASSISTANT_KEY: &str = "demo-assistant-key";

/// What `--assistant` changes in the demo configuration: the `[assistant]` section, the model
/// behind O1's and C1's classification and C1's summary, and two AI-filled case columns (a lookup
/// answered from Creatio's CasePriority values, and a text column).
fn with_assistant(config: &str) -> String {
    let mut out = config
        .replacen("[flows.o1]\n", "[flows.o1]\nclassifier = \"model\"\n", 1)
        .replacen(
            "[flows.c1]\n",
            "[flows.c1]\nclassifier = \"model\"\nsummariser = \"model\"\n",
            1,
        );
    out.push_str(
        r#"
[assistant]
base_url = "${ASSISTANT_URL}"
model = "demo-model"
api_key = "${ASSISTANT_API_KEY}"

[[flows.c1.ai_fields]]
column = "PriorityId"
name = "priority"
title = "Priority"
kind = "lookup"
lookup = "CasePriority"
instruction = "How urgent the customer's problem is."

[[flows.c1.ai_fields]]
column = "UsrProduct"
name = "product"
title = "Product"
kind = "text"
instruction = "The product the customer writes about."
"#,
    );
    out
}

async fn run_demo(with_model: bool) -> Result<Report, String> {
    let graph = GraphEmulator::start()
        .await
        .map_err(|e| format!("Graph emulator: {e}"))?;
    let cms = CmsEmulator::start()
        .await
        .map_err(|e| format!("CMS emulator: {e}"))?;
    let creatio = crate::demo_creatio::start().await?;
    let orangelogic = crate::demo_orangelogic::OrangeLogicDemo::start().await?;
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let store = SqliteStore::open(dir.path().join("chatport.sqlite"), Default::default())
        .map_err(|e| e.to_string())?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let mut vars = emulator_vars(&graph, &cms, APP_SECRET, "demo-verify-token");
    vars.extend(orangelogic.vars());
    vars.extend(crate::demo_creatio::vars(&creatio, &base));
    let chat = if with_model {
        let chat = ChatEmulator::builder()
            .api_key(ASSISTANT_KEY)
            .start()
            .await
            .map_err(|e| format!("Chat Completions emulator: {e}"))?;
        vars.insert("ASSISTANT_URL".into(), chat.base_url());
        vars.insert("ASSISTANT_API_KEY".into(), ASSISTANT_KEY.into());
        for (id, name) in [
            ("d9bd322c-f46b-1410-ee8c-0050ba5d6c38", "Low"),
            ("d9bd322c-f46b-1410-ed8c-0050ba5d6c38", "Medium"),
            ("8b700f24-f46b-1410-ee8c-0050ba5d6c38", "High"),
        ] {
            creatio
                .seed("CasePriority", json!({ "Id": id, "Name": name }))
                .map_err(|e| format!("Creatio emulator: {e}"))?;
        }
        Some(chat)
    } else {
        None
    };
    let config_text = if with_model {
        with_assistant(DEMO_CONFIG)
    } else {
        DEMO_CONFIG.to_owned()
    };
    let config = Config::from_toml_str(&config_text).map_err(|e| e.to_string())?;
    let service = Service::start(&config, &vars, store.clone(), listener)
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}{}",
        service.local_addr(),
        config.whatsapp.webhook_path
    );
    let simulator = WebhookSimulator::new(url, APP_SECRET.as_bytes().to_vec());

    // 1. A batched POST: three customers write in, and two status updates of earlier messages.
    let batch = Delivery::new(WABA_ID)
        .message(
            PHONE_NUMBER_ID,
            DISPLAY_NUMBER,
            MessageSpec::text(
                "4915123456789",
                "wamid.demo-anna-0001",
                ts(1),
                "Meine Rechnung für März wurde doppelt abgebucht – bitte dringend prüfen!",
            )
            .profile_name("Anna Schmidt"),
        )
        .message(
            PHONE_NUMBER_ID,
            DISPLAY_NUMBER,
            MessageSpec::text(
                "16505551234",
                "wamid.demo-sheena-0001",
                ts(2),
                "My router keeps dropping the connection since the firmware update.",
            )
            .profile_name("Sheena Nelson"),
        )
        .message(
            PHONE_NUMBER_ID,
            DISPLAY_NUMBER,
            MessageSpec::text(
                "919876543210",
                "wamid.demo-ravi-0001",
                ts(3),
                "My parcel for order 4411 never arrived.",
            )
            .profile_name("Ravi Kumar"),
        )
        .status(
            PHONE_NUMBER_ID,
            DISPLAY_NUMBER,
            StatusSpec::new(
                "wamid.demo-outbound-0001",
                "delivered",
                "16505551234",
                ts(4),
            ),
        )
        .status(
            PHONE_NUMBER_ID,
            DISPLAY_NUMBER,
            StatusSpec::new("wamid.demo-outbound-0002", "read", "4915123456789", ts(5)),
        )
        .build();
    // 2. Non-ASCII text (signed over escaped unicode, as Meta does).
    let non_ascii = Delivery::new(WABA_ID)
        .message(
            PHONE_NUMBER_ID,
            DISPLAY_NUMBER,
            MessageSpec::text(
                "819012345678",
                "wamid.demo-yuki-0001",
                ts(6),
                "注文した商品が壊れていました 😢 返金をお願いします",
            )
            .profile_name("佐藤 由紀"),
        )
        .build();
    // 3. A message type WhatsApp may add tomorrow.
    let unknown = Delivery::new(WABA_ID)
        .message(
            PHONE_NUMBER_ID,
            DISPLAY_NUMBER,
            MessageSpec::unknown(
                "16505551234",
                "wamid.demo-sheena-0002",
                ts(7),
                "poll",
                json!({ "question": "Was this helpful?", "options": ["yes", "no"] }),
            ),
        )
        .build();
    // 4. A sender known only by business-scoped user id (no phone number).
    let bsuid = Delivery::new(WABA_ID)
        .message(
            PHONE_NUMBER_ID,
            DISPLAY_NUMBER,
            MessageSpec::text(
                "",
                "wamid.demo-bsuid-0001",
                ts(8),
                "I was charged twice on my last invoice, please refund.",
            )
            .from_user_id("US.13491208655302741918")
            .profile_name("Jordan"),
        )
        .build();

    let scripted = [
        Scripted {
            wamid: "wamid.demo-anna-0001",
            expect_case: true,
        },
        Scripted {
            wamid: "wamid.demo-sheena-0001",
            expect_case: true,
        },
        Scripted {
            wamid: "wamid.demo-ravi-0001",
            expect_case: true,
        },
        Scripted {
            wamid: "wamid.demo-yuki-0001",
            expect_case: true,
        },
        Scripted {
            wamid: "wamid.demo-sheena-0002",
            expect_case: false,
        },
        Scripted {
            wamid: "wamid.demo-bsuid-0001",
            expect_case: true,
        },
    ];

    let mut problems = Vec::new();
    let mut accepted = 0u64;
    let mut duplicates = 0u64;
    let mut deliveries = 0u64;
    let plan = [
        ("batched POST (3 messages, 2 statuses)", &batch),
        ("redelivery of the same POST", &batch),
        ("non-ASCII text", &non_ascii),
        ("unknown message type", &unknown),
        ("sender known by BSUID only", &bsuid),
    ];
    let mut log = Vec::new();
    for (what, payload) in plan {
        let result = simulator
            .deliver(payload)
            .await
            .map_err(|e| format!("webhook delivery: {e}"))?;
        deliveries += 1;
        let body: Value = serde_json::from_str(&result.body).unwrap_or(Value::Null);
        // `inserted` + `dead`: the events this POST added to the outbox (duplicates excluded).
        let received = ["inserted", "dead"]
            .iter()
            .filter_map(|k| body.get(*k).and_then(Value::as_u64))
            .sum::<u64>();
        let dup = body.get("duplicates").and_then(Value::as_u64).unwrap_or(0);
        if result.status != 200 {
            problems.push(format!("{what}: HTTP {}", result.status));
        }
        accepted += received;
        duplicates += dup;
        log.push(format!(
            "  POST {what:<40} → HTTP {} (new events: {received}, duplicates dropped: {dup})",
            result.status
        ));
    }

    wait_drained(&store).await?;

    // 5. Meta reports the delivery of our first reply; the status carries our callback data.
    if let Some(first_reply) = graph.sent().first() {
        let callback = first_reply
            .body
            .get("biz_opaque_callback_data")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let recipient = first_reply.to.clone().unwrap_or_default();
        let status = Delivery::new(WABA_ID)
            .status(
                PHONE_NUMBER_ID,
                DISPLAY_NUMBER,
                StatusSpec::new(&first_reply.wamid, "delivered", &recipient, ts(9))
                    .biz_opaque_callback_data(&callback),
            )
            .build();
        let result = simulator
            .deliver(&status)
            .await
            .map_err(|e| format!("webhook delivery: {e}"))?;
        deliveries += 1;
        let body: Value = serde_json::from_str(&result.body).unwrap_or(Value::Null);
        accepted += ["inserted", "dead"]
            .iter()
            .filter_map(|k| body.get(*k).and_then(Value::as_u64))
            .sum::<u64>();
        log.push(format!(
            "  POST {:<40} → HTTP {}",
            "status update of the first reply", result.status
        ));
        wait_drained(&store).await?;
    }

    // 6. Flows C1–C5: handoffs to Creatio, agent replies, the 24-hour window, a closure.
    let c = crate::demo_creatio::run(
        &creatio,
        &graph,
        &simulator,
        (WABA_ID, PHONE_NUMBER_ID, DISPLAY_NUMBER),
        &base,
        || wait_drained(&store),
    )
    .await?;
    (accepted, deliveries) = (accepted + c.accepted, deliveries + c.deliveries);
    log.extend(c.log);
    problems.extend(c.problems);
    // 6. The Orange Logic flows L1–L7.
    let ol = orangelogic
        .run(service.local_addr(), &graph, &simulator, &store)
        .await?;
    (accepted, duplicates, deliveries) = (
        accepted + ol.accepted,
        duplicates + ol.duplicates,
        deliveries + ol.deliveries,
    );
    problems.extend(ol.problems.iter().cloned());
    // 6. The OpenText document flows O2–O8 (see demo_o.rs).
    let o = crate::demo_o::run(
        &graph,
        &cms,
        &simulator,
        &store,
        (WABA_ID, PHONE_NUMBER_ID, DISPLAY_NUMBER),
    )
    .await?;
    (accepted, duplicates, deliveries) = (
        accepted + o.accepted + o.polled,
        duplicates + o.duplicates,
        deliveries + o.deliveries,
    );
    log.extend(o.log);
    problems.extend(o.problems);

    // What each system holds now.
    let rows = store
        .list(&EventFilter::default(), 10_000)
        .await
        .map_err(|e| e.to_string())?;
    let mut flows: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for row in &rows {
        let entry = flows.entry(row.flow.clone()).or_default();
        entry.0 += 1;
        match row.status {
            EventStatus::Done => entry.1 += 1,
            EventStatus::Dead => entry.2 += 1,
            _ => {}
        }
    }
    let settled = rows
        .iter()
        .filter(|r| matches!(r.status, EventStatus::Done | EventStatus::Dead))
        .count() as u64;
    // Every event the ingress acknowledged must have ended delivered or dead-lettered.
    let lost = accepted.saturating_sub(settled);
    if lost > 0 {
        problems.push(format!(
            "{lost} accepted event(s) were not delivered or dead-lettered"
        ));
    }
    if rows.len() as u64 != accepted {
        problems.push(format!(
            "the outbox holds {} rows but ingress accepted {accepted}",
            rows.len()
        ));
    }

    let cases = cms.instances_of_type("ca_support_case");
    let sent = graph.sent();
    let mut seen_keys = HashSet::new();
    for case in &cases {
        let key = case["properties"]["chatport_key"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !seen_keys.insert(key) {
            problems.push(format!(
                "duplicate CMS case {}",
                case["properties"]["case_reference"]
            ));
        }
    }
    for s in &scripted {
        let case_found = cases
            .iter()
            .any(|c| c["properties"]["source_message_id"] == s.wamid);
        if s.expect_case && !case_found {
            problems.push(format!("no CMS case for {}", s.wamid));
        }
        if !s.expect_case && case_found {
            problems.push(format!("unexpected CMS case for {}", s.wamid));
        }
        let replies = sent
            .iter()
            .filter(|m| m.body["context"]["message_id"] == s.wamid)
            .count();
        if replies != 1 {
            problems.push(format!(
                "{replies} replies to {} (expected exactly 1)",
                s.wamid
            ));
        }
    }
    let o1 = flows.get("O1").copied().unwrap_or_default();
    if o1.2 > 0 {
        problems.push(format!("{} O1 event(s) in the dead-letter queue", o1.2));
    }

    // 7. The newer vendor shapes (issue 14), after the counts above were taken, so they stay as
    // they were; reported in their own section.
    let scenarios = crate::demo_shapes::run(&crate::demo_shapes::Context {
        graph: &graph,
        simulator: &simulator,
        store: &store,
        orangelogic: orangelogic.emulator(),
        config: &config,
        vars: &vars,
        ids: (WABA_ID, PHONE_NUMBER_ID, DISPLAY_NUMBER),
    })
    .await?;
    problems.extend(scenarios.problems.iter().cloned());

    service.stop().await;

    // With --assistant: what the model was asked, by task.
    let assistant_tasks: Option<BTreeMap<String, u64>> = chat.as_ref().map(|chat| {
        let mut by_task = BTreeMap::new();
        for request in chat.requests() {
            let task = request["response_format"]["json_schema"]["name"]
                .as_str()
                .unwrap_or("other")
                .to_owned();
            *by_task.entry(task).or_insert(0) += 1;
        }
        by_task
    });
    if let Some(by_task) = &assistant_tasks {
        for task in ["classify", "summary", "fields"] {
            if !by_task.contains_key(task) {
                problems.push(format!("--assistant: the model was never asked to {task}"));
            }
        }
    }

    let flows_json: serde_json::Map<String, Value> = flows
        .iter()
        .map(|(flow, (events, delivered, dead))| {
            (
                flow.clone(),
                json!({ "events": events, "delivered": delivered, "dead": dead }),
            )
        })
        .collect();
    let json = json!({
        "flows": flows_json,
        "lost": lost,
        "duplicates_dropped": duplicates,
        "webhook_deliveries": deliveries,
        "events_accepted": accepted,
        "cms_cases": cases.len(),
        "whatsapp_messages_sent": sent.len(),
        "creatio": c.json,
        "orangelogic": ol.json,
        "opentext_documents": o.summary,
        "assistant": assistant_tasks,
        "scenarios": scenarios.json,
        "problems": problems,
    });

    let mut text = String::new();
    text.push_str("chatport demo: signed webhooks → durable outbox → flows O1–O8 (OpenText CMS), L1–L7 (Orange Logic DAM), C1–C5 (Creatio) → WhatsApp\n\n");
    text.push_str(&format!(
        "Emulators: Graph API {}, OpenText CMS {}; service on {}\n\n",
        graph.base_url(),
        cms.base_url(),
        service_addr_hint(&config)
    ));
    text.push_str(
        "Webhook deliveries (signed like Meta: X-Hub-Signature-256 over escaped-unicode JSON)\n",
    );
    for line in &log {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("\nOutbox by flow                 events  delivered  dead\n");
    for (flow, (events, delivered, dead)) in &flows {
        text.push_str(&format!(
            "  {flow:<28} {events:>6} {delivered:>10} {dead:>5}\n"
        ));
    }
    text.push_str(&format!(
        "\nOpenText CMS now holds {} case record(s) of type ca_support_case:\n",
        cases.len()
    ));
    for case in &cases {
        let p = &case["properties"];
        text.push_str(&format!(
            "  {:<16} queue={:<20} issue={:<10} priority={:<7} region={:<8} customer={}\n",
            p["case_reference"].as_str().unwrap_or("?"),
            p["support_queue"].as_str().unwrap_or("?"),
            p["issue_type"].as_str().unwrap_or("?"),
            p["priority"].as_str().unwrap_or("?"),
            p["region"].as_str().unwrap_or("?"),
            p["customer_id"].as_str().unwrap_or("(not in directory)"),
        ));
    }
    text.push_str(&c.text);
    text.push_str(&format!(
        "\nWhatsApp (Graph API emulator) received {} outbound message(s):\n",
        sent.len()
    ));
    for m in &sent {
        let to =
            m.to.as_deref()
                .or(m.recipient.as_deref())
                .map(redact::phone)
                .unwrap_or_default();
        let body = m.text_body().map_or_else(
            || {
                // A template shows its name, an interactive message its kind (button, list, ...).
                let detail = m
                    .template_name()
                    .map(str::to_owned)
                    .or_else(|| m.body["interactive"]["type"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                format!("[{} {detail}]", m.message_type).replace(" ]", "]")
            },
            str::to_owned,
        );
        text.push_str(&format!("  to {to:<8} {body}\n"));
    }
    text.push_str(&ol.text);
    text.push_str(&scenarios.text);
    if let (Some(chat), Some(by_task)) = (&chat, &assistant_tasks) {
        let tasks: Vec<String> = by_task.iter().map(|(t, n)| format!("{t} {n}")).collect();
        text.push_str(&format!(
            "\nAssistant (Chat Completions emulator {}): {} request(s): {}\n",
            chat.base_url(),
            by_task.values().sum::<u64>(),
            tasks.join(", ")
        ));
    }
    text.push_str(&format!(
        "\nEvents accepted: {accepted}; duplicates dropped: {duplicates}; lost: {lost}\n"
    ));
    if problems.is_empty() {
        text.push_str(
            "Result: OK — every event delivered once, no duplicate record, nothing lost.\n",
        );
    } else {
        text.push_str("Result: PROBLEMS\n");
        for p in &problems {
            text.push_str(&format!("  - {p}\n"));
        }
    }
    Ok(Report {
        json,
        text,
        problems,
    })
}

fn service_addr_hint(config: &Config) -> String {
    format!(
        "127.0.0.1 (ephemeral port), path {}",
        config.whatsapp.webhook_path
    )
}

pub(crate) async fn wait_drained(store: &SqliteStore) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let stats = store.stats().await.map_err(|e| e.to_string())?;
        if stats.pending == 0 && stats.in_flight == 0 {
            return Ok(());
        }
        if start.elapsed() > DRAIN_TIMEOUT {
            return Err(format!(
                "the outbox did not drain within {DRAIN_TIMEOUT:?}: {} pending, {} in flight",
                stats.pending, stats.in_flight
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
