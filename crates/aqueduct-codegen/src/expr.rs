//! The expression emitter: a checked [`Expr`] becomes one Rust expression
//! over the generated structs, with the runtime's semantics (null
//! propagation, checked arithmetic, exact decimals, `and`/`or`/`??`
//! short-circuits). Common operand kinds get plain Rust or a typed helper
//! of `aqueduct_runtime::native`; anything else (json, mixed kinds, lists)
//! goes through the runtime's own operator or function on values, so both
//! back ends share one implementation. The generated code never walks an
//! expression tree.

use crate::model::{Model, norm};
use crate::names::{snake, str_lit};
use aqueduct_graph::{BinaryOp, Expr, ExprKind, Func, Type, UnaryOp, Value as Lit};
use std::collections::{BTreeMap, BTreeSet};

/// How an emitted expression may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A place of the Rust type (`rec.name`, a local): borrow it, clone to own it.
    Place,
    /// A reference to a value of the Rust type (`rec`): use it to borrow, deref or clone to own.
    Ref,
    /// A string literal (`"DE"`): a `&str`; `String::from` to own it.
    Str,
    /// An owned temporary.
    Temp,
}

/// An emitted Rust expression.
#[derive(Debug, Clone)]
pub struct Code {
    /// The Rust text.
    pub text: String,
    /// The language type of the Rust value (normalised; may differ from the
    /// checked type in optionality, see [`Emitter::adapt`]).
    pub ty: Type,
    kind: Kind,
}

impl Code {
    fn temp(text: String, ty: Type) -> Code {
        Code {
            text,
            ty: norm(&ty),
            kind: Kind::Temp,
        }
    }

