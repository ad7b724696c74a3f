//! Column types the client knows only by OID, looked up in `pg_type`.
//!
//! Logical replication (and the preflight of `changes`, which reads the
//! table's `atttypid`) names each column's type by OID alone, unlike a
//! prepared statement, whose types tokio-postgres resolves itself. A
//! built-in OID is known without asking; any other (a domain, an enum,
//! `citext`) is asked for once and kept by the caller, since a type's OID
//! never changes what it is. A domain comes back as tokio-postgres
//! describes one, `Kind::Domain(base)`, with the base found through
//! domains over domains, so [`super::types::base`] reads it as its base.

use std::collections::HashMap;
use tokio_postgres::Client;
use tokio_postgres::types::{Kind, Type as PgType};

/// One type OID as the catalog describes it.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The type (`Kind::Domain(base)` for a domain).
    pub ty: PgType,
    /// For a domain, its base type as the server spells it
    /// (`numeric(30,10)`); for messages.
    pub base_sql: Option<String>,
}

/// The types of `oids` that are not built in (those are
/// `PgType::from_oid`), by OID; an OID the catalog does not have is left
/// out.
pub async fn resolve(
    client: &Client,
    oids: &[u32],
) -> Result<HashMap<u32, Resolved>, tokio_postgres::Error> {
    let unknown: Vec<u32> = oids
        .iter()
        .copied()
        .filter(|oid| PgType::from_oid(*oid).is_none())
        .collect();
    let mut out = HashMap::new();
    if unknown.is_empty() {
        return Ok(out);
    }
    // each OID with the end of its chain of domains (depth 0: not a
    // domain); the base's typmod is the innermost domain's
    let rows = client
        .query(
            "WITH RECURSIVE chain(start, oid, typmod, depth) AS (
                 SELECT t.oid, t.oid, -1, 0 FROM pg_type t WHERE t.oid = ANY($1)
               UNION ALL
                 SELECT c.start, t.typbasetype, t.typtypmod, c.depth + 1
                 FROM chain c JOIN pg_type t ON t.oid = c.oid
                 WHERE t.typtype = 'd' AND c.depth < 64
             )
             SELECT DISTINCT ON (c.start)
               c.start, s.typname::text, sn.nspname::text, c.depth,
               t.oid, t.typname::text, t.typtype::text, n.nspname::text,
               format_type(t.oid, nullif(c.typmod, -1))
             FROM chain c
             JOIN pg_type t ON t.oid = c.oid
             JOIN pg_namespace n ON n.oid = t.typnamespace
             JOIN pg_type s ON s.oid = c.start
             JOIN pg_namespace sn ON sn.oid = s.typnamespace
             ORDER BY c.start, c.depth DESC",
            &[&unknown],
        )
        .await?;
    for row in rows {
        let start: u32 = row.try_get(0)?;
        let depth: i32 = row.try_get(3)?;
        let base_oid: u32 = row.try_get(4)?;
        let base = PgType::from_oid(base_oid).unwrap_or_else(|| {
            let kind = match row.try_get::<_, String>(6).as_deref() {
                // only `is_text` looks at an enum, never at its labels
                Ok("e") => Kind::Enum(Vec::new()),
                _ => Kind::Simple,
            };
            PgType::new(
                row.try_get(5).unwrap_or_default(),
                base_oid,
                kind,
                row.try_get(7).unwrap_or_default(),
            )
        });
        let resolved = if depth == 0 {
            Resolved {
                ty: base,
                base_sql: None,
            }
        } else {
            Resolved {
                ty: PgType::new(row.try_get(1)?, start, Kind::Domain(base), row.try_get(2)?),
                base_sql: Some(row.try_get(8)?),
            }
        };
        out.insert(start, resolved);
    }
    Ok(out)
}
