//! The "Kinds at a glance" table of docs/connectors.md against the
//! catalogue and against each kind's own section: the table is the first
//! thing a reader sees, and it once said `salesforce` did not run while
//! its section (and the code) said it did.

use aqueduct_catalog::{Role, Support, catalog, connector};

const DOC: &str = include_str!("../../../docs/connectors.md");

/// One row: kind, sources, targets, calls, runs today.
struct Row {
    kind: String,
    columns: [Vec<String>; 3],
    runs: String,
}

/// The backquoted names of a cell (`—` has none).
fn names(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn table() -> Vec<Row> {
    let start = DOC
        .find("## Kinds at a glance")
        .expect("the table's heading");
    let body = &DOC[start..];
    body.lines()
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // the header and its rule
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 5, "a row of five cells: {line}");
            Row {
                kind: names(cells[0]).into_iter().next().expect("a kind"),
                columns: [names(cells[1]), names(cells[2]), names(cells[3])],
                runs: cells[4].to_string(),
            }
        })
        .collect()
}

/// The paragraph after `**Runs today:**` in the kind's own section.
fn section_runs_today(kind: &str) -> String {
    let heading = format!("\n## `{kind}`\n");
    let at = DOC.find(&heading).expect("the kind's section") + heading.len();
    let section = &DOC[at..];
    let end = section.find("\n## ").unwrap_or(section.len());
    let section = &section[..end];
    let runs = section
        .find("**Runs today:**")
        .unwrap_or_else(|| panic!("`{kind}`: no **Runs today:** line"));
    let paragraph = &section[runs..];
    let end = paragraph.find("\n\n").unwrap_or(paragraph.len());
    paragraph[..end].to_string()
}

#[test]
fn every_kind_has_a_row_listing_its_operations_by_role() {
    let rows = table();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    let catalogued: Vec<&str> = catalog().iter().map(|c| c.kind).collect();
    let mut a = kinds.clone();
    let mut b = catalogued.clone();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b, "the table's kinds are the catalogue's");
    for row in &rows {
        let spec = connector(&row.kind).expect("a catalogued kind");
        for (column, role) in [Role::Source, Role::Target, Role::Call].iter().enumerate() {
            let mut ops: Vec<&str> = spec
                .operations
                .iter()
                .filter(|o| o.role == *role)
                .map(|o| o.name)
                .collect();
            // the table may order them as it likes
            let mut listed: Vec<&str> = row.columns[column].iter().map(String::as_str).collect();
            ops.sort_unstable();
            listed.sort_unstable();
            assert_eq!(listed, ops, "`{}` {role:?}s", row.kind);
        }
    }
}

#[test]
fn the_runs_today_column_agrees_with_the_catalogue_and_the_section() {
    for row in table() {
        let kind = row.kind.as_str();
        let support = connector(kind).expect("a catalogued kind").support;
        let section = section_runs_today(kind);
        match support {
            Support::Embedded => assert_eq!(row.runs, "yes", "`{kind}`"),
            Support::Feature(feature) => {
                assert!(row.runs.starts_with("yes"), "`{kind}`: {}", row.runs);
                assert!(
                    row.runs.contains(&format!("feature `{feature}`")),
                    "`{kind}` names its cargo feature `{feature}`: {}",
                    row.runs
                );
            }
            Support::Planned => assert_eq!(row.runs, "not yet", "`{kind}`"),
        }
        let section_runs = section.starts_with("**Runs today:** yes");
        assert_eq!(
            row.runs.starts_with("yes"),
            section_runs,
            "`{kind}`: the table says {:?}, its section {section:?}",
            row.runs
        );
        // an exception in the table must not be listed as running there
        if let Some((_, except)) = row.runs.split_once("except") {
            for op in names(except) {
                assert!(
                    !section.contains(&format!("`{op}`")),
                    "`{kind}`: the table says `{op}` does not run, its section lists it: {section}"
                );
            }
        }
    }
}
