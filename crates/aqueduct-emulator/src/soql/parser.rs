//! Recursive-descent parser of the SOQL subset (grammar in the module doc of
//! `soql`). Unsupported clauses are recognised by keyword so the error says
//! what the emulator does not do instead of "unexpected token".

use super::lexer::{Tok, Token, tokens};
use super::{CmpOp, Expr, Literal, Name, OrderItem, Path, Query, SelectItem, SoqlError};

/// Parses a whole query.
pub fn parse(text: &str) -> Result<Query, SoqlError> {
    let mut p = Parser {
        toks: tokens(text)?,
        at: 0,
    };
    let q = p.query()?;
    p.expect_end()?;
    Ok(q)
}

/// Parses a bare condition (validation rules, outbound-message criteria).
pub fn parse_condition(text: &str) -> Result<Expr, SoqlError> {
    let mut p = Parser {
        toks: tokens(text)?,
        at: 0,
    };
    let e = p.or()?;
    p.expect_end()?;
    Ok(e)
}

struct Parser {
    toks: Vec<Token>,
    at: usize,
}

const UNSUPPORTED: &[&str] = &[
    "GROUP", "HAVING", "WITH", "FOR", "USING", "UPDATE", "TYPEOF",
];

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with `End`.
        &self.toks[self.at.min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.at < self.toks.len() - 1 {
            self.at += 1;
        }
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().kind, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.bump();
        }
        yes
    }

    fn eat_sym(&mut self, sym: &str) -> bool {
        let yes = matches!(&self.peek().kind, Tok::Sym(s) if *s == sym);
        if yes {
            self.bump();
        }
        yes
    }

    fn unexpected(&self) -> SoqlError {
        let t = self.peek();
        let shown = match &t.kind {
            Tok::Ident(s) | Tok::Number(s) | Tok::Date(s) | Tok::DateTime(s) => s.clone(),
            Tok::Text(s) => format!("'{s}'"),
            Tok::Sym(s) => s.to_string(),
            Tok::End => "<EOF>".to_string(),
        };
        SoqlError::malformed(t.pos, format!("unexpected token: '{shown}'"))
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SoqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn expect_sym(&mut self, sym: &str) -> Result<(), SoqlError> {
        if self.eat_sym(sym) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn expect_end(&mut self) -> Result<(), SoqlError> {
        self.refuse_unsupported()?;
        if matches!(self.peek().kind, Tok::End) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn refuse_unsupported(&self) -> Result<(), SoqlError> {
        if let Tok::Ident(s) = &self.peek().kind {
            let upper = s.to_ascii_uppercase();
            if UNSUPPORTED.contains(&upper.as_str()) {
                return Err(SoqlError::malformed(
                    self.peek().pos,
                    format!("{upper} is not supported by the aqueduct emulator's SOQL subset"),
                ));
            }
        }
        Ok(())
    }

    fn ident(&mut self) -> Result<Name, SoqlError> {
        match self.peek().kind.clone() {
            Tok::Ident(text) => {
                let pos = self.bump().pos;
                Ok(Name { text, pos })
            }
            _ => Err(self.unexpected()),
        }
    }

    fn path(&mut self) -> Result<Path, SoqlError> {
        let first = self.ident()?;
        let mut parts = vec![first.text];
        while self.eat_sym(".") {
            parts.push(self.ident()?.text);
        }
        Ok(Path {
            parts,
            pos: first.pos,
        })
    }

    fn query(&mut self) -> Result<Query, SoqlError> {
        self.refuse_unsupported()?;
        self.expect_kw("SELECT")?;
        let mut select = vec![self.select_item()?];
        while self.eat_sym(",") {
            select.push(self.select_item()?);
        }
        self.expect_kw("FROM")?;
        let from = self.ident()?;
        let filter = if self.eat_kw("WHERE") {
            Some(self.or()?)
        } else {
            None
        };
        self.refuse_unsupported()?;
        let mut order = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                order.push(self.order_item()?);
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        let limit = if self.eat_kw("LIMIT") {
            Some(self.count()?)
        } else {
            None
        };
        let offset = if self.eat_kw("OFFSET") {
            Some(self.count()?)
        } else {
            None
        };
        self.refuse_unsupported()?;
        Ok(Query {
            select,
            from,
            filter,
            order,
            limit,
            offset,
        })
    }

    fn count(&mut self) -> Result<usize, SoqlError> {
        let t = self.peek().clone();
        match &t.kind {
            Tok::Number(n) => {
                self.bump();
                n.parse()
                    .map_err(|_| SoqlError::malformed(t.pos, format!("unexpected token: '{n}'")))
            }
            Tok::Sym(":") => Err(SoqlError::malformed(
                t.pos,
                "bind variables are not supported by the aqueduct emulator",
            )),
            _ => Err(self.unexpected()),
        }
    }

    fn select_item(&mut self) -> Result<SelectItem, SoqlError> {
        if self.eat_sym("(") {
            let sub = self.query()?;
            self.expect_sym(")")?;
            return Ok(SelectItem::Subquery(Box::new(sub)));
        }
        self.refuse_unsupported()?;
        let path = self.path()?;
        if matches!(self.peek().kind, Tok::Sym("(")) {
            let name = path.dotted().to_ascii_uppercase();
            if name == "COUNT" {
                self.bump();
                if self.eat_sym(")") {
                    return Ok(SelectItem::Count);
                }
            }
            return Err(SoqlError::malformed(
                path.pos,
                format!(
                    "{name}() is not supported by the aqueduct emulator's SOQL subset (only COUNT())"
                ),
            ));
        }
        Ok(SelectItem::Field(path))
    }

    fn order_item(&mut self) -> Result<OrderItem, SoqlError> {
        let path = self.path()?;
        let desc = if self.eat_kw("DESC") {
            true
        } else {
            self.eat_kw("ASC");
            false
        };
        let mut nulls_first = !desc;
        if self.eat_kw("NULLS") {
            if self.eat_kw("FIRST") {
                nulls_first = true;
            } else {
                self.expect_kw("LAST")?;
                nulls_first = false;
            }
        }
        Ok(OrderItem {
            path,
            desc,
            nulls_first,
        })
    }

    fn or(&mut self) -> Result<Expr, SoqlError> {
        let mut items = vec![self.and()?];
        while self.eat_kw("OR") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, SoqlError> {
        let mut items = vec![self.not()?];
        while self.eat_kw("AND") {
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn not(&mut self) -> Result<Expr, SoqlError> {
        if self.eat_kw("NOT") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        if self.eat_sym("(") {
            let e = self.or()?;
            self.expect_sym(")")?;
            return Ok(e);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, SoqlError> {
        let path = self.path()?;
        if self.eat_kw("LIKE") {
            let t = self.peek().clone();
            return match t.kind {
                Tok::Text(pattern) => {
                    self.bump();
                    Ok(Expr::Like { path, pattern })
                }
                _ => Err(self.unexpected()),
            };
        }
        let negated = self.is_kw("NOT");
        if negated {
            self.bump();
            if !self.is_kw("IN") {
                return Err(self.unexpected());
            }
        }
        if self.eat_kw("IN") {
            self.expect_sym("(")?;
            if self.is_kw("SELECT") {
                return Err(SoqlError::malformed(
                    self.peek().pos,
                    "semi-join subqueries are not supported by the aqueduct emulator's SOQL subset",
                ));
            }
            let mut values = vec![self.literal()?];
            while self.eat_sym(",") {
                values.push(self.literal()?);
            }
            self.expect_sym(")")?;
            return Ok(Expr::In {
                path,
                values,
                negated,
            });
        }
        if self.is_kw("INCLUDES") || self.is_kw("EXCLUDES") {
            return Err(SoqlError::malformed(
                self.peek().pos,
                "INCLUDES/EXCLUDES are not supported by the aqueduct emulator's SOQL subset",
            ));
        }
        let op = match &self.peek().kind {
            Tok::Sym("=") => CmpOp::Eq,
            Tok::Sym("!=") | Tok::Sym("<>") => CmpOp::Ne,
            Tok::Sym("<") => CmpOp::Lt,
            Tok::Sym("<=") => CmpOp::Le,
            Tok::Sym(">") => CmpOp::Gt,
            Tok::Sym(">=") => CmpOp::Ge,
            _ => return Err(self.unexpected()),
        };
        self.bump();
        let value = self.literal()?;
        Ok(Expr::Cmp { path, op, value })
    }

    /// A date literal of whole days (Salesforce's "Date Formats and Date
    /// Literals"): `TODAY`, `YESTERDAY`, `TOMORROW`, `LAST_90_DAYS`,
    /// `NEXT_90_DAYS`, `LAST_N_DAYS:n` (today and the n days before it),
    /// `NEXT_N_DAYS:n` (the n days after today). Others are refused.
    fn date_literal(&mut self, name: &str, pos: usize) -> Result<Literal, SoqlError> {
        let upper = name.to_ascii_uppercase();
        let fixed = match upper.as_str() {
            "TODAY" => Some((0, 0)),
            "YESTERDAY" => Some((-1, -1)),
            "TOMORROW" => Some((1, 1)),
            "LAST_90_DAYS" => Some((-90, 0)),
            "NEXT_90_DAYS" => Some((1, 90)),
            _ => None,
        };
        if let Some((from, to)) = fixed {
            self.bump();
            return Ok(Literal::Days {
                text: upper,
                from,
                to,
            });
        }
        if upper == "LAST_N_DAYS" || upper == "NEXT_N_DAYS" {
            self.bump();
            self.expect_sym(":")?;
            let n = match &self.peek().kind {
                Tok::Number(n) => n.parse::<i64>().ok().filter(|n| *n >= 0),
                _ => None,
            };
            let Some(n) = n else {
                return Err(SoqlError::malformed(
                    self.peek().pos,
                    format!("{upper} needs a whole number of days, e.g. {upper}:30"),
                ));
            };
            self.bump();
            let (from, to) = if upper == "LAST_N_DAYS" {
                (-n, 0)
            } else {
                (1, n)
            };
            return Ok(Literal::Days {
                text: format!("{upper}:{n}"),
                from,
                to,
            });
        }
        Err(SoqlError::malformed(
            pos,
            format!(
                "date literal or constant `{name}` is not supported by the aqueduct emulator's SOQL subset"
            ),
        ))
    }

    fn literal(&mut self) -> Result<Literal, SoqlError> {
        let t = self.peek().clone();
        let lit = match t.kind {
            Tok::Text(s) => Literal::Text(s),
            Tok::Number(n) => Literal::Number(n),
            Tok::Date(d) => Literal::Date(d),
            Tok::DateTime(d) => Literal::DateTime(d),
            Tok::Ident(ref s) if s.eq_ignore_ascii_case("null") => Literal::Null,
            Tok::Ident(ref s) if s.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Tok::Ident(ref s) if s.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Tok::Ident(ref s) => return self.date_literal(s, t.pos),
            Tok::Sym(":") => {
                return Err(SoqlError::malformed(
                    t.pos,
                    "bind variables are not supported by the aqueduct emulator",
                ));
            }
            _ => return Err(self.unexpected()),
        };
        self.bump();
        Ok(lit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(q: &Query) -> Vec<String> {
        q.select
            .iter()
            .map(|s| match s {
                SelectItem::Field(p) => p.dotted(),
                SelectItem::Count => "COUNT()".to_string(),
                SelectItem::Subquery(q) => format!("({})", q.from.text),
            })
            .collect()
    }

    #[test]
    fn parses_the_full_subset() {
        let q = parse(
            "select Id, Name, Account.Owner.Name, (SELECT LastName FROM Contacts WHERE Email != null) \
             FROM Account WHERE (Industry = 'Energy' OR AnnualRevenue >= 1000000.5) AND NOT Name LIKE 'Ac%' \
             AND Id IN ('001000000000001AAA') AND CreatedDate > 2024-01-01T00:00:00Z AND Birthdate__c < 2020-01-31 \
             ORDER BY Name DESC NULLS FIRST, Id LIMIT 10 OFFSET 5",
        )
        .expect("parses");
        assert_eq!(
            names(&q),
            ["Id", "Name", "Account.Owner.Name", "(Contacts)"]
        );
        assert_eq!(q.from.text, "Account");
        assert_eq!((q.limit, q.offset), (Some(10), Some(5)));
        assert_eq!(q.order.len(), 2);
        assert!(q.order[0].desc && q.order[0].nulls_first);
        assert!(!q.order[1].desc && q.order[1].nulls_first);
        let Some(Expr::And(parts)) = &q.filter else {
            panic!("AND at the top: {:?}", q.filter)
        };
        assert_eq!(parts.len(), 5);
        assert!(matches!(&parts[0], Expr::Or(o) if o.len() == 2));
        assert!(matches!(&parts[1], Expr::Not(_)));
        assert!(
            matches!(&parts[3], Expr::Cmp { value: Literal::DateTime(d), op: CmpOp::Gt, .. } if d == "2024-01-01T00:00:00Z")
        );
        assert!(
            matches!(&parts[4], Expr::Cmp { value: Literal::Date(d), .. } if d == "2020-01-31")
        );
    }

    #[test]
    fn count_and_escapes() {
        let q = parse(
            "SELECT COUNT() FROM Contact WHERE LastName = 'O\\'Brien' AND Name LIKE '50\\%%'",
        )
        .expect("parses");
        assert_eq!(q.select, vec![SelectItem::Count]);
        let Some(Expr::And(parts)) = &q.filter else {
            panic!()
        };
        assert!(matches!(&parts[0], Expr::Cmp { value: Literal::Text(t), .. } if t == "O'Brien"));
        assert!(matches!(&parts[1], Expr::Like { pattern, .. } if pattern == "50\\%%"));
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = parse("SELECT Id FORM Account").expect_err("typo");
        assert_eq!(e.code, "MALFORMED_QUERY");
        assert_eq!(e.message, "unexpected token: 'FORM'");
        assert_eq!(
            e.render("SELECT Id FORM Account"),
            "\nSELECT Id FORM Account\n          ^\nERROR at Row:1:Column:11\nunexpected token: 'FORM'"
        );
        for (q, needle) in [
            (
                "SELECT Industry FROM Account GROUP BY Industry",
                "GROUP is not supported",
            ),
            (
                "SELECT MAX(AnnualRevenue) FROM Account",
                "MAX() is not supported",
            ),
            (
                "SELECT Id FROM Account WHERE CreatedDate = THIS_MONTH",
                "`THIS_MONTH` is not supported",
            ),
            ("SELECT Id FROM Account WHERE Id = :id", "bind variables"),
            ("SELECT Id FROM Account WHERE Name = 'x", "unterminated"),
        ] {
            let e = parse(q).expect_err(q);
            assert!(e.message.contains(needle), "{q}: {}", e.message);
        }
    }

    #[test]
    fn conditions_parse_alone() {
        let e = parse_condition("AnnualRevenue < 0 OR Name = null").expect("parses");
        assert!(matches!(e, Expr::Or(_)));
    }
}
