//! PostgreSQL's reading, judged. The raw parse tree of the exact text that is dispatched (row
//! cap included) is walked with the guard's policy: exactly one statement of an allowed kind, a
//! closed set of node types, allow-listed relations, functions, operators and types, CTEs scoped
//! as PostgreSQL scopes them, no column that carries other sessions' SQL, and the cost bounds.
//! The walk also gathers the facts that sqlparser's reading must share (`Facts`).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde_json::Value;

use super::lists::{
    EXPLAIN_OPTIONS, FUNCTIONS, MAX_BUILT_STRING, MAX_SERIES_ROWS, NODES, OPERATORS, SHOW_SETTINGS,
    SQL_CARRYING_COLUMNS, SQL_CARRYING_RELATIONS, SQL_SYNTAX_FUNCTIONS, TYPES,
};
use super::postgres::{self, Lexing};
use super::{Kind, Policy, ROW_CAP, relation_denied};

/// What both readings must agree on: the relations read (as named, lower-case unless quoted), the
/// functions called (comparable names, see `comparable_function`), and every string constant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub relations: BTreeSet<Vec<String>>,
    pub functions: BTreeSet<String>,
    /// Sorted: a multiset.
    pub strings: Vec<String>,
}

impl Facts {
    pub fn finish(mut self) -> Facts {
        self.strings.sort();
        self
    }
}

/// The name a call is compared by: PostgreSQL spells `TRIM` as btrim/ltrim/rtrim.
pub fn comparable_function(name: &str) -> String {
    match name {
        "btrim" | "ltrim" | "rtrim" => "trim".into(),
        other => other.to_string(),
    }
}

/// The wrapper every query is dispatched in, as PostgreSQL reads it (without its subquery).
pub fn row_cap(normalized: &str) -> String {
    format!("SELECT * FROM ({normalized}) AS capped LIMIT {ROW_CAP}")
}

/// (Null if PostgreSQL could not read the wrapper itself: then no query passes.)
static WRAPPER: LazyLock<Value> = LazyLock::new(|| {
    let tree = postgres::parse(&row_cap("SELECT 1"), Lexing::Default).unwrap_or_default();
    let mut select = tree["stmts"][0]["stmt"]["SelectStmt"].clone();
    without_subquery(&mut select);
    select
});

/// Removes the wrapper's subquery and every location, for comparing the wrapper's shape.
fn without_subquery(select: &mut Value) -> Option<Value> {
    let inner = select.pointer_mut("/fromClause/0/RangeSubselect")?.as_object_mut()?.remove("subquery");
    strip_locations(select);
    inner
}

/// Drops token positions, which differ between readings that mean the same.
pub fn strip_locations(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !matches!(k.as_str(), "location" | "stmt_len" | "stmt_location"));
            m.values_mut().for_each(strip_locations);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_locations),
        _ => {}
    }
}

/// PostgreSQL's reading of `text` under every lexing setting: they must all agree.
pub fn read(text: &str) -> Result<Value, String> {
    let parse = |lexing: Lexing| {
        postgres::parse(text, lexing).map_err(|e| match lexing {
            Lexing::Default => format!("PostgreSQL cannot read it: {e}"),
            other => format!("PostgreSQL cannot read it under {}: {e}", setting(other)),
        })
    };
    let tree = parse(Lexing::Default)?;
    let mut plain = tree.clone();
    strip_locations(&mut plain);
    for lexing in Lexing::ALL.into_iter().filter(|l| *l != Lexing::Default) {
        let mut other = parse(lexing)?;
        strip_locations(&mut other);
        if other != plain {
            return Err(format!("PostgreSQL reads it differently under {}", setting(lexing)));
        }
    }
    Ok(tree)
}

fn setting(lexing: Lexing) -> &'static str {
    match lexing {
        Lexing::Default => "its default settings",
        Lexing::NonStandardStrings => "standard_conforming_strings = off",
        Lexing::NoBackslashQuote => "backslash_quote = off",
    }
}

