//! `examples/products-to-mariadb` run as a user runs it: the example
//! directory copied unchanged, `SHOP_DATABASE_URL` pointed at a PostgreSQL
//! database of the test's own and `REPLICA_DATABASE_URL` at a MariaDB
//! database of its own, both holding the README's tables. Inserts, updates
//! and deletes made with `psql` reach the replica, whose rows then equal
//! the shop's column by column (decimal, bool, timestamp with microseconds,
//! NULLs); then, while a separate `psql` writes a few hundred more
//! transactions, aqueduct is killed with `kill -9` and restarted, and the
//! replica again equals the shop.
//!
//! Needs `AQUEDUCT_TEST_POSTGRES_URL` (`wal_level = logical`),
//! `AQUEDUCT_TEST_MYSQL_URL` and the `psql` and `mysql` clients; without
//! the URLs the test prints `SKIP: …` and passes, unless
//! `AQUEDUCT_REQUIRE_SERVICES=1`. `.ci/examples` runs it.

mod support;

use aqueduct_test_support::{service_url, unique_name};
use std::path::Path;
use std::time::Duration;
use support::postgres::{Database, psql, wait_for_slot};
use support::{Project, wait_converged, wait_until};

/// The slot the example's flow creates (`aqueduct_` + the flow's name):
/// slots are per server, not per database, so the test drops it.
const SLOT: &str = "aqueduct_replicate_products";

/// The shop's table, as the README creates it.
const SHOP_TABLE: &str = "CREATE TABLE products (
  id         bigint PRIMARY KEY,
  sku        text NOT NULL,
  name       text NOT NULL,
  price      numeric(10,2) NOT NULL,
  in_stock   boolean NOT NULL,
  updated_at timestamptz NOT NULL
)";

/// The replica's table, as the README creates it.
const REPLICA_TABLE: &str = "CREATE TABLE products (
  id         BIGINT PRIMARY KEY,
  sku        VARCHAR(32) NOT NULL,
  name       VARCHAR(200) NOT NULL,
  price      DECIMAL(10,2) NOT NULL,
  in_stock   BOOLEAN NOT NULL,
  updated_at DATETIME(6) NOT NULL
)";

