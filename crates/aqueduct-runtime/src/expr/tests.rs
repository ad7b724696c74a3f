//! Expression semantics: exact decimals, null rules, short-circuiting and every function.

use super::*;
use aqueduct_graph::{
    BinaryOp, Expr, ExprKind, FieldType, Func, Graph, RecordType, Type, UnaryOp, Value as Lit,
};

fn e(kind: ExprKind, ty: Type) -> Expr {
    Expr { kind, ty }
}
fn lit(v: Lit) -> Expr {
    let ty = match &v {
        Lit::Int(_) => Type::Int,
        Lit::Decimal(_) => Type::Decimal,
        Lit::Float(_) => Type::Float,
        Lit::String(_) => Type::String,
        Lit::Bool(_) => Type::Bool,
        Lit::Null => Type::Null,
        _ => Type::Json,
    };
    e(ExprKind::Lit(v), ty)
}
fn int(i: i64) -> Expr {
    lit(Lit::Int(i))
}
fn dec(d: &str) -> Expr {
    lit(Lit::Decimal(d.into()))
}
fn st(t: &str) -> Expr {
    lit(Lit::String(t.into()))
}
fn null() -> Expr {
    lit(Lit::Null)
}
fn bin(op: BinaryOp, l: Expr, r: Expr) -> Expr {
    let ty = l.ty.clone();
    e(
        ExprKind::Binary {
            op,
            lhs: Box::new(l),
            rhs: Box::new(r),
        },
        ty,
    )
}
fn call(func: Func, args: Vec<Expr>) -> Expr {
    e(ExprKind::Call { func, args }, Type::Json)
}
fn schemas() -> Arc<Schemas> {
    let field = |n: &str, t: &str| FieldType {
        name: n.into(),
        ty: Type::parse(t).expect("type"),
        doc: vec![],
    };
    let graph = Graph {
        types: vec![RecordType {
            name: "A".into(),
            fields: vec![field("id", "string"), field("n", "int?")],
            doc: vec![],
        }],
        ..Graph::default()
    };
    Arc::new(Schemas::new(&graph))
}
fn eval(x: &Expr) -> Result<Value, EvalError> {
    compile(x, &schemas()).eval_record(&Value::Null)
}
fn text(x: &Expr) -> String {
    eval(x).expect("evaluates").to_text()
}
fn record() -> Value {
    let s = schemas();
    Value::from_json(
        &serde_json::json!({"id": "r1", "n": null}),
        &Type::Record("A".into()),
        &s,
    )
    .expect("record")
}

#[test]
fn decimal_arithmetic_is_exact() {
    assert_eq!(
        eval(&bin(
            BinaryOp::Eq,
            bin(BinaryOp::Add, dec("0.1"), dec("0.2")),
            dec("0.3")
        )),
        Ok(Value::Bool(true))
    );
    assert_eq!(text(&bin(BinaryOp::Mul, dec("19.99"), int(3))), "59.97");
    assert_eq!(text(&bin(BinaryOp::Div, dec("1"), dec("4"))), "0.25");
}

#[test]
fn int_overflow_and_division_by_zero_are_errors() {
    assert_eq!(
        eval(&bin(BinaryOp::Add, int(i64::MAX), int(1))),
        Err(EvalError::new("integer overflow"))
    );
    assert_eq!(
        eval(&bin(BinaryOp::Div, int(1), int(0))),
        Err(EvalError::new("division by zero"))
    );
    assert_eq!(
        eval(&bin(BinaryOp::Rem, dec("1"), dec("0"))),
        Err(EvalError::new("division by zero"))
    );
    assert_eq!(text(&bin(BinaryOp::Div, int(7), int(2))), "3");
    let neg = e(
        ExprKind::Unary {
            op: UnaryOp::Neg,
            expr: Box::new(int(i64::MIN)),
        },
        Type::Int,
    );
    assert!(eval(&neg).is_err());
}

#[test]
fn null_rules() {
    assert_eq!(eval(&bin(BinaryOp::Add, int(1), null())), Ok(Value::Null));
    assert_eq!(
        eval(&bin(BinaryOp::Lt, null(), int(1))),
        Ok(Value::Bool(false))
    );
    assert_eq!(
        eval(&bin(BinaryOp::Ge, null(), int(1))),
        Ok(Value::Bool(false))
    );
    assert_eq!(
        eval(&bin(BinaryOp::Eq, null(), null())),
        Ok(Value::Bool(true))
    );
    assert_eq!(
        eval(&bin(BinaryOp::Ne, null(), int(1))),
        Ok(Value::Bool(true))
    );
    assert_eq!(text(&bin(BinaryOp::Coalesce, null(), st("x"))), "x");
    let interp = e(
        ExprKind::Interpolate(vec![st("a"), null(), st("b")]),
        Type::String,
    );
    assert_eq!(text(&interp), "ab");
    assert_eq!(eval(&call(Func::Upper, vec![null()])), Ok(Value::Null));
}

