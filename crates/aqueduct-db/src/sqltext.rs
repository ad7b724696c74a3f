//! Named parameters in SQL text: each `:name` outside quotes and comments
//! (never a `::` cast) is replaced by the placeholder a database wants,
//! so values are always bound, never pasted into the SQL.

/// Replaces each `:name` with `placeholder(name)`; returns the SQL and the
/// names in order of appearance (repeats included).
pub fn rewrite_named(
    sql: &str,
    mut placeholder: impl FnMut(&str) -> String,
) -> (String, Vec<String>) {
    let mut out = String::with_capacity(sql.len());
    let mut names: Vec<String> = Vec::new();
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' | '`' => {
                // copy the quoted text as it is ('' and "" escape themselves)
                out.push(c);
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    i += 1;
                    if chars[i - 1] == c {
                        break;
                    }
                }
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            ':' if chars.get(i + 1) == Some(&':') => {
                out.push_str("::");
                i += 2;
            }
            ':' if chars
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_')
                && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()) =>
            {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_')
                {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                out.push_str(&placeholder(&name));
                names.push(name);
                i = end;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    (out, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_replaced_outside_quotes_comments_and_casts() {
        let (sql, names) = rewrite_named(
            "select ':x', `:y`, a::text from t where id = :id and b = :b -- :c\n or id = :id",
            |_| "?".to_string(),
        );
        assert_eq!(
            sql,
            "select ':x', `:y`, a::text from t where id = ? and b = ? -- :c\n or id = ?"
        );
        assert_eq!(names, vec!["id", "b", "id"]);
    }
}
