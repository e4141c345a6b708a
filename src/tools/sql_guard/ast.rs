//! sqlparser's reading: the policy walk over its tree (statement kinds, allow-lists, CTE scopes,
//! other dialects' syntax), the facts it must share with PostgreSQL's reading, and the rewrite
//! that makes the printed text lexically plain: one form of string literal that means the same
//! under every setting, identifiers in one form, and (as sqlparser prints) no comments.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, DescribeAlias, Expr, FunctionArguments, Ident, LimitClause, ObjectName, ObjectNamePart, Query,
    Select, SelectFlavor, SetExpr, Statement, TableFactor, Value, ValueWithSpan, Visit, VisitMut, Visitor, VisitorMut,
};

use super::lists::{EXPLAIN_OPTIONS, FUNCTIONS, NOT_CALLS_IN_POSTGRES, SHOW_SETTINGS};
use super::tree::{Facts, comparable_function};
use super::{Kind, Policy, relation_denied};

/// Walks `statement` with the policy; its kind and facts, or the rule that fired.
pub fn judge(statement: &Statement, policy: &Policy) -> Result<(Kind, Facts), String> {
    let mut guard = Guard { policy, frames: Vec::new(), statements: 0, facts: Facts::default() };
    if let ControlFlow::Break(reason) = statement.visit(&mut guard) {
        return Err(reason);
    }
    let kind = match statement {
        Statement::Explain { .. } => Kind::Explain,
        Statement::ShowVariable { .. } => Kind::Show,
        _ => Kind::Query,
    };
    Ok((kind, guard.facts.finish()))
}

/// Rewrites `statement` so that its printed form is lexically plain (see the module's doc).
pub fn plain(statement: &mut Statement) -> Result<(), String> {
    match VisitMut::visit(statement, &mut Plain) {
        ControlFlow::Break(reason) => Err(reason),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Identifier parts as PostgreSQL resolves them (unquoted: folded to lower case; double-quoted:
/// exact), or None for a quoting PostgreSQL does not have.
fn parts(name: &ObjectName) -> Option<Vec<String>> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(i) => match i.quote_style {
                None => Some(i.value.to_ascii_lowercase()),
                Some('"') => Some(i.value.clone()),
                Some(_) => None,
            },
            _ => None,
        })
        .collect()
}

/// The function's name if it may be called: allow-listed, bare or `pg_catalog.`. sqlparser also
/// reads a few expressions of PostgreSQL's as calls (`ARRAY(subquery)`, `GROUPING(a)`, `ROW(…)`).
fn function_name(name: &ObjectName) -> Option<String> {
    let f = match parts(name)?.as_slice() {
        [f] => f.clone(),
        [schema, f] if schema == "pg_catalog" => f.clone(),
        _ => return None,
    };
    (FUNCTIONS.contains(&f.as_str()) || NOT_CALLS_IN_POSTGRES.contains(&f.as_str())).then_some(f)
}

/// One frame per query being visited: the CTE names its own relations may use, and, for each of
/// its CTEs, the names visible inside that CTE (earlier siblings only).
struct Frame {
    visible: Vec<String>,
    cte_scopes: Vec<(*const Query, Vec<String>)>,
}

struct Guard<'p> {
    policy: &'p Policy,
    frames: Vec<Frame>,
    statements: usize,
    facts: Facts,
}

type Flow = ControlFlow<String>;

fn deny(reason: impl Into<String>) -> Flow {
    ControlFlow::Break(reason.into())
}

const WRITES: &str =
    "a data-modifying statement inside a query (INSERT/UPDATE/DELETE/MERGE in a CTE or subquery) writes";

impl Guard<'_> {
    fn relation(&mut self, name: &ObjectName) -> Flow {
        let Some(parts) = parts(name) else {
            return deny(format!("relation {name} is not a plain name: only allow-listed relations may be read"));
        };
        if let [single] = parts.as_slice()
            && self.frames.last().is_some_and(|f| f.visible.contains(single))
        {
            return ControlFlow::Continue(());
        }
        if self.policy.allows_relation(&parts) {
            self.facts.relations.insert(parts);
            ControlFlow::Continue(())
        } else {
            deny(relation_denied(&parts.join(".")))
        }
    }

    fn function(&mut self, name: &ObjectName) -> Flow {
        match function_name(name) {
            Some(f) => {
                if !NOT_CALLS_IN_POSTGRES.contains(&f.as_str()) {
                    self.facts.functions.insert(comparable_function(&f));
                }
                ControlFlow::Continue(())
            }
            None => deny(format!("function {name} is not in the allow-list of read-only functions")),
        }
    }

    fn set_expr(&mut self, body: &SetExpr) -> Flow {
        match body {
            SetExpr::Select(_) | SetExpr::Query(_) | SetExpr::Values(_) => ControlFlow::Continue(()),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left)?;
                self.set_expr(right)
            }
            SetExpr::Table(t) => match &t.table_name {
                Some(table) => {
                    let mut parts: Vec<Ident> = t.schema_name.iter().cloned().collect();
                    parts.push(table.clone());
                    self.relation(&ObjectName::from(parts))
                }
                None => deny("TABLE without a name"),
            },
            SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => deny(WRITES),
        }
    }
}