/// Judges PostgreSQL's tree of `text` as a statement of `kind`: the dispatched text (`wrapped`:
/// a query must sit inside the row cap), or the input as written.
pub fn judge(tree: &Value, text: &str, kind: Kind, wrapped: bool, policy: &Policy) -> Result<Facts, String> {
    let stmts = tree["stmts"].as_array().map(Vec::as_slice).unwrap_or_default();
    let stmt = match stmts {
        [one] => &one["stmt"],
        [] => return Err("PostgreSQL reads no statement in it".into()),
        more => return Err(format!("PostgreSQL reads {} statements in it: exactly one is allowed", more.len())),
    };
    let (name, body) = node(stmt).ok_or("PostgreSQL's tree has no statement")?;
    let mut walk = Walk {
        policy,
        text,
        facts: Facts::default(),
        scopes: Vec::new(),
        sql_rows: Vec::new(),
        refs: Vec::new(),
        stars: false,
    };
    match (kind, name) {
        (Kind::Query, "SelectStmt") if !wrapped => walk.node(stmt)?,
        (Kind::Query, "SelectStmt") => {
            let mut outer = body.clone();
            let inner = without_subquery(&mut outer);
            match inner {
                Some(inner) if outer == *WRAPPER => walk.node(&inner)?,
                _ => return Err("PostgreSQL does not read the row cap around it".into()),
            }
        }
        (Kind::Explain, "ExplainStmt") => {
            for option in body["options"].as_array().into_iter().flatten() {
                let name = option["DefElem"]["defname"].as_str().unwrap_or_default();
                if name == "analyze" {
                    return Err("EXPLAIN (ANALYZE) executes the query".into());
                }
                if !EXPLAIN_OPTIONS.contains(&name) {
                    return Err(format!("EXPLAIN option {name} is not allowed"));
                }
            }
            match node(&body["query"]) {
                Some(("SelectStmt", _)) => walk.node(&body["query"])?,
                _ => return Err("EXPLAIN only of a query".into()),
            }
        }
        (Kind::Show, "VariableShowStmt") => {
            let setting = body["name"].as_str().unwrap_or_default();
            if !SHOW_SETTINGS.contains(&setting) {
                return Err(format!("SHOW {setting} is not an allow-listed setting"));
            }
        }
        (_, other) => return Err(format!("PostgreSQL reads it as a {other}, not as the guard's parser does")),
    }
    walk.sql_carrying_columns()?;
    Ok(walk.facts.finish())
}

/// A wrapped node `{"Name": {...}}`: its type and body.
fn node(v: &Value) -> Option<(&str, &Value)> {
    let m = v.as_object()?;
    if m.len() != 1 {
        return None;
    }
    let (k, body) = m.iter().next()?;
    if k.starts_with(|c: char| c.is_ascii_uppercase()) && body.is_object() { Some((k.as_str(), body)) } else { None }
}

fn without(v: &mut Value, key: &str) {
    if let Some(m) = v.as_object_mut() {
        m.remove(key);
    }
}

fn strings(list: &Value) -> Vec<&str> {
    list.as_array().into_iter().flatten().filter_map(|n| n["String"]["sval"].as_str()).collect()
}

struct Walk<'a> {
    policy: &'a Policy,
    text: &'a str,
    facts: Facts,
    /// CTE names visible, one frame per WITH being walked.
    scopes: Vec<Vec<String>>,
    /// Names by which a SQL-carrying relation's row can be referenced (its alias or name).
    sql_rows: Vec<String>,
    /// Every column reference: its names.
    refs: Vec<Vec<String>>,
    /// A `*` anywhere (a column list or `(row).*`).
    stars: bool,
}

