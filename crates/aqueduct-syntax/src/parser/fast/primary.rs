//! Fast path for `primary` and its forms: `paren`, `list`, `record_lit`,
//! `record_body`, `record_entry`, `if_expr`, `call`, `number`, `string`,
//! `triple_string`, `record_path`, `binding_path`, literals and names (the
//! builder's `primary.rs` and `lit.rs`). Each returns the depth of its tree,
//! counted as the builder counts it.
//!
//! `primary` tries its forms by first character, as the grammar's guarded
//! alternatives do; within the forms that start with a name the order is
//! the grammar's: `record_lit`, `if_expr`, `call`, `true`/`false`/`null`,
//! `value_name`.

use super::super::expr::Depth;
use super::super::lit::{DURATION_UNITS, SIZE_UNITS, decode_escape, dedent, split_number};
use super::cursor::{Fast, is_reserved, span};
use super::expr::exceeds;
use super::expr::refused;
use crate::ast::{
    Expr, ExprKind, FieldName, Ident, Lit, Path, PathRoot, PathSegment, RecordEntry, RecordLit,
    StrLit, StrPart,
};

/// The bytes that end a `str_text` run: `"`, `\`, `{` and a line break.
static STR_STOP: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'{' as usize] = true;
    t[b'\n' as usize] = true;
    t
};

