//! [`ErrorKind`]: every documented Graph / Cloud API error code as a typed kind.
//!
//! Source: Meta, *Error codes* (`developers.facebook.com/documentation/business-messaging/whatsapp/
//! support/error-codes`, page "Updated: May 15, 2026"), *Throughput* and *About the platform*, as
//! summarised in the project's API notes (whatsapp.md §1.5–1.6).

use std::fmt;
use std::time::Duration;

use chatport_core::ErrorClass;

/// What a Graph API error code means, one variant per documented code or family of codes.
///
/// Obtain it with [`ErrorKind::from_code`], [`ApiError::kind`](crate::ApiError::kind),
/// [`WebhookError::kind`](crate::webhook::WebhookError::kind) (asynchronous errors in status and
/// message webhooks use the same codes) or [`Error::kind`](crate::Error::kind) (which also maps the
/// local 24-hour window refusal to [`ErrorKind::ReEngagementRequired`]).
///
/// Two separate questions are answered per kind:
///
/// - [`ErrorKind::class`]: the retry class (`Throttled`, `Server`, `Auth`, `Permanent`);
/// - [`ErrorKind::may_resend`]: whether Meta refused the request **before acting on it**, so that
///   sending the same message again cannot duplicate it.
///
/// Consistency rule (tested over every kind): a kind that may be resent is `Throttled` or `Auth`;
/// a `Permanent` kind is never resent. `Server` kinds (131000, 1, 2, ...) are retryable for
/// idempotent requests but **not** resendable for a message send: the message may be on its way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 0: unable to authenticate the app user (token expired or invalidated).
    AuthenticationFailed,
    /// 190: the access token has expired.
    AccessTokenExpired,
    /// 3, 10, 200–299, 131005: a permission or capability is missing.
    PermissionDenied,
    /// 4: the app reached its API call rate limit.
    AppRateLimit,
    /// 80007: the WhatsApp Business Account reached its rate limit.
    WabaRateLimit,
    /// 130429: Cloud API message throughput (80 / 1,000 / 20 mps) reached.
    ThroughputLimit,
    /// 131048: spam rate limit (too many messages blocked or flagged).
    SpamRateLimit,
    /// 131056: pair rate limit (same business number → same user; 1 message per 6 s, bursts to 45).
    PairRateLimit,
    /// 131064: messaging limit reached because of template classification violations.
    TemplateClassificationLimit,
    /// 133016: too many register / deregister attempts.
    RegistrationAttemptsLimit,
    /// 368: the WABA is restricted or disabled for a policy violation.
    AccountRestricted,
    /// 130497: restricted from messaging users in certain countries.
    CountryRestricted,
    /// 131031: the account is locked (policy, or a wrong two-step PIN).
    AccountLocked,
    /// 1: invalid request or unknown API error.
    ApiUnknown,
    /// 2: temporary downtime or overload of the API service.
    ApiServiceUnavailable,
    /// 33: the business phone number was deleted.
    PhoneNumberDeleted,
    /// 100: unsupported or misspelled parameter (also over-length values).
    InvalidParameter,
    /// 130403: the business blocked this user.
    UserBlocked,
    /// 130472: the message was held back as part of an experiment.
    ExperimentHoldback,
    /// 131000: unknown error ("something went wrong"); a send may already be out.
    SomethingWentWrong,
    /// 131008: a required parameter is missing.
    MissingParameter,
    /// 131009: a parameter value is invalid (also: reacting to a message older than 30 days).
    InvalidParameterValue,
    /// 131016: the service is temporarily unavailable.
    ServiceUnavailable,
    /// 131021: sender and recipient are the same number.
    RecipientIsSender,
    /// 131026: undeliverable (not on WhatsApp, terms not accepted, client too old).
    Undeliverable,
    /// 131037: a 555 number without an approved display name.
    DisplayNameNotApproved,
    /// 131042: a problem with the payment method.
    PaymentIssue,
    /// 131045: phone number registration error.
    RegistrationError,
    /// 131047: more than 24 hours since the user last messaged: only a template may be sent.
    /// Also what [`Error::WindowClosed`](crate::Error::WindowClosed) (the local refusal) maps to.
    ReEngagementRequired,
    /// 131049: held back "to maintain healthy ecosystem engagement" (per-user marketing limit).
    EcosystemEngagementHoldback,
    /// 131050: the user stopped marketing messages.
    MarketingOptOut,
    /// 131051: unsupported message type.
    UnsupportedMessageType,
    /// 131052: downloading the user's media failed (e.g. over 100 MB).
    MediaDownloadFailed,
    /// 131053: media upload failed (e.g. a MIME type mismatch).
    MediaUploadFailed,
    /// 131057: the account is in maintenance mode (throughput upgrade, up to 1 minute).
    MaintenanceMode,
    /// 131062: business-scoped user id (BSUID) recipients are not supported for this message
    /// (e.g. an authentication template that still needs a phone number, or a feature not yet
    /// open to BSUIDs): send to the user's phone number instead, if known. Never resent: the same
    /// request fails the same way (Meta: business-scoped-user-ids; support/error-codes).
    BsuidNotSupported,
    /// 131063: marketing templates are disabled on the Cloud API for this WABA.
    MarketingTemplatesDisabled,
    /// 132000: the number of template parameters does not match.
    TemplateParameterCountMismatch,
    /// 132001: the template does not exist in that language or is not approved.
    TemplateNotFound,
    /// 132005: the translated template text is too long.
    TemplateTextTooLong,
    /// 132007: the template content violates a policy.
    TemplatePolicyViolation,
    /// 132012: a template parameter has the wrong format.
    TemplateParameterFormat,
    /// 132015: the template is paused (low quality).
    TemplatePaused,
    /// 132016: the template is disabled.
    TemplateDisabled,
    /// 132068: the flow is blocked.
    FlowBlocked,
    /// 132069: the flow is throttled (10 messages per hour already sent with it).
    FlowThrottled,
    /// 133004: the registration server is temporarily unavailable.
    RegistrationServerUnavailable,
    /// 133005: wrong two-step verification PIN.
    WrongPin,
    /// 133008, 133009: too many or too fast two-step PIN guesses.
    TooManyPinGuesses,
    /// 133015: wait 5 minutes before registering again.
    RegistrationWait,
    /// 133000–133014 (other than the above): registration or two-step verification failed.
    RegistrationFailed,
    /// 134011: the WhatsApp Payments terms of service are pending.
    PaymentsTermsPending,
    /// 135000: unknown error with the request parameters.
    GenericUserError,
    /// 2494100: the account is in maintenance mode (phone migration), "try again in a few minutes".
    MigrationMaintenance,
    /// 2388019: template limit exceeded (up to 250 per WABA).
    TemplateLimitExceeded,
    /// 2388039, 2388040, 2388047, 2388072, 2388073, 2388293, 2388299: template creation rejected.
    TemplateCreationRejected,
    /// 134101: marketing-messages API template still syncing (up to 10 minutes).
    TemplateSyncing,
    /// 131055, 134100, 134102, 132018, 1752041: other marketing-messages API errors.
    MarketingMessagesApi,
    /// A code this version of the crate does not know (classified by the HTTP status).
    Unknown(i64),
}

