//! The read-only SQL guard (sql-guard-notes.md): deterministic, deny by default, allow-lists only.
//! Exactly one statement: a query (SELECT, WITH … SELECT, VALUES, TABLE, set operations), EXPLAIN
//! without ANALYZE of one, or SHOW of an allow-listed setting. Functions come from an allow-list
//! of unquoted names (optionally `pg_catalog.`); relations from a configurable allow-list plus the
//! query's own CTEs, scoped as PostgreSQL scopes them. The dispatched text is the parser's
//! canonical one (it must re-parse to the same tree), a query wrapped with a row cap.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use serde::Serialize;
use sqlparser::ast::{
    DescribeAlias, Expr, FunctionArguments, LimitClause, ObjectName, ObjectNamePart, Query, Select, SelectFlavor,
    SetExpr, Statement, TableFactor, Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

pub const MAX_SQL_BYTES: usize = 32 * 1024;
pub const ROW_CAP: u32 = 500;

/// The guard's answer (`check-sql` prints the first three fields).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub allowed: bool,
    pub reason: Option<String>,
    /// The canonical statement that would be dispatched, before the row cap.
    pub normalized: Option<String>,
    /// What is dispatched: `normalized`, a query wrapped with the row cap.
    #[serde(skip)]
    pub dispatched: Option<String>,
}

impl Verdict {
    fn deny(reason: impl Into<String>) -> Verdict {
        Verdict { allowed: false, reason: Some(reason.into()), normalized: None, dispatched: None }
    }
}

/// The Conductor tables (OSS persistence and indexing), a few statistics views, and the
/// information schema's tables and columns.
const RELATIONS: &[&str] = &[
    "meta_event_handler",
    "meta_task_def",
    "meta_workflow_def",
    "event_execution",
    "poll_data",
    "task_scheduled",
    "task_in_progress",
    "task",
    "workflow",
    "workflow_def_to_workflow",
    "workflow_pending",
    "workflow_to_task",
    "queue",
    "queue_message",
    "workflow_index",
    "task_index",
    "pg_catalog.pg_stat_activity",
    "pg_catalog.pg_locks",
    "pg_catalog.pg_stat_user_tables",
    "pg_catalog.pg_stat_database",
    "information_schema.tables",
    "information_schema.columns",
];

const FUNCTIONS: &[&str] = &[
    // aggregates
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "corr",
    "covar_pop",
    "covar_samp",
    // window
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    // date and time
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtime",
    "localtimestamp",
    "date_trunc",
    "date_part",
    "date_bin",
    "age",
    "to_timestamp",
    "to_char",
    "to_date",
    "to_number",
    "make_interval",
    "make_date",
    "make_timestamp",
    "make_timestamptz",
    "justify_interval",
    "justify_days",
    "justify_hours",
    "clock_timestamp",
    "statement_timestamp",
    "transaction_timestamp",
    "timezone",
    "isfinite",
    "extract",
    // strings
    "lower",
    "upper",
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "substring",
    "substr",
    "left",
    "right",
    "trim",
    "btrim",
    "ltrim",
    "rtrim",
    "replace",
    "split_part",
    "position",
    "strpos",
    "concat",
    "concat_ws",
    "format",
    "regexp_replace",
    "regexp_match",
    "regexp_matches",
    "regexp_split_to_array",
    "starts_with",
    "initcap",
    "lpad",
    "rpad",
    "reverse",
    "repeat",
    "translate",
    "md5",
    "quote_ident",
    "quote_literal",
    // json
    "json_extract_path",
    "json_extract_path_text",
    "jsonb_extract_path",
    "jsonb_extract_path_text",
    "json_array_length",
    "jsonb_array_length",
    "json_typeof",
    "jsonb_typeof",
    "json_array_elements",
    "jsonb_array_elements",
    "json_array_elements_text",
    "jsonb_array_elements_text",
    "json_each",
    "jsonb_each",
    "json_each_text",
    "jsonb_each_text",
    "json_object_keys",
    "jsonb_object_keys",
    "jsonb_pretty",
    "to_json",
    "to_jsonb",
    "row_to_json",
    "json_build_object",
    "jsonb_build_object",
    "json_build_array",
    "jsonb_build_array",
    "jsonb_strip_nulls",
    "jsonb_path_query",
    "jsonb_path_query_first",
    "jsonb_path_exists",
    // math
    "abs",
    "ceil",
    "ceiling",
    "floor",
    "round",
    "trunc",
    "greatest",
    "least",
    "power",
    "sqrt",
    "mod",
    "sign",
    "ln",
    "log",
    "exp",
    "div",
    "width_bucket",
    // arrays, sets, conditionals
    "coalesce",
    "nullif",
    "generate_series",
    "unnest",
    "array_length",
    "cardinality",
    "array_to_string",
    "string_to_array",
    "array_position",
    "array_remove",
    "num_nulls",
    "num_nonnulls",
    // sizes and activity
    "pg_size_pretty",
    "pg_database_size",
    "pg_total_relation_size",
    "pg_relation_size",
    "pg_table_size",
    "pg_indexes_size",
    "pg_blocking_pids",
    "pg_postmaster_start_time",
    "current_database",
    "version",
];

