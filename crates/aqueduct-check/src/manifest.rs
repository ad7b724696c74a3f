//! `aqueduct.yaml`: the project manifest.
//!
//! [`parse_manifest`] reads the YAML text into a [`RawManifest`] (serde, with
//! unknown keys refused), then validates it into a [`Manifest`]. Every problem
//! is a diagnostic pointing into the manifest text:
//!
//! - `AQ0901` the text is not YAML, or a value has the wrong shape;
//! - `AQ0902` an unknown key, with a "did you mean" and the allowed keys;
//! - `AQ0903` a value that parses but cannot be used (a state URL with an
//!   unknown scheme, an image template with an unknown placeholder).
//!
//! serde_yaml reports a 1-based line and column; they are turned into a byte
//! offset here, and for an unknown key the span is widened to the key itself.
//!
//! ```
//! use aqueduct_check::manifest::{parse_manifest, StateStore};
//! use aqueduct_diagnostics::FileId;
//! let (manifest, diags) = parse_manifest(FileId(0), "name: shop\nstate: sqlite://.aqueduct/state.db\n");
//! assert!(diags.is_empty());
//! let manifest = manifest.expect("valid");
//! assert_eq!(manifest.state, Some(StateStore::Sqlite { path: ".aqueduct/state.db".into() }));
//! ```

use aqueduct_diagnostics::{Diagnostic, FileId, Span, codes, did_you_mean};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The validated project manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Project name.
    pub name: Option<String>,
    /// Environment profiles: profile name → variable → value.
    pub environments: BTreeMap<String, BTreeMap<String, String>>,
    /// Where checkpoints, positions and dedupe windows are kept.
    pub state: Option<StateStore>,
    /// Settings for `aqueduct build`.
    pub build: Option<BuildSettings>,
}

/// The state store named by `state:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateStore {
    /// `sqlite://PATH`: an embedded database file, relative to the project root.
    Sqlite {
        /// The file path.
        path: String,
    },
    /// `postgres://…` or `postgresql://…`: the URL as written.
    Postgres {
        /// The connection URL.
        url: String,
    },
}

/// The `build:` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSettings {
    /// Image name template; `{flow}` is replaced by the flow name.
    pub image: Option<String>,
    /// Version of the runtime crate generated services depend on.
    pub runtime_version: Option<String>,
}

/// The manifest as written, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    /// Project name.
    pub name: Option<String>,
    /// Environment profiles; scalar values are read as text.
    #[serde(default)]
    pub environments: BTreeMap<String, EnvVars>,
    /// State store URL.
    pub state: Option<String>,
    /// Build settings.
    pub build: Option<BuildSettings>,
}

/// The variables of one environment profile.
#[derive(Debug, Default)]
pub struct EnvVars(pub BTreeMap<String, String>);

/// Top-level keys, for help lines.
const TOP_KEYS: &[&str] = &["name", "environments", "state", "build"];

/// Parses and validates the text of `aqueduct.yaml`. Returns the manifest
/// when no error was found, and every finding.
pub fn parse_manifest(file: FileId, text: &str) -> (Option<Manifest>, Vec<Diagnostic>) {
    if text.trim().is_empty() {
        return (Some(Manifest::default()), Vec::new());
    }
    let raw: RawManifest = match serde_yaml::from_str(text) {
        Ok(raw) => raw,
        Err(err) => return (None, yaml_errors(file, text, &err)),
    };
    let mut diags = Vec::new();
    let state = raw.state.as_deref().and_then(|url| match parse_state(url) {
        Ok(store) => Some(store),
        Err(why) => {
            diags.push(
                Diagnostic::error(
                    codes::AQ0903,
                    format!("`state` is not a usable state store URL: {why}"),
                )
                .with_primary(file, value_span(text, "state", url), "this URL")
                .with_help(
                    "use `sqlite://PATH` (a file in the project) or `postgres://USER@HOST/DB`",
                ),
            );
            None
        }
    });
    if let Some(image) = raw.build.as_ref().and_then(|b| b.image.as_deref())
        && let Some(bad) = unknown_placeholder(image)
    {
        diags.push(
            Diagnostic::error(
                codes::AQ0903,
                format!("`build.image` uses the unknown placeholder `{{{bad}}}`"),
            )
            .with_primary(file, value_span(text, "image", image), "in this template")
            .with_help("the only placeholder is `{flow}`, replaced by each flow's name"),
        );
    }
    if !diags.is_empty() {
        return (None, diags);
    }
    let manifest = Manifest {
        name: raw.name,
        environments: raw
            .environments
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect(),
        state,
        build: raw.build,
    };
    (Some(manifest), diags)
}

/// Reads a `state:` URL.
fn parse_state(url: &str) -> Result<StateStore, String> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err("the sqlite URL names no file".to_string());
        }
        return Ok(StateStore::Sqlite {
            path: path.to_string(),
        });
    }
    if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        if rest.is_empty() {
            return Err("the postgres URL names no host".to_string());
        }
        return Ok(StateStore::Postgres {
            url: url.to_string(),
        });
    }
    match url.split_once("://") {
        Some((scheme, _)) => Err(format!("the scheme `{scheme}` is not supported")),
        None => Err("it has no scheme".to_string()),
    }
}

