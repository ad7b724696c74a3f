//! The `aqueduct run` contenders of the database load benchmarks, named as
//! they are printed: an operation (`insert`, `upsert`, `upsert again` over
//! the rows the upsert loaded), optionally with `, chunk N` for a batch
//! flow with a larger chunk than the default 1,000 records.

/// The operation and the `chunk` clause of the flow's `mode` line (empty
/// for the default) of contender `what`.
pub(crate) fn parse(what: &str) -> (&str, String) {
    let (op, chunk) = match what.split_once(", chunk ") {
        Some((op, n)) => (op, format!(" chunk {n}")),
        None => (what, String::new()),
    };
    (op.trim_end_matches(" again"), chunk)
}

/// How contender `what` of `kind` (`postgres`, `mysql`) is printed.
pub(crate) fn label(kind: &str, what: &str) -> String {
    let (op, chunk) = parse(what);
    let chunk = chunk.trim();
    let mut label = format!("`aqueduct run`, `{kind}.{op}`");
    if what.contains(" again") {
        label.push_str(", every key exists");
    }
    if !chunk.is_empty() {
        label.push_str(&format!(", `{chunk}`"));
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contenders_name_their_operation_and_chunk() {
        assert_eq!(parse("insert"), ("insert", String::new()));
        assert_eq!(parse("upsert again"), ("upsert", String::new()));
        assert_eq!(
            parse("upsert, chunk 10000"),
            ("upsert", " chunk 10000".to_string())
        );
        assert_eq!(
            label("postgres", "upsert again"),
            "`aqueduct run`, `postgres.upsert`, every key exists"
        );
        assert_eq!(
            label("mysql", "insert, chunk 10000"),
            "`aqueduct run`, `mysql.insert`, `chunk 10000`"
        );
    }
}