const SHOW_SETTINGS: &[&str] = &[
    "server_version",
    "server_version_num",
    "max_connections",
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "deadlock_timeout",
    "work_mem",
    "maintenance_work_mem",
    "shared_buffers",
    "effective_cache_size",
    "max_wal_size",
    "max_locks_per_transaction",
    "autovacuum",
    "timezone",
    "datestyle",
    "search_path",
    "transaction_isolation",
    "default_transaction_read_only",
    "transaction_read_only",
];

const EXPLAIN_OPTIONS: &[&str] = &["verbose", "costs", "settings", "format", "summary", "buffers", "generic_plan"];

/// What the guard allows beyond its fixed rules: the relations (Orkes has tables OSS has not).
#[derive(Clone, Debug)]
pub struct Policy {
    /// Lower-case names; a bare name also allows `public.<name>`, a `pg_catalog.` one the bare name.
    pub relations: BTreeSet<String>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy { relations: RELATIONS.iter().map(|s| s.to_string()).collect() }
    }
}

impl Policy {
    /// The default relations and these (e.g. from a setting listing an Orkes-only table).
    pub fn with_relations<'a>(mut self, extra: impl IntoIterator<Item = &'a str>) -> Policy {
        self.relations.extend(extra.into_iter().map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()));
        self
    }

    fn allows_relation(&self, parts: &[String]) -> bool {
        match parts {
            [name] => self.relations.contains(name) || self.relations.contains(&format!("pg_catalog.{name}")),
            [schema, name] if schema == "public" => self.relations.contains(name),
            [schema, name] => self.relations.contains(&format!("{schema}.{name}")),
            _ => false,
        }
    }
}

/// Unquoted identifier parts in lower case, or None (quoted, or not a plain identifier): a
/// quoted or escaped name (`"pg_sleep"`, `U&"pg\005fsleep"`) never matches an allow-list.
fn plain_parts(name: &ObjectName) -> Option<Vec<String>> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(i) if i.quote_style.is_none() => Some(i.value.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

fn function_allowed(name: &ObjectName) -> bool {
    match plain_parts(name).as_deref() {
        Some([f]) => FUNCTIONS.contains(&f.as_str()),
        Some([schema, f]) if schema == "pg_catalog" => FUNCTIONS.contains(&f.as_str()),
        _ => false,
    }
}

/// One frame per query being visited: the CTE names its own relations may use, and, for each of
/// its CTEs, the names visible inside that CTE (earlier siblings only, unless RECURSIVE).
struct Frame {
    visible: Vec<String>,
    cte_scopes: Vec<(*const Query, Vec<String>)>,
}

struct Guard<'p> {
    policy: &'p Policy,
    frames: Vec<Frame>,
    statements: usize,
}

type Flow = ControlFlow<String>;

fn deny(reason: impl Into<String>) -> Flow {
    ControlFlow::Break(reason.into())
}