    fn is_ident(&self) -> bool {
        !self.text.is_empty()
            && self
                .text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    /// The text, parenthesised unless it is one term.
    fn term(&self) -> String {
        if is_atomic(&self.text) {
            self.text.clone()
        } else {
            format!("({})", self.text)
        }
    }
}

/// `x in ["a", "b"]` for a required string `x` and a list of string
/// constants: a `matches!` on the text, no run-time values built. It is
/// what `ops::contains` computes for these operands (string equality with
/// each item; a string is never equal to anything but a string).
fn in_string_constants(a: &Code, rhs: &Expr) -> Option<Code> {
    if a.ty != Type::String {
        return None;
    }
    let ExprKind::List(items) = &rhs.kind else {
        return None;
    };
    let lits = items
        .iter()
        .map(|item| match &item.kind {
            ExprKind::Lit(Lit::String(s)) if item.ty == Type::String => Some(str_lit(s)),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    if lits.is_empty() {
        return None;
    }
    Some(Code::temp(
        format!("matches!({}.as_str(), {})", a.term(), lits.join(" | ")),
        Type::Bool,
    ))
}

/// True when `text` needs no parentheses as an operand or method receiver.
fn is_atomic(text: &str) -> bool {
    let mut depth = 0i32;
    let mut in_str = false;
    let mut prev = ' ';
    for c in text.chars() {
        if in_str {
            if c == '"' && prev != '\\' {
                in_str = false;
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
            continue;
        }
        match c {
            '"' => in_str = true,
            '(' | '[' | '{' | '<' => depth += 1,
            ')' | ']' | '}' | '>' => depth -= 1,
            ' ' | '=' | '!' | '&' | '|' | '+' | '*' | '/' | '%' if depth == 0 => return false,
            '-' if depth == 0 && prev != ' ' && !text.starts_with('-') => return false,
            _ => {}
        }
        prev = c;
    }
    !text.starts_with('-') && !text.starts_with('&') && !text.starts_with('!')
}

/// Emits the expressions of one step function.
pub struct Emitter<'m> {
    model: &'m Model,
    /// The type of `rec` (the step's input record).
    input: Type,
    /// Bindings read by the function: name → (local variable, type to read it as).
    pub bindings: BTreeMap<String, (String, Type)>,
    /// True once `rec` is read.
    pub uses_rec: bool,
    /// True once the service's schemas are needed (conversions of json to records).
    pub uses_schemas: bool,
    /// Structs named in the function.
    pub structs: BTreeSet<String>,
}

impl<'m> Emitter<'m> {
    /// An emitter for a function over records of type `input`, reading the
    /// bindings that `exprs` read.
    pub fn new(model: &'m Model, input: &Type, exprs: &[&Expr]) -> Emitter<'m> {
        let mut found: BTreeMap<String, Type> = BTreeMap::new();
        for e in exprs {
            collect_bindings(e, &mut found);
        }
        let bindings = found
            .into_iter()
            .map(|(name, ty)| {
                let var = snake(&name);
                (name, (var, ty))
            })
            .collect();
        let mut em = Emitter {
            model,
            input: norm(input),
            bindings,
            uses_rec: false,
            uses_schemas: false,
            structs: BTreeSet::new(),
        };
        em.note_type(input);
        em
    }

    /// Remembers the structs a type names (for the `use` line).
    pub fn note_type(&mut self, ty: &Type) {
        match ty {
            Type::Record(name) => {
                if let Some(s) = self.model.get(name) {
                    self.structs.insert(s.rust.clone());
                }
            }
            Type::List(t) | Type::Optional(t) => self.note_type(t),
            _ => {}
        }
    }

    /// The Rust type of `ty`, remembering the structs it names.
    pub fn rust_type(&mut self, ty: &Type) -> String {
        self.note_type(ty);
        self.model.rust_type(ty)
    }

    /// `e` as a Rust expression of exactly the Rust type of `want`.
    pub fn expr_as(&mut self, e: &Expr, want: &Type) -> String {
        let code = self.expr(e);
        let what = describe(e);
        let code = self.adapt(code, &norm(want), &what);
        self.owned(&code)
    }

    /// `e` as a Rust `bool` (a condition: null and false are false).
    pub fn condition(&mut self, e: &Expr) -> String {
        let code = self.expr(e);
        self.truthy(&code)
    }

    // ---- representation helpers ----

    fn owned(&self, c: &Code) -> String {
        let copy = self.model.is_copy(&c.ty);
        match c.kind {
            Kind::Temp => c.text.clone(),
            Kind::Str => format!("String::from({})", c.text),
            Kind::Place if copy => c.text.clone(),
            Kind::Place => format!("{}.clone()", c.term()),
            Kind::Ref if copy => format!("*{}", c.term()),
            Kind::Ref => format!("{}.clone()", c.term()),
        }
    }

    /// An expression of type `&T`.
    fn borrowed(&self, c: &Code) -> String {
        match c.kind {
            Kind::Ref => c.text.clone(),
            Kind::Str => format!("&String::from({})", c.text),
            Kind::Place | Kind::Temp => format!("&{}", c.term()),
        }
    }

    /// An expression usable where `&str` is expected.
    fn str_arg(&self, c: &Code) -> String {
        match c.kind {
            Kind::Str | Kind::Ref => c.text.clone(),
            Kind::Place | Kind::Temp => format!("&{}", c.term()),
        }
    }

    /// An expression of type `Option<&T>` for an optional or required code.
    fn opt_ref(&self, c: &Code) -> String {
        if matches!(c.ty, Type::Optional(_)) {
            match c.kind {
                Kind::Ref => format!("{}.as_ref()", c.term()),
                _ => format!("{}.as_ref()", c.term()),
            }
        } else {
            format!("Some({})", self.borrowed(c))
        }
    }

    fn to_value(&self, c: &Code) -> String {
        if c.ty == Type::Null {
            return "Value::Null".into();
        }
        if norm(&c.ty) == Type::Json {
            return self.owned(c);
        }
        let owned = self.owned(c);
        // a bare literal has no type of its own for the method call
        if c.ty == Type::Int && owned.parse::<i64>().is_ok() {
            return format!("Value::Int({owned})");
        }
        if c.ty == Type::Float && owned.parse::<f64>().is_ok() {
            return format!("Value::Float({owned})");
        }
        if is_atomic(&owned) {
            format!("{owned}.into_value()")
        } else {
            format!("({owned}).into_value()")
        }
    }

    /// A `&Value` of `c` (json is borrowed as it is; anything else converted).
    fn value_ref(&self, c: &Code) -> String {
        if c.ty == Type::Json && c.kind != Kind::Temp {
            self.borrowed(c)
        } else {
            format!("&{}", self.to_value(c))
        }
    }

    fn truthy(&self, c: &Code) -> String {
        match &c.ty {
            Type::Bool => self.owned(c),
            Type::Optional(t) if **t == Type::Bool => format!("{} == Some(true)", c.text),
            Type::Json => format!("matches!({}, Value::Bool(true))", c.text),
            _ => "false".into(),
        }
    }

    /// Converts `c` to the Rust type of `to` (normalised): lifting into
    /// `Some`, narrowing an optional the checker proved non-null, or going
    /// through a runtime value.
    fn adapt(&mut self, c: Code, to: &Type, what: &str) -> Code {
        let from = norm(&c.ty);
        if from == *to {
            return c;
        }
        let rust = self.rust_type(to);
        if from == Type::Null {
            return match to {
                Type::Optional(_) => Code::temp("None".into(), to.clone()),
                Type::Json => Code::temp("Value::Null".into(), to.clone()),
                _ => Code::temp(
                    format!("narrowed(None::<{rust}>, {})?", str_lit(what)),
                    to.clone(),
                ),
            };
        }
        if let Type::Optional(inner) = to
            && **inner == from
        {
            return Code::temp(format!("Some({})", self.owned(&c)), to.clone());
        }
        if let Type::Optional(inner) = &from
            && **inner == *to
        {
            return Code::temp(
                format!("narrowed({}, {})?", self.owned(&c), str_lit(what)),
                to.clone(),
            );
        }
        if *to == Type::Json {
            return Code::temp(self.to_value(&c), Type::Json);
        }
        let value = self.to_value(&c);
        let value = if from == Type::Json && c.kind == Kind::Place {
            format!("&{}", c.text)
        } else {
            format!("&{value}")
        };
        Code::temp(format!("<{rust}>::from_value({value})?"), to.clone())
    }

    /// A runtime value (`Value`) read back as the Rust type of `ty`.
    fn read_value(&mut self, value_text: String, ty: &Type) -> Code {
        let ty = norm(ty);
        if ty == Type::Json {
            return Code::temp(value_text, Type::Json);
        }
        let rust = self.rust_type(&ty);
        Code::temp(format!("<{rust}>::from_value(&{value_text})?"), ty)
    }

    // ---- expressions ----

    /// `e` as Rust; its Rust type follows [`Code::ty`].
    pub fn expr(&mut self, e: &Expr) -> Code {
        let ty = norm(&e.ty);
        match &e.kind {
            ExprKind::Lit(lit) => self.lit(lit, &e.ty),
            ExprKind::Current => {
                self.uses_rec = true;
                Code {
                    text: "rec".into(),
                    ty: self.input.clone(),
                    kind: Kind::Ref,
                }
            }
            ExprKind::Binding(name) => match self.bindings.get(name) {
                Some((var, bty)) => Code {
                    text: var.clone(),
                    ty: norm(bty),
                    kind: Kind::Place,
                },
                None => Code::temp("Value::Null".into(), Type::Null),
            },
            ExprKind::Field { base, name, slot } => self.field(base, name, *slot, &ty),
            ExprKind::Index { base, index } => {
                let b = self.expr(base);
                let i = self.expr(index);
                let text = format!("ops::index({}, {})", self.value_ref(&b), self.value_ref(&i));
                self.read_value(text, &ty)
            }
            ExprKind::Unary { op, expr } => self.unary(*op, expr, &ty),
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, &ty),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => self.if_else(cond, then, otherwise.as_deref(), &ty),
            ExprKind::Call { func, args } => self.call(*func, args, &ty),
            ExprKind::List(items) => {
                let elem = match &ty {
                    Type::List(t) => (**t).clone(),
                    _ => Type::Json,
                };
                if !matches!(ty, Type::List(_)) {
                    let values: Vec<String> = items
                        .iter()
                        .map(|i| {
                            let c = self.expr(i);
                            self.to_value(&c)
                        })
                        .collect();
                    let text = format!(
                        "Value::List(std::sync::Arc::new(vec![{}]))",
                        values.join(", ")
                    );
                    return self.read_value(text, &ty);
                }
                let parts: Vec<String> = items.iter().map(|i| self.expr_as(i, &elem)).collect();
                let text = if parts.is_empty() {
                    "Vec::new()".to_string()
                } else {
                    format!("vec![{}]", parts.join(", "))
                };
                Code::temp(text, ty)
            }
            ExprKind::Record { ty: name, fields } => self.record(name, fields, &ty),
            ExprKind::Object(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(n, f)| {
                        let c = self.expr(f);
                        format!("({}, {})", str_lit(n), self.to_value(&c))
                    })
                    .collect();
                self.read_value(format!("object(vec![{}])", parts.join(", ")), &ty)
            }
            ExprKind::Interpolate(parts) => self.interpolate(parts),
            ExprKind::Convert { to, expr } => self.convert(to, expr, &ty),
        }
    }

    fn lit(&mut self, lit: &Lit, ty: &Type) -> Code {
        let want = norm(ty);
        let base = want.clone();
        let req = match &base {
            Type::Optional(t) => (**t).clone(),
            t => t.clone(),
        };
        let text = match (lit, &req) {
            (Lit::Null, _) => {
                return match want {
                    Type::Optional(_) => Code::temp("None".into(), want),
                    Type::Json => Code::temp("Value::Null".into(), Type::Json),
                    _ => Code::temp("Value::Null".into(), Type::Null),
                };
            }
            (Lit::Bool(b), Type::Bool) => b.to_string(),
            (Lit::Int(i), Type::Int) if *i == i64::MIN => "i64::MIN".into(),
            (Lit::Int(i), Type::Int) => i.to_string(),
            (Lit::Float(f), Type::Float) if f.is_finite() => format!("{f:?}"),
            (Lit::Decimal(d), Type::Decimal) => match d.parse::<rust_decimal::Decimal>() {
                Ok(d) if i64::try_from(d.mantissa()).is_ok() => {
                    format!("Decimal::new({}, {})", d.mantissa(), d.scale())
                }
                Ok(d) => format!(
                    "Decimal::from_i128_with_scale({}, {})",
                    d.mantissa(),
                    d.scale()
                ),
                Err(_) => return self.constant(lit, ty),
            },
            (Lit::String(s), Type::String) => {
                let code = Code {
                    text: str_lit(s),
                    ty: Type::String,
                    kind: Kind::Str,
                };
                return self.lift(code, &want);
            }
            (Lit::Timestamp(s) | Lit::String(s), Type::Timestamp) => {
                format!("conv::timestamp({})?", str_lit(s))
            }
            (Lit::Date(s) | Lit::String(s), Type::Date) => format!("conv::date({})?", str_lit(s)),
            _ => return self.constant(lit, ty),
        };
        let code = Code::temp(text, req);
        self.lift(code, &want)
    }

    fn lift(&mut self, code: Code, want: &Type) -> Code {
        if matches!(want, Type::Optional(_)) {
            Code::temp(format!("Some({})", self.owned(&code)), want.clone())
        } else {
            code
        }
    }

    /// A literal Rust does not spell directly: the graph constant as JSON, read at run time.
    fn constant(&mut self, lit: &Lit, ty: &Type) -> Code {
        self.uses_schemas = true;
        let json = serde_json::to_string(lit).unwrap_or_else(|_| "null".into());
        let rust = self.rust_type(ty);
        Code::temp(
            format!(
                "constant::<{rust}>({}, {}, crate::schemas())?",
                str_lit(&json),
                str_lit(&ty.to_string())
            ),
            norm(ty),
        )
    }

    fn field(&mut self, base: &Expr, name: &str, slot: Option<u32>, ty: &Type) -> Code {
        let b = self.expr(base);
        let record = match &b.ty {
            Type::Record(r) => Some((r.clone(), false)),
            Type::Optional(t) => match &**t {
                Type::Record(r) => Some((r.clone(), true)),
                _ => None,
            },
            _ => None,
        };
        let found = record.and_then(|(r, optional)| {
            let s = self.model.get(&r)?;
            let f = match slot {
                Some(i) => s.fields.get(i as usize)?,
                None => s.fields.iter().find(|f| f.name == name)?,
            };
            Some((f.rust.clone(), f.ty.clone(), optional))
        });
        match found {
            Some((field, fty, false)) => {
                let text = match b.kind {
                    Kind::Temp => format!("{}.{field}", b.term()),
                    _ => format!("{}.{field}", b.text),
                };
                let kind = if b.kind == Kind::Temp {
                    Kind::Temp
                } else {
                    Kind::Place
                };
                Code {
                    text,
                    ty: fty,
                    kind,
                }
            }
            Some((field, fty, true)) => {
                let copy = self.model.is_copy(&fty);
                let read = if copy {
                    format!("r.{field}")
                } else {
                    format!("r.{field}.clone()")
                };
                let (method, out) = match &fty {
                    Type::Optional(_) => ("and_then", fty.clone()),
                    t => ("map", Type::Optional(Box::new(t.clone()))),
                };
                let text = format!("{}.{method}(|r| {read})", self.opt_ref(&b));
                Code::temp(text, out)
            }
            None => {
                let text = format!("ops::field({}, {})", self.value_ref(&b), str_lit(name));
                self.read_value(text, ty)
            }
        }
    }

    fn unary(&mut self, op: UnaryOp, inner: &Expr, ty: &Type) -> Code {
        let c = self.expr(inner);
        let req = required(&c.ty);
        let optional = matches!(c.ty, Type::Optional(_));
        match (op, &req) {
            (UnaryOp::Not, Type::Bool) if !optional => {
                Code::temp(format!("!{}", paren_unary(&self.owned(&c))), Type::Bool)
            }
            (UnaryOp::Not, Type::Bool) => Code::temp(
                format!("{}.map(|x| !x)", self.owned(&c)),
                Type::Optional(Box::new(Type::Bool)),
            ),
            (UnaryOp::Neg, Type::Int) if !optional => {
                Code::temp(format!("ops::int_neg({})?", self.owned(&c)), Type::Int)
            }
            (UnaryOp::Neg, Type::Int) => Code::temp(
                format!("{}.map(ops::int_neg).transpose()?", self.owned(&c)),
                c.ty.clone(),
            ),
            (UnaryOp::Neg, Type::Decimal | Type::Float) if !optional => {
                Code::temp(format!("-{}", paren_unary(&self.owned(&c))), req.clone())
            }
            (UnaryOp::Neg, Type::Decimal | Type::Float) => {
                Code::temp(format!("{}.map(|x| -x)", self.owned(&c)), c.ty.clone())
            }
            _ => {
                let op = match op {
                    UnaryOp::Neg => "UnaryOp::Neg",
                    UnaryOp::Not => "UnaryOp::Not",
                };
                let text = format!("ops::unary({op}, {})?", self.to_value(&c));
                self.read_value(text, ty)
            }
        }
    }

    fn binary(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr, ty: &Type) -> Code {
        match op {
            BinaryOp::And | BinaryOp::Or => {
                let l = self.condition(lhs);
                let r = self.condition(rhs);
                let sym = if op == BinaryOp::And { "&&" } else { "||" };
                Code::temp(
                    format!("{} {sym} {}", paren_bool(&l), paren_bool(&r)),
                    Type::Bool,
                )
            }
            BinaryOp::Coalesce => self.coalesce(lhs, rhs, ty),
            BinaryOp::Eq | BinaryOp::Ne => self.equality(op, lhs, rhs),
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                self.ordering(op, lhs, rhs)
            }
            BinaryOp::In => {
                let a = self.expr(lhs);
                if let Some(code) = in_string_constants(&a, rhs) {
                    return code;
                }
                let b = self.expr(rhs);
                Code::temp(
                    format!(
                        "ops::contains({}, {})",
                        self.value_ref(&b),
                        self.value_ref(&a)
                    ),
                    Type::Bool,
                )
            }
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
                self.arith(op, lhs, rhs, ty)
            }
        }
    }