#[test]
fn short_circuit_skips_errors() {
    let boom = bin(BinaryOp::Div, int(1), int(0));
    assert_eq!(
        eval(&bin(BinaryOp::And, lit(Lit::Bool(false)), boom.clone())),
        Ok(Value::Bool(false))
    );
    assert_eq!(
        eval(&bin(BinaryOp::Or, lit(Lit::Bool(true)), boom.clone())),
        Ok(Value::Bool(true))
    );
    assert_eq!(
        eval(&bin(BinaryOp::Coalesce, int(1), boom.clone())),
        Ok(Value::Int(1))
    );
    let cond = e(
        ExprKind::If {
            cond: Box::new(lit(Lit::Bool(true))),
            then: Box::new(int(1)),
            otherwise: Some(Box::new(boom)),
        },
        Type::Int,
    );
    assert_eq!(eval(&cond), Ok(Value::Int(1)));
}

#[test]
fn fields_by_slot_and_json_by_name() {
    let a = Type::Record("A".into());
    let cur = e(ExprKind::Current, a);
    let id = e(
        ExprKind::Field {
            base: Box::new(cur.clone()),
            name: "id".into(),
            slot: Some(0),
        },
        Type::String,
    );
    let n = e(
        ExprKind::Field {
            base: Box::new(cur),
            name: "n".into(),
            slot: Some(1),
        },
        Type::Int.optional(),
    );
    let s = schemas();
    assert_eq!(
        compile(&id, &s).eval_record(&record()),
        Ok(Value::string("r1"))
    );
    assert_eq!(compile(&n, &s).eval_record(&record()), Ok(Value::Null));
    let json = Value::Json(Arc::new(serde_json::json!({"a": {"b": [10, 20]}})));
    let base = e(ExprKind::Current, Type::Json);
    let ab = e(
        ExprKind::Field {
            base: Box::new(e(
                ExprKind::Field {
                    base: Box::new(base),
                    name: "a".into(),
                    slot: None,
                },
                Type::Json,
            )),
            name: "b".into(),
            slot: None,
        },
        Type::Json,
    );
    let idx = e(
        ExprKind::Index {
            base: Box::new(ab),
            index: Box::new(int(1)),
        },
        Type::Json,
    );
    assert_eq!(
        compile(&idx, &s).eval_record(&json).map(|v| v.to_text()),
        Ok("20".into())
    );
    let mut b = Bindings::new();
    b.set("x", Value::Int(3));
    assert_eq!(
        compile(&e(ExprKind::Binding("x".into()), Type::Int), &s).eval(&Value::Null, &b),
        Ok(Value::Int(3))
    );
}

#[test]
fn string_functions_count_characters() {
    assert_eq!(text(&call(Func::Upper, vec![st("é")])), "É");
    assert_eq!(text(&call(Func::Lower, vec![st("AB")])), "ab");
    assert_eq!(text(&call(Func::Trim, vec![st(" x ")])), "x");
    assert_eq!(
        text(&call(Func::Replace, vec![st("a-b-c"), st("-"), st("+")])),
        "a+b+c"
    );
    assert_eq!(
        text(&call(Func::Split, vec![st("a,b"), st(",")])),
        r#"["a","b"]"#
    );
    assert_eq!(
        text(&call(Func::Concat, vec![st("a"), null(), st("b")])),
        "ab"
    );
    assert_eq!(text(&call(Func::Len, vec![st("héllo")])), "5");
    assert_eq!(
        text(&call(Func::Substring, vec![st("héllo"), int(1), int(3)])),
        "éll"
    );
    assert_eq!(
        text(&call(Func::Substring, vec![st("héllo"), int(3)])),
        "lo"
    );
    assert_eq!(
        text(&call(Func::Contains, vec![st("abc"), st("b")])),
        "true"
    );
    assert_eq!(
        text(&call(Func::StartsWith, vec![st("abc"), st("a")])),
        "true"
    );
    assert_eq!(
        text(&call(Func::EndsWith, vec![st("abc"), st("b")])),
        "false"
    );
    let list = e(
        ExprKind::List(vec![st("a"), st("b")]),
        Type::List(Box::new(Type::String)),
    );
    assert_eq!(text(&call(Func::Join, vec![list.clone(), st("/")])), "a/b");
    assert_eq!(text(&call(Func::Len, vec![list.clone()])), "2");
    assert_eq!(text(&bin(BinaryOp::In, st("b"), list)), "true");
    assert_eq!(text(&bin(BinaryOp::In, st("bc"), st("abc"))), "true");
}

