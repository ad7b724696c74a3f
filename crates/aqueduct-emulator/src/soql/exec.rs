//! Running a parsed query against the store: names are resolved against the
//! schema (case-insensitively, relationship hops through reference fields),
//! literals are converted to the field's stored form (a mistyped literal is
//! an error, as in Salesforce), rows are filtered, ordered, cut, and
//! rendered as REST JSON records or Bulk CSV cells.
//!
//! SOQL compares null as a value: `Industry != 'Energy'` includes records
//! with no industry, and ordering comparisons never match null.

use super::like::{Pat, like, like_pattern};
use super::{CmpOp, Expr, Literal, Query, SelectItem, SoqlError};
use crate::clock::{parse_datetime, rest_datetime};
use crate::ids;
use crate::schema::{FieldType, ObjectDef, Schema};
use crate::store::{Data, Record, is_deleted};
use crate::values::{compare, to_text};
use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{Map, Value, json};
use std::cmp::Ordering;

/// One hop through a reference field.
#[derive(Debug, Clone)]
struct Hop {
    ref_field: String,
    rel_name: String,
}

/// A resolved field path.
#[derive(Debug, Clone)]
struct Resolved {
    hops: Vec<Hop>,
    field: String,
    ftype: FieldType,
    /// `Account.Name`, in declared spelling (Bulk CSV header).
    label: String,
}

#[derive(Debug, Clone)]
enum Item {
    Field(Resolved),
    Sub {
        rel_name: String,
        child_field: String,
        query: Box<Prepared>,
    },
}

#[derive(Debug, Clone)]
enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Cmp(Resolved, CmpOp, Value),
    In(Resolved, Vec<Value>, bool),
    Like(Resolved, Vec<Pat>),
    /// A date literal: the field against the range `[start, end)`, in the
    /// field's stored form.
    Range(Resolved, CmpOp, Value, Value),
}

/// A query checked against the schema, ready to run.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The FROM object's index.
    pub obj: usize,
    /// The FROM object's name.
    pub object_name: String,
    /// `SELECT COUNT()`.
    pub count_only: bool,
    /// LIMIT.
    pub limit: Option<usize>,
    /// OFFSET.
    pub offset: Option<usize>,
    items: Vec<Item>,
    filter: Option<Cond>,
    order: Vec<(Resolved, bool, bool)>,
}

impl Prepared {
    /// Whether the SELECT has a parent-to-child subquery.
    pub fn has_subquery(&self) -> bool {
        self.items.iter().any(|i| matches!(i, Item::Sub { .. }))
    }

    /// The column names of a Bulk CSV result, in SELECT order.
    pub fn columns(&self) -> Vec<String> {
        self.items
            .iter()
            .filter_map(|i| match i {
                Item::Field(r) => Some(r.label.clone()),
                Item::Sub { .. } => None,
            })
            .collect()
    }

    /// One Bulk CSV row.
    pub fn csv_row(&self, schema: &Schema, data: &Data, rec: &Record) -> Vec<String> {
        self.items
            .iter()
            .filter_map(|i| match i {
                Item::Field(r) => Some(to_text(&value_of(schema, data, rec, r))),
                Item::Sub { .. } => None,
            })
            .collect()
    }

    /// One REST JSON record with `attributes`, relationship objects and
    /// child query results nested. `base` is `/services/data/vXX.X`.
    pub fn render(
        &self,
        schema: &Schema,
        data: &Data,
        rec: &Record,
        base: &str,
        all_rows: bool,
    ) -> Value {
        let mut out = attributes(&self.object_name, rec, base);
        for item in &self.items {
            match item {
                Item::Field(r) => place(schema, data, rec, r, base, &mut out),
                Item::Sub {
                    rel_name,
                    child_field,
                    query,
                } => {
                    let parent_id = rec.get("Id").cloned().unwrap_or(Value::Null);
                    let rows: Vec<&Record> = run(schema, data, query, all_rows)
                        .into_iter()
                        .filter(|r| r.get(child_field) == Some(&parent_id))
                        .collect();
                    let value = if rows.is_empty() {
                        Value::Null
                    } else {
                        let records: Vec<Value> = rows
                            .iter()
                            .map(|r| query.render(schema, data, r, base, all_rows))
                            .collect();
                        json!({"totalSize": records.len(), "done": true, "records": records})
                    };
                    out.insert(rel_name.clone(), value);
                }
            }
        }
        Value::Object(out)
    }
}

