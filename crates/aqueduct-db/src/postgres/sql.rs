//! SQL text helpers: quoting identifiers, and turning the named parameters
//! a flow writes (`:id`, `{watermark}`) into PostgreSQL's `$n`.

/// `"name"`, or `"schema"."name"`, quoted for SQL.
pub fn quote_ident(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

/// Replaces each `:name` outside quotes and comments (not `::` casts) with
/// `$n`, numbering names in order of first use after `first` existing
/// parameters; returns the SQL and the names by number.
pub fn named_params(sql: &str, first: usize) -> (String, Vec<String>) {
    let mut names: Vec<String> = Vec::new();
    let (out, _) = crate::sqltext::rewrite_named(sql, |name| {
        let n = match names.iter().position(|x| x == name) {
            Some(p) => p,
            None => {
                names.push(name.to_string());
                names.len() - 1
            }
        };
        format!("${}", first + n + 1)
    });
    (out, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_numbers_outside_quotes_and_casts() {
        let (sql, names) = named_params(
            "select ':x', a::text from t where id = :id and b = :b -- :c\n or id = :id",
            0,
        );
        assert_eq!(
            sql,
            "select ':x', a::text from t where id = $1 and b = $2 -- :c\n or id = $1"
        );
        assert_eq!(names, vec!["id".to_string(), "b".to_string()]);
        assert_eq!(named_params("x = :a", 2).0, "x = $3");
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("public.my\"t"), "\"public\".\"my\"\"t\"");
    }
}
