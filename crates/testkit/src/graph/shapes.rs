//! Webhook notification bodies for the newer WhatsApp shapes, for tests and the demo: a
//! username-only customer (BSUID, no phone number), a number or BSUID change mid-conversation
//! (`system` messages), a standby period (another app holds the conversation) and handovers.
//!
//! Each function returns the whole POST body (`{"object":"whatsapp_business_account",...}`),
//! ready to be signed with [`crate::webhook::sign`] and posted to chatport's webhook. Shapes follow
//! Meta: business-scoped-user-ids, webhooks/reference/messages/system, webhooks/reference/standby
//! and webhooks/reference/messaging-handovers; where those pages did not show the full JSON the
//! shape is the one `chatport-whatsapp` documents as **inferred** (`docs/vendors/whatsapp.md`).

use serde_json::{Value, json};

/// Where a notification comes from: the WhatsApp Business Account and the business number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Business {
    /// `entry[].id`.
    pub waba_id: String,
    /// `metadata.phone_number_id`.
    pub phone_number_id: String,
    /// `metadata.display_phone_number`.
    pub display_phone_number: String,
}

impl Business {
    /// A business.
    pub fn new(
        waba_id: impl Into<String>,
        phone_number_id: impl Into<String>,
        display_phone_number: impl Into<String>,
    ) -> Self {
        Self {
            waba_id: waba_id.into(),
            phone_number_id: phone_number_id.into(),
            display_phone_number: display_phone_number.into(),
        }
    }

    fn metadata(&self) -> Value {
        json!({"display_phone_number": self.display_phone_number,
               "phone_number_id": self.phone_number_id})
    }

    fn body(&self, field: &str, value: Value) -> Value {
        json!({"object": "whatsapp_business_account", "entry": [{"id": self.waba_id,
            "changes": [{"field": field, "value": value}]}]})
    }
}

/// A text from a customer known only by business-scoped user id and username (no `wa_id`, no
/// `from`): `contacts[0]` has `user_id` and `profile.username`, the message `from_user_id`.
pub fn username_only_text(
    business: &Business,
    user_id: &str,
    username: &str,
    wamid: &str,
    timestamp: i64,
    body: &str,
) -> Value {
    business.body(
        "messages",
        json!({"messaging_product": "whatsapp", "metadata": business.metadata(),
            "contacts": [{"profile": {"name": username, "username": username}, "user_id": user_id}],
            "messages": [{"from_user_id": user_id, "id": wamid, "timestamp": timestamp.to_string(),
                "type": "text", "text": {"body": body}}]}),
    )
}

/// `user_changed_number`: the customer `old_phone` now uses `new_phone`; with BSUIDs, their id
/// changes from `previous_user_id` to `user_id` as well (system messages carry no `contacts`).
pub fn user_changed_number(
    business: &Business,
    old_phone: &str,
    new_phone: &str,
    ids: Option<(&str, &str)>,
    wamid: &str,
    timestamp: i64,
) -> Value {
    let mut system = json!({
        "body": format!("User changed from {old_phone} to {new_phone}"),
        "wa_id": new_phone, "type": "user_changed_number"});
    if let Some((previous, new)) = ids {
        system["previous_user_id"] = Value::String(previous.to_owned());
        system["user_id"] = Value::String(new.to_owned());
    }
    business.body(
        "messages",
        json!({"messaging_product": "whatsapp", "metadata": business.metadata(),
            "messages": [{"from": old_phone, "id": wamid, "timestamp": timestamp.to_string(),
                "type": "system", "system": system}]}),
    )
}

/// `user_changed_user_id`: the customer's BSUID changed from `previous_user_id` to `user_id`
/// (no phone number included).
pub fn user_changed_user_id(
    business: &Business,
    previous_user_id: &str,
    user_id: &str,
    wamid: &str,
    timestamp: i64,
) -> Value {
    business.body(
        "messages",
        json!({"messaging_product": "whatsapp", "metadata": business.metadata(),
            "messages": [{"from_user_id": previous_user_id, "id": wamid,
                "timestamp": timestamp.to_string(), "type": "system",
                "system": {"body": "User's business-scoped user ID changed",
                    "type": "user_changed_user_id", "previous_user_id": previous_user_id,
                    "user_id": user_id}}]}),
    )
}

/// A `standby` change while another app (Meta Business Agent) holds the conversation: the
/// customer's text and, when `echo` is given, the active handler's answer as a message echo.
pub fn standby_text(
    business: &Business,
    customer: &str,
    wamid: &str,
    timestamp: i64,
    body: &str,
    echo: Option<(&str, &str)>,
) -> Value {
    let mut value = json!({"messaging_product": "whatsapp", "metadata": business.metadata(),
        "contacts": [{"profile": {"name": "Customer"}, "wa_id": customer}],
        "messages": [{"from": customer, "id": wamid, "timestamp": timestamp.to_string(),
            "type": "text", "text": {"body": body}}]});
    if let Some((echo_wamid, echo_body)) = echo {
        value["message_echoes"] = json!([{"from": business.display_phone_number, "to": customer,
            "id": echo_wamid, "timestamp": (timestamp + 1).to_string(), "type": "text",
            "text": {"body": echo_body}}]);
    }
    business.body("standby", value)
}

/// A `messaging_handovers` change: `control_passed` (the thread was passed **to** the receiving
/// app) or `control_taken` (taken **from** it), for `customer`.
pub fn handover(
    business: &Business,
    kind: &str,
    customer: &str,
    previous_owner: &str,
    new_owner: &str,
    timestamp: i64,
) -> Value {
    business.body(
        "messaging_handovers",
        json!({"messaging_product": "whatsapp", "metadata": business.metadata(),
            "type": kind, kind: {"previous_owner": previous_owner, "new_owner": new_owner},
            "from": customer, "timestamp": timestamp.to_string()}),
    )
}