    fn generic_binary(&mut self, op: BinaryOp, a: &Code, b: &Code, ty: &Type) -> Code {
        let text = format!(
            "ops::binary(BinaryOp::{op:?}, {}, {})?",
            self.to_value(a),
            self.to_value(b)
        );
        self.read_value(text, ty)
    }

    fn arith(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr, ty: &Type) -> Code {
        let a = self.expr(lhs);
        let b = self.expr(rhs);
        let (ka, kb) = (required(&a.ty), required(&b.ty));
        if ka != kb {
            return self.generic_binary(op, &a, &b, ty);
        }
        let name = match op {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            _ => "rem",
        };
        // body over x and y (owned values, or references for strings)
        let (body, by_ref): (String, bool) = match (&ka, op) {
            (Type::Int, _) => (format!("ops::int_{name}(x, y)?"), false),
            (Type::Decimal, _) => (format!("ops::dec_{name}(x, y)?"), false),
            (Type::Float, BinaryOp::Div | BinaryOp::Rem) => {
                (format!("ops::float_{name}(x, y)?"), false)
            }
            (Type::Float, _) => {
                let sym = match op {
                    BinaryOp::Add => "+",
                    BinaryOp::Sub => "-",
                    _ => "*",
                };
                (format!("x {sym} y"), false)
            }
            (Type::String, BinaryOp::Add) => ("ops::concat(x, y)".into(), true),
            _ => return self.generic_binary(op, &a, &b, ty),
        };
        let out = ka.clone();
        let optional = matches!(a.ty, Type::Optional(_)) || matches!(b.ty, Type::Optional(_));
        if !optional {
            let (x, y) = if by_ref {
                (self.str_arg(&a), self.str_arg(&b))
            } else {
                (self.owned(&a), self.owned(&b))
            };
            let text = body
                .replacen("(x, y)", &format!("({x}, {y})"), 1)
                .replacen(
                    "x + y",
                    &format!("{} + {}", paren_arith(&x), paren_arith(&y)),
                    1,
                )
                .replacen(
                    "x - y",
                    &format!("{} - {}", paren_arith(&x), paren_arith(&y)),
                    1,
                )
                .replacen(
                    "x * y",
                    &format!("{} * {}", paren_arith(&x), paren_arith(&y)),
                    1,
                );
            return Code::temp(text, out);
        }
        let side = |em: &Self, c: &Code| -> String {
            let opt = matches!(c.ty, Type::Optional(_));
            match (opt, by_ref) {
                (true, true) => format!("{}.as_deref()", c.term()),
                (true, false) => em.owned(c),
                (false, true) => format!("Some({})", em.str_arg(c)),
                (false, false) => format!("Some({})", em.owned(c)),
            }
        };
        let text = format!(
            "match ({}, {}) {{ (Some(x), Some(y)) => Some({body}), _ => None }}",
            side(self, &a),
            side(self, &b)
        );
        Code::temp(text, Type::Optional(Box::new(out)))
    }