impl Walk<'_> {
    fn node(&mut self, v: &Value) -> Result<(), String> {
        match v {
            Value::Array(items) => items.iter().try_for_each(|i| self.node(i)),
            Value::Object(_) => match node(v) {
                Some((name, body)) => self.typed(name, body),
                None => self.fields(v),
            },
            _ => Ok(()),
        }
    }

    fn fields(&mut self, body: &Value) -> Result<(), String> {
        for (k, v) in body.as_object().into_iter().flatten() {
            if k == "typeName" {
                self.type_name(v)?;
            }
            self.node(v)?;
        }
        Ok(())
    }

    fn typed(&mut self, name: &str, body: &Value) -> Result<(), String> {
        if !NODES.contains(&name) {
            return Err(match name {
                "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" => {
                    "a data-modifying statement inside a query (INSERT/UPDATE/DELETE/MERGE in a CTE or subquery) writes"
                        .to_string()
                }
                "ParamRef" => "a $n parameter: write the value itself".into(),
                other => format!("PostgreSQL reads a {other} in it, which is not part of a read-only query"),
            });
        }
        match name {
            "SelectStmt" => self.select(body),
            "ExplainStmt" | "VariableShowStmt" => Err("EXPLAIN and SHOW only as the whole statement".into()),
            "RangeVar" => self.relation(body),
            "FuncCall" => self.call(body),
            "A_Expr" => {
                let op = strings(&body["name"]);
                match op.as_slice() {
                    [op] if OPERATORS.contains(op) => self.fields(body),
                    [op] => Err(format!("operator {op} is not in the allow-list")),
                    _ => Err("OPERATOR(schema.op) names an operator of anyone's making".into()),
                }
            }
            "ColumnRef" => {
                let fields = body["fields"].as_array().map(Vec::as_slice).unwrap_or_default();
                self.stars |= fields.iter().any(|f| f.get("A_Star").is_some());
                self.refs.push(strings(&body["fields"]).into_iter().map(str::to_string).collect());
                Ok(())
            }
            "A_Star" => {
                self.stars = true;
                Ok(())
            }
            "A_Const" => {
                if let Some(s) = body.get("sval") {
                    self.facts.strings.push(s["sval"].as_str().unwrap_or_default().to_string());
                }
                if body.get("bsval").is_some() {
                    return Err("bit-string literals are not allowed".into());
                }
                Ok(())
            }
            _ => self.fields(body),
        }
    }

    fn select(&mut self, body: &Value) -> Result<(), String> {
        if body.get("intoClause").is_some() {
            return Err("SELECT … INTO creates a table".into());
        }
        if body.get("lockingClause").is_some() {
            return Err("SELECT … FOR UPDATE/SHARE takes row locks".into());
        }
        let mut pushed = false;
        if let Some(with) = body.get("withClause") {
            if with["recursive"].as_bool() == Some(true) {
                return Err("WITH RECURSIVE has no bound on its cost".into());
            }
            let ctes = with["ctes"].as_array().map(Vec::as_slice).unwrap_or_default();
            let names: Vec<String> =
                ctes.iter().map(|c| c["CommonTableExpr"]["ctename"].as_str().unwrap_or_default().to_string()).collect();
            for (i, cte) in ctes.iter().enumerate() {
                let query = &cte["CommonTableExpr"]["ctequery"];
                if !matches!(node(query), Some(("SelectStmt", _))) {
                    return Err(
                        "a data-modifying statement inside a query (INSERT/UPDATE/DELETE/MERGE in a CTE or subquery) writes"
                            .into(),
                    );
                }
                self.scopes.push(names[..i].to_vec());
                let walked = self.node(query);
                self.scopes.pop();
                walked?;
            }
            self.scopes.push(names);
            pushed = true;
        }
        let mut rest = body.clone();
        without(&mut rest, "withClause");
        let walked = self.fields(&rest);
        if pushed {
            self.scopes.pop();
        }
        walked
    }

    fn relation(&mut self, body: &Value) -> Result<(), String> {
        let name = body["relname"].as_str().unwrap_or_default().to_string();
        if body.get("catalogname").is_some() {
            return Err(format!("relation {name} names a database: only allow-listed relations may be read"));
        }
        let parts: Vec<String> = match body.get("schemaname").and_then(Value::as_str) {
            Some(schema) => vec![schema.to_string(), name.clone()],
            None => {
                if self.scopes.iter().any(|s| s.contains(&name)) {
                    return Ok(());
                }
                vec![name.clone()]
            }
        };
        if !self.policy.allows_relation(&parts) {
            return Err(relation_denied(&parts.join(".")));
        }
        if SQL_CARRYING_RELATIONS.contains(&name.as_str()) {
            let alias = &body["alias"];
            if alias.get("colnames").is_some() {
                return Err(format!("renaming {name}'s columns could expose its query column: name the columns"));
            }
            self.sql_rows.push(alias["aliasname"].as_str().unwrap_or(&name).to_string());
        }
        self.facts.relations.insert(parts);
        Ok(())
    }

    fn call(&mut self, body: &Value) -> Result<(), String> {
        let parts = strings(&body["funcname"]);
        let f = match parts.as_slice() {
            [f] | ["pg_catalog", f] => *f,
            _ => return Err(format!("function {} is not in the allow-list of read-only functions", parts.join("."))),
        };
        // `x LIKE p ESCAPE e` is PostgreSQL's like_escape(p, e), spelled as an ordinary call.
        let syntax = body["funcformat"].as_str() == Some("COERCE_SQL_SYNTAX") || f == "like_escape";
        if !(FUNCTIONS.contains(&f) || syntax && SQL_SYNTAX_FUNCTIONS.contains(&f)) {
            return Err(format!("function {f} is not in the allow-list of read-only functions"));
        }
        self.facts.functions.insert(comparable_function(f));
        let args = body["args"].as_array().map(Vec::as_slice).unwrap_or_default();
        self.cost(f, args)?;
        let mut rest = body.clone();
        without(&mut rest, "funcname");
        if syntax && f == "extract" {
            // EXTRACT(hour FROM x): the field is a keyword to sqlparser, a string to PostgreSQL.
            rest["args"] = Value::Array(args.iter().skip(1).cloned().collect());
        }
        self.fields(&rest)
    }

    /// The cost bounds of set-returning functions and string builders.
    fn cost(&self, f: &str, args: &[Value]) -> Result<(), String> {
        match f {
            "generate_series" => {
                let n: Vec<Option<i128>> = args.iter().map(|a| self.integer(a)).collect();
                let rows = match n.as_slice() {
                    [Some(a), Some(b)] => Some(b - a + 1),
                    [Some(a), Some(b), Some(step)] if *step != 0 => Some((b - a) / step + 1),
                    _ => None,
                };
                match rows {
                    Some(rows) if rows <= MAX_SERIES_ROWS => Ok(()),
                    _ => {
                        Err(format!("generate_series needs constant integer bounds and at most {MAX_SERIES_ROWS} rows"))
                    }
                }
            }
            "repeat" | "lpad" | "rpad" => match args.get(1).and_then(|a| self.integer(a)) {
                Some(n) if n <= MAX_BUILT_STRING => Ok(()),
                _ => Err(format!("{f} needs a constant length of at most {MAX_BUILT_STRING}")),
            },
            "format" => {
                let spec = args.first().and_then(|a| a["A_Const"]["sval"]["sval"].as_str());
                match spec {
                    Some(spec) if format_widths_within(spec, MAX_BUILT_STRING) => Ok(()),
                    Some(_) => Err(format!("format widths must be constants of at most {MAX_BUILT_STRING}")),
                    None if args.first().is_some_and(|a| a["A_Const"].get("sval").is_some()) => Ok(()),
                    None => Err("format needs a constant format string".into()),
                }
            }
            _ => Ok(()),
        }
    }

    /// An integer constant, read from the dispatched text at the constant's position (the tree's
    /// JSON leaves out negative numbers), through casts.
    fn integer(&self, v: &Value) -> Option<i128> {
        if let Some((_, cast)) = node(v).filter(|(n, _)| *n == "TypeCast") {
            return self.integer(&cast["arg"]);
        }
        let constant = v.get("A_Const")?;
        constant.get("ival")?;
        let at = usize::try_from(constant["location"].as_u64()?).ok()?;
        let rest = self.text.get(at..)?;
        let (negative, digits) = match rest.strip_prefix('-') {
            Some(after) => (true, after.trim_start()),
            None => (false, rest),
        };
        let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
        let n: i128 = digits[..end].parse().ok()?;
        Some(if negative { -n } else { n })
    }

    fn type_name(&self, v: &Value) -> Result<(), String> {
        let names = strings(&v["names"]);
        match names.as_slice() {
            [t] | ["pg_catalog", t] if TYPES.contains(t) => Ok(()),
            _ => Err(format!("cast to type {}: only PostgreSQL's built-in types are allowed", names.join("."))),
        }
    }

    fn sql_carrying_columns(&self) -> Result<(), String> {
        if self.sql_rows.is_empty() {
            return Ok(());
        }
        let what = SQL_CARRYING_RELATIONS.join(", ");
        if self.stars {
            return Err(format!("`*` over {what} would read the query column (other sessions' SQL): name the columns"));
        }
        for r in &self.refs {
            if r.last().is_some_and(|c| SQL_CARRYING_COLUMNS.contains(&c.as_str())) {
                return Err(format!(
                    "the query column of {what} holds other sessions' SQL, which can hold credentials"
                ));
            }
            if let [one] = r.as_slice()
                && self.sql_rows.contains(one)
            {
                return Err(format!("a whole-row reference to {what} would read its query column: name the columns"));
            }
        }
        Ok(())
    }
}

/// True when every width in a `format()` spec is a constant of at most `max` (`*` widths come
/// from the arguments, so they are not known).
fn format_widths_within(spec: &str, max: i128) -> bool {
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            continue;
        }
        // %[position$][flags][width]type: the digits before a `$` are a position, not a width.
        let mut digits = String::new();
        loop {
            match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => digits.push(d),
                Some('$') if !digits.is_empty() => digits.clear(),
                Some('-') if digits.is_empty() => {}
                Some('*') => return false,
                _ => break,
            }
            chars.next();
        }
        if digits.parse::<i128>().map_or(!digits.is_empty(), |w| w > max) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_widths() {
        assert!(format_widths_within("%s and %I, 100%%", 1000));
        assert!(format_widths_within("%-20s|%2$10s", 1000));
        assert!(!format_widths_within("%900000000s", 1000));
        assert!(!format_widths_within("%*s", 1000));
        assert!(!format_widths_within("%1$*2$s", 1000));
        assert!(!format_widths_within("%99999999999999999999999999999999999999999s", 1000));
    }
}
