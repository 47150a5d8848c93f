//! [`EntitySink`]: a [`chatport_core::Sink`] that creates one Creatio record per idempotency key.

use std::fmt;
use std::marker::PhantomData;

use async_trait::async_trait;
use chatport_core::sink::KeyLocks;
use chatport_core::{IdempotencyKey, Sink};
use uuid::Uuid;

use crate::{Client, Created, Entity, Error};

/// Creates a record of the entity `E` (`Contact`, `Case`, `Activity`, `CaseFile`, or any other
/// [`Entity`]) **at most once per [`IdempotencyKey`]**; the receipt is the record's `Id`.
///
/// # How idempotency holds
///
/// The record's primary key is chosen by the client: `Id` = [`IdempotencyKey::uuid`] (a name-based
/// UUID of the key; Creatio's `Id` column is writable on insert, `shared/api/creatio.md` §5). The
/// sink `POST`s `{odata}/{E::SET}` with that `Id` ([`Client::create_with_key`]). A repeat of the
/// key meets the **database's primary-key uniqueness**: Creatio refuses the insert (409, or a 500
/// whose body names a duplicate key — [`Error::is_duplicate_key`]), and the sink reads the record
/// by its `Id` and returns it. Because the rule is the server's, it holds across processes and
/// replicas too: two replicas writing one key at the same moment create one record, and both get
/// its `Id`. Within one process the sink also serialises writes of one key with
/// [`KeyLocks`], so concurrent writers do not all spend a refused `POST`.
///
/// # In doubt
///
/// A create that timed out or lost its connection after the request left
/// ([`Error::is_ambiguous`]) may have been applied. The sink then reads the record by its `Id`:
/// found → its `Id` is returned as if created; not found → the original (retryable) error is
/// returned and the caller (the outbox) retries with the same key, which again cannot create a
/// second record. A 429 / 503 refusal is returned as is (retryable; nothing was created).
///
/// # Where it cannot hold
///
/// - A record **deleted** in Creatio after it was created frees its `Id`: a later replay of the
///   key creates it again.
/// - A duplicate-key refusal for a record the integration user may not read (record-level
///   permissions) is returned as an error: the sink cannot tell the record exists.
/// - The duplicate-key answer is inferred (not documented by Creatio); if an instance answered it
///   in a shape [`Error::is_duplicate_key`] does not recognise, a repeat fails permanently instead
///   of returning the `Id` — it still creates nothing.
///
/// ```
/// use chatport_core::{EventId, IdempotencyKey, Sink};
/// use chatport_creatio::{Case, Client, EntitySink};
/// use chatport_testkit::creatio::CreatioEmulator;
/// use secrecy::SecretString;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let crm = CreatioEmulator::start().await?;
/// let client = Client::builder()
///     .base_url(&crm.base_url())
///     .identity_url(&crm.identity_url())
///     .oauth_client_credentials(crm.client_id(), SecretString::from(crm.client_secret().to_owned()))
///     .build()?;
/// let cases = EntitySink::<Case>::new(client);
///
/// let key = IdempotencyKey::derive("C1", "case", &EventId::new("wamid.X"));
/// let case = Case { subject: Some("Parcel damaged".into()), ..Case::new() };
/// let id = cases.write(&case, &key).await?;
/// assert_eq!(cases.write(&case, &key).await?, id); // a replay: same record, nothing created
/// assert_eq!(id, key.uuid());
/// assert_eq!(crm.records("Case").len(), 1);
/// # Ok(()) }
/// ```
pub struct EntitySink<E> {
    client: Client,
    set: String,
    locks: KeyLocks,
    _entity: PhantomData<fn() -> E>,
}

impl<E> Clone for EntitySink<E> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            set: self.set.clone(),
            locks: self.locks.clone(),
            _entity: PhantomData,
        }
    }
}

impl<E> fmt::Debug for EntitySink<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntitySink")
            .field("set", &self.set)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// Configures an [`EntitySink`]; from [`EntitySink::builder`].
#[must_use]
pub struct EntitySinkBuilder<E> {
    client: Client,
    set: Option<String>,
    locks: Option<KeyLocks>,
    _entity: PhantomData<fn() -> E>,
}

impl<E> fmt::Debug for EntitySinkBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntitySinkBuilder")
            .field("set", &self.set)
            .finish_non_exhaustive()
    }
}

impl<E: Entity> EntitySinkBuilder<E> {
    /// Writes into this entity set instead of `E::SET` (a custom schema stored with the same
    /// columns, e.g. `UsrWhatsAppCase`). Checked by [`build`](Self::build).
    pub fn entity_set(mut self, set: impl Into<String>) -> Self {
        self.set = Some(set.into());
        self
    }

    /// Shares these per-key locks with other sinks (default: the sink's own). Sinks that write
    /// the same keys should share them.
    pub fn locks(mut self, locks: KeyLocks) -> Self {
        self.locks = Some(locks);
        self
    }

    /// Builds the sink. No network access.
    ///
    /// # Errors
    /// [`Error::Config`] when the entity set is not a schema code (letters, digits, `_`).
    pub fn build(self) -> Result<EntitySink<E>, Error> {
        let set = self.set.unwrap_or_else(|| E::SET.to_owned());
        crate::odata::check_set(&set)?;
        Ok(EntitySink {
            client: self.client,
            set,
            locks: self.locks.unwrap_or_default(),
            _entity: PhantomData,
        })
    }
}

impl<E: Entity> EntitySink<E> {
    /// A sink writing `E` into `E::SET` through `client`.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            set: E::SET.to_owned(),
            locks: KeyLocks::new(),
            _entity: PhantomData,
        }
    }

    /// A builder (custom entity set, shared locks).
    pub fn builder(client: Client) -> EntitySinkBuilder<E> {
        EntitySinkBuilder {
            client,
            set: None,
            locks: None,
            _entity: PhantomData,
        }
    }

    /// The entity set written to.
    pub fn entity_set(&self) -> &str {
        &self.set
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Like [`Sink::write`], returning the whole record as Creatio answered it (201 body, or the
    /// record read back when an earlier attempt had created it: `existed = true`), e.g. for a
    /// `Case`'s auto-number.
    ///
    /// `item`'s `Id` is replaced by `key.uuid()`; columns in `item.extra` win over the named
    /// columns of the same name.
    ///
    /// # Errors
    /// As [`Client::create_with_key`].
    pub async fn create(&self, item: &E, key: &IdempotencyKey) -> Result<Created<E>, Error> {
        let _guard = self.locks.lock(key.as_str()).await;
        self.client
            .create_with_key::<E, _>(&self.set, key, item)
            .await
    }
}

#[async_trait]
impl<E> Sink for EntitySink<E>
where
    E: Entity + Send + Sync + 'static,
{
    type Item = E;
    type Receipt = Uuid;
    type Error = Error;

    /// Logs in (forms) or fetches a token (OAuth); reads no data.
    async fn check(&self) -> Result<(), Error> {
        self.client.authenticate().await
    }

    /// Creates `item` once per `key`; the receipt is the record's `Id` (= `key.uuid()`).
    async fn write(&self, item: &E, key: &IdempotencyKey) -> Result<Uuid, Error> {
        self.create(item, key).await.map(|created| created.id)
    }
}