    fn equality(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr) -> Code {
        let a = self.expr(lhs);
        let b = self.expr(rhs);
        let ne = op == BinaryOp::Ne;
        // `x == null`
        for (x, other) in [(&a, &b), (&b, &a)] {
            if other.ty == Type::Null && matches!(x.ty, Type::Optional(_)) {
                let m = if ne { "is_some" } else { "is_none" };
                return Code::temp(format!("{}.{m}()", x.term()), Type::Bool);
            }
            if other.ty == Type::Null && x.ty == Type::Json {
                let m = if ne { "!" } else { "" };
                return Code::temp(format!("{m}{}.is_null()", x.term()), Type::Bool);
            }
        }
        let (ka, kb) = (required(&a.ty), required(&b.ty));
        let scalar = matches!(
            ka,
            Type::String
                | Type::Int
                | Type::Float
                | Type::Decimal
                | Type::Bool
                | Type::Timestamp
                | Type::Date
        );
        let sym = if ne { "!=" } else { "==" };
        if ka == kb && scalar {
            let (oa, ob) = (
                matches!(a.ty, Type::Optional(_)),
                matches!(b.ty, Type::Optional(_)),
            );
            let text = match (oa, ob) {
                (false, false) => {
                    let x = self.eq_operand(&a);
                    let y = self.eq_operand(&b);
                    format!("{x} {sym} {y}")
                }
                (true, true) => format!("{} {sym} {}", a.text, b.text),
                (true, false) => format!("{} {sym} Some({})", a.text, self.owned(&b)),
                (false, true) => format!("Some({}) {sym} {}", self.owned(&a), b.text),
            };
            return Code::temp(text, Type::Bool);
        }
        let text = format!(
            "{}ops::equals({}, {})",
            if ne { "!" } else { "" },
            self.value_ref(&a),
            self.value_ref(&b)
        );
        Code::temp(text, Type::Bool)
    }

