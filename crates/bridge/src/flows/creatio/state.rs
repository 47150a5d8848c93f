//! What the C flows remember, in the durable key-value store: which case a conversation is
//! handed to, which activities chatport wrote itself, which messages are on which case, which
//! agent replies wait for the window to reopen.

use std::sync::Arc;

use chatport_runtime::KvStore;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;
use chatport_whatsapp::conversation::ConversationKey;

/// `{conversation}` → [`CaseLink`].
pub const KV_LINK: &str = "creatio.conversation";
/// `{case id}` → `{conversation}`.
pub const KV_CASE: &str = "creatio.case";
/// `{activity id}` → `1`: activities and case files chatport wrote (never sent back to WhatsApp).
pub const KV_OWN: &str = "creatio.own";
/// `{case id}/{message id}` → the activity id of that message on that case.
pub const KV_SYNCED: &str = "creatio.synced";
/// `{case id}/{message id}` → the file id of its attachment.
pub const KV_ATTACHED: &str = "creatio.attached";
/// `{conversation}/{activity id}` → [`HeldReply`]: replies held back by a closed window.
pub const KV_HELD: &str = "creatio.held";

/// The case a conversation is handed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CaseLink {
    /// The case id.
    pub case_id: Uuid,
    /// The case number (`SR00000001`), when Creatio returned one.
    pub case_number: Option<String>,
    /// The customer's contact.
    pub contact_id: Option<Uuid>,
    /// Whether the case is open (handoffs add to it) or closed (the next handoff opens a new one).
    pub open: bool,
    /// When the case was created.
    pub opened_at: DateTime<Utc>,
    /// Handoffs into this case so far.
    pub handoffs: u32,
    /// The event that opened the case (a retry of it is not a second handoff).
    #[serde(default)]
    pub opened_by: Option<String>,
    /// The time of the latest message written to the case.
    #[serde(default)]
    pub last_synced_at: Option<DateTime<Utc>>,
    /// Messages up to this time belong to an earlier case (a returning customer's new case starts
    /// after the previous case's last message).
    #[serde(default)]
    pub transcript_from: Option<DateTime<Utc>>,
    /// What the assistant wrote at the case's creation (model and prompt version), for the
    /// first activity; kept so that a retry writes the same note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_note: Option<String>,
}

/// An agent reply not delivered yet because the 24-hour window was closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HeldReply {
    /// The activity the reply came from (or the `CaseFile`, see `file`).
    pub activity_id: Uuid,
    /// The reply text (for a file: its name).
    pub text: String,
    /// Whether `activity_id` is a `CaseFile` the agent attached (C4, agent to customer) rather
    /// than an activity.
    #[serde(default)]
    pub file: bool,
    /// When it was held.
    pub held_at: DateTime<Utc>,
}

/// The C flows' state over a [`KvStore`]. Cheap to clone.
#[derive(Clone)]
pub struct CreatioState {
    kv: Arc<dyn KvStore>,
}

impl std::fmt::Debug for CreatioState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatioState").finish_non_exhaustive()
    }
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::Payload(e.to_string()))
}

impl CreatioState {
    /// State kept in `kv`.
    pub fn new(kv: Arc<dyn KvStore>) -> Self {
        Self { kv }
    }

