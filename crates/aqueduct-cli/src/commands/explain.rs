//! `aqueduct explain CODE`: print the page of a diagnostic code.
//! `aqueduct explain --list`: every code with its title.

use crate::exit::{CmdResult, Exit, Failure};
use crate::output::Output;
use aqueduct_diagnostics::codes::{self, REGISTRY};
use aqueduct_diagnostics::did_you_mean;

/// Arguments of `explain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The code, e.g. AQ0201 (case does not matter; `201` works too).
    #[arg(required_unless_present = "list")]
    pub code: Option<String>,
    /// List every code with its title.
    #[arg(long, conflicts_with = "code")]
    pub list: bool,
}

/// Prints a code's page, or the list of codes.
pub fn run(args: &Args, out: &Output) -> CmdResult {
    if args.list {
        let list: String = REGISTRY
            .iter()
            .map(|i| format!("{}  {}\n", i.code, i.title))
            .collect();
        out.print(&list)?;
        return Ok(Exit::Ok);
    }
    let text = args.code.as_deref().unwrap_or_default();
    let code = normalize(text);
    let Some(info) = codes::lookup(&code) else {
        let mut message = format!("`{text}` is not an aqueduct diagnostic code");
        if let Some(best) = did_you_mean(&code, REGISTRY.iter().map(|i| i.code.as_str())) {
            message.push_str(&format!("\n  help: did you mean `{best}`?"));
        }
        message.push_str("\n  help: `aqueduct explain --list` shows every code");
        return Err(Failure::Usage(message));
    };
    let mut page = info.page.to_string();
    if !page.ends_with('\n') {
        page.push('\n');
    }
    out.print(&page)?;
    Ok(Exit::Ok)
}

/// `201`, `0201`, `aq0201` → `AQ0201`.
fn normalize(text: &str) -> String {
    let text = text.trim();
    if !text.is_empty() && text.len() <= 4 && text.bytes().all(|b| b.is_ascii_digit()) {
        return format!("AQ{text:0>4}");
    }
    text.to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalizes_short_forms() {
        assert_eq!(normalize("201"), "AQ0201");
        assert_eq!(normalize("aq0904"), "AQ0904");
        assert_eq!(normalize("AQ12345"), "AQ12345");
    }
}