    /// One side of `==` of two required scalars of one kind (`String == &str` works).
    fn eq_operand(&self, c: &Code) -> String {
        match c.kind {
            Kind::Ref => format!("*{}", c.term()),
            _ => paren_arith(&c.text),
        }
    }

    /// One side of an ordering of two required scalars of one kind.
    fn cmp_operand(&self, c: &Code, other: &Code) -> String {
        match (c.kind, other.kind) {
            // String vs "literal": compare as &str
            (Kind::Str, _) => c.text.clone(),
            (_, Kind::Str) if c.ty == Type::String => match c.kind {
                Kind::Ref => format!("{}.as_str()", c.term()),
                _ => format!("{}.as_str()", c.term()),
            },
            (Kind::Ref, _) => format!("*{}", c.term()),
            _ => paren_arith(&c.text),
        }
    }

    fn ordering(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr) -> Code {
        let a = self.expr(lhs);
        let b = self.expr(rhs);
        let (ka, kb) = (required(&a.ty), required(&b.ty));
        let orderable = matches!(
            ka,
            Type::String
                | Type::Int
                | Type::Float
                | Type::Decimal
                | Type::Bool
                | Type::Timestamp
                | Type::Date
        );
        if ka != kb || !orderable {
            return self.generic_binary(op, &a, &b, &Type::Bool);
        }
        let optional = matches!(a.ty, Type::Optional(_)) || matches!(b.ty, Type::Optional(_));
        let (sym, name) = match op {
            BinaryOp::Lt => ("<", "lt"),
            BinaryOp::Le => ("<=", "le"),
            BinaryOp::Gt => (">", "gt"),
            _ => (">=", "ge"),
        };
        if !optional && ka != Type::Float {
            let x = self.cmp_operand(&a, &b);
            let y = self.cmp_operand(&b, &a);
            return Code::temp(format!("{x} {sym} {y}"), Type::Bool);
        }
        let text = format!("ops::{name}({}, {})?", self.opt_ref(&a), self.opt_ref(&b));
        Code::temp(text, Type::Bool)
    }

    fn coalesce(&mut self, lhs: &Expr, rhs: &Expr, ty: &Type) -> Code {
        let a = self.expr(lhs);
        let out = norm(ty);
        match (&a.ty, &out) {
            (Type::Optional(inner), _) if **inner == out => {
                let b = self.expr(rhs);
                let b = self.adapt(b, &out, &describe(rhs));
                let fallback = self.owned(&b);
                Code::temp(self.unwrap_or(&a, &fallback, &out), out)
            }
            (Type::Optional(_), Type::Optional(_)) if a.ty == out => {
                let b = self.expr(rhs);
                let b = self.adapt(b, &out, &describe(rhs));
                let fallback = self.owned(&b);
                let text = if fallback.contains('?') {
                    format!(
                        "match {} {{ Some(x) => Some(x), None => {fallback} }}",
                        self.owned(&a)
                    )
                } else {
                    format!("{}.or_else(|| {fallback})", self.owned(&a))
                };
                Code::temp(text, out)
            }
            (t, _) if *t != Type::Json && !matches!(t, Type::Optional(_)) && *t != Type::Null => {
                // never null: the right side is never evaluated
                let what = describe(lhs);
                self.adapt(a, &out, &what)
            }
            _ => {
                let b = self.expr(rhs);
                let value = self.to_value(&a);
                let fallback = self.to_value(&b);
                let text =
                    format!("{{ let x = {value}; if x.is_null() {{ {fallback} }} else {{ x }} }}");
                let c = Code::temp(text, Type::Json);
                self.adapt(c, &out, &describe(lhs))
            }
        }
    }