/// A project holding a copy of every file of the example.
fn copy_of_example() -> Project {
    fn copy(from: &Path, to: &Path, p: &Project) {
        for entry in std::fs::read_dir(from).expect("example dir").flatten() {
            let path = entry.path();
            let rel = to.join(entry.file_name());
            if path.is_dir() {
                copy(&path, &rel, p);
            } else {
                p.file(
                    &rel.to_string_lossy(),
                    std::fs::read(&path).expect("example file"),
                );
            }
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/products-to-mariadb");
    let p = Project::new();
    copy(&dir, Path::new(""), &p);
    p
}

/// Drops the example's slot (ending the session holding it, if any).
fn drop_slot(url: &str) {
    let _ = std::process::Command::new("psql")
        .arg(url)
        .args(["-qAtX", "-c"])
        .arg(format!(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '{SLOT}' AND active_pid IS NOT NULL;
             SELECT pg_sleep(0.2);
             SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{SLOT}'"
        ))
        .output();
}

/// The shop database and the slot in it; the slot is dropped first, as a
/// database holding a slot cannot be dropped.
struct Shop {
    db: Database,
}

impl Drop for Shop {
    fn drop(&mut self) {
        drop_slot(&self.db.url);
    }
}

/// A MariaDB database of the test's own, dropped at the end.
struct Replica {
    admin: String,
    name: String,
    url: String,
}

impl Replica {
    fn create(url: &str) -> Replica {
        let name = unique_name("aq_replica").replace('-', "_");
        mysql(url, &format!("CREATE DATABASE {name}"));
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (url, String::new()),
        };
        let server = base.rsplit_once('/').map_or(base, |(s, _)| s);
        Replica {
            admin: url.to_string(),
            url: format!("{server}/{name}{query}"),
            name,
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = mysql_try(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {}", self.name),
        );
    }
}

/// Runs `sql` with the `mysql` client; rows tab-separated, one per line.
fn mysql_try(url: &str, sql: &str) -> Result<String, String> {
    // mysql://user[:password]@host:port/db
    let rest = url.trim_start_matches("mysql://");
    let rest = rest.split('?').next().unwrap_or(rest);
    let (auth, rest) = rest.rsplit_once('@').unwrap_or(("root", rest));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, "test"));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    let mut cmd = std::process::Command::new("mysql");
    cmd.args([
        "-N", "-B", "-h", host, "-P", port, "-u", user, db, "-e", sql,
    ]);
    if !password.is_empty() {
        cmd.env("MYSQL_PWD", password);
    }
    let out = cmd.output().map_err(|e| format!("cannot run mysql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    } else {
        Err(format!(
            "mysql failed on {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn mysql(url: &str, sql: &str) -> String {
    mysql_try(url, sql).unwrap_or_else(|e| panic!("{e}"))
}

/// The shop's rows, one line each, every column in one canonical text.
fn shop_rows(url: &str) -> Vec<String> {
    psql(
        url,
        "SELECT concat_ws('|', id, sku, name, price::text, in_stock::int::text,
                to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'))
         FROM products ORDER BY id",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// The replica's rows in the same text as [`shop_rows`].
fn replica_rows(url: &str) -> Vec<String> {
    mysql(
        url,
        "SELECT concat_ws('|', id, sku, name, price, in_stock,
                DATE_FORMAT(updated_at, '%Y-%m-%d %H:%i:%s.%f'))
         FROM products ORDER BY id",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// Rows of either side the other does not have, counted.
fn differences(shop: &str, replica: &str) -> usize {
    let (a, b) = (shop_rows(shop), replica_rows(replica));
    a.iter().filter(|r| !b.contains(r)).count() + b.iter().filter(|r| !a.contains(r)).count()
}

/// A few hundred transactions: inserts of new products, price and stock
/// updates, and deletes of earlier ones.
fn workload() -> String {
    let mut sql = String::new();
    for k in 0..300u64 {
        let id = 1000 + k;
        sql.push_str(&format!(
            "BEGIN;\nINSERT INTO products VALUES ({id}, 'SKU-{id}', 'Product {id}', {}.{:02}, {}, '2026-03-01T08:00:00.{:06}Z');\n",
            k % 90 + 1,
            k % 100,
            k % 2 == 0,
            k * 7
        ));
        if k % 3 == 2 {
            sql.push_str(&format!(
                "UPDATE products SET price = price + 0.25, in_stock = NOT in_stock, name = 'Renamed {k}', updated_at = updated_at + interval '1 day' WHERE id = {};\n",
                id - 1
            ));
        }
        if k % 5 == 4 {
            sql.push_str(&format!("DELETE FROM products WHERE id = {};\n", id - 3));
        }
        sql.push_str("COMMIT;\n");
    }
    sql
}

#[test]
fn the_replica_follows_inserts_updates_and_deletes_and_a_kill_9_loses_nothing() {
    const TEST: &str = "the_replica_follows_inserts_updates_and_deletes_and_a_kill_9_loses_nothing";
    let Some(pg) = service_url("AQUEDUCT_TEST_POSTGRES_URL", TEST) else {
        return;
    };
    let Some(my) = service_url("AQUEDUCT_TEST_MYSQL_URL", TEST) else {
        return;
    };
    // a slot left by an earlier, interrupted run of this test
    drop_slot(&pg);
    let shop = Shop {
        db: Database::create(&pg, "aq_shop"),
    };
    let shop_url = shop.db.url.clone();
    psql(&shop_url, SHOP_TABLE);
    let replica = Replica::create(&my);
    mysql(&replica.url, REPLICA_TABLE);
    let p = copy_of_example();
    let env = [
        ("SHOP_DATABASE_URL", shop_url.as_str()),
        ("REPLICA_DATABASE_URL", replica.url.as_str()),
    ];
    let mut running = p.spawn_with_env(&[], &env);
    wait_for_slot(&shop_url, SLOT, Duration::from_secs(30), &running);

    // the README's statements
    psql(
        &shop_url,
        "INSERT INTO products VALUES
           (1, 'MUG-1', 'Mug', 12.50, true, '2026-03-01T08:15:00.123456Z'),
           (2, 'TEE-2', 'T-shirt', 19.90, true, '2026-03-01T08:16:00Z'),
           (3, 'CAP-3', 'Cap', 9.00, false, '2026-03-01T08:17:00Z');
         UPDATE products SET name = 'Blue mug', price = 13.00, in_stock = false,
                updated_at = '2026-03-02T09:00:00Z' WHERE id = 1;
         DELETE FROM products WHERE id = 3;",
    );
    let expected = [
        "1|MUG-1|Blue mug|13.00|0|2026-03-02 09:00:00.000000",
        "2|TEE-2|T-shirt|19.90|1|2026-03-01 08:16:00.000000",
    ];
    assert!(
        wait_until(Duration::from_secs(30), || replica_rows(&replica.url)
            == expected),
        "the replica holds {:?}\n{}",
        replica_rows(&replica.url),
        running.stderr()
    );
    assert_eq!(shop_rows(&shop_url), expected);

    // a separate client writes while aqueduct is killed and restarted
    p.file("workload.sql", workload());
    let writer = std::process::Command::new("psql")
        .arg(&shop_url)
        .args(["-qAtX", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(p.path("workload.sql"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("runs psql");
    assert!(
        wait_until(Duration::from_secs(30), || replica_rows(&replica.url).len()
            > 20),
        "the workload's changes arrive\n{}",
        running.stderr()
    );
    running.signal("KILL");
    let status = running.wait_exit(Duration::from_secs(10)).expect("killed");
    assert!(status.code().is_none(), "killed by a signal: {status:?}");
    let mut running = p.spawn_with_env(&[], &env);
    let out = writer.wait_with_output().expect("the writer ends");
    assert!(out.status.success(), "the workload ran");
    assert!(
        wait_converged(Duration::from_secs(30), Duration::from_secs(180), || {
            differences(&shop_url, &replica.url)
        }) == 0,
        "the replica equals the shop: {} differences\n{}",
        differences(&shop_url, &replica.url),
        running.stderr()
    );
    assert_eq!(replica_rows(&replica.url), shop_rows(&shop_url));
    assert!(shop_rows(&shop_url).len() > 200, "the workload left rows");
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!p.path("dlq/products.jsonl").exists(), "no dead letters");
}
