//! SQL guard benchmark: the verdict time per statement, now that two parsers read each one
//! (PostgreSQL's lexer, sqlparser, then PostgreSQL's parser three times over the dispatched
//! text). Prints the median and p99 over a mix of allowed and refused statements.
//!
//! Run: cargo bench --bench sql_guard

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod report;

use std::time::Instant;

use oncall_triage::tools::sql_guard::{Policy, check};

const STATEMENTS: &[&str] = &[
    "SELECT status, count(*) FROM workflow_index GROUP BY status ORDER BY 2 DESC",
    "SELECT workflow_type, count(*) FILTER (WHERE status = 'RUNNING') FROM workflow_index GROUP BY 1",
    "SELECT * FROM workflow_index WHERE start_time > now() - interval '1 hour' ORDER BY start_time DESC LIMIT 20",
    "WITH recent AS (SELECT * FROM workflow_index WHERE status = 'FAILED') SELECT count(*) FROM recent",
    "SELECT a.task_def_name FROM task_in_progress a WHERE EXISTS (SELECT 1 FROM task t WHERE t.task_id = a.task_id)",
    "SELECT state, wait_event, count(*) FROM pg_stat_activity GROUP BY 1, 2",
    "SELECT relname, n_live_tup, n_dead_tup FROM pg_stat_user_tables ORDER BY n_dead_tup DESC",
    "EXPLAIN (FORMAT JSON) SELECT * FROM workflow WHERE id = 1",
    "SHOW statement_timeout",
    "SELECT 1 <=/* 2, ' */ 1) s; DELETE FROM workflow; -- '",
    "SELECT pg_sleep(10)",
    "SELECT query FROM pg_stat_activity",
    "DELETE FROM workflow",
    "SELECT count(*) FROM generate_series(1, 100000000000)",
];

fn main() {
    let policy = Policy::default();
    let mut times = Vec::new();
    for _ in 0..200 {
        for sql in STATEMENTS {
            let started = Instant::now();
            std::hint::black_box(check(sql, &policy));
            times.push(started.elapsed().as_secs_f64() * 1e6);
        }
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    report::row("SQL guard: verdict time, median", format!("{:.0}", at(0.5)), "µs", "< 1,000 µs");
    report::row("SQL guard: verdict time, p99", format!("{:.0}", at(0.99)), "µs", "< 5,000 µs");
    println!(
        "sql_guard: verdict time over {} verdicts of {} statements: median {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        times.len(),
        STATEMENTS.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
