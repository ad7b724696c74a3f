//! A small layered layout for the SVG drawing (left to right).
//!
//! The steps, in the spirit of Sugiyama's method but kept small:
//!
//! 1. **Break cycles.** A depth-first search from every node in id order
//!    marks the edges that point back to a node still on the stack; those
//!    back edges are ignored for layering and ordering (and drawn as loops).
//! 2. **Layering.** Longest path: a node's layer is one more than the largest
//!    layer of its predecessors, computed in topological order. Layers are
//!    columns.
//! 3. **Bands.** Every node belongs to a group (a flow, or a channel on its
//!    own). Groups are stacked as horizontal bands, ordered by the first
//!    layer they occupy, so a flow's nodes never interleave with another's
//!    and its cluster box cannot overlap another's.
//! 4. **Ordering.** Inside a band, the nodes of one layer are ordered by the
//!    barycenter (mean row) of their neighbours, sweeping left to right over
//!    predecessors and right to left over successors, a few times. Ties keep
//!    the previous order, so the result is deterministic.
//! 5. **Coordinates.** Column width is the widest box of the layer; a layer
//!    with fewer rows than its band is centred in it. All coordinates are
//!    integers so the SVG text is stable.

/// Height of every box.
pub(crate) const NODE_H: i64 = 36;
/// Vertical distance between two rows of a band.
const ROW_H: i64 = 60;
/// Horizontal gap between two columns (room for edge labels).
const COL_GAP: i64 = 90;
/// Space around the drawing.
pub(crate) const MARGIN: i64 = 20;
/// Space above the first row of a band (the cluster title).
const BAND_TOP: i64 = 36;
/// Space below the last row of a band.
const BAND_BOTTOM: i64 = 14;
/// Gap between bands.
const BAND_GAP: i64 = 24;
/// Barycenter sweeps (each one left to right, then right to left).
const SWEEPS: usize = 4;

/// A placed box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rect {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
}

/// The result: one box per node, which edges are back edges, and the size.
#[derive(Debug)]
pub(crate) struct Layout {
    pub boxes: Vec<Rect>,
    pub back: Vec<bool>,
    pub width: i64,
    pub height: i64,
}

/// Lays out `widths.len()` nodes; `edges` are `(from, to)` indices (all in
/// range) with the width of their label; `groups[i]` is node `i`'s band.
pub(crate) fn layout(
    widths: &[i64],
    edges: &[(usize, usize)],
    label_widths: &[i64],
    groups: &[usize],
) -> Layout {
    let n = widths.len();
    let back = back_edges(n, edges);
    let forward: Vec<(usize, usize)> = edges
        .iter()
        .zip(&back)
        .filter(|(_, b)| !**b)
        .map(|(e, _)| *e)
        .collect();
    let layer = layers(n, &forward);
    let layer_count = layer.iter().max().map_or(0, |l| l + 1);

    // Bands, ordered by first layer, then group id.
    let mut band_ids: Vec<usize> = groups.to_vec();
    band_ids.sort_unstable();
    band_ids.dedup();
    let first_layer = |g: usize| {
        (0..n)
            .filter(|&i| groups[i] == g)
            .map(|i| layer[i])
            .min()
            .unwrap_or(0)
    };
    band_ids.sort_by_key(|&g| (first_layer(g), g));
    let band_of = |i: usize| band_ids.iter().position(|&g| g == groups[i]).unwrap_or(0);

    // cells[layer][band] = nodes, in id order at first.
    let mut cells = vec![vec![Vec::new(); band_ids.len()]; layer_count];
    for i in 0..n {
        cells[layer[i]][band_of(i)].push(i);
    }
    let band_rows: Vec<i64> = (0..band_ids.len())
        .map(|b| cells.iter().map(|l| l[b].len() as i64).max().unwrap_or(0))
        .collect();
    let band_row_start: Vec<i64> = prefix_sums(&band_rows);

    // Row of each node in half-rows, counted over the whole drawing.
    let mut half_row = vec![0i64; n];
    let place = |cells: &Vec<Vec<Vec<usize>>>, half_row: &mut Vec<i64>| {
        for layer_cells in cells {
            for (b, cell) in layer_cells.iter().enumerate() {
                let offset = 2 * band_row_start[b] + band_rows[b] - cell.len() as i64;
                for (k, &i) in cell.iter().enumerate() {
                    half_row[i] = offset + 2 * k as i64;
                }
            }
        }
    };
    place(&cells, &mut half_row);
    for _ in 0..SWEEPS {
        for l in 1..layer_count {
            reorder(&mut cells[l], &half_row, &forward, |(from, to)| (to, from));
            place(&cells, &mut half_row);
        }
        for l in (0..layer_count.saturating_sub(1)).rev() {
            reorder(&mut cells[l], &half_row, &forward, |(from, to)| (from, to));
            place(&cells, &mut half_row);
        }
    }

    // Coordinates.
    let col_w: Vec<i64> = (0..layer_count)
        .map(|l| {
            (0..n)
                .filter(|&i| layer[i] == l)
                .map(|i| widths[i])
                .max()
                .unwrap_or(0)
        })
        .collect();
    // The gap after a column fits the widest label of the edges leaving it.
    let mut gap = vec![COL_GAP; layer_count];
    for ((&(a, _), &w), &is_back) in edges.iter().zip(label_widths).zip(&back) {
        if !is_back {
            gap[layer[a]] = gap[layer[a]].max(w + 24);
        }
    }
    let mut col_x = Vec::with_capacity(layer_count);
    let mut x = MARGIN;
    for (w, g) in col_w.iter().zip(&gap) {
        col_x.push(x);
        x += w + g;
    }
    let band_px: Vec<i64> = band_rows
        .iter()
        .map(|r| BAND_TOP + r * ROW_H - (ROW_H - NODE_H) + BAND_BOTTOM)
        .collect();
    let mut band_top = Vec::with_capacity(band_px.len());
    let mut y = MARGIN;
    for h in &band_px {
        band_top.push(y);
        y += h + BAND_GAP;
    }
    let boxes: Vec<Rect> = (0..n)
        .map(|i| {
            let b = band_of(i);
            let within = half_row[i] - 2 * band_row_start[b];
            let w = widths[i];
            let x = col_x[layer[i]] + (col_w[layer[i]] - w) / 2;
            Rect {
                x,
                y: band_top[b] + BAND_TOP + within * ROW_H / 2,
                w,
                h: NODE_H,
            }
        })
        .collect();
    let width = boxes.iter().map(|r| r.x + r.w).max().unwrap_or(0) + MARGIN;
    let height = (y - BAND_GAP + MARGIN).max(2 * MARGIN);
    Layout {
        boxes,
        back,
        width,
        height,
    }
}

