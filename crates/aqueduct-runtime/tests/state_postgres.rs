//! The PostgreSQL state store against the real server: removing the keys of
//! a prefix whose values sort below a bound (dedupe expiry) compares bytes,
//! whatever the database collation, and touches no other key.

use aqueduct_runtime::connector::StateStore;
use aqueduct_runtime::state::PostgresStore;
use aqueduct_test_support::{service_url, unique_name};

#[tokio::test]
async fn remove_prefix_below_expires_only_old_keys_of_the_prefix() {
    let Some(url) = service_url(
        "AQUEDUCT_TEST_POSTGRES_URL",
        "remove_prefix_below_expires_only_old_keys_of_the_prefix",
    ) else {
        return;
    };
    let store = PostgresStore::connect(&url).await.expect("connect");
    let prefix = format!("{}/", unique_name("dedupe_test"));
    let other = format!("{}/", unique_name("other_test"));
    for (i, at) in ["000000000001000", "000000000002000", "000000000003000"]
        .iter()
        .enumerate()
    {
        store.put(&format!("{prefix}k{i}"), at).await.expect("put");
        store.put(&format!("{other}k{i}"), at).await.expect("put");
    }
    // a key whose tail would sort differently under a linguistic collation
    store
        .put(&format!("{prefix}a_B"), "000000000000500")
        .await
        .expect("put");
    let removed = store
        .remove_prefix_below(&prefix, "000000000002500")
        .await
        .expect("remove");
    assert_eq!(removed, 3);
    assert_eq!(store.get(&format!("{prefix}k0")).await.expect("get"), None);
    assert_eq!(store.get(&format!("{prefix}a_B")).await.expect("get"), None);
    assert!(
        store
            .get(&format!("{prefix}k2"))
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        store
            .get(&format!("{other}k0"))
            .await
            .expect("get")
            .is_some()
    );
    // clean up what this test wrote
    store
        .remove_prefix_below(&prefix, "999999999999999")
        .await
        .expect("clean");
    store
        .remove_prefix_below(&other, "999999999999999")
        .await
        .expect("clean");
}
