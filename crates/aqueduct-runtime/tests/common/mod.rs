//! Builders for hand-made graphs (the checker is not needed to test the runtime).
#![allow(dead_code)]

use aqueduct_graph::*;
use aqueduct_runtime::connector::{ConnectorFactory, Registry};
use aqueduct_runtime::value::{Schemas, Value as V};
use std::sync::Arc;

pub fn field(name: &str, ty: &str) -> FieldType {
    FieldType {
        name: name.into(),
        ty: Type::parse(ty).expect("type"),
        doc: vec![],
    }
}

pub fn record_type(name: &str, fields: &[(&str, &str)]) -> RecordType {
    RecordType {
        name: name.into(),
        fields: fields.iter().map(|(n, t)| field(n, t)).collect(),
        doc: vec![],
    }
}

pub fn rec(name: &str) -> Type {
    Type::Record(name.into())
}

pub fn op(system: &str, operation: &str) -> OpRef {
    OpRef {
        system: system.into(),
        connector: "mock".into(),
        operation: operation.into(),
        args: vec![],
        origin: Origin::default(),
    }
}

pub fn ep(system: &str, operation: &str) -> Endpoint {
    Endpoint::Op(op(system, operation))
}

pub fn system(name: &str) -> System {
    System {
        name: name.into(),
        kind: "mock".into(),
        options: vec![],
        doc: vec![],
        origin: Origin::default(),
    }
}

pub fn step(id: &str, kind: StepKind, ty: Type) -> Step {
    Step {
        id: id.into(),
        kind,
        input: ty.clone(),
        output: ty,
        origin: Origin {
            file: "flows.aq".into(),
            start: 0,
            end: 0,
        },
        status: None,
    }
}

pub fn flow(name: &str, mode: ModeKind, source: Endpoint, ty: Type, steps: Vec<Step>) -> Flow {
    Flow {
        name: name.into(),
        doc: vec![],
        mode: Mode {
            kind: mode,
            schedule: None,
            chunk: None,
        },
        source: Source {
            endpoint: source,
            record_type: ty,
            origin: Origin::default(),
        },
        steps,
        policies: Policies::default(),
        origin: Origin::default(),
    }
}

/// A graph with type `Order { id: string, amount: decimal, tags: [string]? }` and system `m`.
pub fn graph(flows: Vec<Flow>) -> Graph {
    Graph {
        project: "t".into(),
        types: vec![
            record_type(
                "Order",
                &[
                    ("id", "string"),
                    ("amount", "decimal"),
                    ("tags", "[string]?"),
                ],
            ),
            record_type("Out", &[("ref", "string"), ("doubled", "decimal")]),
            record_type("Tag", &[("name", "string")]),
        ],
        systems: vec![system("m")],
        flows,
        ..Graph::default()
    }
}

pub fn e(kind: ExprKind, ty: Type) -> Expr {
    Expr { kind, ty }
}

pub fn cur(ty: Type) -> Expr {
    e(ExprKind::Current, ty)
}

/// `.name` of an `Order`.
pub fn order_field(name: &str) -> Expr {
    let (slot, ty) = match name {
        "id" => (0, Type::String),
        "amount" => (1, Type::Decimal),
        _ => (2, Type::List(Box::new(Type::String)).optional()),
    };
    e(
        ExprKind::Field {
            base: Box::new(cur(rec("Order"))),
            name: name.into(),
            slot: Some(slot),
        },
        ty,
    )
}

pub fn lit(v: Value, ty: Type) -> Expr {
    e(ExprKind::Lit(v), ty)
}

pub fn dec(d: &str) -> Expr {
    lit(Value::Decimal(d.into()), Type::Decimal)
}

pub fn bin(op: BinaryOp, l: Expr, r: Expr, ty: Type) -> Expr {
    e(
        ExprKind::Binary {
            op,
            lhs: Box::new(l),
            rhs: Box::new(r),
        },
        ty,
    )
}

/// `where .amount > N`
pub fn amount_over(n: &str) -> StepKind {
    StepKind::Where(bin(BinaryOp::Gt, order_field("amount"), dec(n), Type::Bool))
}

/// Orders as runtime values.
pub fn orders(g: &Graph, items: &[(&str, &str)]) -> Vec<V> {
    let schemas = Schemas::new(g);
    items
        .iter()
        .map(|(id, amount)| {
            V::from_json(
                &serde_json::json!({"id": id, "amount": amount}),
                &rec("Order"),
                &schemas,
            )
            .expect("order")
        })
        .collect()
}

pub fn registry(factory: impl ConnectorFactory + 'static) -> Registry {
    let mut r = Registry::default();
    r.register(Arc::new(factory));
    r
}