    /// The case of a conversation.
    ///
    /// # Errors
    /// Store errors.
    pub async fn link(&self, conv: &ConversationKey) -> Result<Option<CaseLink>, Error> {
        Ok(self
            .kv
            .get(KV_LINK, &conv.as_key())
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Saves the case of a conversation (and the reverse index).
    ///
    /// # Errors
    /// Store errors.
    pub async fn save_link(&self, conv: &ConversationKey, link: &CaseLink) -> Result<(), Error> {
        self.kv
            .put(KV_CASE, &link.case_id.to_string(), conv.as_key().as_bytes())
            .await?;
        self.kv.put(KV_LINK, &conv.as_key(), &json(link)?).await?;
        Ok(())
    }

    /// The conversation a case belongs to.
    ///
    /// # Errors
    /// Store errors.
    pub async fn conversation_of(&self, case_id: Uuid) -> Result<Option<ConversationKey>, Error> {
        Ok(self
            .kv
            .get(KV_CASE, &case_id.to_string())
            .await?
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|k| ConversationKey::from_key(&k)))
    }

    /// Every conversation with an open case.
    ///
    /// # Errors
    /// Store errors.
    pub async fn open_cases(&self) -> Result<Vec<(ConversationKey, CaseLink)>, Error> {
        Ok(self
            .kv
            .list(KV_LINK, "")
            .await?
            .into_iter()
            .filter_map(|(k, v)| {
                let link: CaseLink = serde_json::from_slice(&v).ok()?;
                Some((ConversationKey::from_key(&k)?, link))
            })
            .filter(|(_, link)| link.open)
            .collect())
    }

    /// Marks an activity as written by chatport.
    ///
    /// # Errors
    /// Store errors.
    pub async fn mark_own(&self, activity_id: Uuid) -> Result<(), Error> {
        self.kv.put(KV_OWN, &activity_id.to_string(), b"1").await?;
        Ok(())
    }

    /// Whether chatport wrote an activity.
    ///
    /// # Errors
    /// Store errors.
    pub async fn is_own(&self, activity_id: Uuid) -> Result<bool, Error> {
        Ok(self
            .kv
            .get(KV_OWN, &activity_id.to_string())
            .await?
            .is_some())
    }

    /// Whether a message is on a case already.
    ///
    /// # Errors
    /// Store errors.
    pub async fn is_synced(&self, case_id: Uuid, message_id: &str) -> Result<bool, Error> {
        Ok(self
            .kv
            .get(KV_SYNCED, &format!("{case_id}/{message_id}"))
            .await?
            .is_some())
    }

    /// Records that a message is on a case as `activity_id`.
    ///
    /// # Errors
    /// Store errors.
    pub async fn mark_synced(
        &self,
        case_id: Uuid,
        message_id: &str,
        activity_id: Uuid,
    ) -> Result<(), Error> {
        self.mark_own(activity_id).await?;
        self.kv
            .put(
                KV_SYNCED,
                &format!("{case_id}/{message_id}"),
                activity_id.to_string().as_bytes(),
            )
            .await?;
        Ok(())
    }

    /// Whether a message's media is attached to a case.
    ///
    /// # Errors
    /// Store errors.
    pub async fn is_attached(&self, case_id: Uuid, message_id: &str) -> Result<bool, Error> {
        Ok(self
            .kv
            .get(KV_ATTACHED, &format!("{case_id}/{message_id}"))
            .await?
            .is_some())
    }

    /// Records a message's attachment.
    ///
    /// # Errors
    /// Store errors.
    pub async fn mark_attached(
        &self,
        case_id: Uuid,
        message_id: &str,
        file_id: Uuid,
    ) -> Result<(), Error> {
        self.kv
            .put(
                KV_ATTACHED,
                &format!("{case_id}/{message_id}"),
                file_id.to_string().as_bytes(),
            )
            .await?;
        Ok(())
    }

    /// Moves what is kept for conversation `from` (its case link, the case's reverse index, the
    /// held replies) to `to`: the customer's number or user id changed. Returns the link, if
    /// there was one.
    ///
    /// # Errors
    /// Store errors.
    pub async fn rekey(
        &self,
        from: &ConversationKey,
        to: &ConversationKey,
    ) -> Result<Option<CaseLink>, Error> {
        let Some(link) = self.link(from).await? else {
            return Ok(None);
        };
        for held in self.held(from).await? {
            self.hold(to, &held).await?;
            self.release(from, held.activity_id).await?;
        }
        self.save_link(to, &link).await?;
        self.kv.delete(KV_LINK, &from.as_key()).await?;
        Ok(Some(link))
    }

    /// Holds a reply until the window reopens.
    ///
    /// # Errors
    /// Store errors.
    pub async fn hold(&self, conv: &ConversationKey, reply: &HeldReply) -> Result<(), Error> {
        self.kv
            .put(
                KV_HELD,
                &format!("{}/{}", conv.as_key(), reply.activity_id),
                &json(reply)?,
            )
            .await?;
        Ok(())
    }

    /// The replies held for a conversation, oldest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn held(&self, conv: &ConversationKey) -> Result<Vec<HeldReply>, Error> {
        let mut replies: Vec<HeldReply> = self
            .kv
            .list(KV_HELD, &format!("{}/", conv.as_key()))
            .await?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .collect();
        replies.sort_by_key(|r| r.held_at);
        Ok(replies)
    }

    /// Forgets a held reply (delivered).
    ///
    /// # Errors
    /// Store errors.
    pub async fn release(&self, conv: &ConversationKey, activity_id: Uuid) -> Result<(), Error> {
        self.kv
            .delete(KV_HELD, &format!("{}/{activity_id}", conv.as_key()))
            .await?;
        Ok(())
    }
}