/// `(kind, representative code)` for every kind except [`ErrorKind::Unknown`], in declaration
/// order; the table the tests walk.
const KINDS: &[(ErrorKind, i64)] = &[
    (ErrorKind::AuthenticationFailed, 0),
    (ErrorKind::AccessTokenExpired, 190),
    (ErrorKind::PermissionDenied, 10),
    (ErrorKind::AppRateLimit, 4),
    (ErrorKind::WabaRateLimit, 80007),
    (ErrorKind::ThroughputLimit, 130_429),
    (ErrorKind::SpamRateLimit, 131_048),
    (ErrorKind::PairRateLimit, 131_056),
    (ErrorKind::TemplateClassificationLimit, 131_064),
    (ErrorKind::RegistrationAttemptsLimit, 133_016),
    (ErrorKind::AccountRestricted, 368),
    (ErrorKind::CountryRestricted, 130_497),
    (ErrorKind::AccountLocked, 131_031),
    (ErrorKind::ApiUnknown, 1),
    (ErrorKind::ApiServiceUnavailable, 2),
    (ErrorKind::PhoneNumberDeleted, 33),
    (ErrorKind::InvalidParameter, 100),
    (ErrorKind::UserBlocked, 130_403),
    (ErrorKind::ExperimentHoldback, 130_472),
    (ErrorKind::SomethingWentWrong, 131_000),
    (ErrorKind::MissingParameter, 131_008),
    (ErrorKind::InvalidParameterValue, 131_009),
    (ErrorKind::ServiceUnavailable, 131_016),
    (ErrorKind::RecipientIsSender, 131_021),
    (ErrorKind::Undeliverable, 131_026),
    (ErrorKind::DisplayNameNotApproved, 131_037),
    (ErrorKind::PaymentIssue, 131_042),
    (ErrorKind::RegistrationError, 131_045),
    (ErrorKind::ReEngagementRequired, 131_047),
    (ErrorKind::EcosystemEngagementHoldback, 131_049),
    (ErrorKind::MarketingOptOut, 131_050),
    (ErrorKind::UnsupportedMessageType, 131_051),
    (ErrorKind::MediaDownloadFailed, 131_052),
    (ErrorKind::MediaUploadFailed, 131_053),
    (ErrorKind::MaintenanceMode, 131_057),
    (ErrorKind::BsuidNotSupported, 131_062),
    (ErrorKind::MarketingTemplatesDisabled, 131_063),
    (ErrorKind::TemplateParameterCountMismatch, 132_000),
    (ErrorKind::TemplateNotFound, 132_001),
    (ErrorKind::TemplateTextTooLong, 132_005),
    (ErrorKind::TemplatePolicyViolation, 132_007),
    (ErrorKind::TemplateParameterFormat, 132_012),
    (ErrorKind::TemplatePaused, 132_015),
    (ErrorKind::TemplateDisabled, 132_016),
    (ErrorKind::FlowBlocked, 132_068),
    (ErrorKind::FlowThrottled, 132_069),
    (ErrorKind::RegistrationServerUnavailable, 133_004),
    (ErrorKind::WrongPin, 133_005),
    (ErrorKind::TooManyPinGuesses, 133_008),
    (ErrorKind::RegistrationWait, 133_015),
    (ErrorKind::RegistrationFailed, 133_000),
    (ErrorKind::PaymentsTermsPending, 134_011),
    (ErrorKind::GenericUserError, 135_000),
    (ErrorKind::MigrationMaintenance, 2_494_100),
    (ErrorKind::TemplateLimitExceeded, 2_388_019),
    (ErrorKind::TemplateCreationRejected, 2_388_039),
    (ErrorKind::TemplateSyncing, 134_101),
    (ErrorKind::MarketingMessagesApi, 131_055),
];