impl Fast<'_> {
    /// The `primary` alternatives.
    pub(super) fn primary(&mut self) -> Option<(Expr, Depth)> {
        if self.exhausted {
            return None;
        }
        let start = self.start();
        match self.peek()? {
            b'.' => self.record_path(start),
            b'"' => {
                if self.looking_at(b"\"\"\"") {
                    let m = self.mark();
                    if let Some(e) = self.triple_string(start) {
                        return Some((e, Depth::LEAF));
                    }
                    self.reset(m);
                }
                let (s, d) = self.string()?;
                let depth = self.deeper(d);
                Some((self.leaf(ExprKind::Str(s), start), depth))
            }
            b'0'..=b'9' => self.number(start),
            b'(' => {
                // `paren = { lparen ~ expr ~ rparen }`
                self.take(1);
                let (e, d) = self.expr_d()?;
                self.eat(b')').then_some(())?;
                let depth = self.deeper(d);
                Some((self.leaf(ExprKind::Paren(Box::new(e)), start), depth))
            }
            b'[' => {
                // `list = { lbracket ~ (expr ~ comma?)* ~ rbracket }`
                self.take(1);
                let mut items = Vec::new();
                let mut depth = Depth::ZERO;
                loop {
                    let m = self.mark();
                    match self.expr_d() {
                        Some((e, d)) => {
                            depth = depth.max(d);
                            items.push(e);
                        }
                        None => {
                            self.reset(m);
                            break;
                        }
                    }
                    self.comma();
                }
                self.eat(b']').then_some(())?;
                let depth = self.deeper(depth);
                Some((self.leaf(ExprKind::List(items), start), depth))
            }
            b'$' => self.binding_path(start),
            b'{' => self.record_lit(None, start),
            c if c.is_ascii_alphabetic() || c == b'_' => self.named(start),
            _ => None,
        }
    }

    /// An expression node from `start` to the last token read.
    fn leaf(&self, kind: ExprKind, start: usize) -> Expr {
        Expr {
            kind,
            span: self.span_from(start),
        }
    }

    /// The forms that start with a word, in the grammar's order:
    /// `record_lit | if_expr | call | lit_true | lit_false | lit_null | value_name`.
    fn named(&mut self, start: usize) -> Option<(Expr, Depth)> {
        let word = self.word();
        if is_reserved(word) {
            // Not a `value_name`: no `record_lit` with a type, no `call`.
            let lit = match word {
                b"if" => return self.if_expr(start),
                b"true" => Lit::Bool(true),
                b"false" => Lit::Bool(false),
                b"null" => Lit::Null,
                _ => return None,
            };
            self.take(word.len());
            return Some((self.leaf(ExprKind::Lit(lit), start), Depth::LEAF));
        }
        let name = self.take_ident(word.len());
        let m = self.mark();
        match self.at() {
            // `record_lit = { value_name? ~ record_body }`
            Some(b'{') => {
                if let Some(r) = self.record_lit(Some(name.clone()), start) {
                    return Some(r);
                }
                self.reset(m);
            }
            // `call = { value_name ~ args }`
            Some(b'(') => {
                if let Some((args, d)) = self.args() {
                    let depth = self.deeper(d);
                    let call = ExprKind::Call { func: name, args };
                    return Some((self.leaf(call, start), depth));
                }
                self.reset(m);
            }
            _ => {}
        }
        // `value_name`
        Some((
            Expr {
                span: name.span,
                kind: ExprKind::Ident(name),
            },
            Depth::LEAF,
        ))
    }

    /// `record_lit` once its type name (if any) is read.
    fn record_lit(&mut self, ty: Option<Ident>, start: usize) -> Option<(Expr, Depth)> {
        let (entries, d) = self.record_body()?;
        let span = self.span_from(start);
        let depth = self.deeper(d);
        Some((
            Expr {
                kind: ExprKind::Record(RecordLit { ty, entries, span }),
                span,
            },
            depth,
        ))
    }

    /// `record_body = { lbrace ~ (record_entry ~ comma?)* ~ rbrace }`, with
    /// the depth of the deepest value.
    pub(super) fn record_body(&mut self) -> Option<(Vec<RecordEntry>, Depth)> {
        self.eat(b'{').then_some(())?;
        let mut entries = Vec::new();
        let mut depth = Depth::ZERO;
        loop {
            let m = self.mark();
            match self.record_entry() {
                Some((e, d)) => {
                    depth = depth.max(d);
                    entries.push(e);
                }
                None => {
                    self.reset(m);
                    break;
                }
            }
            self.comma();
        }
        self.eat(b'}').then_some((entries, depth))
    }

    /// `record_entry = { spread | (field_name ~ assign ~ expr) }`
    fn record_entry(&mut self) -> Option<(RecordEntry, Depth)> {
        let start = self.start();
        if self.looking_at(b"...") {
            self.take(3);
            return Some((RecordEntry::Spread(self.span_from(start)), Depth::ZERO));
        }
        let name = self.field_name()?;
        self.assign().then_some(())?;
        let (value, d) = self.expr_d()?;
        Some((
            RecordEntry::Field {
                name,
                value,
                span: self.span_from(start),
            },
            d,
        ))
    }

    /// `if_expr = { kw_if ~ expr ~ lbrace ~ expr ~ rbrace ~ else_if* ~ else_branch? }`;
    /// `else if` arms nest in `otherwise`, as the builder nests them.
    fn if_expr(&mut self, start: usize) -> Option<(Expr, Depth)> {
        self.kw(b"if").then_some(())?;
        let first = self.branch()?;
        // (start of the `if` keyword, condition, value) for each `else if`.
        let mut arms = Vec::new();
        loop {
            // `else_if = { kw_else ~ kw_if ~ expr ~ lbrace ~ expr ~ rbrace }`
            let m = self.mark();
            if self.kw(b"else") {
                let if_start = self.start();
                if self.kw(b"if")
                    && let Some(arm) = self.branch()
                {
                    arms.push((if_start, arm));
                    continue;
                }
            }
            self.reset(m);
            break;
        }
        // `else_branch = { kw_else ~ lbrace ~ expr ~ rbrace }`
        let m = self.mark();
        let mut otherwise = None;
        if self.kw(b"else") && self.eat(b'{') {
            if let Some(e) = self.expr_d()
                && self.eat(b'}')
            {
                otherwise = Some(e);
            } else {
                self.reset(m);
            }
        } else {
            self.reset(m);
        }
        let end = self.last_end;
        // Fold from the last arm so each `else if` becomes the `otherwise` of the one before.
        for (if_start, (c, v, d)) in arms.into_iter().rev() {
            let (rest, rd) = match otherwise.take() {
                Some((e, d)) => (Some(Box::new(e)), d),
                None => (None, Depth::ZERO),
            };
            let depth = self.deeper(d.max(rd));
            if exceeds(depth) {
                // Refused (`bad` is set): a long `else if` chain would
                // otherwise nest too deep to drop.
                return Some(refused(span(if_start, end)));
            }
            otherwise = Some((
                Expr {
                    kind: ExprKind::If {
                        cond: Box::new(c),
                        then: Box::new(v),
                        otherwise: rest,
                    },
                    span: span(if_start, end),
                },
                depth,
            ));
        }
        let (c, v, d) = first;
        let (rest, rd) = match otherwise {
            Some((e, d)) => (Some(Box::new(e)), d),
            None => (None, Depth::ZERO),
        };
        let depth = self.deeper(d.max(rd));
        let kind = ExprKind::If {
            cond: Box::new(c),
            then: Box::new(v),
            otherwise: rest,
        };
        Some((self.leaf(kind, start), depth))
    }

    /// `expr ~ lbrace ~ expr ~ rbrace` of an `if` or `else if`.
    fn branch(&mut self) -> Option<(Expr, Expr, Depth)> {
        let (c, cd) = self.expr_d()?;
        self.eat(b'{').then_some(())?;
        let (v, vd) = self.expr_d()?;
        self.eat(b'}').then_some((c, v, cd.max(vd)))
    }

    /// `number = @{ digits ~ ("." ~ digits)? ~ ((ASCII_ALPHA | "_") ~ (ASCII_ALPHANUMERIC | "_")*)? }`,
    /// `digits = _{ ASCII_DIGIT+ ~ ("_" ~ ASCII_DIGIT+)* }`.
    fn number(&mut self, start: usize) -> Option<(Expr, Depth)> {
        self.digits();
        if self.peek() == Some(b'.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            self.digits();
        }
        self.pos += self.word_len();
        self.take(0);
        let text = self.text.get(start..self.pos)?;
        let lit = number_lit(text).unwrap_or_else(|| {
            // A bad number or unit: the builder reports it.
            self.bad = true;
            Lit::Null
        });
        Some((self.leaf(ExprKind::Lit(lit), start), Depth::LEAF))
    }

    /// `digits`, at a digit.
    fn digits(&mut self) {
        loop {
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            if self.peek() == Some(b'_') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            } else {
                return;
            }
        }
    }

    /// `triple_string = ${ "\"\"\"" ~ triple_body ~ "\"\"\"" }`, dedented.
    fn triple_string(&mut self, start: usize) -> Option<Expr> {
        let body_start = self.pos + 3;
        let len = self
            .b
            .get(body_start..)?
            .windows(3)
            .position(|w| w == b"\"\"\"")?;
        let body = self.text.get(body_start..body_start + len)?;
        self.take(3 + len + 3);
        let text = dedent(body);
        let parts = if text.is_empty() {
            Vec::new()
        } else {
            vec![StrPart::Text(text)]
        };
        let s = StrLit {
            parts,
            triple: true,
        };
        Some(self.leaf(ExprKind::Str(s), start))
    }

    /// A `string` as an expression (a `schedule` clause's value), at `"`.
    pub(super) fn string_expr(&mut self) -> Option<Expr> {
        let start = self.pos;
        let (s, d) = self.string()?;
        self.deeper(d);
        Some(self.leaf(ExprKind::Str(s), start))
    }

    /// `string = ${ "\"" ~ (str_text | str_escape | interp)* ~ "\"" }` at the
    /// cursor, with the depth of its interpolations.
    pub(super) fn string(&mut self) -> Option<(StrLit, Depth)> {
        if self.peek() != Some(b'"') {
            return None;
        }
        self.take(1);
        // Most strings are plain text: one part, allocated at its size.
        let from = self.pos;
        let rest = self.b.get(from..)?;
        let n = rest
            .iter()
            .position(|&c| STR_STOP[usize::from(c)])
            .unwrap_or(rest.len());
        if rest.get(n) == Some(&b'"') {
            let parts = if n == 0 {
                Vec::new()
            } else {
                vec![StrPart::Text(self.text.get(from..from + n)?.to_string())]
            };
            self.take(n + 1);
            let plain = StrLit {
                parts,
                triple: false,
            };
            return Some((plain, Depth::ZERO));
        }
        let mut parts: Vec<StrPart> = Vec::new();
        let mut depth = Depth::ZERO;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\n' => return None,
                b'\\' => {
                    let c = self.escape()?;
                    match parts.last_mut() {
                        Some(StrPart::Text(t)) => t.push(c),
                        _ => parts.push(StrPart::Text(c.to_string())),
                    }
                }
                b'{' => {
                    // `interp = !{ lbrace ~ expr ~ rbrace }`
                    self.take(1);
                    let (e, d) = self.expr_d()?;
                    self.eat(b'}').then_some(())?;
                    depth = depth.max(d);
                    parts.push(StrPart::Expr(e));
                }
                _ => {
                    // `str_text`: up to the next `"`, `\`, `{` or line break.
                    let from = self.pos;
                    let rest = self.b.get(from..)?;
                    let n = rest
                        .iter()
                        .position(|&c| STR_STOP[usize::from(c)])
                        .unwrap_or(rest.len());
                    self.take(n);
                    let text = self.text.get(from..self.pos)?;
                    match parts.last_mut() {
                        Some(StrPart::Text(t)) => t.push_str(text),
                        _ => parts.push(StrPart::Text(text.to_string())),
                    }
                }
            }
        }
        self.take(1);
        Some((
            StrLit {
                parts,
                triple: false,
            },
            depth,
        ))
    }

    /// `str_escape = @{ "\\" ~ (("u{" ~ (!("}" | "\"" | "\n") ~ ANY)* ~ "}") | (!"\n" ~ ANY)) }`,
    /// decoded. An escape the builder does not know makes the parser give up.
    fn escape(&mut self) -> Option<char> {
        let from = self.pos;
        let rest = self.text.get(from + 1..)?;
        let braced = rest.strip_prefix("u{").and_then(|h| {
            h.bytes()
                .position(|c| matches!(c, b'}' | b'"' | b'\n'))
                .filter(|&n| h.as_bytes().get(n) == Some(&b'}'))
                .map(|n| 1 + 2 + n + 1)
        });
        let len = match braced {
            Some(n) => n,
            None => match rest.chars().next() {
                Some(c) if c != '\n' => 1 + c.len_utf8(),
                _ => return None,
            },
        };
        self.take(len);
        let raw = self.text.get(from..self.pos)?;
        Some(decode_escape(raw).unwrap_or_else(|| {
            // The builder reports an unknown escape.
            self.bad = true;
            '\\'
        }))
    }

    /// A quoted field name: a `string` without interpolation, at the cursor
    /// after skipping (the builder's `quoted_name`).
    pub(super) fn quoted_name(&mut self) -> Option<FieldName> {
        let start = self.start();
        let (s, _) = self.string()?;
        let span = self.span_from(start);
        match s.as_plain() {
            Some(name) => Some(FieldName {
                name,
                quoted: true,
                span,
            }),
            None => {
                // The builder reports `{…}` in a quoted name.
                self.bad = true;
                Some(FieldName {
                    name: String::new(),
                    quoted: true,
                    span,
                })
            }
        }
    }

    /// `record_path = ${ "." ~ (field_seg ~ path_tail*)? }`
    fn record_path(&mut self, start: usize) -> Option<(Expr, Depth)> {
        self.take(1);
        let mut segments = Vec::new();
        let mut depth = Depth::ZERO;
        if let Some(first) = self.field_seg() {
            segments.push(first);
            self.path_tails(&mut segments, &mut depth);
        }
        self.path(PathRoot::Record, segments, depth, start)
    }

    /// `binding_path = ${ "$" ~ ident ~ path_tail* }`
    fn binding_path(&mut self, start: usize) -> Option<(Expr, Depth)> {
        self.take(1);
        let name = self.ident_here()?;
        let mut segments = Vec::new();
        let mut depth = Depth::ZERO;
        self.path_tails(&mut segments, &mut depth);
        self.path(PathRoot::Binding(name), segments, depth, start)
    }

    fn path(
        &mut self,
        root: PathRoot,
        segments: Vec<PathSegment>,
        depth: Depth,
        start: usize,
    ) -> Option<(Expr, Depth)> {
        let depth = self.deeper(depth);
        let kind = ExprKind::Path(Path { root, segments });
        Some((self.leaf(kind, start), depth))
    }

    /// `path_tail*`, `path_tail = _{ ("." ~ field_seg) | index_seg }`,
    /// `index_seg = !{ lbracket ~ expr ~ rbracket }`.
    fn path_tails(&mut self, segments: &mut Vec<PathSegment>, depth: &mut Depth) {
        loop {
            let m = self.mark();
            match self.peek() {
                Some(b'.') => {
                    self.take(1);
                    match self.field_seg() {
                        Some(seg) => segments.push(seg),
                        None => {
                            self.reset(m);
                            return;
                        }
                    }
                }
                Some(b'[') => {
                    self.take(1);
                    let index = self.expr_d();
                    match index {
                        Some((e, d)) if self.eat(b']') => {
                            *depth = (*depth).max(d);
                            segments.push(PathSegment::Index(e));
                        }
                        _ => {
                            self.reset(m);
                            return;
                        }
                    }
                }
                _ => return,
            }
        }
    }

    /// `field_seg = _{ path_word | quoted_seg }`, `quoted_seg = !{ lparen ~ string ~ rparen }`.
    fn field_seg(&mut self) -> Option<PathSegment> {
        if let Some(Ident { name, span }) = self.ident_here() {
            return Some(PathSegment::Field(FieldName {
                name,
                quoted: false,
                span,
            }));
        }
        if self.peek() != Some(b'(') {
            return None;
        }
        let m = self.mark();
        self.take(1);
        let name = match self.quoted_name() {
            Some(n) if self.eat(b')') => n,
            _ => {
                self.reset(m);
                return None;
            }
        };
        Some(PathSegment::Field(name))
    }
}

/// The literal a `number` token stands for, as the builder's `number`
/// computes it; `None` where the builder reports an error.
fn number_lit(text: &str) -> Option<Lit> {
    let (num, unit) = split_number(text);
    let whole = if num.contains('_') {
        std::borrow::Cow::Owned(num.replace('_', ""))
    } else {
        std::borrow::Cow::Borrowed(num)
    };
    if unit.is_empty() {
        if num.contains('.') {
            return Some(Lit::Decimal(text.to_string()));
        }
        let value = whole.parse::<i64>().ok()?;
        return Some(Lit::Int {
            text: text.to_string(),
            value,
        });
    }
    let duration = DURATION_UNITS.iter().find(|(u, _)| *u == unit);
    let size = SIZE_UNITS.iter().find(|(u, _)| *u == unit);
    let (_, factor) = duration.or(size)?;
    if num.contains('.') {
        return None;
    }
    let v = whole.parse::<u64>().ok()?.checked_mul(*factor)?;
    Some(if duration.is_some() {
        Lit::Duration {
            text: text.to_string(),
            millis: v,
        }
    } else {
        Lit::Size {
            text: text.to_string(),
            bytes: v,
        }
    })
}
