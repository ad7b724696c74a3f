//! The `aqueduct` binary runs exactly the kinds the catalogue promises: the
//! embedded ones and those behind a cargo feature of this crate that is on
//! (the default build has them all), so `aqueduct connectors` never lists a
//! kind `run` would refuse.

use aqueduct_catalog::{Support, catalog};

#[test]
fn the_binary_registers_every_kind_the_catalogue_says_runs() {
    let registry = aqueduct_cli::registry::full_registry();
    let mut registered: Vec<&str> = registry.kinds().collect();
    registered.sort_unstable();
    let mut runnable: Vec<&str> = catalog()
        .iter()
        .filter(|c| match c.support {
            Support::Embedded => true,
            Support::Feature("brokers") => cfg!(feature = "brokers"),
            Support::Feature("kafka") => cfg!(feature = "kafka"),
            Support::Feature("db") => cfg!(feature = "db"),
            Support::Feature("salesforce") => cfg!(feature = "salesforce"),
            Support::Feature("web") => cfg!(feature = "web"),
            Support::Feature(_) | Support::Planned => false,
        })
        .map(|c| c.kind)
        .collect();
    runnable.sort_unstable();
    assert_eq!(registered, runnable);
}

/// `aqueduct build` links, for each kind a flow uses, the crate that
/// `aqueduct run` gets it from: the embedded kinds come with
/// `aqueduct-connectors`, every other runnable kind from the crate
/// codegen's table names, and that crate registers it.
#[test]
fn generated_services_link_the_crate_that_runs_each_kind() {
    use aqueduct_codegen::connectors::crate_for;
    use aqueduct_runtime::connector::Registry;
    for spec in catalog() {
        let linked = crate_for(spec.kind);
        match spec.support {
            Support::Embedded => assert_eq!(linked, None, "{} is embedded", spec.kind),
            Support::Planned => {}
            Support::Feature(_) => {
                let (krate, _) = linked.unwrap_or_else(|| {
                    panic!("codegen links no crate for `{}`; add it to aqueduct-codegen/src/connectors.rs", spec.kind)
                });
                let mut registry = Registry::default();
                match krate {
                    #[cfg(feature = "db")]
                    "aqueduct-db" => aqueduct_db::register(&mut registry),
                    #[cfg(feature = "brokers")]
                    "aqueduct-brokers" => aqueduct_brokers::register(&mut registry),
                    #[cfg(feature = "salesforce")]
                    "aqueduct-salesforce" => aqueduct_salesforce::register(&mut registry),
                    #[cfg(feature = "web")]
                    "aqueduct-web" => aqueduct_web::register(&mut registry),
                    _ => continue,
                }
                assert!(
                    registry.kinds().any(|k| k == spec.kind),
                    "{krate} does not register `{}`",
                    spec.kind
                );
            }
        }
    }
}