impl ErrorKind {
    /// Every known kind (not [`ErrorKind::Unknown`]) with one representative code each.
    pub fn all() -> impl Iterator<Item = (ErrorKind, i64)> {
        KINDS.iter().copied()
    }

    /// The kind of a Graph / Cloud API `error.code` (HTTP or webhook).
    pub fn from_code(code: i64) -> ErrorKind {
        use ErrorKind as K;
        match code {
            0 => K::AuthenticationFailed,
            190 => K::AccessTokenExpired,
            3 | 10 | 200..=299 | 131_005 => K::PermissionDenied,
            4 => K::AppRateLimit,
            80007 => K::WabaRateLimit,
            130_429 => K::ThroughputLimit,
            131_048 => K::SpamRateLimit,
            131_056 => K::PairRateLimit,
            131_064 => K::TemplateClassificationLimit,
            133_016 => K::RegistrationAttemptsLimit,
            368 => K::AccountRestricted,
            130_497 => K::CountryRestricted,
            131_031 => K::AccountLocked,
            1 => K::ApiUnknown,
            2 => K::ApiServiceUnavailable,
            33 => K::PhoneNumberDeleted,
            100 => K::InvalidParameter,
            130_403 => K::UserBlocked,
            130_472 => K::ExperimentHoldback,
            131_000 => K::SomethingWentWrong,
            131_008 => K::MissingParameter,
            131_009 => K::InvalidParameterValue,
            131_016 => K::ServiceUnavailable,
            131_021 => K::RecipientIsSender,
            131_026 => K::Undeliverable,
            131_037 => K::DisplayNameNotApproved,
            131_042 => K::PaymentIssue,
            131_045 => K::RegistrationError,
            131_047 => K::ReEngagementRequired,
            131_049 => K::EcosystemEngagementHoldback,
            131_050 => K::MarketingOptOut,
            131_051 => K::UnsupportedMessageType,
            131_052 => K::MediaDownloadFailed,
            131_053 => K::MediaUploadFailed,
            131_057 => K::MaintenanceMode,
            131_062 => K::BsuidNotSupported,
            131_063 => K::MarketingTemplatesDisabled,
            132_000 => K::TemplateParameterCountMismatch,
            132_001 => K::TemplateNotFound,
            132_005 => K::TemplateTextTooLong,
            132_007 => K::TemplatePolicyViolation,
            132_012 => K::TemplateParameterFormat,
            132_015 => K::TemplatePaused,
            132_016 => K::TemplateDisabled,
            132_068 => K::FlowBlocked,
            132_069 => K::FlowThrottled,
            133_004 => K::RegistrationServerUnavailable,
            133_005 => K::WrongPin,
            133_008 | 133_009 => K::TooManyPinGuesses,
            133_015 => K::RegistrationWait,
            133_000..=133_014 => K::RegistrationFailed,
            134_011 => K::PaymentsTermsPending,
            135_000 => K::GenericUserError,
            2_494_100 => K::MigrationMaintenance,
            2_388_019 => K::TemplateLimitExceeded,
            2_388_039 | 2_388_040 | 2_388_047 | 2_388_072 | 2_388_073 | 2_388_293 | 2_388_299 => {
                K::TemplateCreationRejected
            }
            134_101 => K::TemplateSyncing,
            131_055 | 134_100 | 134_102 | 132_018 | 1_752_041 => K::MarketingMessagesApi,
            other => K::Unknown(other),
        }
    }

