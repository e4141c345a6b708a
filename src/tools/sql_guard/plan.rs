//! The cost budget: before a query runs, its plan is asked for (`EXPLAIN (FORMAT JSON)`, which
//! without ANALYZE runs nothing), and the query is refused when the planner's estimated total
//! cost is over the policy's budget. The estimate accounts for LIMIT (the row cap), so a cheap
//! look at a big table passes, while an aggregate over a cross join does not.

use serde_json::Value;

/// The statement that asks PostgreSQL for the plan of `dispatched`.
pub fn explain(dispatched: &str) -> String {
    format!("EXPLAIN (FORMAT JSON) {dispatched}")
}

/// The estimated total cost in sql_conductor's answer to `explain`, if it is within `max_cost`;
/// otherwise the finding to report. An answer that holds no readable plan is refused too.
pub fn within_budget(answer: &Value, max_cost: f64) -> Result<f64, String> {
    let cost = find_plan(answer).and_then(|plan| plan["Total Cost"].as_f64()).ok_or_else(|| {
        "the query was not run: its plan (EXPLAIN) could not be read, and the guard runs no query whose cost it does not know"
            .to_string()
    })?;
    if cost <= max_cost {
        Ok(cost)
    } else {
        Err(format!(
            "the query was not run: PostgreSQL estimates its cost at {cost:.0}, over the budget of {max_cost:.0} (ONCALL_SQL_MAX_COST); narrow it with a WHERE on an indexed column or a smaller time range"
        ))
    }
}

/// The top plan node: `[{"Plan": {...}}]`, as JSON or as the text of one cell of a row.
fn find_plan(v: &Value) -> Option<&Value> {
    match v {
        Value::Object(m) => m.get("Plan").or_else(|| m.values().find_map(find_plan)),
        Value::Array(items) => items.iter().find_map(find_plan),
        _ => None,
    }
}

/// The plan when sql_conductor returns it as text (a `json` column read as a string).
pub fn parse_answer(answer: &Value) -> Value {
    match answer {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        Value::Array(items) => Value::Array(items.iter().map(parse_answer).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), parse_answer(v))).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_budget_reads_the_plan_in_either_shape() {
        let plan = r#"[{"Plan": {"Node Type": "Limit", "Total Cost": 12.5, "Plan Rows": 500}}]"#;
        let as_text = json!({"columns": ["QUERY PLAN"], "rows": [[plan]]});
        let as_json = json!({"columns": ["QUERY PLAN"], "rows": [[serde_json::from_str::<Value>(plan).unwrap()]]});
        assert_eq!(within_budget(&parse_answer(&as_text), 100.0), Ok(12.5));
        assert_eq!(within_budget(&parse_answer(&as_json), 100.0), Ok(12.5));
        let over = within_budget(&parse_answer(&as_text), 10.0).unwrap_err();
        assert!(over.contains("estimates its cost at 12") && over.contains("budget of 10"), "{over}");
        assert!(within_budget(&json!({"rows": [["no plan here"]]}), 100.0).is_err());
    }
}