    /// `a ?? fallback` for an optional `a` and a required result.
    fn unwrap_or(&self, a: &Code, fallback: &str, out: &Type) -> String {
        let fallible = fallback.contains('?');
        let cheap = !fallible
            && (fallback.parse::<f64>().is_ok()
                || fallback == "true"
                || fallback == "false"
                || fallback
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'));
        let _ = out;
        let source = self.owned(a);
        let source = if is_atomic(&source) {
            source
        } else {
            format!("({source})")
        };
        if fallible {
            format!("match {source} {{ Some(x) => x, None => {fallback} }}")
        } else if cheap {
            format!("{source}.unwrap_or({fallback})")
        } else {
            format!("{source}.unwrap_or_else(|| {fallback})")
        }
    }

    fn if_else(&mut self, cond: &Expr, then: &Expr, otherwise: Option<&Expr>, ty: &Type) -> Code {
        let out = norm(ty);
        let c = self.condition(cond);
        let t = self.expr_as(then, &out);
        let e = match otherwise {
            Some(o) => {
                let chained = matches!(o.kind, ExprKind::If { .. }) && norm(&o.ty) == out;
                let text = self.expr_as(o, &out);
                if chained {
                    format!("else {text}")
                } else {
                    format!("else {{ {text} }}")
                }
            }
            None if out == Type::Json => "else { Value::Null }".into(),
            None => "else { None }".into(),
        };
        Code::temp(format!("if {c} {{ {t} }} {e}"), out)
    }

    fn record(&mut self, name: &str, fields: &[Expr], ty: &Type) -> Code {
        let Some(s) = self.model.get(name).cloned() else {
            return self.read_value("Value::Null".into(), ty);
        };
        self.structs.insert(s.rust.clone());
        let parts: Vec<String> = s
            .fields
            .iter()
            .zip(fields)
            .map(|(f, e)| {
                let v = self.expr_as(e, &f.ty);
                if v == f.rust {
                    v
                } else {
                    format!("{}: {v}", f.rust)
                }
            })
            .collect();
        let c = Code::temp(
            format!("{} {{ {} }}", s.rust, parts.join(", ")),
            Type::Record(name.into()),
        );
        self.adapt(c, &norm(ty), name)
    }

    fn interpolate(&mut self, parts: &[Expr]) -> Code {
        let mut fmt = String::new();
        let mut raw = String::new();
        let mut holes = 0;
        let mut args = Vec::new();
        for p in parts {
            if let ExprKind::Lit(Lit::String(s)) = &p.kind {
                fmt.push_str(&s.replace('{', "{{").replace('}', "}}"));
                raw.push_str(s);
                continue;
            }
            holes += 1;
            let c = self.expr(p);
            let displayable = matches!(
                c.ty,
                Type::String | Type::Int | Type::Bool | Type::Decimal | Type::Float
            );
            if displayable && c.is_ident() {
                fmt.push_str(&format!("{{{}}}", c.text));
            } else if displayable {
                fmt.push_str("{}");
                args.push(c.text.clone());
            } else {
                fmt.push_str("{}");
                args.push(format!("text({})", self.borrowed(&c)));
            }
        }
        if fmt == "{}" && args.len() == 1 {
            // `format!("{}", x)` is `x` as text
            let only = args.remove(0);
            let text = if only.starts_with("text(") {
                only
            } else {
                format!("{only}.to_string()")
            };
            return Code::temp(text, Type::String);
        }
        let text = if holes == 0 {
            format!("String::from({})", str_lit(&raw))
        } else if args.is_empty() {
            format!("format!({})", str_lit(&fmt))
        } else {
            format!("format!({}, {})", str_lit(&fmt), args.join(", "))
        };
        Code::temp(text, Type::String)
    }

    fn convert(&mut self, to: &Type, inner: &Expr, ty: &Type) -> Code {
        let c = self.expr(inner);
        let target = norm(to);
        let req_to = required(&target);
        let optional = matches!(c.ty, Type::Optional(_));
        let from = required(&c.ty);
        let out = |t: Type| {
            if optional {
                Type::Optional(Box::new(t))
            } else {
                t
            }
        };
        match (&from, &req_to) {
            (f, t) if f == t => c,
            (Type::Int, Type::Decimal) if !optional => {
                Code::temp(format!("Decimal::from({})", self.owned(&c)), Type::Decimal)
            }
            (Type::Int, Type::Decimal) => Code::temp(
                format!("{}.map(Decimal::from)", self.owned(&c)),
                out(Type::Decimal),
            ),
            (Type::Int, Type::Float) if !optional => Code::temp(
                format!("{} as f64", paren_arith(&self.owned(&c))),
                Type::Float,
            ),
            (Type::Int, Type::Float) => Code::temp(
                format!("{}.map(|x| x as f64)", self.owned(&c)),
                out(Type::Float),
            ),
            (Type::Decimal, Type::Float) => {
                if let ExprKind::Lit(Lit::Decimal(d)) = &inner.kind
                    && let Some(f) = decimal_literal_as_float(d)
                {
                    return Code::temp(f, Type::Float);
                }
                if optional {
                    Code::temp(
                        format!("{}.map(conv::decimal_to_float)", self.owned(&c)),
                        out(Type::Float),
                    )
                } else {
                    Code::temp(
                        format!("conv::decimal_to_float({})", self.owned(&c)),
                        Type::Float,
                    )
                }
            }
            (_, Type::Json) => Code::temp(format!("json({})", self.to_value(&c)), Type::Json),
            _ => {
                self.uses_schemas = true;
                let text = format!(
                    "ops::convert({}, &crate::ty({}), crate::schemas())?",
                    self.to_value(&c),
                    str_lit(&to.to_string())
                );
                self.read_value(text, ty)
            }
        }
    }

    // ---- calls ----

    fn call(&mut self, func: Func, args: &[Expr], ty: &Type) -> Code {
        let codes: Vec<Code> = args.iter().map(|a| self.expr(a)).collect();
        if let Some(c) = self.fast_call(func, &codes) {
            return c;
        }
        let values: Vec<String> = codes.iter().map(|c| self.to_value(c)).collect();
        let text = format!(
            "call(Func::{func:?}, &[{}], {})?",
            values.join(", "),
            str_lit(&ty.to_string())
        );
        self.read_value(text, ty)
    }

    /// Typed implementations of the common calls; `None` falls back to the runtime's.
    fn fast_call(&mut self, func: Func, c: &[Code]) -> Option<Code> {
        let kinds: Vec<Type> = c.iter().map(|c| required(&c.ty)).collect();
        let k = |i: usize| kinds.get(i).cloned().unwrap_or(Type::Null);
        let is = |i: usize, t: Type| k(i) == t;
        use Type::*;
        match func {
            Func::Upper | Func::Lower | Func::Trim | Func::Sha256
                if c.len() == 1 && is(0, String) =>
            {
                let name = format!("funcs::{}", func.name());
                Some(self.str_map(&c[0], &name, String))
            }
            Func::Len if c.len() == 1 && is(0, String) => {
                Some(self.str_map(&c[0], "funcs::len", Int))
            }
            Func::Len
                if c.len() == 1 && matches!(k(0), List(_)) && !matches!(c[0].ty, Optional(_)) =>
            {
                Some(Code::temp(
                    format!("funcs::len_list({})", self.borrowed(&c[0])),
                    Int,
                ))
            }
            Func::Split if c.len() == 2 && is(0, String) && is(1, String) => {
                Some(self.strict("split", c, &[true, true], List(Box::new(String)), false))
            }
            Func::Join
                if c.len() == 2
                    && k(0) == List(Box::new(String))
                    && is(1, String)
                    && c.iter().all(|x| !matches!(x.ty, Optional(_))) =>
            {
                Some(Code::temp(
                    format!(
                        "funcs::join({}, {})",
                        self.borrowed(&c[0]),
                        self.str_arg(&c[1])
                    ),
                    String,
                ))
            }
            Func::Contains | Func::StartsWith | Func::EndsWith
                if c.len() == 2 && is(0, String) && is(1, String) =>
            {
                Some(self.strict(func.name(), c, &[true, true], Bool, false))
            }
            Func::Replace if c.len() == 3 && (0..3).all(|i| is(i, String)) => {
                Some(self.strict("replace", c, &[true, true, true], String, false))
            }
            Func::Substring
                if (2..=3).contains(&c.len())
                    && is(0, String)
                    && is(1, Int)
                    && c.get(2).is_none_or(|x| required(&x.ty) == Int) =>
            {
                let text = self.owned_or_ref(&c[0]);
                let _ = text;
                Some(self.substring(c))
            }
            Func::Round
                if !c.is_empty()
                    && c.len() <= 2
                    && matches!(k(0), Decimal | Float | Int)
                    && c.get(1).is_none_or(|x| required(&x.ty) == Int) =>
            {
                Some(self.round(c))
            }
            Func::Abs if c.len() == 1 && is(0, Int) => {
                Some(self.copy_map(&c[0], "funcs::abs_int", true, Int))
            }
            Func::Abs if c.len() == 1 && matches!(k(0), Decimal | Float) => {
                let t = k(0);
                let x = &c[0];
                Some(if matches!(x.ty, Optional(_)) {
                    Code::temp(format!("{}.map(|x| x.abs())", self.owned(x)), x.ty.clone())
                } else {
                    Code::temp(format!("{}.abs()", paren_unary(&self.owned(x))), t)
                })
            }
            Func::Min | Func::Max
                if c.len() == 2
                    && k(0) == k(1)
                    && matches!(k(0), Int | Decimal | Float | String | Timestamp | Date) =>
            {
                let name = func.name();
                Some(self.strict_owned(&format!("ops::{name}"), c, k(0), true))
            }
            Func::Now if c.is_empty() => Some(Code::temp("funcs::now()".into(), Timestamp)),
            Func::Uuid if c.is_empty() => Some(Code::temp("funcs::uuid()".into(), String)),
            Func::FormatTimestamp
                if c.len() == 2 && matches!(k(0), Timestamp | Date) && is(1, String) =>
            {
                let name = if k(0) == Timestamp {
                    "format_timestamp"
                } else {
                    "format_date"
                };
                Some(self.strict(name, c, &[false, true], String, true))
            }
            Func::ToString if c.len() == 1 => {
                let text = if c[0].ty == String {
                    self.owned(&c[0])
                } else {
                    format!("text({})", self.borrowed(&c[0]))
                };
                Some(Code::temp(text, String))
            }
            Func::Concat if !c.is_empty() && c.iter().all(|x| required(&x.ty) == String) => {
                let parts: Vec<std::string::String> = c
                    .iter()
                    .map(|x| {
                        if x.ty == String {
                            self.str_arg(x)
                        } else {
                            format!("&text({})", self.borrowed(x))
                        }
                    })
                    .collect();
                Some(Code::temp(
                    format!("[{}].concat()", parts.join(", ")),
                    String,
                ))
            }
            _ => None,
        }
    }

    fn owned_or_ref(&self, c: &Code) -> String {
        self.owned(c)
    }

    /// A one-argument string function, null in → null out.
    fn str_map(&self, c: &Code, path: &str, out: Type) -> Code {
        if matches!(c.ty, Type::Optional(_)) {
            Code::temp(
                format!("{}.as_deref().map({path})", c.term()),
                Type::Optional(Box::new(out)),
            )
        } else {
            Code::temp(format!("{path}({})", self.str_arg(c)), out)
        }
    }

    /// A one-argument function of a `Copy` type, null in → null out.
    fn copy_map(&self, c: &Code, path: &str, fallible: bool, out: Type) -> Code {
        if matches!(c.ty, Type::Optional(_)) {
            let t = if fallible { ".transpose()?" } else { "" };
            Code::temp(
                format!("{}.map({path}){t}", self.owned(c)),
                Type::Optional(Box::new(out)),
            )
        } else {
            let q = if fallible { "?" } else { "" };
            Code::temp(format!("{path}({}){q}", self.owned(c)), out)
        }
    }

    /// `funcs::name(args…)` with every argument null-checked; `strs[i]`
    /// says argument i is passed as `&str` (else by value, `Copy` or borrowed).
    fn strict(&self, name: &str, c: &[Code], strs: &[bool], out: Type, fallible: bool) -> Code {
        let q = if fallible { "?" } else { "" };
        let optional = c.iter().any(|x| matches!(x.ty, Type::Optional(_)));
        if !optional {
            let args: Vec<String> = c
                .iter()
                .zip(strs)
                .map(|(x, s)| {
                    if *s {
                        self.str_arg(x)
                    } else {
                        self.borrowed(x)
                    }
                })
                .collect();
            return Code::temp(format!("funcs::{name}({}){q}", args.join(", ")), out);
        }
        let scrutinee: Vec<String> = c
            .iter()
            .zip(strs)
            .map(|(x, s)| match (matches!(x.ty, Type::Optional(_)), *s) {
                (true, true) => format!("{}.as_deref()", x.term()),
                (true, false) => format!("{}.as_ref()", x.term()),
                (false, true) => format!("Some({})", self.str_arg(x)),
                (false, false) => format!("Some({})", self.borrowed(x)),
            })
            .collect();
        let vars: Vec<String> = (0..c.len()).map(|i| format!("x{i}")).collect();
        let pats: Vec<String> = vars.iter().map(|v| format!("Some({v})")).collect();
        Code::temp(
            format!(
                "match ({}) {{ ({}) => Some(funcs::{name}({}){q}), _ => None }}",
                scrutinee.join(", "),
                pats.join(", "),
                vars.join(", ")
            ),
            Type::Optional(Box::new(out)),
        )
    }

    /// `path(a, b)` over owned values, every argument null-checked.
    fn strict_owned(&self, path: &str, c: &[Code], out: Type, fallible: bool) -> Code {
        let q = if fallible { "?" } else { "" };
        let optional = c.iter().any(|x| matches!(x.ty, Type::Optional(_)));
        if !optional {
            let args: Vec<String> = c.iter().map(|x| self.owned(x)).collect();
            return Code::temp(format!("{path}({}){q}", args.join(", ")), out);
        }
        let scrutinee: Vec<String> = c
            .iter()
            .map(|x| {
                if matches!(x.ty, Type::Optional(_)) {
                    self.owned(x)
                } else {
                    format!("Some({})", self.owned(x))
                }
            })
            .collect();
        let vars: Vec<String> = (0..c.len()).map(|i| format!("x{i}")).collect();
        let pats: Vec<String> = vars.iter().map(|v| format!("Some({v})")).collect();
        Code::temp(
            format!(
                "match ({}) {{ ({}) => Some({path}({}){q}), _ => None }}",
                scrutinee.join(", "),
                pats.join(", "),
                vars.join(", ")
            ),
            Type::Optional(Box::new(out)),
        )
    }

    fn substring(&self, c: &[Code]) -> Code {
        // null text or start gives null; a null length means "to the end"
        let len = match c.get(2) {
            None => "None".to_string(),
            Some(l) if matches!(l.ty, Type::Optional(_)) => self.owned(l),
            Some(l) => format!("Some({})", self.owned(l)),
        };
        let (t, s) = (&c[0], &c[1]);
        let optional = matches!(t.ty, Type::Optional(_)) || matches!(s.ty, Type::Optional(_));
        if !optional {
            return Code::temp(
                format!(
                    "funcs::substring({}, {}, {len})",
                    self.str_arg(t),
                    self.owned(s)
                ),
                Type::String,
            );
        }
        let text_side = if matches!(t.ty, Type::Optional(_)) {
            format!("{}.as_deref()", t.term())
        } else {
            format!("Some({})", self.str_arg(t))
        };
        let start_side = if matches!(s.ty, Type::Optional(_)) {
            self.owned(s)
        } else {
            format!("Some({})", self.owned(s))
        };
        Code::temp(
            format!(
                "match ({text_side}, {start_side}, {len}) {{ (Some(x0), Some(x1), x2) => Some(funcs::substring(x0, x1, x2)), _ => None }}"
            ),
            Type::Optional(Box::new(Type::String)),
        )
    }

    fn round(&self, c: &[Code]) -> Code {
        let v = &c[0];
        let kind = required(&v.ty);
        let digits = match c.get(1) {
            None => "None".to_string(),
            Some(d) if matches!(d.ty, Type::Optional(_)) => self.owned(d),
            Some(d) => format!("Some({})", self.owned(d)),
        };
        let path = match kind {
            Type::Decimal => "funcs::round_decimal",
            Type::Float => "funcs::round_float",
            _ => {
                // ints are whole already; the digits are still evaluated
                let _ = digits;
                return Code::temp(self.owned(v), v.ty.clone());
            }
        };
        if matches!(v.ty, Type::Optional(_)) {
            Code::temp(
                format!("{}.map(|x| {path}(x, {digits}))", self.owned(v)),
                v.ty.clone(),
            )
        } else {
            Code::temp(format!("{path}({}, {digits})", self.owned(v)), kind)
        }
    }
}

/// A decimal literal as the float the runtime's conversion gives, written
/// so that Rust reads back the same `f64`.
fn decimal_literal_as_float(text: &str) -> Option<String> {
    use rust_decimal::prelude::ToPrimitive;
    let f = text.parse::<rust_decimal::Decimal>().ok()?.to_f64()?;
    f.is_finite().then(|| format!("{f:?}"))
}

/// The type without its optional marker (normalised).
fn required(ty: &Type) -> Type {
    match norm(ty) {
        Type::Optional(t) => *t,
        t => t,
    }
}

fn paren_unary(text: &str) -> String {
    if is_atomic(text) {
        text.to_string()
    } else {
        format!("({text})")
    }
}

fn paren_bool(text: &str) -> String {
    // comparisons bind tighter than && and ||; mixed && / || need parentheses
    if text.contains("&&")
        || text.contains("||")
        || text.starts_with("if ")
        || text.starts_with("match ")
    {
        format!("({text})")
    } else {
        text.to_string()
    }
}

fn paren_arith(text: &str) -> String {
    if is_atomic(text) || text.starts_with("Decimal::") {
        text.to_string()
    } else {
        format!("({text})")
    }
}

/// A short description of an expression for error messages (`field `x``).
fn describe(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Field { name, .. } => format!("field `{name}`"),
        ExprKind::Binding(name) => format!("`${name}`"),
        _ => "a value".into(),
    }
}