/// Sorts each band's nodes of one layer by the mean half-row of their
/// neighbours; `pick` turns an edge into (node, neighbour).
fn reorder(
    cells: &mut [Vec<usize>],
    half_row: &[i64],
    edges: &[(usize, usize)],
    pick: impl Fn((usize, usize)) -> (usize, usize),
) {
    for cell in cells.iter_mut() {
        let key = |i: usize| {
            let rows: Vec<i64> = edges
                .iter()
                .map(|&e| pick(e))
                .filter(|&(node, _)| node == i)
                .map(|(_, nb)| half_row[nb])
                .collect();
            if rows.is_empty() {
                half_row[i] as f64
            } else {
                rows.iter().sum::<i64>() as f64 / rows.len() as f64
            }
        };
        let mut keyed: Vec<(f64, i64, usize)> =
            cell.iter().map(|&i| (key(i), half_row[i], i)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        *cell = keyed.into_iter().map(|(_, _, i)| i).collect();
    }
}

/// Marks the edges a depth-first search finds pointing back into its stack.
fn back_edges(n: usize, edges: &[(usize, usize)]) -> Vec<bool> {
    let mut out: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (e, &(a, b)) in edges.iter().enumerate() {
        out[a].push((b, e));
    }
    // 0 = not visited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; n];
    let mut back = vec![false; edges.len()];
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some(top) = stack.last_mut() {
            let (node, next) = *top;
            if let Some(&(child, e)) = out[node].get(next) {
                top.1 += 1;
                match state[child] {
                    0 => {
                        state[child] = 1;
                        stack.push((child, 0));
                    }
                    1 => back[e] = true,
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
    back
}

/// Longest-path layers of a DAG (Kahn's algorithm in id order).
fn layers(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut indegree = vec![0usize; n];
    for &(_, b) in edges {
        indegree[b] += 1;
    }
    let mut layer = vec![0usize; n];
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&i| indegree[i] == 0).collect();
    while let Some(node) = ready.pop_first() {
        for &(a, b) in edges.iter().filter(|(a, _)| *a == node) {
            layer[b] = layer[b].max(layer[a] + 1);
            indegree[b] -= 1;
            if indegree[b] == 0 {
                ready.insert(b);
            }
        }
    }
    layer
}

fn prefix_sums(values: &[i64]) -> Vec<i64> {
    let mut sum = 0;
    values
        .iter()
        .map(|v| {
            let start = sum;
            sum += v;
            start
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_broken_and_layers_follow_edges() {
        let edges = [(0, 1), (1, 2), (2, 0), (1, 3)];
        let back = back_edges(4, &edges);
        assert_eq!(back, vec![false, false, true, false]);
        let forward: Vec<_> = edges
            .iter()
            .zip(&back)
            .filter(|(_, b)| !**b)
            .map(|(e, _)| *e)
            .collect();
        assert_eq!(layers(4, &forward), vec![0, 1, 2, 2]);
    }

    #[test]
    fn barycenter_untangles_a_crossing() {
        // 0 -> 3 and 1 -> 2: ordering layer 1 by barycenter puts 3 above 2.
        let l = layout(&[80; 4], &[(0, 3), (1, 2)], &[0; 2], &[0; 4]);
        assert!(l.boxes[3].y < l.boxes[2].y);
        assert!(l.boxes[0].x < l.boxes[3].x);
    }
}
