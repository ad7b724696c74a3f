//! The shape of a SOAP message, for the outbound-messaging conformance
//! fixture (`notifications.yaml` beside this file), shared by the
//! emulator's tests (its driver's notification) and the connector's (its
//! listener's Ack): elements by namespace and local name, so prefixes and
//! whitespace between elements do not matter, in documented order.
//!
//! Matching rules: the same elements in the same order, with the same
//! `xsi:type` (by namespace) and `xsi:nil`; a `Notification` of the
//! fixture stands for each of the 1 to 100 a message may carry; the text
//! of a leaf must match the fixture's `values` pattern for it, or else be
//! the fixture's text.

#![allow(dead_code)]

use quick_xml::events::Event;
use quick_xml::name::{QName, ResolveResult};
use regex::Regex;
use std::collections::BTreeMap;

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// One element: `{namespace}name`, its type and nil marks, text, children.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub xsi_type: Option<String>,
    pub nil: bool,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The local name (without the namespace).
    pub fn local(&self) -> &str {
        self.name.rsplit('}').next().unwrap_or(&self.name)
    }

    /// The first descendant (or self) with this local name.
    pub fn find(&self, local: &str) -> Option<&Element> {
        if self.local() == local {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(local))
    }
}

fn qualified(ns: Option<&str>, local: &str) -> String {
    match ns {
        Some(ns) => format!("{{{ns}}}{local}"),
        None => local.to_string(),
    }
}

/// The namespace a name resolved to (`None`: none).
fn namespace(ns: &ResolveResult<'_>) -> Option<String> {
    match ns {
        ResolveResult::Bound(n) => Some(n.0.to_string()),
        _ => None,
    }
}

/// The element a start (or empty) tag opens, its `xsi:` attributes read.
fn open(
    reader: &quick_xml::NsReader<&[u8]>,
    ns: Option<&str>,
    e: &quick_xml::events::BytesStart<'_>,
) -> Element {
    let mut el = Element {
        name: qualified(ns, e.local_name().as_ref()),
        ..Element::default()
    };
    for a in e.attributes().flatten() {
        let (ans, local) = reader.resolver().resolve_attribute(a.key);
        let in_xsi = matches!(ans, ResolveResult::Bound(n) if n.0 == XSI);
        let value = a.value.to_string();
        match (in_xsi, local.as_ref()) {
            (true, "nil") => el.nil = value == "true",
            (true, "type") => {
                let (tns, tlocal) = reader.resolver().resolve_element(QName(&value));
                el.xsi_type = Some(qualified(namespace(&tns).as_deref(), tlocal.as_ref()));
            }
            _ => {}
        }
    }
    el
}

/// Pops the innermost open element into its parent.
fn close(stack: &mut Vec<Element>) {
    if stack.len() > 1
        && let Some(done) = stack.pop()
        && let Some(parent) = stack.last_mut()
    {
        parent.children.push(done);
    }
}

/// The root element of `xml`.
pub fn parse(xml: &str) -> Result<Element, String> {
    let mut reader = quick_xml::NsReader::from_str(xml);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("malformed XML: {e}"))?;
        if let ResolveResult::Unknown(p) = &ns {
            return Err(format!("unbound prefix {p}"));
        }
        let ns = namespace(&ns);
        let ns = ns.as_deref();
        let top = stack.len() - 1;
        match event {
            Event::Start(e) => {
                let el = open(&reader, ns, &e);
                stack.push(el);
            }
            Event::Empty(e) => {
                let el = open(&reader, ns, &e);
                stack.push(el);
                close(&mut stack);
            }
            Event::End(_) => close(&mut stack),
            Event::Text(t) => stack[top].text.push_str(&t.xml10_content()),
            Event::CData(c) => stack[top].text.push_str(&c.xml10_content()),
            Event::GeneralRef(r) => {
                let c = match r.xml10_content().as_ref() {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    other => return Err(format!("unknown entity &{other};")),
                };
                stack[top].text.push(c);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    stack
        .swap_remove(0)
        .children
        .into_iter()
        .next()
        .ok_or_else(|| "no root element".to_string())
}

/// The pattern for a leaf's text (`parent/name`, then `name`).
fn pattern<'a>(
    values: &'a BTreeMap<String, String>,
    parent: &str,
    local: &str,
) -> Option<&'a String> {
    values
        .get(&format!("{parent}/{local}"))
        .or_else(|| values.get(local))
}

/// Whether `got` has the shape of the documented `want` (see the module
/// doc); the first difference, with where it is.
pub fn matches(
    got: &Element,
    want: &Element,
    values: &BTreeMap<String, String>,
) -> Result<(), String> {
    compare(got, want, values, "", "")
}

fn compare(
    got: &Element,
    want: &Element,
    values: &BTreeMap<String, String>,
    parent: &str,
    at: &str,
) -> Result<(), String> {
    let here = format!("{at}/{}", want.local());
    if got.name != want.name {
        return Err(format!(
            "{here}: element {} instead of {}",
            got.name, want.name
        ));
    }
    if got.xsi_type != want.xsi_type {
        return Err(format!(
            "{here}: xsi:type {:?} instead of {:?}",
            got.xsi_type, want.xsi_type
        ));
    }
    if got.nil != want.nil {
        return Err(format!(
            "{here}: xsi:nil {} instead of {}",
            got.nil, want.nil
        ));
    }
    if want.children.is_empty() {
        if !got.children.is_empty() {
            return Err(format!(
                "{here}: has child elements, the documentation none"
            ));
        }
        let text = got.text.trim();
        return match pattern(values, parent, want.local()) {
            Some(p) => {
                let re = Regex::new(p).map_err(|e| format!("{here}: pattern {p}: {e}"))?;
                if re.is_match(text) {
                    Ok(())
                } else {
                    Err(format!("{here}: {text:?} does not match {p}"))
                }
            }
            None if text == want.text.trim() => Ok(()),
            None => Err(format!(
                "{here}: {text:?} instead of {:?}",
                want.text.trim()
            )),
        };
    }
    // each documented child in order; a Notification stands for every one
    // of a run of 1 to 100
    let mut g = got.children.iter().peekable();
    for w in &want.children {
        let repeats = w.local() == "Notification";
        let mut seen = 0;
        while let Some(next) = g.peek() {
            if seen > 0 && !(repeats && next.name == w.name) {
                break;
            }
            compare(next, w, values, want.local(), &here)?;
            g.next();
            seen += 1;
            if !repeats {
                break;
            }
        }
        if seen == 0 {
            return Err(format!("{here}: no {} element", w.local()));
        }
        if seen > 100 {
            return Err(format!(
                "{here}: {seen} {} elements, at most 100",
                w.local()
            ));
        }
    }
    match g.next() {
        Some(extra) => Err(format!("{here}: {} is not documented here", extra.name)),
        None => Ok(()),
    }
}