/// Every binding `e` reads, with the type to read it as (optional when any
/// read may see null).
fn collect_bindings(e: &Expr, out: &mut BTreeMap<String, Type>) {
    match &e.kind {
        ExprKind::Binding(name) => {
            let ty = norm(&e.ty);
            let merged = match out.get(name) {
                None => ty,
                Some(prev) if *prev == ty => ty,
                Some(prev) => {
                    let base = required(prev);
                    if base == Type::Json || required(&ty) == Type::Json {
                        Type::Json
                    } else {
                        Type::Optional(Box::new(base))
                    }
                }
            };
            out.insert(name.clone(), merged);
        }
        ExprKind::Lit(_) | ExprKind::Current => {}
        ExprKind::Field { base, .. } => collect_bindings(base, out),
        ExprKind::Index { base, index } => {
            collect_bindings(base, out);
            collect_bindings(index, out);
        }
        ExprKind::Unary { expr, .. } | ExprKind::Convert { expr, .. } => {
            collect_bindings(expr, out)
        }
        ExprKind::Binary { lhs, rhs, .. } => {
            collect_bindings(lhs, out);
            collect_bindings(rhs, out);
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            collect_bindings(cond, out);
            collect_bindings(then, out);
            if let Some(o) = otherwise {
                collect_bindings(o, out);
            }
        }
        ExprKind::Call { args, .. } | ExprKind::List(args) | ExprKind::Interpolate(args) => {
            args.iter().for_each(|a| collect_bindings(a, out))
        }
        ExprKind::Record { fields, .. } => fields.iter().for_each(|a| collect_bindings(a, out)),
        ExprKind::Object(fields) => fields.iter().for_each(|(_, a)| collect_bindings(a, out)),
    }
}