/// Checks a query against the schema; date literals (`TODAY`,
/// `LAST_N_DAYS:n`, …) are days relative to `today` (the org's clock, UTC).
pub fn prepare(schema: &Schema, query: &Query, today: NaiveDate) -> Result<Prepared, SoqlError> {
    let Some(obj) = schema.index(&query.from.text) else {
        return Err(SoqlError {
            code: "INVALID_TYPE",
            message: format!(
                "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
                query.from.text
            ),
            pos: query.from.pos,
        });
    };
    prepare_on(schema, obj, query, today)
}

fn prepare_on(
    schema: &Schema,
    obj: usize,
    query: &Query,
    today: NaiveDate,
) -> Result<Prepared, SoqlError> {
    let def = &schema.objects[obj];
    if def.is_event {
        return Err(SoqlError {
            code: "INVALID_TYPE",
            message: format!(
                "sObject type '{}' is not supported. Platform events cannot be queried.",
                def.name
            ),
            pos: query.from.pos,
        });
    }
    let mut items = Vec::new();
    let mut count_only = false;
    for s in &query.select {
        match s {
            SelectItem::Count => count_only = true,
            SelectItem::Field(p) => items.push(Item::Field(resolve(schema, obj, &p.parts, p.pos)?)),
            SelectItem::Subquery(sub) => {
                let Some(rel) = def.child(&sub.from.text) else {
                    return Err(SoqlError {
                        code: "INVALID_TYPE",
                        message: format!(
                            "Didn't understand relationship '{}' in FROM part of query call. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.",
                            sub.from.text
                        ),
                        pos: sub.from.pos,
                    });
                };
                let child = schema.index(&rel.child).unwrap_or(obj);
                if sub
                    .select
                    .iter()
                    .any(|i| matches!(i, SelectItem::Subquery(_) | SelectItem::Count))
                {
                    return Err(SoqlError::malformed(
                        sub.from.pos,
                        "nested subqueries and COUNT() in subqueries are not supported",
                    ));
                }
                items.push(Item::Sub {
                    rel_name: rel.name.clone(),
                    child_field: rel.field.clone(),
                    query: Box::new(prepare_on(schema, child, sub, today)?),
                });
            }
        }
    }
    if count_only && !items.is_empty() {
        return Err(SoqlError::malformed(
            query.from.pos,
            "COUNT() cannot be combined with other fields",
        ));
    }
    let filter = match &query.filter {
        Some(e) => Some(condition(schema, obj, e, today)?),
        None => None,
    };
    let mut order = Vec::new();
    for o in &query.order {
        order.push((
            resolve(schema, obj, &o.path.parts, o.path.pos)?,
            o.desc,
            o.nulls_first,
        ));
    }
    Ok(Prepared {
        obj,
        object_name: def.name.clone(),
        count_only,
        limit: query.limit,
        offset: query.offset,
        items,
        filter,
        order,
    })
}

