//! The connector kinds this `aqueduct` binary can run: the embedded ones,
//! plus each connector crate compiled in through a cargo feature of this
//! crate (all on by default). One line per connector crate, so adding a kind
//! never touches the commands that use the registry.

use aqueduct_runtime::connector::Registry;

/// Every connector kind compiled into this binary.
pub fn full_registry() -> Registry {
    #[allow(unused_mut)] // mutated only when a connector feature is on
    let mut registry = aqueduct_connectors::embedded_registry();
    // Connector crates register here, each behind its cargo feature:
    #[cfg(feature = "salesforce")]
    aqueduct_salesforce::register(&mut registry);
    #[cfg(any(feature = "brokers", feature = "kafka"))]
    aqueduct_brokers::register(&mut registry);
    #[cfg(feature = "db")]
    aqueduct_db::register(&mut registry);
    #[cfg(feature = "web")]
    aqueduct_web::register(&mut registry);
    registry
}
