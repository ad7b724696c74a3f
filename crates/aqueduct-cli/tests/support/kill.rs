//! When a crash test kills its run: a fixed number of rows in, or a moment
//! drawn from a printed seed, so a failing run can be repeated.

use aqueduct_test_support::Rng;
use std::time::Duration;

/// When to kill: once at least `after` rows are in the target and a
/// position is stored, plus `pause`.
pub struct Kill {
    pub after: i64,
    pub pause: Duration,
}

impl Kill {
    pub fn at(after: i64) -> Kill {
        Kill {
            after,
            pause: Duration::ZERO,
        }
    }

    /// A moment drawn from `seed` (printed, and taken from
    /// `AQUEDUCT_TEST_SEED` when set, so a failing run can be repeated):
    /// after 5% to 65% of `rows`, plus up to 300 ms, while chunks commit.
    pub fn random(rows: usize, test: &str) -> Kill {
        let seed = std::env::var("AQUEDUCT_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("{test}: seed {seed} (AQUEDUCT_TEST_SEED={seed} repeats it)");
        let mut rng = Rng::new(seed);
        let rows = rows as u64;
        Kill {
            after: (rows / 20 + rng.below(rows * 6 / 10)) as i64,
            pause: Duration::from_millis(rng.below(300)),
        }
    }
}
