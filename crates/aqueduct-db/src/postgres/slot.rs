//! The publication and replication slot of a `postgres.changes` source,
//! made ready at start-up.
//!
//! Names are deterministic, so a restart finds what the last run left:
//! the publication defaults to `aqueduct_<table>` and the slot to
//! `aqueduct_<flow>`, each lower-cased with every character other than
//! `a-z`, `0-9` and `_` replaced by `_` (slot names allow nothing else) and
//! cut to 63 bytes. Both are created when the source starts, if missing,
//! and never dropped by aqueduct: the slot holds the flow's position. At start-up the server
//! must have `wal_level = logical`, the table must exist, the record type
//! must match its columns (every required field has a column, and every
//! column a field reads can be read into the field's type), and a record
//! type that declares `_op` (so it receives deletes) must make optional
//! every field a delete cannot fill: a delete carries only the replica
//! identity (the primary key, unless the table has `REPLICA IDENTITY
//! FULL`). All of it runs at build time, before the slot exists.

use super::catalog::resolve;
use super::pool::{Config, connect};
use super::sql::quote_ident;
use super::types::natural_kind;
use super::{pg_error, startup};
use crate::values::{ReadColumn, read_problems};
use aqueduct_runtime::connector::ConnectorError;
use aqueduct_runtime::value::Layout;
use std::sync::Arc;
use tokio_postgres::types::Type as PgType;

/// `aqueduct_` and `name`, made a valid slot or publication name.
pub fn default_name(name: &str) -> String {
    let last = name.rsplit('.').next().unwrap_or(name);
    let mut out: String = format!("aqueduct_{last}")
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    out.truncate(63);
    out
}

/// What the start-up check needs.
pub struct Setup {
    pub system: String,
    pub config: Config,
    pub table: String,
    /// The record layout, when the type is a declared record.
    pub layout: Option<Arc<Layout>>,
    /// The record type declares `_op`: deletes are delivered.
    pub deletes: bool,
}

/// Checks the server and the table (start-up, and `check --connect`); the
/// columns of the table's row key: its primary key, or the index of
/// `REPLICA IDENTITY USING INDEX` when it has none (empty when neither).
pub fn prepare(setup: Setup) -> Result<Vec<String>, ConnectorError> {
    startup(move || Box::pin(async move { prepare_async(setup).await }))
}

async fn prepare_async(s: Setup) -> Result<Vec<String>, ConnectorError> {
    let system = &s.system;
    let cfg = |e: tokio_postgres::Error| ConnectorError::Config(pg_error(system, &e).to_string());
    let client = connect(system, &s.config)
        .await
        .map_err(|e| ConnectorError::Config(e.to_string()))?;
    let wal_level: String = client
        .query_one("SHOW wal_level", &[])
        .await
        .map_err(cfg)?
        .get(0);
    if wal_level != "logical" {
        return Err(ConnectorError::Config(format!(
            "postgres `{system}`: `changes` needs wal_level = logical, the server has `{wal_level}`; set it in postgresql.conf and restart the server"
        )));
    }
    let quoted = quote_ident(&s.table);
    let identity: Option<String> = client
        .query_one(
            "SELECT c.relreplident::text FROM pg_class c WHERE c.oid = to_regclass($1)",
            &[&quoted],
        )
        .await
        .ok()
        .map(|row| row.get(0));
    let Some(identity) = identity else {
        return Err(ConnectorError::Config(format!(
            "postgres `{system}`: table `{}` does not exist",
            s.table
        )));
    };
    check_columns(&client, &s, &quoted).await?;
    if s.deletes && identity != "f" {
        check_delete_fields(&client, &s, &quoted).await?;
    }
    // the primary key's columns, else those of the identity index
    let keys = client
        .query(
            "SELECT i.indexrelid::oid, a.attname::text FROM pg_index i
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
             WHERE i.indrelid = to_regclass($1) AND (i.indisprimary OR i.indisreplident)
             ORDER BY i.indisprimary DESC, i.indexrelid, a.attnum",
            &[&quoted],
        )
        .await
        .map_err(cfg)?;
    let index: Option<u32> = keys.first().map(|row| row.get(0));
    Ok(keys
        .iter()
        .filter(|row| Some(row.get::<_, u32>(0)) == index)
        .map(|row| row.get(1))
        .collect())
}

