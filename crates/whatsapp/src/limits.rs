//! Meta's documented limits, checked locally before a message is sent. Lengths are in characters
//! (Unicode scalar values), counts in items.
//!
//! Sources: Meta messages/text-messages, messages/interactive-reply-buttons-messages,
//! messages/interactive-list-messages, messages/interactive-cta-url-messages (summarised in the
//! project's API notes, whatsapp.md §1.3). The caption limit is from Meta's media-message
//! reference as given in the project brief, not from the API notes.

/// `text.body` of a text message.
pub const TEXT_BODY_MAX_CHARS: usize = 4096;
/// `caption` of an image, video or document message.
pub const CAPTION_MAX_CHARS: usize = 1024;
/// Reply buttons per message.
pub const MAX_REPLY_BUTTONS: usize = 3;
/// `reply.title` of a reply button.
pub const BUTTON_TITLE_MAX_CHARS: usize = 20;
/// `reply.id` of a reply button.
pub const BUTTON_ID_MAX_CHARS: usize = 256;
/// `body.text` of a reply-buttons or call-to-action message.
pub const BUTTONS_BODY_MAX_CHARS: usize = 1024;
/// `body.text` of a list message.
pub const LIST_BODY_MAX_CHARS: usize = 4096;
/// `footer.text` of an interactive message.
pub const FOOTER_MAX_CHARS: usize = 60;
/// A text `header` of an interactive message.
pub const HEADER_TEXT_MAX_CHARS: usize = 60;
/// `action.button` (the label that opens a list).
pub const LIST_BUTTON_MAX_CHARS: usize = 20;
/// Sections per list.
pub const MAX_LIST_SECTIONS: usize = 10;
/// Rows per list, **in total** over all sections.
pub const MAX_LIST_ROWS: usize = 10;
/// `sections[].title`.
pub const LIST_SECTION_TITLE_MAX_CHARS: usize = 24;
/// `rows[].id`.
pub const LIST_ROW_ID_MAX_CHARS: usize = 200;
/// `rows[].title`.
pub const LIST_ROW_TITLE_MAX_CHARS: usize = 24;
/// `rows[].description`.
pub const LIST_ROW_DESCRIPTION_MAX_CHARS: usize = 72;
/// `parameters.display_text` of a call-to-action URL button.
pub const CTA_DISPLAY_TEXT_MAX_CHARS: usize = 20;
/// Length of a wamid (Meta messages reference).
pub const WAMID_MAX_CHARS: usize = 128;