/// The first `{…}` placeholder other than `{flow}`.
fn unknown_placeholder(template: &str) -> Option<&str> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        let name = &after[..close];
        if name != "flow" {
            return Some(name);
        }
        rest = &after[close + 1..];
    }
    None
}

/// Every finding behind a serde_yaml error: when it is an unknown key, the
/// other unknown keys are reported too (serde stops at the first), so one
/// run lists them all.
fn yaml_errors(file: FileId, text: &str, err: &serde_yaml::Error) -> Vec<Diagnostic> {
    let first = yaml_error(file, text, err);
    let Some((mut key, _)) = unknown_field(&strip_location(&err.to_string())) else {
        return vec![first];
    };
    let mut reported = vec![first.primary().map(|l| l.span)];
    let mut diags = vec![first];
    let Ok(mut value) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return diags;
    };
    // Each round removes the key just reported and looks for the next one;
    // the bound only guards against a key that cannot be removed.
    for _ in 0..64 {
        if !remove_key(&mut value, &key) {
            break;
        }
        let Err(next) = serde_yaml::from_value::<RawManifest>(value.clone()) else {
            break;
        };
        let Some((next_key, allowed)) = unknown_field(&strip_location(&next.to_string())) else {
            break;
        };
        let span = find_key(text, &next_key, &reported).unwrap_or(Span::new(0, 0));
        reported.push(Some(span));
        diags.push(unknown_key(file, &next_key, &allowed, span));
        key = next_key;
    }
    diags.sort_by_key(|d| d.primary().map(|l| l.span.start));
    diags
}

/// Removes `key` from the top level or the `build:` section.
fn remove_key(value: &mut serde_yaml::Value, key: &str) -> bool {
    let Some(top) = value.as_mapping_mut() else {
        return false;
    };
    if top.remove(key).is_some() {
        return true;
    }
    top.get_mut("build")
        .and_then(serde_yaml::Value::as_mapping_mut)
        .is_some_and(|build| build.remove(key).is_some())
}

/// The span of the first `key:` written at the start of a line that was not
/// reported yet.
fn find_key(text: &str, key: &str, reported: &[Option<Span>]) -> Option<Span> {
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
        {
            let start = offset + (line.len() - trimmed.len());
            let span = Span::new(to_u32(start), to_u32(start + key.len()));
            if !reported.contains(&Some(span)) {
                return Some(span);
            }
        }
        offset += line.len();
    }
    None
}

/// AQ0902 for `key`, with the keys allowed where it is written.
fn unknown_key(file: FileId, key: &str, allowed: &[String], span: Span) -> Diagnostic {
    let allowed: Vec<&str> = if allowed.is_empty() {
        TOP_KEYS.to_vec()
    } else {
        allowed.iter().map(String::as_str).collect()
    };
    let diag = Diagnostic::error(
        codes::AQ0902,
        format!("unknown key `{key}` in aqueduct.yaml"),
    )
    .with_primary(file, span, "aqueduct does not know this key");
    let list = allowed
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match did_you_mean(key, allowed.iter().copied()) {
        Some(best) => diag.with_help(format!(
            "did you mean `{best}`? the keys allowed here are {list}"
        )),
        None => diag.with_help(format!("the keys allowed here are {list}")),
    }
}

/// Turns a serde_yaml error into AQ0901 or, for an unknown key, AQ0902.
fn yaml_error(file: FileId, text: &str, err: &serde_yaml::Error) -> Diagnostic {
    let offset = err
        .location()
        .map_or(0, |loc| offset_of(text, loc.line(), loc.column()));
    let message = strip_location(&err.to_string());
    if let Some((key, allowed)) = unknown_field(&message) {
        let span = key_span(text, offset, &key).unwrap_or(Span::new(offset, offset));
        return unknown_key(file, &key, &allowed, span);
    }
    let end = next_char_end(text, offset);
    Diagnostic::error(
        codes::AQ0901,
        format!("aqueduct.yaml is not a valid manifest: {message}"),
    )
    .with_primary(file, Span::new(offset, end), "here")
    .with_help("see `docs/cli.md` for the manifest keys: name, environments, state, build")
}

/// The error text without serde_yaml's trailing ` at line L column C`.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(" column ") => message[..i].to_string(),
        _ => message.to_string(),
    }
}

/// Parses "unknown field `x`, expected one of `a`, `b`" (or "expected `a`").
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let start = message.find("unknown field `")? + "unknown field `".len();
    let rest = &message[start..];
    let end = rest.find('`')?;
    let key = rest[..end].to_string();
    let allowed = rest[end + 1..]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((key, allowed))
}

/// Byte offset of a 1-based line and column (column counted in characters).
fn offset_of(text: &str, line: usize, column: usize) -> u32 {
    let mut offset = 0usize;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let within = l
                .char_indices()
                .nth(column.saturating_sub(1))
                .map_or(l.len(), |(b, _)| b);
            return to_u32(offset + within);
        }
        offset += l.len();
    }
    to_u32(text.len())
}

