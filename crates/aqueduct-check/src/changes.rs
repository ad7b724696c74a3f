//! Change records: a `changes` source (PostgreSQL logical replication, the
//! MySQL binary log) fills two reserved fields when the declared record type
//! has them, `_op` (`"insert"`, `"update"` or `"delete"`) and `_commit_time`
//! (when the source transaction committed). Their types are fixed, so a type
//! that declares them otherwise is refused here (AQ0411) rather than failing
//! on every record at run time.

use crate::typeck::TypeEnv;
use aqueduct_graph::Type;

/// The reserved fields of a change record and the type each must have
/// (optional or not).
pub(crate) const METADATA: &[(&str, Type)] =
    &[("_op", Type::String), ("_commit_time", Type::Timestamp)];

/// The reserved fields `ty` declares with another type: (field, declared,
/// expected).
pub(crate) fn wrong_metadata(env: &TypeEnv, ty: &Type) -> Vec<(String, Type, &'static Type)> {
    let Type::Record(name) = ty.required() else {
        return Vec::new();
    };
    let Some(record) = env.records.get(name) else {
        return Vec::new();
    };
    METADATA
        .iter()
        .filter_map(|(field, expected)| {
            let declared = record.fields.iter().find(|f| f.name == *field)?;
            (declared.ty.required() != expected)
                .then(|| (field.to_string(), declared.ty.clone(), expected))
        })
        .collect()
}
