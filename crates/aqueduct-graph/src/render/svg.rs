//! Standalone SVG output, laid out by [`super::layout`] (no Graphviz).

use super::layout::{Layout, NODE_H, Rect, layout};
use super::{clusters, edge_text, edges, kind_name};
use crate::{Graph, NodeKind};
use std::fmt::Write;

/// Approximate width of one character at the drawing's font size.
const CHAR_W: i64 = 7;
/// Longest label drawn in a box; longer ones are cut with `…`.
const MAX_LABEL: usize = 34;

const STYLE: &str = "\
text{font-family:Helvetica,Arial,sans-serif;font-size:12px;fill:#1e293b}\
.cluster rect{fill:#f8fafc;stroke:#94a3b8;stroke-width:1}\
.cluster text{font-weight:bold;fill:#475569}\
.node rect{stroke:#334155;stroke-width:1}\
.source rect{fill:#dbeafe}.step rect{fill:#ffffff}.target rect{fill:#dcfce7}\
.reply rect{fill:#fef9c3}.dead_letter rect{fill:#fee2e2;stroke-dasharray:4 3}\
.channel rect{fill:#ede9fe}\
.edge path{fill:none;stroke:#475569;stroke-width:1.2}\
.edge.route path{stroke-dasharray:5 3}\
.edge text{font-size:10px;fill:#334155}.edge rect{fill:#ffffff;stroke:none}";

/// The graph as an SVG document.
pub fn svg(graph: &Graph) -> String {
    let nodes = &graph.topology.nodes;
    let groups_list = clusters(graph);
    // Band per node: its cluster's index, or a band of its own past the clusters.
    let mut groups: Vec<usize> = (0..nodes.len()).map(|i| groups_list.len() + i).collect();
    for (c, cluster) in groups_list.iter().enumerate() {
        for &n in &cluster.nodes {
            groups[n] = c;
        }
    }
    let labels: Vec<String> = nodes.iter().map(|n| shorten(&n.label)).collect();
    let widths: Vec<i64> = labels
        .iter()
        .map(|l| (l.chars().count() as i64 * CHAR_W + 28).max(80))
        .collect();
    let edge_list = edges(graph);
    let pairs: Vec<(usize, usize)> = edge_list.iter().map(|(a, b, _)| (*a, *b)).collect();
    let label_widths: Vec<i64> = edge_list
        .iter()
        .map(|(_, _, e)| edge_text(e).chars().count() as i64 * 6)
        .collect();
    let Layout {
        boxes,
        back,
        width,
        height,
    } = layout(&widths, &pairs, &label_widths, &groups);

    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\n"
    );
    out.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#475569\"/></marker></defs>\n");
    let _ = writeln!(out, "<style>{STYLE}</style>");
    for cluster in &groups_list {
        let Some(area) = bounds(cluster.nodes.iter().map(|&n| boxes[n])) else {
            continue;
        };
        let (x, y, w, h) = (area.x - 12, area.y - 30, area.w + 24, area.h + 42);
        let _ = writeln!(
            out,
            "<g class=\"cluster\"><rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" rx=\"8\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
            x + 10,
            y + 18,
            escape(&cluster.title)
        );
    }
    for (k, (from, to, edge)) in edge_list.iter().enumerate() {
        let (a, b) = (boxes[*from], boxes[*to]);
        let (x1, y1) = (a.x + a.w, a.y + NODE_H / 2);
        let (x2, y2) = (b.x, b.y + NODE_H / 2);
        let path = if back[k] || x2 <= x1 {
            let dip = a.y.max(b.y) + NODE_H + 30;
            format!(
                "M{x1},{y1} C{},{y1} {},{dip} {},{dip} S{},{y2} {x2},{y2}",
                x1 + 40,
                x1 + 40,
                (x1 + x2) / 2,
                x2 - 40
            )
        } else {
            let dx = ((x2 - x1) / 2).max(30);
            format!("M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}", x1 + dx, x2 - dx)
        };
        let class = if edge.label.is_some() {
            "edge route"
        } else {
            "edge"
        };
        let (lx, ly) = ((x1 + x2) / 2, (y1 + y2) / 2 - 5);
        let text = edge_text(edge);
        // a white box behind the label keeps it readable over the line in
        // every renderer (SVG `paint-order` is ignored by several)
        let backdrop = if text.is_empty() {
            String::new()
        } else {
            let w = i64::try_from(text.chars().count())
                .unwrap_or(i64::MAX / 8)
                .saturating_mul(6)
                .saturating_add(6);
            format!(
                "<rect x=\"{}\" y=\"{}\" width=\"{w}\" height=\"13\"/>",
                lx - w / 2,
                ly - 10
            )
        };
        let _ = writeln!(
            out,
            "<g class=\"{class}\"><path d=\"{path}\" marker-end=\"url(#arrow)\"/>{backdrop}<text x=\"{lx}\" y=\"{ly}\" text-anchor=\"middle\">{}</text></g>",
            escape(&text)
        );
    }
    for (i, node) in nodes.iter().enumerate() {
        let r = boxes[i];
        let rx = match node.kind {
            NodeKind::Step => 6,
            NodeKind::Reply | NodeKind::Channel => NODE_H / 2,
            _ => 2,
        };
        let _ = writeln!(
            out,
            "<g class=\"node {}\"><title>{}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{rx}\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
            kind_name(node.kind),
            escape(&node.label),
            r.x,
            r.y,
            r.w,
            r.h,
            r.x + r.w / 2,
            r.y + NODE_H / 2 + 4,
            escape(&labels[i])
        );
    }
    out.push_str("</svg>\n");
    out
}

/// The smallest rectangle holding every box.
fn bounds(mut rects: impl Iterator<Item = Rect>) -> Option<Rect> {
    let first = rects.next()?;
    let (mut x0, mut y0, mut x1, mut y1) = (first.x, first.y, first.x + first.w, first.y + first.h);
    for r in rects {
        x0 = x0.min(r.x);
        y0 = y0.min(r.y);
        x1 = x1.max(r.x + r.w);
        y1 = y1.max(r.y + r.h);
    }
    Some(Rect {
        x: x0,
        y: y0,
        w: x1 - x0,
        h: y1 - y0,
    })
}

/// The label cut to [`MAX_LABEL`] characters, on one line.
fn shorten(label: &str) -> String {
    let one_line = label.replace('\n', " ");
    if one_line.chars().count() <= MAX_LABEL {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(MAX_LABEL - 1).collect();
    cut.push('…');
    cut
}

/// Escapes text for XML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}
