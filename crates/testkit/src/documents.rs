//! Documents for tests of code that reads files: a one-page PDF with a text layer, built with
//! lopdf (so a test needs no binary fixture and can choose the text).

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};

use crate::Error;

/// A one-page PDF (A4, 595 × 842 pt, PDF 1.5) whose text layer is `text` in Courier 12 pt, as
/// bytes. Text extraction (e.g. lopdf's `extract_text`) reads `text` back.
///
/// # Errors
/// [`Error::Config`] when lopdf cannot encode the page (not for ordinary text).
pub fn pdf_with_text(text: &str) -> Result<Vec<u8>, Error> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Courier",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let content = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("Td", vec![72.into(), 700.into()]),
            Operation::new("Tj", vec![Object::string_literal(text)]),
            Operation::new("ET", vec![]),
        ],
    };
    let encoded = content
        .encode()
        .map_err(|e| Error::Config(format!("PDF content: {e}")))?;
    let content_id = doc.add_object(Stream::new(dictionary! {}, encoded));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    doc.compress();
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes)
        .map_err(|e| Error::Config(format!("PDF: {e}")))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_text_layer_reads_back() {
        let bytes = super::pdf_with_text("Invoice 0423 total 120.00").unwrap();
        assert!(bytes.starts_with(b"%PDF-1.5"));
        let doc = lopdf::Document::load_mem(&bytes).unwrap();
        let text = doc.extract_text(&[1]).unwrap();
        assert!(text.contains("Invoice 0423 total 120.00"), "{text:?}");
    }
}
