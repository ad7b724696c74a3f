//! Record formats: decoding input into records of a declared type and
//! encoding records back, for `file`, `stdio`, `http` and `endpoint`.
//!
//! | format | one record is | positions (for checkpoints) |
//! |---|---|---|
//! | `jsonl` | one line, a JSON object (blank lines are skipped) | byte offset |
//! | `json` | one element of the top-level array, or the single object | record index |
//! | `csv` | one row (a quoted cell may span lines); the header names the fields | byte offset |
//! | `xml` | one element named by `record`, else each child of the root | record index |
//! | `text` | one line without its line ending: `{ line: string }` | byte offset |
//! | `bytes` | the whole input: `{ bytes: bytes }` | record index |
//!
//! Line-based formats (`jsonl`, `csv`, `text`) are split into records by a
//! [`LineSplitter`] (input that is not UTF-8, a record over
//! `max_record_size`, an unclosed csv quote: each one error, see
//! [`lines`]) and decoded one logical line at a time through a
//! [`StreamDecoder`], so a malformed line becomes one [`DecodeError`] and
//! the rest still reads. Document formats decode the whole input with
//! [`Codec::decode_all`]; `bytes` input over `max_record_size` is one error.

mod csv;
mod json;
mod jsonl;
pub mod lines;
mod record;
mod text;
mod xml;

pub use lines::{DEFAULT_MAX_RECORD_SIZE, Line, LineSplitter, Logical};
pub(crate) use record::{build_record, cell_text, fields_of, layout, parse_cell};
/// XML trees for connectors that speak XML (`soap`): parse a document,
/// read an element as a typed value.
pub use xml::{Element as XmlElement, element_value as xml_value, parse_tree as parse_xml};

use crate::support::{args, decode_error};
use aqueduct_graph::Type;
use aqueduct_runtime::connector::{ConnectorError, DecodeError, OpContext};
use aqueduct_runtime::value::{Layout, Schemas, Value};
use std::sync::Arc;

/// A record format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// A JSON array of objects (or one object).
    Json,
    /// Comma-separated values.
    Csv,
    /// XML elements.
    Xml,
    /// Lines of text: `{ line: string }`.
    Text,
    /// The whole input: `{ bytes: bytes }`.
    Bytes,
}

impl Format {
    /// The format named `name` (`jsonl`, `json`, `csv`, `xml`, `text`, `bytes`; `ndjson` is jsonl).
    pub fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "jsonl" | "ndjson" => Format::Jsonl,
            "json" => Format::Json,
            "csv" => Format::Csv,
            "xml" => Format::Xml,
            "text" | "txt" => Format::Text,
            "bytes" => Format::Bytes,
            _ => return None,
        })
    }

    /// The format a path's extension implies (`.txt` is text); jsonl otherwise.
    pub fn from_path(path: &str) -> Format {
        let ext = std::path::Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("");
        Format::parse(&ext.to_ascii_lowercase()).unwrap_or(Format::Jsonl)
    }

    /// The name written in flows.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Xml => "xml",
            Format::Text => "text",
            Format::Bytes => "bytes",
        }
    }

    /// True when records are lines (streamable, positions are byte offsets).
    pub fn is_line_based(self) -> bool {
        matches!(self, Format::Jsonl | Format::Csv | Format::Text)
    }
}

/// How records of one type are read and written in one format.
#[derive(Debug, Clone)]
pub struct Codec {
    /// The format.
    pub format: Format,
    /// csv: the first row names the fields.
    pub header: bool,
    /// csv: the field separator.
    pub delimiter: u8,
    /// xml: the element holding one record.
    pub record: Option<String>,
    /// Largest record (line-based formats, `bytes`): larger ones are errors.
    pub max_record_size: usize,
    /// The record type.
    pub ty: Type,
    /// Record layouts.
    pub schemas: Arc<Schemas>,
}

impl Codec {
    /// A codec with default options (csv header on, `,`; xml children of the root).
    pub fn new(format: Format, ty: Type, schemas: Arc<Schemas>) -> Codec {
        Codec {
            format,
            header: true,
            delimiter: b',',
            record: None,
            max_record_size: DEFAULT_MAX_RECORD_SIZE,
            ty,
            schemas,
        }
    }

    /// The codec an operation's `format`, `header`, `delimiter` and `record`
    /// arguments describe; without `format`, the path's extension decides
    /// (`default` when there is no path).
    pub fn from_args(
        cx: &OpContext,
        path: Option<&str>,
        default: Format,
    ) -> Result<Codec, ConnectorError> {
        let format = match args::arg_str(cx, "format")? {
            Some(name) => Format::parse(&name).ok_or_else(|| {
                ConnectorError::Config(format!("`{}`: unknown format `{name}`", args::label(cx)))
            })?,
            None => path.map(Format::from_path).unwrap_or(default),
        };
        let mut codec = Codec::new(format, cx.record_type.clone(), cx.schemas.clone());
        if let Some(header) = args::arg_bool(cx, "header")? {
            codec.header = header;
        }
        if let Some(delimiter) = args::arg_str(cx, "delimiter")? {
            match delimiter.as_bytes() {
                [b] => codec.delimiter = *b,
                _ => {
                    return Err(ConnectorError::Config(format!(
                        "`{}`: the csv delimiter must be one ASCII character",
                        args::label(cx)
                    )));
                }
            }
        }
        codec.record = args::arg_str(cx, "record")?;
        if let Some(max) = args::arg_size(cx, "max_record_size")? {
            codec.max_record_size = usize::try_from(max).unwrap_or(usize::MAX);
        }
        Ok(codec)
    }

    /// A decoder for a line-based input, fed one logical line at a time.
    pub fn stream(&self) -> StreamDecoder {
        StreamDecoder {
            codec: self.clone(),
            headers: None,
        }
    }