/// The span of `key` on the line holding `offset` (the first match from the
/// error's column, else anywhere on the line).
fn key_span(text: &str, offset: u32, key: &str) -> Option<Span> {
    let offset = (offset as usize).min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[line_start..line_end];
    let from = offset - line_start;
    let at = line[from..]
        .find(key)
        .map(|i| i + from)
        .or_else(|| line.find(key))?;
    Some(Span::new(
        to_u32(line_start + at),
        to_u32(line_start + at + key.len()),
    ))
}

/// The span of `value` on the first line whose key is `key:`; the start of
/// the file when it cannot be found.
fn value_span(text: &str, key: &str, value: &str) -> Span {
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key).and_then(|r| r.strip_prefix(':'))
            && let Some(at) = rest.find(value)
        {
            let start = offset + (line.len() - trimmed.len()) + key.len() + 1 + at;
            return Span::new(to_u32(start), to_u32(start + value.len()));
        }
        offset += line.len();
    }
    Span::new(0, 0)
}

fn next_char_end(text: &str, offset: u32) -> u32 {
    let at = offset as usize;
    text.get(at..)
        .and_then(|s| s.chars().next())
        .map_or(offset, |c| to_u32(at + c.len_utf8()))
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl<'de> Deserialize<'de> for EnvVars {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map: Option<BTreeMap<String, Scalar>> = Option::deserialize(deserializer)?;
        Ok(EnvVars(
            map.unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect(),
        ))
    }
}

/// A YAML scalar read as text (`PORT: 8080` is the string `"8080"`).
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Option<Manifest>, Vec<Diagnostic>) {
        parse_manifest(FileId(0), text)
    }

    fn spanned(text: &str, d: &Diagnostic) -> String {
        let span = d.primary().expect("has a label").span;
        text[span.range()].to_string()
    }

    #[test]
    fn every_unknown_key_is_reported_in_one_pass() {
        let text = "name: demo\nenviroments:\n  dev:\n    X: 1\nbuild:\n  imag: x\nstat: y\n";
        let (manifest, diags) = parse(text);
        assert!(manifest.is_none());
        let found: Vec<(String, String)> = diags
            .iter()
            .map(|d| (d.code.as_str().to_string(), spanned(text, d)))
            .collect();
        assert_eq!(
            found,
            [
                ("AQ0902".to_string(), "enviroments".to_string()),
                ("AQ0902".to_string(), "imag".to_string()),
                ("AQ0902".to_string(), "stat".to_string()),
            ]
        );
        assert!(
            diags[1]
                .help
                .as_deref()
                .is_some_and(|h| h.contains("`image`"))
        );
    }

    #[test]
    fn reads_every_key() {
        let text = "name: shop\nenvironments:\n  dev:\n    URL: http://x\n    PORT: 8080\nstate: postgres://db/state\nbuild:\n  image: reg/{flow}\n  runtime_version: \"0.1\"\n";
        let (m, d) = parse(text);
        assert!(d.is_empty(), "{d:?}");
        let m = m.expect("valid");
        assert_eq!(m.name.as_deref(), Some("shop"));
        assert_eq!(m.environments["dev"]["PORT"], "8080");
        assert_eq!(
            m.state,
            Some(StateStore::Postgres {
                url: "postgres://db/state".into()
            })
        );
        assert_eq!(m.build.and_then(|b| b.image).as_deref(), Some("reg/{flow}"));
    }

    #[test]
    fn unknown_top_level_key_points_at_the_key() {
        let text = "name: shop\nnmae: typo\n";
        let (m, d) = parse(text);
        assert!(m.is_none());
        assert_eq!(d[0].code, codes::AQ0902);
        assert_eq!(spanned(text, &d[0]), "nmae");
        assert!(
            d[0].help
                .as_deref()
                .unwrap_or("")
                .contains("did you mean `name`"),
            "{:?}",
            d[0].help
        );
    }

    #[test]
    fn unknown_nested_key_lists_the_section_keys() {
        let text = "build:\n  imag: x/{flow}\n";
        let (_, d) = parse(text);
        assert_eq!(d[0].code, codes::AQ0902);
        assert_eq!(spanned(text, &d[0]), "imag");
        let help = d[0].help.as_deref().unwrap_or("");
        assert!(
            help.contains("`image`") && help.contains("`runtime_version`"),
            "{help}"
        );
    }

    #[test]
    fn bad_yaml_and_bad_values() {
        let (_, d) = parse("name: [unclosed\n");
        assert_eq!(d[0].code, codes::AQ0901);
        let text = "state: redis://x\n";
        let (_, d) = parse(text);
        assert_eq!(d[0].code, codes::AQ0903);
        assert_eq!(spanned(text, &d[0]), "redis://x");
        let (_, d) = parse("build:\n  image: x/{name}\n");
        assert_eq!(d[0].code, codes::AQ0903);
        let (m, d) = parse("");
        assert!(d.is_empty() && m.is_some());
    }
}