    /// A stable snake_case name for logs and metrics (`pair_rate_limit`, `unknown`).
    pub fn as_str(&self) -> &'static str {
        use ErrorKind as K;
        match self {
            K::AuthenticationFailed => "authentication_failed",
            K::AccessTokenExpired => "access_token_expired",
            K::PermissionDenied => "permission_denied",
            K::AppRateLimit => "app_rate_limit",
            K::WabaRateLimit => "waba_rate_limit",
            K::ThroughputLimit => "throughput_limit",
            K::SpamRateLimit => "spam_rate_limit",
            K::PairRateLimit => "pair_rate_limit",
            K::TemplateClassificationLimit => "template_classification_limit",
            K::RegistrationAttemptsLimit => "registration_attempts_limit",
            K::AccountRestricted => "account_restricted",
            K::CountryRestricted => "country_restricted",
            K::AccountLocked => "account_locked",
            K::ApiUnknown => "api_unknown",
            K::ApiServiceUnavailable => "api_service_unavailable",
            K::PhoneNumberDeleted => "phone_number_deleted",
            K::InvalidParameter => "invalid_parameter",
            K::UserBlocked => "user_blocked",
            K::ExperimentHoldback => "experiment_holdback",
            K::SomethingWentWrong => "something_went_wrong",
            K::MissingParameter => "missing_parameter",
            K::InvalidParameterValue => "invalid_parameter_value",
            K::ServiceUnavailable => "service_unavailable",
            K::RecipientIsSender => "recipient_is_sender",
            K::Undeliverable => "undeliverable",
            K::DisplayNameNotApproved => "display_name_not_approved",
            K::PaymentIssue => "payment_issue",
            K::RegistrationError => "registration_error",
            K::ReEngagementRequired => "re_engagement_required",
            K::EcosystemEngagementHoldback => "ecosystem_engagement_holdback",
            K::MarketingOptOut => "marketing_opt_out",
            K::UnsupportedMessageType => "unsupported_message_type",
            K::MediaDownloadFailed => "media_download_failed",
            K::MediaUploadFailed => "media_upload_failed",
            K::MaintenanceMode => "maintenance_mode",
            K::BsuidNotSupported => "bsuid_not_supported",
            K::MarketingTemplatesDisabled => "marketing_templates_disabled",
            K::TemplateParameterCountMismatch => "template_parameter_count_mismatch",
            K::TemplateNotFound => "template_not_found",
            K::TemplateTextTooLong => "template_text_too_long",
            K::TemplatePolicyViolation => "template_policy_violation",
            K::TemplateParameterFormat => "template_parameter_format",
            K::TemplatePaused => "template_paused",
            K::TemplateDisabled => "template_disabled",
            K::FlowBlocked => "flow_blocked",
            K::FlowThrottled => "flow_throttled",
            K::RegistrationServerUnavailable => "registration_server_unavailable",
            K::WrongPin => "wrong_pin",
            K::TooManyPinGuesses => "too_many_pin_guesses",
            K::RegistrationWait => "registration_wait",
            K::RegistrationFailed => "registration_failed",
            K::PaymentsTermsPending => "payments_terms_pending",
            K::GenericUserError => "generic_user_error",
            K::MigrationMaintenance => "migration_maintenance",
            K::TemplateLimitExceeded => "template_limit_exceeded",
            K::TemplateCreationRejected => "template_creation_rejected",
            K::TemplateSyncing => "template_syncing",
            K::MarketingMessagesApi => "marketing_messages_api",
            K::Unknown(_) => "unknown",
        }
    }

    /// The per-kind wait Meta advises, used when the answer had no `Retry-After` header:
    ///
    /// - [`ErrorKind::PairRateLimit`]: 6 s, the documented pair interval (Meta's schedule after
    ///   repeated failures is 4^X s: [`crate::Pacer::pair_rate_limited`]);
    /// - [`ErrorKind::MaintenanceMode`] ("up to 1 minute"): 60 s;
    /// - [`ErrorKind::MigrationMaintenance`] ("a few minutes"): 180 s **(inferred)**;
    /// - [`ErrorKind::TemplateSyncing`] ("up to 10 minutes"): 600 s;
    /// - [`ErrorKind::FlowThrottled`] (10 per hour): 360 s **(inferred)**;
    /// - everything else: none.
    pub fn default_retry_after(&self) -> Option<Duration> {
        match self {
            ErrorKind::PairRateLimit => Some(Duration::from_secs(6)),
            ErrorKind::MaintenanceMode => Some(Duration::from_secs(60)),
            ErrorKind::MigrationMaintenance => Some(Duration::from_secs(180)),
            ErrorKind::TemplateSyncing => Some(Duration::from_secs(600)),
            ErrorKind::FlowThrottled => Some(Duration::from_secs(360)),
            _ => None,
        }
    }

    /// The retry class of the kind; `retry_after` (the answer's header) overrides
    /// [`ErrorKind::default_retry_after`] for throttled kinds. `None` for
    /// [`ErrorKind::Unknown`]: the caller falls back to the HTTP status.
    ///
    /// | kinds | class |
    /// |---|---|
    /// | app / WABA rate, throughput, pair rate, maintenance, migration maintenance, template syncing, flow throttled | `Throttled` |
    /// | 1, 2, 131000, 131016, 133004 | `Server` |
    /// | 0, 190 | `Auth` |
    /// | everything else (131047, 131049, 131050, 132xxx, 100, ...) | `Permanent` |
    ///
    /// 131049 ("wait at least 24 hours") is `Permanent`: resending a held back marketing message a
    /// day later is a business decision, not a retry. 133016 is `Permanent` although it is a
    /// "limit": Meta locks registration for 72 h.
    pub fn class(&self, retry_after: Option<Duration>) -> Option<ErrorClass> {
        use ErrorKind as K;
        Some(match self {
            K::AppRateLimit
            | K::WabaRateLimit
            | K::ThroughputLimit
            | K::PairRateLimit
            | K::MaintenanceMode
            | K::MigrationMaintenance
            | K::TemplateSyncing
            | K::FlowThrottled => ErrorClass::Throttled {
                retry_after: retry_after.or(self.default_retry_after()),
            },
            K::ApiUnknown
            | K::ApiServiceUnavailable
            | K::SomethingWentWrong
            | K::ServiceUnavailable
            | K::RegistrationServerUnavailable => ErrorClass::Server,
            K::AuthenticationFailed | K::AccessTokenExpired => ErrorClass::Auth,
            K::Unknown(_) => return None,
            _ => ErrorClass::Permanent,
        })
    }

    /// Whether Meta refused the request **before acting on it**, so that sending the same message
    /// again cannot duplicate it: the rate limits and short maintenance (4, 80007, 130429, 131056,
    /// 131057) and the token refusals (0, 190; the token is checked before anything else).
    /// False for everything else, including 131000 and 1/2 (the message may be on its way).
    pub fn may_resend(&self) -> bool {
        matches!(
            self,
            ErrorKind::AppRateLimit
                | ErrorKind::WabaRateLimit
                | ErrorKind::ThroughputLimit
                | ErrorKind::PairRateLimit
                | ErrorKind::MaintenanceMode
                | ErrorKind::AuthenticationFailed
                | ErrorKind::AccessTokenExpired
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Unknown(code) => write!(f, "unknown({code})"),
            other => f.write_str(other.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented table (whatsapp.md §1.5): every code → kind, class, may_resend.
    #[test]
    fn documented_codes_table() {
        use ErrorClass as C;
        use ErrorKind as K;
        let throttled = |d: Option<u64>| C::Throttled {
            retry_after: d.map(Duration::from_secs),
        };
        #[rustfmt::skip]
        let table: Vec<(i64, ErrorKind, ErrorClass, bool)> = vec![
            (0, K::AuthenticationFailed, C::Auth, true),
            (3, K::PermissionDenied, C::Permanent, false),
            (10, K::PermissionDenied, C::Permanent, false),
            (200, K::PermissionDenied, C::Permanent, false),
            (250, K::PermissionDenied, C::Permanent, false),
            (299, K::PermissionDenied, C::Permanent, false),
            (131_005, K::PermissionDenied, C::Permanent, false),
            (190, K::AccessTokenExpired, C::Auth, true),
            (4, K::AppRateLimit, throttled(None), true),
            (80007, K::WabaRateLimit, throttled(None), true),
            (130_429, K::ThroughputLimit, throttled(None), true),
            (131_048, K::SpamRateLimit, C::Permanent, false),
            (131_056, K::PairRateLimit, throttled(Some(6)), true),
            (131_064, K::TemplateClassificationLimit, C::Permanent, false),
            (133_016, K::RegistrationAttemptsLimit, C::Permanent, false),
            (368, K::AccountRestricted, C::Permanent, false),
            (130_497, K::CountryRestricted, C::Permanent, false),
            (131_031, K::AccountLocked, C::Permanent, false),
            (1, K::ApiUnknown, C::Server, false),
            (2, K::ApiServiceUnavailable, C::Server, false),
            (33, K::PhoneNumberDeleted, C::Permanent, false),
            (100, K::InvalidParameter, C::Permanent, false),
            (130_403, K::UserBlocked, C::Permanent, false),
            (130_472, K::ExperimentHoldback, C::Permanent, false),
            (131_000, K::SomethingWentWrong, C::Server, false),
            (131_008, K::MissingParameter, C::Permanent, false),
            (131_009, K::InvalidParameterValue, C::Permanent, false),
            (131_016, K::ServiceUnavailable, C::Server, false),
            (131_021, K::RecipientIsSender, C::Permanent, false),
            (131_026, K::Undeliverable, C::Permanent, false),
            (131_037, K::DisplayNameNotApproved, C::Permanent, false),
            (131_042, K::PaymentIssue, C::Permanent, false),
            (131_045, K::RegistrationError, C::Permanent, false),
            (131_047, K::ReEngagementRequired, C::Permanent, false),
            (131_049, K::EcosystemEngagementHoldback, C::Permanent, false),
            (131_050, K::MarketingOptOut, C::Permanent, false),
            (131_051, K::UnsupportedMessageType, C::Permanent, false),
            (131_052, K::MediaDownloadFailed, C::Permanent, false),
            (131_053, K::MediaUploadFailed, C::Permanent, false),
            (131_057, K::MaintenanceMode, throttled(Some(60)), true),
            (131_062, K::BsuidNotSupported, C::Permanent, false),
            (131_063, K::MarketingTemplatesDisabled, C::Permanent, false),
            (132_000, K::TemplateParameterCountMismatch, C::Permanent, false),
            (132_001, K::TemplateNotFound, C::Permanent, false),
            (132_005, K::TemplateTextTooLong, C::Permanent, false),
            (132_007, K::TemplatePolicyViolation, C::Permanent, false),
            (132_012, K::TemplateParameterFormat, C::Permanent, false),
            (132_015, K::TemplatePaused, C::Permanent, false),
            (132_016, K::TemplateDisabled, C::Permanent, false),
            (132_068, K::FlowBlocked, C::Permanent, false),
            (132_069, K::FlowThrottled, throttled(Some(360)), false),
            (133_000, K::RegistrationFailed, C::Permanent, false),
            (133_004, K::RegistrationServerUnavailable, C::Server, false),
            (133_005, K::WrongPin, C::Permanent, false),
            (133_008, K::TooManyPinGuesses, C::Permanent, false),
            (133_009, K::TooManyPinGuesses, C::Permanent, false),
            (133_010, K::RegistrationFailed, C::Permanent, false),
            (133_015, K::RegistrationWait, C::Permanent, false),
            (134_011, K::PaymentsTermsPending, C::Permanent, false),
            (135_000, K::GenericUserError, C::Permanent, false),
            (2_494_100, K::MigrationMaintenance, throttled(Some(180)), false),
            (2_388_019, K::TemplateLimitExceeded, C::Permanent, false),
            (2_388_039, K::TemplateCreationRejected, C::Permanent, false),
            (2_388_040, K::TemplateCreationRejected, C::Permanent, false),
            (2_388_047, K::TemplateCreationRejected, C::Permanent, false),
            (2_388_072, K::TemplateCreationRejected, C::Permanent, false),
            (2_388_073, K::TemplateCreationRejected, C::Permanent, false),
            (2_388_293, K::TemplateCreationRejected, C::Permanent, false),
            (2_388_299, K::TemplateCreationRejected, C::Permanent, false),
            (134_101, K::TemplateSyncing, throttled(Some(600)), false),
            (131_055, K::MarketingMessagesApi, C::Permanent, false),
            (134_100, K::MarketingMessagesApi, C::Permanent, false),
            (134_102, K::MarketingMessagesApi, C::Permanent, false),
            (132_018, K::MarketingMessagesApi, C::Permanent, false),
            (1_752_041, K::MarketingMessagesApi, C::Permanent, false),
        ];
        for (code, kind, class, resend) in &table {
            let got = ErrorKind::from_code(*code);
            assert_eq!(got, *kind, "code {code}");
            assert_eq!(got.class(None), Some(*class), "class of {code}");
            assert_eq!(got.may_resend(), *resend, "may_resend of {code}");
        }
        // every kind appears in the documented table
        for (kind, _) in ErrorKind::all() {
            assert!(
                table.iter().any(|(_, k, _, _)| *k == kind),
                "{kind} has no documented code in the table"
            );
        }
        assert_eq!(ErrorKind::from_code(999_999), K::Unknown(999_999));
        assert_eq!(K::Unknown(7).class(None), None);
        assert!(!K::Unknown(7).may_resend());
    }

    #[test]
    fn kinds_are_consistent() {
        let mut names = std::collections::HashSet::new();
        for (kind, code) in ErrorKind::all() {
            assert_eq!(ErrorKind::from_code(code), kind, "representative {code}");
            assert!(names.insert(kind.as_str()), "duplicate name {kind}");
            let class = kind.class(None);
            if kind.may_resend() {
                assert!(
                    matches!(class, Some(ErrorClass::Throttled { .. } | ErrorClass::Auth)),
                    "{kind} may be resent but is {class:?}"
                );
            }
            if class == Some(ErrorClass::Permanent) {
                assert!(!kind.may_resend(), "{kind}");
            }
        }
        // the header wins over the per-kind default
        assert_eq!(
            ErrorKind::PairRateLimit
                .class(Some(Duration::from_secs(30)))
                .and_then(|c| c.retry_after()),
            Some(Duration::from_secs(30))
        );
    }
}
