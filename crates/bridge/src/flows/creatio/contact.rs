//! **C5 contact matching**: the WhatsApp number finds the customer's Creatio contact, or a contact
//! is created.
//!
//! In order (`shared/api/creatio.md` §3.3):
//! 1. the communication options: `ContactCommunication` whose `SearchNumber` (the number's digits
//!    reversed, maintained by Creatio) starts with the reversed last `match_digits` digits, of type
//!    mobile or business phone — so `+49 151 2345 6789`, `0151 23456789` and `4915123456789` all
//!    match;
//! 2. the `MobilePhone` column of `Contact`, as `+{digits}` or `{digits}`;
//! 3. otherwise a new contact (`Name` = the WhatsApp profile name, `MobilePhone` = `+{digits}`,
//!    type customer), created with an `Id` derived from the conversation, so a retried handoff
//!    finds it instead of creating a second one.
//!
//! When several contacts match, the most recently modified one wins and the match is flagged
//! ambiguous in the receipt. A user known only by a business-scoped id (no number) cannot be
//! matched: a contact is created for the conversation.

use chatport_core::{EventId, IdempotencyKey, Sink};
use chatport_creatio::{
    Client, Contact, ContactCommunication, Entity, EntitySink, Lookups, Order, Query, filter,
    search_number,
};
use serde::Serialize;
use uuid::Uuid;

use crate::Error;
use chatport_whatsapp::conversation::ConversationKey;

/// How the contact was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MatchedBy {
    /// A communication option's `SearchNumber`.
    CommunicationOption,
    /// The contact's `MobilePhone`.
    MobilePhone,
    /// Not found: created.
    Created,
}

/// The customer's contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ContactMatch {
    /// The contact id.
    pub id: Uuid,
    /// How it was found.
    pub by: MatchedBy,
    /// Whether several contacts matched (the most recently modified was taken).
    pub ambiguous: bool,
}

/// Finds or creates the contact of a conversation. `name` is the WhatsApp profile name.
///
/// # Errors
/// Creatio errors.
pub async fn match_contact(
    client: &Client,
    lookups: &Lookups,
    conv: &ConversationKey,
    name: Option<&str>,
    match_digits: usize,
) -> Result<ContactMatch, Error> {
    if let Some(digits) = conv.phone() {
        let reversed: String = search_number(digits)
            .chars()
            .take(match_digits.max(6))
            .collect();
        let options = client
            .list::<ContactCommunication>(
                ContactCommunication::SET,
                &Query::new()
                    .filter(
                        filter::startswith("SearchNumber", &reversed).and(
                            filter::lookup_eq(
                                "CommunicationType",
                                lookups.communication_type_mobile,
                            )
                            .or(filter::lookup_eq(
                                "CommunicationType",
                                lookups.communication_type_phone,
                            )),
                        ),
                    )
                    .select(["Id", "ContactId", "ModifiedOn"])
                    .order_by("ModifiedOn", Order::Desc)
                    .top(20),
            )
            .await?;
        let mut ids: Vec<Uuid> = Vec::new();
        for id in options.value.iter().filter_map(|o| o.contact_id) {
            if !id.is_nil() && !ids.contains(&id) {
                ids.push(id);
            }
        }
        if let Some(first) = ids.first() {
            return Ok(ContactMatch {
                id: *first,
                by: MatchedBy::CommunicationOption,
                ambiguous: ids.len() > 1,
            });
        }
        let by_mobile = filter::any_of("MobilePhone", [format!("+{digits}"), digits.to_owned()])
            .unwrap_or_else(|| filter::eq("MobilePhone", format!("+{digits}")));
        let contacts = client
            .list::<Contact>(
                Contact::SET,
                &Query::new()
                    .filter(by_mobile)
                    .select(["Id", "ModifiedOn"])
                    .order_by("ModifiedOn", Order::Desc)
                    .top(20),
            )
            .await?;
        let ids: Vec<Uuid> = contacts.value.iter().filter_map(|c| c.id).collect();
        if let Some(first) = ids.first() {
            return Ok(ContactMatch {
                id: *first,
                by: MatchedBy::MobilePhone,
                ambiguous: ids.len() > 1,
            });
        }
    }
    let key = IdempotencyKey::derive("C5", "contact", &EventId::new(conv.as_key()));
    let display = match (name, conv.phone()) {
        (Some(n), _) if !n.trim().is_empty() => n.trim().to_owned(),
        (_, Some(digits)) => format!("WhatsApp +{digits}"),
        _ => "WhatsApp customer".to_owned(),
    };
    let contact = Contact {
        name: Some(display),
        mobile_phone: conv.phone().map(|d| format!("+{d}")),
        type_id: Some(lookups.contact_type_customer),
        ..Contact::new()
    };
    let id = EntitySink::<Contact>::new(client.clone())
        .write(&contact, &key)
        .await?;
    Ok(ContactMatch {
        id,
        by: MatchedBy::Created,
        ambiguous: false,
    })
}

/// Adds `+{digits}` as a mobile communication option of `contact_id`: the customer of
/// conversation `from` changed to this number (C5 then matches the contact by it). Once per
/// change: the option's `Id` is derived from the old conversation and the new number.
///
/// # Errors
/// Creatio errors.
pub async fn add_mobile(
    client: &Client,
    lookups: &Lookups,
    contact_id: Uuid,
    from: &ConversationKey,
    digits: &str,
) -> Result<Uuid, Error> {
    let key = IdempotencyKey::derive(
        "C5",
        "number",
        &EventId::new(format!("{}>{digits}", from.as_key())),
    );
    let option = ContactCommunication {
        contact_id: Some(contact_id),
        communication_type_id: Some(lookups.communication_type_mobile),
        number: Some(format!("+{digits}")),
        ..ContactCommunication::new()
    };
    Ok(EntitySink::<ContactCommunication>::new(client.clone())
        .write(&option, &key)
        .await?)
}