/// The matching rows, ordered and cut by OFFSET/LIMIT. `all_rows` includes
/// deleted records (`queryAll`).
pub fn run<'a>(schema: &Schema, data: &'a Data, p: &Prepared, all_rows: bool) -> Vec<&'a Record> {
    let Some(table) = data.tables.get(p.obj) else {
        return Vec::new();
    };
    let mut rows: Vec<&Record> = table
        .rows
        .values()
        .filter(|r| all_rows || !is_deleted(r))
        .filter(|r| p.filter.as_ref().is_none_or(|c| eval(schema, data, c, r)))
        .collect();
    if !p.order.is_empty() {
        rows.sort_by(|a, b| {
            for (r, desc, nulls_first) in &p.order {
                let (x, y) = (value_of(schema, data, a, r), value_of(schema, data, b, r));
                let ord = match (x.is_null(), y.is_null()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => {
                        if *nulls_first {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    (false, true) => {
                        if *nulls_first {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    (false, false) => {
                        let o = compare_typed(r.ftype, &x, &y);
                        if *desc { o.reverse() } else { o }
                    }
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
    }
    let offset = p.offset.unwrap_or(0);
    rows.into_iter()
        .skip(offset)
        .take(p.limit.unwrap_or(usize::MAX))
        .collect()
}

/// Whether a record (saved or about to be) meets a condition on object `obj`.
pub fn matches(
    schema: &Schema,
    data: &Data,
    obj: usize,
    expr: &Expr,
    rec: &Record,
    today: NaiveDate,
) -> Result<bool, SoqlError> {
    let c = condition(schema, obj, expr, today)?;
    Ok(eval(schema, data, &c, rec))
}

fn no_column(name: &str, entity: &str, pos: usize) -> SoqlError {
    SoqlError {
        code: "INVALID_FIELD",
        message: format!(
            "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
        ),
        pos,
    }
}

fn resolve(
    schema: &Schema,
    obj: usize,
    parts: &[String],
    pos: usize,
) -> Result<Resolved, SoqlError> {
    let mut def: &ObjectDef = &schema.objects[obj];
    let mut parts = parts;
    // `SELECT Account.Name FROM Account`: the object's own name may qualify a field.
    if parts.len() > 1
        && parts[0].eq_ignore_ascii_case(&def.name)
        && def.relationship(&parts[0]).is_none()
    {
        parts = &parts[1..];
    }
    let mut hops = Vec::new();
    let mut label = Vec::new();
    for part in &parts[..parts.len() - 1] {
        let Some(f) = def.relationship(part) else {
            return Err(SoqlError {
                code: "INVALID_FIELD",
                message: format!(
                    "Didn't understand relationship '{part}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
                ),
                pos,
            });
        };
        let rel_name = f.relationship_name.clone().unwrap_or_else(|| part.clone());
        let target = f.reference_to.first().and_then(|t| schema.object(t));
        let Some(target) = target else {
            return Err(no_column(part, &def.name, pos));
        };
        label.push(rel_name.clone());
        hops.push(Hop {
            ref_field: f.name.clone(),
            rel_name,
        });
        def = target;
    }
    let last = &parts[parts.len() - 1];
    let Some(f) = def.field(last) else {
        return Err(no_column(last, &def.name, pos));
    };
    label.push(f.name.clone());
    Ok(Resolved {
        hops,
        field: f.name.clone(),
        ftype: f.ftype,
        label: label.join("."),
    })
}

/// The value at the end of a path (null when a reference on the way is empty).
fn value_of(schema: &Schema, data: &Data, rec: &Record, r: &Resolved) -> Value {
    let mut cur = rec;
    for hop in &r.hops {
        let Some(id) = cur.get(&hop.ref_field).and_then(Value::as_str) else {
            return Value::Null;
        };
        let Some((_, next)) = data.find(schema, id) else {
            return Value::Null;
        };
        cur = next;
    }
    cur.get(&r.field).cloned().unwrap_or(Value::Null)
}

fn attributes(object: &str, rec: &Record, base: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let mut attrs = Map::new();
    attrs.insert("type".to_string(), json!(object));
    if let Some(id) = rec.get("Id").and_then(Value::as_str) {
        attrs.insert(
            "url".to_string(),
            json!(format!("{base}/sobjects/{object}/{id}")),
        );
    }
    out.insert("attributes".to_string(), Value::Object(attrs));
    out
}

/// Writes a path's value into a rendered record, nesting relationship objects.
fn place(
    schema: &Schema,
    data: &Data,
    rec: &Record,
    r: &Resolved,
    base: &str,
    out: &mut Map<String, Value>,
) {
    let mut cur = rec;
    let mut node = out;
    for hop in &r.hops {
        let target = cur
            .get(&hop.ref_field)
            .and_then(Value::as_str)
            .and_then(|id| data.find(schema, id));
        let Some((obj, next)) = target else {
            node.entry(hop.rel_name.clone()).or_insert(Value::Null);
            return;
        };
        let entry = node
            .entry(hop.rel_name.clone())
            .or_insert_with(|| Value::Object(attributes(&schema.objects[obj].name, next, base)));
        let Value::Object(child) = entry else { return };
        node = child;
        cur = next;
    }
    node.insert(
        r.field.clone(),
        cur.get(&r.field).cloned().unwrap_or(Value::Null),
    );
}

fn condition(schema: &Schema, obj: usize, e: &Expr, today: NaiveDate) -> Result<Cond, SoqlError> {
    Ok(match e {
        Expr::And(items) => Cond::And(
            items
                .iter()
                .map(|i| condition(schema, obj, i, today))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Or(items) => Cond::Or(
            items
                .iter()
                .map(|i| condition(schema, obj, i, today))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Not(inner) => Cond::Not(Box::new(condition(schema, obj, inner, today)?)),
        Expr::Cmp { path, op, value } => {
            let r = resolve(schema, obj, &path.parts, path.pos)?;
            if value == &Literal::Null && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return Err(SoqlError {
                    code: "INVALID_QUERY_FILTER_OPERATOR",
                    message: format!("invalid operator on null for field '{}'", r.field),
                    pos: path.pos,
                });
            }
            if let Literal::Days { text, from, to } = value {
                let (start, end) = day_range(&r, text, *from, *to, today, path.pos)?;
                return Ok(Cond::Range(r, *op, start, end));
            }
            let v = literal(&r, value, path.pos)?;
            Cond::Cmp(r, *op, v)
        }
        Expr::In {
            path,
            values,
            negated,
        } => {
            let r = resolve(schema, obj, &path.parts, path.pos)?;
            let vs = values
                .iter()
                .map(|v| literal(&r, v, path.pos))
                .collect::<Result<_, _>>()?;
            Cond::In(r, vs, *negated)
        }
        Expr::Like { path, pattern } => {
            let r = resolve(schema, obj, &path.parts, path.pos)?;
            if !(r.ftype.is_text() || r.ftype == FieldType::Id || r.ftype == FieldType::Reference) {
                return Err(SoqlError {
                    code: "INVALID_QUERY_FILTER_OPERATOR",
                    message: format!(
                        "invalid operator on field '{}': LIKE needs a text field",
                        r.field
                    ),
                    pos: path.pos,
                });
            }
            Cond::Like(r, like_pattern(pattern))
        }
    })
}

/// The range of a date literal as `[start, end)` in the stored form of a
/// date or datetime field: `= LAST_N_DAYS:30` is every moment from 00:00
/// UTC thirty days ago to the end of today.
fn day_range(
    r: &Resolved,
    text: &str,
    from: i64,
    to: i64,
    today: NaiveDate,
    pos: usize,
) -> Result<(Value, Value), SoqlError> {
    let day = |offset: i64| {
        today
            .checked_add_signed(chrono::Duration::days(offset))
            .unwrap_or(today)
    };
    let (first, after) = (day(from), day(to + 1));
    match r.ftype {
        FieldType::Date => Ok((
            Value::String(first.format("%Y-%m-%d").to_string()),
            Value::String(after.format("%Y-%m-%d").to_string()),
        )),
        FieldType::Datetime => {
            let midnight = |d: NaiveDate| {
                Value::String(rest_datetime(
                    Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN)),
                ))
            };
            Ok((midnight(first), midnight(after)))
        }
        _ => Err(SoqlError {
            code: "INVALID_QUERY_FILTER_OPERATOR",
            message: format!(
                "value of filter criterion for field '{}' must be of type {} and should not be enclosed in quotes ({text} is a date literal)",
                r.field,
                r.ftype.describe_name()
            ),
            pos,
        }),
    }
}

fn literal(r: &Resolved, lit: &Literal, pos: usize) -> Result<Value, SoqlError> {
    let t = r.ftype;
    let wrong = |quoted: bool| SoqlError {
        code: "INVALID_QUERY_FILTER_OPERATOR",
        message: format!(
            "value of filter criterion for field '{}' must be of type {} and should {}be enclosed in quotes",
            r.field,
            t.describe_name(),
            if quoted { "" } else { "not " }
        ),
        pos,
    };
    let quoted_type = t.is_text() || matches!(t, FieldType::Id | FieldType::Reference);
    Ok(match (lit, t) {
        (Literal::Null, _) => Value::Null,
        (Literal::Text(s), t) if t.is_text() => Value::String(s.clone()),
        (Literal::Text(s), FieldType::Id | FieldType::Reference) => match ids::normalize(s) {
            Some(id) => Value::String(id),
            None => {
                return Err(SoqlError {
                    code: "INVALID_QUERY_FILTER_OPERATOR",
                    message: format!("invalid ID field: {s}"),
                    pos,
                });
            }
        },
        (Literal::Number(n), t) if t.is_number() => match n.parse::<f64>() {
            Ok(f) => json!(f),
            Err(_) => return Err(wrong(false)),
        },
        (Literal::Bool(b), FieldType::Boolean) => Value::Bool(*b),
        (Literal::Date(d), FieldType::Date) => Value::String(d.clone()),
        (Literal::DateTime(d), FieldType::Datetime) => match parse_datetime(d) {
            Some(t) => Value::String(rest_datetime(t)),
            None => return Err(wrong(false)),
        },
        _ => return Err(wrong(quoted_type)),
    })
}

/// Ids order case-sensitively (their base-62 digits are in ASCII order, so
/// `ORDER BY Id` is creation order and `WHERE Id > '…'` pages correctly);
/// everything else orders as [`compare`] does.
fn compare_typed(t: FieldType, a: &Value, b: &Value) -> Ordering {
    match (t, a, b) {
        (FieldType::Id | FieldType::Reference, Value::String(x), Value::String(y)) => x.cmp(y),
        _ => compare(a, b),
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        _ => compare(a, b) == Ordering::Equal,
    }
}

fn eval(schema: &Schema, data: &Data, c: &Cond, rec: &Record) -> bool {
    match c {
        Cond::And(items) => items.iter().all(|i| eval(schema, data, i, rec)),
        Cond::Or(items) => items.iter().any(|i| eval(schema, data, i, rec)),
        Cond::Not(inner) => !eval(schema, data, inner, rec),
        Cond::Cmp(r, op, lit) => {
            let v = value_of(schema, data, rec, r);
            match op {
                CmpOp::Eq => equal(&v, lit),
                CmpOp::Ne => !equal(&v, lit),
                _ if v.is_null() => false,
                CmpOp::Lt => compare_typed(r.ftype, &v, lit) == Ordering::Less,
                CmpOp::Le => compare_typed(r.ftype, &v, lit) != Ordering::Greater,
                CmpOp::Gt => compare_typed(r.ftype, &v, lit) == Ordering::Greater,
                CmpOp::Ge => compare_typed(r.ftype, &v, lit) != Ordering::Less,
            }
        }
        Cond::Range(r, op, start, end) => {
            let v = value_of(schema, data, rec, r);
            // `=` is inside the range, `<`/`>` before/after it (Salesforce:
            // "use > or < to filter on either side of the range")
            let inside = |v: &Value| {
                !v.is_null()
                    && compare_typed(r.ftype, v, start) != Ordering::Less
                    && compare_typed(r.ftype, v, end) == Ordering::Less
            };
            match op {
                CmpOp::Eq => inside(&v),
                CmpOp::Ne => !inside(&v),
                _ if v.is_null() => false,
                CmpOp::Lt => compare_typed(r.ftype, &v, start) == Ordering::Less,
                CmpOp::Le => compare_typed(r.ftype, &v, end) == Ordering::Less,
                CmpOp::Gt => compare_typed(r.ftype, &v, end) != Ordering::Less,
                CmpOp::Ge => compare_typed(r.ftype, &v, start) != Ordering::Less,
            }
        }
        Cond::In(r, values, negated) => {
            let v = value_of(schema, data, rec, r);
            values.iter().any(|x| equal(&v, x)) != *negated
        }
        Cond::Like(r, pattern) => match value_of(schema, data, rec, r) {
            Value::String(s) => {
                let text: Vec<char> = s.to_lowercase().chars().collect();
                like(pattern, &text)
            }
            _ => false,
        },
    }
}
