//! The variables a GraphQL document uses (every `$name` outside strings and
//! comments, in order of first appearance) and the names of the operations
//! it defines, by the lexical rules of the GraphQL specification, §2.1:
//! `#` comments to the end of the line, `"…"` strings with `\` escapes,
//! `"""…"""` block strings.

/// The names of the document's variables, each once.
pub(crate) fn names(document: &str) -> Vec<String> {
    scan(document).0
}

/// The names of the operations the document defines (`query Name …`,
/// `mutation Name …`, `subscription Name …`); anonymous ones have none.
pub(crate) fn operations(document: &str) -> Vec<String> {
    let top = scan(document).1;
    top.windows(2)
        .filter(|w| matches!(w[0].as_str(), "query" | "mutation" | "subscription"))
        .filter(|w| w[1].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
        .map(|w| w[1].clone())
        .collect()
}

/// The variables, and the tokens outside every `{…}` and `(…)` (names,
/// and `{` `(` themselves, so an anonymous `query {` names nothing).
fn scan(document: &str) -> (Vec<String>, Vec<String>) {
    let bytes = document.as_bytes();
    let mut names: Vec<String> = Vec::new();
    let mut top: Vec<String> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'#' => {
                while bytes.get(i).is_some_and(|&c| c != b'\n' && c != b'\r') {
                    i += 1;
                }
            }
            b'"' if bytes.get(i..i + 3) == Some(b"\"\"\"") => {
                i += 3;
                // a block string ends at the next `"""` not escaped as `\"""`
                while i < bytes.len() && bytes.get(i..i + 3) != Some(b"\"\"\"") {
                    i += if bytes.get(i..i + 4) == Some(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
            }
            b'"' => {
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    i += 1;
                    match c {
                        b'\\' => i += 1,
                        b'"' | b'\n' => break,
                        _ => {}
                    }
                }
            }
            b'$' => {
                let start = i + 1;
                i = start;
                while bytes
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    i += 1;
                }
                if let Some(name) = document.get(start..i)
                    && !name.is_empty()
                    && !names.iter().any(|n| n == name)
                {
                    names.push(name.to_string());
                }
            }
            b'{' | b'(' => {
                if depth == 0 {
                    top.push((b as char).to_string());
                }
                depth += 1;
                i += 1;
            }
            b'}' | b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while bytes
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    i += 1;
                }
                if depth == 0
                    && let Some(word) = document.get(start..i)
                {
                    top.push(word.to_string());
                }
            }
            _ => i += 1,
        }
    }
    (names, top)
}

#[cfg(test)]
mod tests {
    use super::{names, operations};

    #[test]
    fn finds_the_named_operations() {
        let doc = r#"
            # query Commented
            query ById($id: ID!) { order(id: $id) { id } }
            query { order(id: "query Fake") { id } }
            mutation Tag($id: ID!) { tagOrder(id: $id, tag: "x") { id } }
            fragment F on Order { id }"#;
        assert_eq!(operations(doc), vec!["ById", "Tag"]);
        assert!(operations("query($id: ID!) { a }").is_empty());
    }

    #[test]
    fn finds_variables_outside_strings_and_comments() {
        let doc = r#"
            # $commented is not one
            mutation Tag($id: ID!, $tag: String! = "$x") {
              tagOrder(id: $id, tag: $tag, note: """a $block "string" \""" $y""") { id }
              again: tagOrder(id: $id, tag: "\"$z") { id }
            }"#;
        assert_eq!(names(doc), vec!["id", "tag"]);
        assert!(names("{ a }").is_empty());
    }
}
