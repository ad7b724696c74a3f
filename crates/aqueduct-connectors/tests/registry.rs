//! The catalogue's support levels say what `run` can execute: every kind it
//! marks `Embedded` has a factory in the embedded registry, and nothing else
//! does, so `aqueduct connectors` never promises a connector that is missing.

use aqueduct_catalog::{Support, catalog};

#[test]
fn embedded_kinds_are_exactly_the_registered_ones() {
    let registry = aqueduct_connectors::embedded_registry();
    let mut registered: Vec<&str> = registry.kinds().collect();
    registered.sort_unstable();
    let mut embedded: Vec<&str> = catalog()
        .iter()
        .filter(|c| c.support == Support::Embedded)
        .map(|c| c.kind)
        .collect();
    embedded.sort_unstable();
    assert_eq!(registered, embedded);
}