impl Guard<'_> {
    fn relation(&self, name: &ObjectName) -> Flow {
        let Some(parts) = plain_parts(name) else {
            return deny(format!(
                "relation {name} is quoted or not a plain name: only allow-listed relations may be read"
            ));
        };
        if let [single] = parts.as_slice()
            && self.frames.last().is_some_and(|f| f.visible.contains(single))
        {
            return ControlFlow::Continue(());
        }
        if self.policy.allows_relation(&parts) {
            ControlFlow::Continue(())
        } else {
            deny(format!(
                "relation {name} is not in the allow-list (Conductor tables, pg_stat_activity, pg_locks, pg_stat_user_tables, pg_stat_database, information_schema.tables/columns)"
            ))
        }
    }

    fn set_expr(&self, body: &SetExpr) -> Flow {
        match body {
            SetExpr::Select(_) | SetExpr::Query(_) | SetExpr::Values(_) => ControlFlow::Continue(()),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left)?;
                self.set_expr(right)
            }
            SetExpr::Table(t) => match &t.table_name {
                Some(table) => {
                    let mut parts: Vec<sqlparser::ast::Ident> = t.schema_name.iter().cloned().collect();
                    parts.push(table.clone());
                    self.relation(&ObjectName::from(parts))
                }
                None => deny("TABLE without a name"),
            },
            SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => deny(
                "a data-modifying statement inside a query (INSERT/UPDATE/DELETE/MERGE in a CTE or subquery) writes",
            ),
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
                deny(
                    "a data-modifying statement inside a query (INSERT/UPDATE/DELETE/MERGE in a CTE or subquery) writes",
                )
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
            let names: Vec<String> = with.cte_tables.iter().map(|c| c.alias.name.value.to_ascii_lowercase()).collect();
            for (i, cte) in with.cte_tables.iter().enumerate() {
                let mut scope = inherited.clone();
                scope.extend(if with.recursive { names.clone() } else { names[..i].to_vec() });
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
            TableFactor::Table { name, args: Some(_), .. } | TableFactor::Function { name, .. } => {
                if function_allowed(name) {
                    ControlFlow::Continue(())
                } else {
                    deny(format!("function {name} is not in the allow-list of read-only functions"))
                }
            }
            TableFactor::Derived { .. }
            | TableFactor::TableFunction { .. }
            | TableFactor::UNNEST { .. }
            | TableFactor::NestedJoin { .. } => ControlFlow::Continue(()),
            _ => deny("this FROM item is not PostgreSQL"),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> Flow {
        if let Expr::Function(f) = expr {
            if f.uses_odbc_syntax || !matches!(f.parameters, FunctionArguments::None) {
                return deny(format!("function call {} uses syntax PostgreSQL does not have", f.name));
            }
            if !function_allowed(&f.name) {
                return deny(format!("function {} is not in the allow-list of read-only functions", f.name));
            }
        }
        ControlFlow::Continue(())
    }
}

fn parse_one(sql: &str) -> Result<Statement, String> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| format!("does not parse: {e}"))?;
    match statements.len() {
        1 => Ok(statements.remove(0)),
        0 => Err("no statement".into()),
        n => Err(format!("{n} statements: exactly one is allowed")),
    }
}

/// Checks `sql` against the policy.
pub fn check(sql: &str, policy: &Policy) -> Verdict {
    if sql.len() > MAX_SQL_BYTES {
        return Verdict::deny(format!("longer than {} KiB", MAX_SQL_BYTES / 1024));
    }
    if let Some(c) = sql.chars().find(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')) {
        return Verdict::deny(format!("control character U+{:04X}", c as u32));
    }
    let statement = match parse_one(sql) {
        Ok(s) => s,
        Err(e) => return Verdict::deny(e),
    };
    let mut guard = Guard { policy, frames: Vec::new(), statements: 0 };
    if let ControlFlow::Break(reason) = statement.visit(&mut guard) {
        return Verdict::deny(reason);
    }
    let normalized = statement.to_string();
    match parse_one(&normalized) {
        Ok(again) if again == statement => {}
        _ => return Verdict::deny("its canonical form does not re-parse to the same statement"),
    }
    let dispatched = match statement {
        Statement::Query(_) => format!("SELECT * FROM ({normalized}) AS capped LIMIT {ROW_CAP}"),
        _ => normalized.clone(),
    };
    Verdict { allowed: true, reason: None, normalized: Some(normalized), dispatched: Some(dispatched) }
}
