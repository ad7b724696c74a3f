//! The bookkeeping of loading a chunk row-isolated: which ranges of rows are
//! still to load, and which single rows the server refused. Both
//! connectors drive it the same way, each with its own savepoint SQL: a
//! range that loads is kept, a range with a refused row is rolled back to
//! its savepoint and split in halves, down to single rows. A chunk of `n`
//! rows with `k` bad ones takes about `2k·log2(n)` loads.

use std::ops::Range;

/// Ranges still to load and the rows refused so far, each with its error.
pub(crate) struct Bisection<E> {
    // the next range last
    todo: Vec<Range<usize>>,
    refused: Vec<(usize, E)>,
}

impl<E> Bisection<E> {
    /// All of `0..len` to load, nothing refused yet.
    pub(crate) fn new(len: usize) -> Self {
        let mut todo = Vec::new();
        if len > 0 {
            todo.push(0..len);
        }
        Bisection {
            todo,
            refused: Vec::new(),
        }
    }

    /// The next range to load, in row order; `None` when every row is
    /// either loaded or refused.
    pub(crate) fn next_range(&mut self) -> Option<Range<usize>> {
        self.todo.pop()
    }

    /// `range` held a row the server refused with `error` (and was rolled
    /// back): a single row is refused, a longer range is loaded again in
    /// halves.
    pub(crate) fn refused(&mut self, range: Range<usize>, error: impl FnOnce() -> E) {
        if range.len() == 1 {
            self.refused.push((range.start, error()));
        } else {
            let mid = range.start + range.len() / 2;
            self.todo.push(mid..range.end);
            self.todo.push(range.start..mid);
        }
    }

    /// The refused rows by position, in row order.
    pub(crate) fn into_refused(self) -> Vec<(usize, E)> {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use super::Bisection;

    /// Loads `len` rows of which `bad` are refused, as the connectors do.
    fn run(len: usize, bad: &[usize]) -> (Vec<usize>, usize) {
        let mut b = Bisection::new(len);
        let mut loads = 0;
        while let Some(range) = b.next_range() {
            loads += 1;
            if let Some(row) = bad.iter().find(|r| range.contains(r)) {
                let row = *row;
                b.refused(range, || row);
            }
        }
        (
            b.into_refused().into_iter().map(|(at, _)| at).collect(),
            loads,
        )
    }

    #[test]
    fn a_clean_chunk_loads_in_one_go() {
        assert_eq!(run(1000, &[]), (vec![], 1));
    }

    #[test]
    fn every_bad_row_is_found_in_order_and_no_good_row_is_refused() {
        let (refused, loads) = run(1000, &[0, 17, 18, 999]);
        assert_eq!(refused, vec![0, 17, 18, 999]);
        // about 2k·log2(n): 4 bad rows in 1000 stay far below a row-by-row load
        assert!(loads <= 2 * 4 * 10 + 1, "{loads} loads");
    }

    #[test]
    fn an_empty_chunk_loads_nothing() {
        assert_eq!(run(0, &[]), (vec![], 0));
    }

    #[test]
    fn a_chunk_of_only_bad_rows_refuses_each() {
        let (refused, _) = run(5, &[0, 1, 2, 3, 4]);
        assert_eq!(refused, vec![0, 1, 2, 3, 4]);
    }
}