    /// A splitter for line-based input starting at byte `offset` on line `line`.
    pub fn splitter(&self, offset: u64, line: u64) -> LineSplitter {
        LineSplitter::new(self.format, self.max_record_size, offset, line)
    }

    /// Decodes a whole input: every record, or why it failed.
    pub fn decode_all(&self, input: &[u8]) -> Vec<Result<Value, DecodeError>> {
        match self.format {
            Format::Json => json::decode_document(self, input),
            Format::Xml => xml::decode_document(self, input),
            Format::Bytes if input.len() > self.max_record_size => vec![Err(decode_error(
                "",
                format!(
                    "the input is {} bytes, more than max_record_size ({} bytes)",
                    input.len(),
                    self.max_record_size
                ),
            ))],
            Format::Bytes => vec![text::decode_bytes(self, input)],
            Format::Jsonl | Format::Csv | Format::Text => {
                let mut decoder = self.stream();
                let mut splitter = self.splitter(0, 1);
                let mut logical = Vec::new();
                splitter.feed(input, &mut logical);
                splitter.finish(&mut logical);
                logical
                    .into_iter()
                    .filter_map(|l| decoder.logical(l.text))
                    .collect()
            }
        }
    }

    /// Encodes records as one whole document (prefix, records, suffix).
    pub fn encode_all(&self, records: &[Value]) -> Result<Vec<u8>, ConnectorError> {
        let mut encoder = self.encoder();
        let mut out = encoder.prefix();
        for record in records {
            encoder.record(record, &mut out)?;
        }
        out.extend(encoder.suffix());
        Ok(out)
    }

    /// A stateful encoder (separators, the csv header).
    pub fn encoder(&self) -> Encoder {
        Encoder {
            codec: self.clone(),
            written: 0,
        }
    }

    /// The record layout, when the type is a named record type.
    pub(crate) fn layout(&self) -> Option<Arc<Layout>> {
        layout(&self.ty, &self.schemas)
    }
}

/// Decodes line-based input one logical line at a time.
#[derive(Debug, Clone)]
pub struct StreamDecoder {
    codec: Codec,
    headers: Option<Vec<String>>,
}

impl StreamDecoder {
    /// Decodes one logical line (without its line ending). `None` when the
    /// line holds no record: a blank jsonl line, or the csv header row.
    pub fn line(&mut self, line: &str) -> Option<Result<Value, DecodeError>> {
        match self.codec.format {
            Format::Jsonl => jsonl::decode_line(&self.codec, line),
            Format::Text => Some(text::decode_line(&self.codec, line)),
            Format::Csv => {
                if line.trim().is_empty() {
                    return None;
                }
                if self.codec.header && self.headers.is_none() {
                    match csv::split_row(&self.codec, line) {
                        Ok(cells) => self.headers = Some(cells),
                        Err(reason) => return Some(Err(decode_error(line, reason))),
                    }
                    return None;
                }
                Some(csv::decode_row(&self.codec, self.headers.as_deref(), line))
            }
            Format::Json | Format::Xml | Format::Bytes => {
                let mut all = self.codec.decode_all(line.as_bytes());
                if all.is_empty() {
                    None
                } else {
                    Some(all.remove(0))
                }
            }
        }
    }

    /// Decodes what a [`LineSplitter`] gave: a logical line, or its error.
    pub fn logical(
        &mut self,
        text: Result<String, DecodeError>,
    ) -> Option<Result<Value, DecodeError>> {
        match text {
            Ok(line) => self.line(&line),
            Err(e) => Some(Err(e)),
        }
    }

    /// Sets the csv header row (when resuming in the middle of a file).
    pub fn set_header_line(&mut self, line: &str) -> Result<(), String> {
        self.headers = Some(csv::split_row(&self.codec, line)?);
        Ok(())
    }

    /// The csv header row's cells, once read (`None` without a header row).
    pub fn headers(&self) -> Option<&[String]> {
        self.headers.as_deref()
    }

    /// True once the csv header row was read (always true for other formats).
    pub fn has_header(&self) -> bool {
        self.codec.format != Format::Csv || !self.codec.header || self.headers.is_some()
    }
}

/// Encodes records one at a time.
#[derive(Debug, Clone)]
pub struct Encoder {
    codec: Codec,
    written: usize,
}

impl Encoder {
    /// What starts a new file or stream: `[` for json, the XML declaration and
    /// root element, the csv header row (when `header` is on).
    pub fn prefix(&self) -> Vec<u8> {
        match self.codec.format {
            Format::Json => b"[".to_vec(),
            Format::Xml => xml::prefix(),
            Format::Csv if self.codec.header => csv::header(&self.codec),
            _ => Vec::new(),
        }
    }

    /// Appends one record (with its separator) to `out`.
    pub fn record(&mut self, value: &Value, out: &mut Vec<u8>) -> Result<(), ConnectorError> {
        match self.codec.format {
            Format::Jsonl => jsonl::encode(value, out),
            Format::Json => json::encode(value, self.written > 0, out),
            Format::Csv => csv::encode(&self.codec, value, out)?,
            Format::Xml => xml::encode(&self.codec, value, out)?,
            Format::Text => text::encode_line(value, out)?,
            Format::Bytes => text::encode_bytes(value, out)?,
        }
        self.written += 1;
        Ok(())
    }

    /// What ends a file: `]` for json, the closing root element for xml.
    pub fn suffix(&self) -> Vec<u8> {
        match self.codec.format {
            Format::Json => b"\n]\n".to_vec(),
            Format::Xml => xml::suffix(),
            _ => Vec::new(),
        }
    }

    /// Tells the encoder records were already written (continuing a file).
    pub fn continue_after(&mut self, records: usize) {
        self.written = records;
    }
}
