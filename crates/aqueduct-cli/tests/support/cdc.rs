//! The change-data-capture load the `run_*_cdc` tests write beside a
//! running flow: a deterministic mix of inserts, updates and deletes from a
//! seed (printed by the test, so a failing run can be repeated).

/// A small deterministic generator (the seed is printed, so a failing
/// run can be repeated).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// About 10k statements in transactions of 1 to 10 (each opened with
/// `begin`, the server's spelling): inserts of new ids, updates and deletes
/// of random ids (some of which no longer exist), on a table
/// `(id, name, qty)`.
pub fn workload(table: &str, seed: u64, begin: &str) -> String {
    let mut rng = Lcg(seed);
    let mut sql = String::new();
    let mut next_id = 1u64;
    let mut statements = 0;
    while statements < 10_000 {
        sql.push_str(begin);
        sql.push_str(";\n");
        for _ in 0..=rng.next(10) {
            statements += 1;
            match rng.next(10) {
                0..=4 => {
                    sql.push_str(&format!(
                        "INSERT INTO {table} VALUES ({next_id}, 'n{next_id}', {});\n",
                        rng.next(1000)
                    ));
                    next_id += 1;
                }
                5..=7 => sql.push_str(&format!(
                    "UPDATE {table} SET qty = qty + 1, name = 'u{statements}' WHERE id = {};\n",
                    1 + rng.next(next_id)
                )),
                _ => sql.push_str(&format!(
                    "DELETE FROM {table} WHERE id = {};\n",
                    1 + rng.next(next_id)
                )),
            }
        }
        sql.push_str("COMMIT;\n");
    }
    sql
}
