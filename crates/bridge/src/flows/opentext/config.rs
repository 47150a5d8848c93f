//! `[opentext]`: the CMS + CSS connection of the O flows, and the client built from it.

use std::sync::Arc;
use std::time::Duration;

use chatport_core::RateBudget;
use serde::Deserialize;

use crate::Error;
use crate::config::Config;
use crate::settings::{SecretSetting, Setting, Vars};

/// How to obtain the CMS token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OpenTextGrant {
    /// `client_credentials` with the confidential client (default).
    #[default]
    ClientCredentials,
    /// `password` with a tenant user (`username`, `password` required).
    Password,
}

/// `[opentext]`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OpenTextConfig {
    /// Region host, e.g. `https://na-1-dev.api.opentext.com`; the token URL is
    /// `{auth_base}/tenants/{tenant_id}/oauth2/token`.
    pub auth_base: Setting,
    /// CMS base, e.g. `https://na-1-dev.api.opentext.com/cms`.
    pub cms_base: Setting,
    /// CSS base, e.g. `https://css.na-1-dev.api.opentext.com` (used by the document flows).
    pub css_base: Option<Setting>,
    /// Tenant id.
    pub tenant_id: Setting,
    /// OAuth grant. Default `client_credentials`.
    #[serde(default)]
    pub grant: OpenTextGrant,
    /// OAuth client id.
    pub client_id: Setting,
    /// OAuth client secret, e.g. `"${OPENTEXT_CLIENT_SECRET}"`.
    pub client_secret: SecretSetting,
    /// Tenant user for the `password` grant.
    pub username: Option<Setting>,
    /// Tenant user's password for the `password` grant.
    pub password: Option<SecretSetting>,
    /// Request timeout in seconds. Default 20.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Client-side limit on CMS requests per second (the CMS documents 5 per tenant). With the
    /// PostgreSQL store the limit holds for the tenant across every replica (one shared bucket,
    /// `opentext:{tenant_id}`, in the database); with SQLite (one process) it holds per process.
    /// `0` turns the limiter off (emulators, tests). Default 5.
    #[serde(default = "default_cms_requests_per_second")]
    pub requests_per_second: u32,
    /// Slowest CSS content transfer accepted, in bytes per second: an upload of `n` bytes may take
    /// `timeout_secs + n / rate` (see [`chatport_opentext::ClientBuilder::min_transfer_rate`]).
    /// Default 100,000.
    #[serde(default = "default_min_transfer_rate")]
    pub min_transfer_rate: u64,
    /// Which id of a CSS upload answer goes into a rendition's `blob_id`: `"id"`
    /// (`entries[0].id`, as OpenText's contract-approval sample does; the default) or
    /// `"blob_id"` (`entries[0].blobId`, else `id`). OpenText's samples differ and the CMS
    /// documentation does not say which it wants (see `docs/vendors/opentext.md`).
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub blob_id_source: chatport_opentext::BlobIdSource,
}

fn default_min_transfer_rate() -> u64 {
    chatport_opentext::DEFAULT_MIN_TRANSFER_RATE
}

fn default_timeout_secs() -> u64 {
    20
}

fn default_cms_requests_per_second() -> u32 {
    chatport_opentext::DEFAULT_REQUESTS_PER_SECOND
}

/// The CMS client of `[opentext]`, `None` without that section. With a shared `budget` (the
/// PostgreSQL store) the `requests_per_second` limit is taken from its bucket
/// `opentext:{tenant id}`, shared by every replica; without one it holds per process.
///
/// # Errors
/// [`Error::Config`] for an unset variable or a missing credential of the chosen grant;
/// client-builder errors.
pub fn client(
    config: &Config,
    vars: &dyn Vars,
    budget: Option<Arc<dyn RateBudget>>,
) -> Result<Option<chatport_opentext::Client>, Error> {
    let Some(ot) = &config.opentext else {
        return Ok(None);
    };
    let client_id = ot.client_id.resolve("opentext.client_id", vars)?;
    let secret = ot.client_secret.resolve("opentext.client_secret", vars)?;
    let tenant_id = ot.tenant_id.resolve("opentext.tenant_id", vars)?;
    let mut builder = chatport_opentext::Client::builder()
        .tenant_id(&tenant_id)
        .auth_base(&ot.auth_base.resolve("opentext.auth_base", vars)?)
        .cms_base(&ot.cms_base.resolve("opentext.cms_base", vars)?)
        .timeout(Duration::from_secs(ot.timeout_secs))
        .min_transfer_rate(ot.min_transfer_rate)
        .blob_id_source(ot.blob_id_source);
    builder = match (ot.requests_per_second, budget) {
        (0, _) => builder.no_rate_limit(),
        (n, Some(budget)) => builder.rate_limit(
            chatport_opentext::RateLimit::per_second(n)?
                .shared(budget, format!("opentext:{tenant_id}")),
        ),
        (n, None) => builder.requests_per_second(n),
    };
    if let Some(css) = &ot.css_base {
        builder = builder.css_base(&css.resolve("opentext.css_base", vars)?);
    }
    builder = match ot.grant {
        OpenTextGrant::Password => {
            let username = ot
                .username
                .as_ref()
                .ok_or_else(|| {
                    Error::Config("opentext.username is required for the password grant".into())
                })?
                .resolve("opentext.username", vars)?;
            let password = ot
                .password
                .as_ref()
                .ok_or_else(|| {
                    Error::Config("opentext.password is required for the password grant".into())
                })?
                .resolve("opentext.password", vars)?;
            builder.password_grant(&client_id, secret, &username, password)
        }
        _ => builder.client_credentials(&client_id, secret),
    };
    Ok(Some(builder.build()?))
}
