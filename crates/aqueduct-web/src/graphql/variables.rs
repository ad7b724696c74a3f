//! The variables a GraphQL document uses: every `$name` outside strings and
//! comments, in order of first appearance (the lexical rules of the
//! GraphQL specification, §2.1: `#` comments to the end of the line,
//! `"…"` strings with `\` escapes, `"""…"""` block strings).

/// The names of the document's variables, each once.
pub(crate) fn names(document: &str) -> Vec<String> {
    let bytes = document.as_bytes();
    let mut names: Vec<String> = Vec::new();
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
            _ => i += 1,
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::names;

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