/// Creates the publication and the slot when missing. Called when the
/// source starts, not at build time, so `check --connect` (which builds
/// every operation) never leaves a slot behind that nobody reads.
pub async fn create(
    client: &tokio_postgres::Client,
    system: &str,
    table: &str,
    publication: &str,
    slot: &str,
) -> Result<(), ConnectorError> {
    let cfg = |e: tokio_postgres::Error| pg_error(system, &e);
    let quoted = quote_ident(table);
    let has_publication = !client
        .query(
            "SELECT 1 FROM pg_publication WHERE pubname = $1",
            &[&publication],
        )
        .await
        .map_err(cfg)?
        .is_empty();
    if !has_publication {
        let sql = format!(
            "CREATE PUBLICATION {} FOR TABLE {quoted}",
            quote_ident(publication)
        );
        if let Err(e) = client.batch_execute(&sql).await
            && e.as_db_error().map(|d| d.code().code()) != Some("42710")
        {
            return Err(cfg(e));
        }
        tracing::info!(publication = %publication, table = %table, "Created the publication.");
    }
    let has_slot = !client
        .query(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .map_err(cfg)?
        .is_empty();
    if !has_slot {
        let created = client
            .query(
                "SELECT pg_create_logical_replication_slot($1, 'pgoutput')",
                &[&slot],
            )
            .await;
        if let Err(e) = created
            && e.as_db_error().map(|d| d.code().code()) != Some("42710")
        {
            return Err(cfg(e));
        }
        tracing::info!(slot = %slot, "Created the replication slot; changes are read from now on.");
    }
    Ok(())
}

/// The record type against the table's columns, as the decoder reads
/// them ([`crate::values::read_problems`]): each column by the type OID
/// pgoutput sends (`atttypid`), a type that is not built in resolved as
/// the decoder resolves it (a domain as its base type, an enum as text),
/// and a generated column, which logical replication does not send, as a
/// column nothing is read from.
async fn check_columns(
    client: &tokio_postgres::Client,
    s: &Setup,
    quoted: &str,
) -> Result<(), ConnectorError> {
    let Some(layout) = &s.layout else {
        return Ok(());
    };
    let rows = client
        .query(
            "SELECT a.attname::text, a.atttypid, format_type(a.atttypid, a.atttypmod), a.attgenerated <> ''
             FROM pg_attribute a
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
            &[&quoted],
        )
        .await
        .map_err(|e| ConnectorError::Config(pg_error(&s.system, &e).to_string()))?;
    let oids: Vec<u32> = rows.iter().map(|r| r.get(1)).collect();
    let resolved = resolve(client, &oids)
        .await
        .map_err(|e| ConnectorError::Config(pg_error(&s.system, &e).to_string()))?;
    let found = read_problems(&s.table, &layout.name, &layout.fields, |name| {
        let row = rows.iter().find(|r| r.get::<_, String>(0) == name)?;
        let sql_type: String = row.get(2);
        let generated: bool = row.get(3);
        Some(if generated {
            ReadColumn {
                sql_type: format!("{sql_type} GENERATED (logical replication does not send it)"),
                kind: None,
            }
        } else {
            let oid: u32 = row.get(1);
            match (PgType::from_oid(oid), resolved.get(&oid)) {
                (Some(ty), _) => ReadColumn {
                    sql_type,
                    kind: natural_kind(&ty),
                },
                (None, Some(r)) => ReadColumn {
                    sql_type: match &r.base_sql {
                        Some(base) => format!("{sql_type} (a domain over {base})"),
                        None => sql_type,
                    },
                    kind: natural_kind(&r.ty),
                },
                (None, None) => ReadColumn {
                    sql_type,
                    kind: None,
                },
            }
        })
    });
    if found.is_empty() {
        return Ok(());
    }
    Err(ConnectorError::Config(format!(
        "postgres `{}`: {}",
        s.system,
        found.join("; ")
    )))
}

/// A delete fills only the replica identity's columns: every other field
/// of the record type must be optional.
async fn check_delete_fields(
    client: &tokio_postgres::Client,
    s: &Setup,
    quoted: &str,
) -> Result<(), ConnectorError> {
    let Some(layout) = &s.layout else {
        return Ok(());
    };
    let keys: Vec<String> = client
        .query(
            "SELECT a.attname::text FROM pg_index i
             JOIN pg_class c ON c.oid = i.indrelid
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
             WHERE i.indrelid = to_regclass($1)
               AND CASE c.relreplident WHEN 'd' THEN i.indisprimary WHEN 'i' THEN i.indisreplident ELSE false END",
            &[&quoted],
        )
        .await
        .map_err(|e| ConnectorError::Config(pg_error(&s.system, &e).to_string()))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let required: Vec<String> = layout
        .fields
        .iter()
        .filter(|f| !f.ty.is_optional() && !f.name.starts_with('_') && !keys.contains(&f.name))
        .map(|f| format!("`{}: {}`", f.name, f.ty))
        .collect();
    if required.is_empty() {
        return Ok(());
    }
    let key = if keys.is_empty() {
        "no key".to_string()
    } else {
        format!("only ({})", keys.join(", "))
    };
    Err(ConnectorError::Config(format!(
        "postgres `{}`: a delete from `{}` carries {key}, so fields {} of `{}` cannot be filled; make them optional (`?`) or set REPLICA IDENTITY FULL on the table",
        s.system,
        s.table,
        required.join(", "),
        layout.name
    )))
}

/// True when `ty`'s record layout declares `_op`.
pub fn wants_deletes(layout: Option<&Arc<Layout>>) -> bool {
    layout.is_some_and(|l| l.fields.iter().any(|f| f.name == "_op"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_valid_slot_names() {
        assert_eq!(default_name("public.Customers"), "aqueduct_customers");
        assert_eq!(default_name("sync-erp"), "aqueduct_sync_erp");
        assert_eq!(default_name(&"x".repeat(80)).len(), 63);
    }
}