impl Visitor for Guard<'_> {
    type Break = String;

    fn pre_visit_statement(&mut self, statement: &Statement) -> Flow {
        self.statements += 1;
        let nested = self.statements > 1;
        match statement {
            Statement::Query(_) => ControlFlow::Continue(()),
            Statement::Explain { describe_alias, analyze, query_plan, estimate, statement, options, .. } if !nested => {
                if *describe_alias != DescribeAlias::Explain {
                    return deny("only EXPLAIN is allowed, not DESCRIBE");
                }
                if *analyze {
                    return deny("EXPLAIN ANALYZE executes the query");
                }
                if *query_plan || *estimate {
                    return deny("this EXPLAIN form is not PostgreSQL's");
                }
                for option in options.iter().flatten() {
                    let name = option.name.value.to_ascii_lowercase();
                    if name == "analyze" {
                        return deny("EXPLAIN (ANALYZE) executes the query");
                    }
                    if !EXPLAIN_OPTIONS.contains(&name.as_str()) {
                        return deny(format!("EXPLAIN option {} is not allowed", option.name));
                    }
                }
                match statement.as_ref() {
                    Statement::Query(_) => ControlFlow::Continue(()),
                    _ => deny("EXPLAIN only of a query"),
                }
            }
            Statement::ShowVariable { variable } if !nested => {
                let name: Vec<String> = variable.iter().map(|i| i.value.to_ascii_lowercase()).collect();
                match name.as_slice() {
                    [one] if variable[0].quote_style.is_none() && SHOW_SETTINGS.contains(&one.as_str()) => {
                        ControlFlow::Continue(())
                    }
                    [all] if all == "all" => deny("SHOW ALL lists every setting, and custom settings can hold secrets"),
                    _ => deny(format!("SHOW {} is not an allow-listed setting", name.join(" "))),
                }
            }
            Statement::Insert(_) | Statement::Update { .. } | Statement::Delete(_) | Statement::Merge { .. }
                if nested =>
            {
                deny(WRITES)
            }
            other => {
                let word = other.to_string().split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                deny(format!(
                    "{word} is not a read-only query: only SELECT, WITH … SELECT, VALUES, TABLE, EXPLAIN (without ANALYZE) and SHOW of a few settings"
                ))
            }
        }
    }

    fn pre_visit_query(&mut self, query: &Query) -> Flow {
        if !query.locks.is_empty() {
            return deny("SELECT … FOR UPDATE/SHARE takes row locks");
        }
        if query.for_clause.is_some() || query.settings.is_some() || query.format_clause.is_some() {
            return deny("FOR XML/JSON, SETTINGS and FORMAT clauses are not PostgreSQL");
        }
        if !query.pipe_operators.is_empty() {
            return deny("pipe operators are not PostgreSQL");
        }
        if let Some(LimitClause::OffsetCommaLimit { .. }) = &query.limit_clause {
            return deny("LIMIT offset, count is not PostgreSQL");
        }
        if query.with.as_ref().is_some_and(|w| w.recursive) {
            return deny("WITH RECURSIVE has no bound on its cost");
        }
        self.set_expr(&query.body)?;
        // The scope: inherited from the enclosing query, or, for a CTE's own query, the scope
        // its WITH gives it.
        let me: *const Query = query;
        let inherited = match self.frames.last() {
            Some(parent) => match parent.cte_scopes.iter().find(|(q, _)| *q == me) {
                Some((_, scope)) => scope.clone(),
                None => parent.visible.clone(),
            },
            None => Vec::new(),
        };
        let mut visible = inherited.clone();
        let mut cte_scopes = Vec::new();
        if let Some(with) = &query.with {
            let names: Vec<String> = with
                .cte_tables
                .iter()
                .map(|c| parts(&ObjectName::from(vec![c.alias.name.clone()])).unwrap_or_default().concat())
                .collect();
            for (i, cte) in with.cte_tables.iter().enumerate() {
                let mut scope = inherited.clone();
                scope.extend(names[..i].to_vec());
                cte_scopes.push((&*cte.query as *const Query, scope));
            }
            visible.extend(names);
        }
        self.frames.push(Frame { visible, cte_scopes });
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> Flow {
        self.frames.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> Flow {
        if select.into.is_some() {
            return deny("SELECT … INTO creates a table");
        }
        let foreign = select.top.is_some()
            || select.qualify.is_some()
            || select.prewhere.is_some()
            || !select.lateral_views.is_empty()
            || !select.connect_by.is_empty()
            || !select.cluster_by.is_empty()
            || !select.distribute_by.is_empty()
            || !select.sort_by.is_empty()
            || select.value_table_mode.is_some()
            || select.select_modifiers.is_some()
            || !select.optimizer_hints.is_empty()
            || select.exclude.is_some()
            || select.flavor != SelectFlavor::Standard;
        if foreign {
            deny("this SELECT uses syntax PostgreSQL does not have (TOP, QUALIFY, …)")
        } else {
            ControlFlow::Continue(())
        }
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> Flow {
        match factor {
            TableFactor::Table { name, args: None, .. } => self.relation(name),
            TableFactor::Table { name, args: Some(_), .. } | TableFactor::Function { name, .. } => self.function(name),
            TableFactor::UNNEST { .. } => {
                self.facts.functions.insert("unnest".into());
                ControlFlow::Continue(())
            }
            TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } => ControlFlow::Continue(()),
            _ => deny("this FROM item is not PostgreSQL"),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> Flow {
        // Special syntax that PostgreSQL reads as a call of its own.
        let special = match expr {
            Expr::Trim { .. } => Some("trim"),
            Expr::Extract { .. } => Some("extract"),
            Expr::Substring { .. } => Some("substring"),
            Expr::Position { .. } => Some("position"),
            Expr::AtTimeZone { .. } => Some("timezone"),
            Expr::Overlay { .. } => Some("overlay"),
            Expr::SimilarTo { .. } => Some("similar_to_escape"),
            Expr::Ceil { .. } => Some("ceil"),
            Expr::Like { escape_char: Some(_), .. } | Expr::ILike { escape_char: Some(_), .. } => Some("like_escape"),
            Expr::Floor { .. } => Some("floor"),
            _ => None,
        };
        if let Some(f) = special {
            self.facts.functions.insert(f.to_string());
        }
        match expr {
            Expr::Function(f) => {
                if f.uses_odbc_syntax || !matches!(f.parameters, FunctionArguments::None) {
                    return deny(format!("function call {} uses syntax PostgreSQL does not have", f.name));
                }
                self.function(&f.name)
            }
            Expr::BinaryOp { op: BinaryOperator::Custom(op), .. } => deny(format!("operator {op} is not allowed")),
            Expr::BinaryOp { op: BinaryOperator::PGCustomBinaryOperator(_), .. } => {
                deny("OPERATOR(schema.op) names an operator of anyone's making")
            }
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_value(&mut self, value: &ValueWithSpan) -> Flow {
        match &value.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) | Value::UnicodeStringLiteral(s) => {
                self.facts.strings.push(s.clone());
            }
            Value::DollarQuotedString(d) => self.facts.strings.push(d.value.clone()),
            Value::Placeholder(p) => return deny(format!("a parameter ({p}): write the value itself")),
            Value::Number(..) | Value::Boolean(_) | Value::Null => {}
            other => return deny(format!("the literal {other} is not a PostgreSQL string or number")),
        }
        ControlFlow::Continue(())
    }
}

/// The rewrite to lexically plain text.
struct Plain;

impl VisitorMut for Plain {
    type Break = String;

    fn pre_visit_value(&mut self, value: &mut ValueWithSpan) -> Flow {
        let text = match &value.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) | Value::UnicodeStringLiteral(s) => s.clone(),
            Value::DollarQuotedString(d) => d.value.clone(),
            _ => return ControlFlow::Continue(()),
        };
        // '…' means the same under every setting unless it holds a backslash; E'…' always
        // reads backslashes as escapes, and sqlparser prints it with every backslash doubled.
        value.value =
            if text.contains('\\') { Value::EscapedStringLiteral(text) } else { Value::SingleQuotedString(text) };
        ControlFlow::Continue(())
    }

    fn pre_visit_ident(&mut self, ident: &mut Ident) -> Flow {
        match ident.quote_style {
            None if ident.value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                ident.value.make_ascii_lowercase();
                ControlFlow::Continue(())
            }
            None => deny(format!("the name {} is not a plain ASCII name: double-quote it", ident.value)),
            Some('"') => ControlFlow::Continue(()),
            Some(q) => deny(format!("{q}…{q} quoting is not PostgreSQL's")),
        }
    }
}