#[test]
fn number_functions() {
    assert_eq!(text(&call(Func::Round, vec![dec("2.5")])), "3");
    assert_eq!(text(&call(Func::Round, vec![dec("-2.5")])), "-3");
    assert_eq!(text(&call(Func::Round, vec![dec("2.345"), int(2)])), "2.35");
    assert_eq!(
        text(&call(Func::Round, vec![lit(Lit::Float(2.675)), int(2)])),
        "2.68"
    );
    assert_eq!(text(&call(Func::Abs, vec![int(-3)])), "3");
    assert_eq!(text(&call(Func::Abs, vec![dec("-1.50")])), "1.50");
    assert_eq!(text(&call(Func::Min, vec![int(2), int(5)])), "2");
    assert_eq!(text(&call(Func::Max, vec![dec("2.5"), int(1)])), "2.5");
}

#[test]
fn time_functions_use_the_clock() {
    let fixed =
        Clock::Fixed(crate::value::json::parse_timestamp("2026-03-01T10:00:00Z").expect("ts"));
    let now = compile_with_clock(&call(Func::Now, vec![]), &schemas(), &fixed);
    assert_eq!(
        now.eval_record(&Value::Null).map(|v| v.to_text()),
        Ok("2026-03-01T10:00:00Z".into())
    );
    let parsed = call(Func::ParseTimestamp, vec![st("2026-01-02T03:04:05+01:00")]);
    assert_eq!(text(&parsed), "2026-01-02T02:04:05Z");
    assert_eq!(
        eval(&call(Func::ParseTimestamp, vec![st("nope")])),
        Ok(Value::Null)
    );
    assert_eq!(
        text(&call(
            Func::ParseTimestamp,
            vec![st("02/01/2026"), st("%d/%m/%Y")]
        )),
        "2026-01-02T00:00:00Z"
    );
    assert_eq!(
        text(&call(
            Func::FormatTimestamp,
            vec![parsed, st("%Y/%m/%d %H")]
        )),
        "2026/01/02 02"
    );
    assert!(
        eval(&call(
            Func::FormatTimestamp,
            vec![call(Func::Now, vec![]), st("%Q")]
        ))
        .is_err()
    );
}

#[test]
fn conversions() {
    assert_eq!(text(&call(Func::ToString, vec![dec("1.50")])), "1.50");
    assert_eq!(text(&call(Func::ToString, vec![null()])), "");
    assert_eq!(eval(&call(Func::ToInt, vec![st("42")])), Ok(Value::Int(42)));
    assert_eq!(eval(&call(Func::ToInt, vec![st("x")])), Ok(Value::Null));
    assert_eq!(text(&call(Func::ToDecimal, vec![st("12.50")])), "12.50");
    assert_eq!(
        eval(&call(Func::ToFloat, vec![int(2)])),
        Ok(Value::Float(2.0))
    );
    assert_eq!(text(&call(Func::ToJson, vec![dec("1.50")])), "1.50");
    assert_eq!(
        text(&call(Func::ToJson, vec![record_expr()])),
        r#"{"id":"x","n":null}"#
    );
    assert_eq!(
        text(&call(Func::ParseJson, vec![st(r#"{"a":1}"#)])),
        r#"{"a":1}"#
    );
    assert_eq!(eval(&call(Func::ParseJson, vec![st("{")])), Ok(Value::Null));
    let u = text(&call(Func::Uuid, vec![]));
    assert_eq!((u.len(), &u[14..15]), (36, "4"));
    assert_eq!(
        text(&call(Func::Sha256, vec![st("abc")])),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let conv = |to: Type, x: Expr| {
        e(
            ExprKind::Convert {
                to: to.clone(),
                expr: Box::new(x),
            },
            to,
        )
    };
    assert_eq!(
        eval(&conv(Type::Decimal, int(3))),
        Ok(Value::Decimal(3.into()))
    );
    assert_eq!(
        text(&conv(Type::Timestamp, st("2026-01-01T00:00:00Z"))),
        "2026-01-01T00:00:00Z"
    );
    assert_eq!(text(&conv(Type::Date, st("2026-01-01"))), "2026-01-01");
    assert_eq!(
        eval(&conv(Type::Json, int(1))),
        Ok(Value::Json(Arc::new(serde_json::json!(1))))
    );
    let obj = e(ExprKind::Object(vec![("k".into(), int(1))]), Type::Json);
    assert_eq!(text(&obj), r#"{"k":1}"#);
}

fn record_expr() -> Expr {
    e(
        ExprKind::Record {
            ty: "A".into(),
            fields: vec![st("x"), null()],
        },
        Type::Record("A".into()),
    )
}

#[test]
fn every_function_is_covered() {
    // keeps this file honest when a function is added to the IR
    assert_eq!(Func::ALL.len(), 27);
}
