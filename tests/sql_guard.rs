//! The read-only SQL guard: a corpus of tricky cases both ways, and every allowed query run on a
//! real PostgreSQL 15 (the Conductor schema loaded) in a READ ONLY transaction with a short
//! statement_timeout, checked to leave no trace as sql-guard-notes.md defines it: no transaction
//! id assigned, no advisory lock left, no NOTIFY delivered, no setting changed, no large object,
//! no other backend cancelled or killed, no timeout. An ordinary error (1/0) is fine. A generator
//! adds random queries; the harness is shown to catch each kind of trace.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use oncall_triage::tools::sql_guard::{Policy, check, plan};
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const ALLOW: &[&str] = &[
    "SELECT 1",
    "select count(*) from workflow",
    "SELECT count(*) FROM public.workflow",
    "SELECT * FROM workflow WHERE json_data = 'drop table'",
    "SELECT * FROM workflow WHERE json_data LIKE '%; DELETE FROM workflow; --%'",
    "SELECT 'pg_sleep(10)' AS not_a_call",
    "SELECT $$ ; DELETE FROM workflow $$",
    "SELECT $tag$ '; DROP TABLE task; $tag$",
    "SELECT E'it\\'s ; delete'",
    "SELECT 1 /* ; DELETE FROM workflow */",
    "SELECT 1 /* nested /* comment */ ; DELETE */",
    "SELECT 1 -- ; DELETE FROM workflow",
    "SELECT workflow_id, correlation_id FROM workflow ORDER BY id DESC LIMIT 20",
    "SELECT status, count(*) FROM workflow_index GROUP BY status ORDER BY 2 DESC",
    "SELECT workflow_type, count(*) FILTER (WHERE status = 'RUNNING') FROM workflow_index GROUP BY 1",
    "SELECT date_trunc('hour', start_time) AS h, count(*) FROM workflow_index GROUP BY 1 ORDER BY 1",
    "SELECT * FROM workflow_index WHERE start_time > now() - interval '1 hour'",
    "SELECT json_data::jsonb -> 'input' FROM workflow LIMIT 5",
    "SELECT jsonb_typeof(json_data) FROM workflow_index LIMIT 1",
    "SELECT jsonb_extract_path_text(json_data, 'status') FROM workflow_index",
    "SELECT x.key FROM workflow_index w, LATERAL jsonb_each(w.json_data) x",
    "SELECT * FROM jsonb_array_elements('[1,2]'::jsonb)",
    "SELECT * FROM generate_series(1, 5) g",
    "SELECT unnest(ARRAY[1,2,3])",
    "SELECT * FROM unnest(ARRAY['a','b']) AS u(v)",
    "WITH recent AS (SELECT * FROM workflow_index WHERE status = 'FAILED') SELECT count(*) FROM recent",
    "WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT * FROM b",
    "WITH pg_shadow AS (SELECT 1 AS x) SELECT * FROM pg_shadow",
    "SELECT * FROM (SELECT queue_name, count(*) AS c FROM queue_message GROUP BY 1) q WHERE c > 10",
    "SELECT queue_name FROM queue_message WHERE popped = false GROUP BY queue_name HAVING count(*) > 100",
    "SELECT * FROM task_index t JOIN workflow_index w ON w.workflow_id = t.task_id LIMIT 5",
    "SELECT * FROM task_index t LEFT JOIN workflow_index w USING (workflow_type) LIMIT 5",
    "SELECT a.task_def_name FROM task_in_progress a WHERE EXISTS (SELECT 1 FROM task t WHERE t.task_id = a.task_id)",
    "SELECT task_def_name FROM task_in_progress WHERE workflow_id IN (SELECT workflow_id FROM workflow_pending)",
    "SELECT name FROM meta_task_def UNION SELECT name FROM meta_workflow_def",
    "SELECT name FROM meta_task_def INTERSECT SELECT name FROM meta_workflow_def",
    "SELECT name FROM meta_task_def EXCEPT SELECT name FROM meta_event_handler",
    "VALUES (1, 'a'), (2, 'b')",
    "SELECT * FROM (VALUES (1), (2)) AS v(x)",
    "SELECT row_number() OVER (PARTITION BY workflow_type ORDER BY start_time) FROM workflow_index",
    "SELECT lag(start_time) OVER (ORDER BY start_time) FROM workflow_index",
    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY id) FROM workflow",
    "SELECT coalesce(correlation_id, '-') FROM workflow",
    "SELECT nullif(1, 1)",
    "SELECT greatest(1, 2), least(1, 2)",
    "SELECT CASE WHEN 1 > 0 THEN 'yes' ELSE 'no' END",
    "SELECT CAST('2024-01-01' AS DATE)",
    "SELECT '1'::int + 1",
    "SELECT EXTRACT(EPOCH FROM now())",
    "SELECT extract(hour FROM now())",
    "SELECT age(now(), now() - interval '1 day')",
    "SELECT to_char(now(), 'YYYY-MM-DD')",
    "SELECT lower('A'), upper('b'), length('abc'), substring('abcdef' FROM 2 FOR 3)",
    "SELECT split_part('a,b', ',', 2), replace('aa', 'a', 'b'), concat('a', 'b')",
    "SELECT regexp_replace('abc', 'b', 'x')",
    "SELECT trim('  x  ')",
    "SELECT position('b' IN 'abc')",
    "SELECT pg_size_pretty(pg_database_size(current_database()))",
    "SELECT pg_size_pretty(pg_total_relation_size('workflow'))",
    "SELECT pg_catalog.pg_size_pretty(1024::bigint)",
    "SELECT relname, n_live_tup, n_dead_tup FROM pg_stat_user_tables ORDER BY n_dead_tup DESC",
    "SELECT state, count(*) FROM pg_stat_activity GROUP BY state",
    "SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity",
    "SELECT locktype, mode, granted FROM pg_locks",
    "SELECT * FROM pg_catalog.pg_locks",
    "SELECT datname, xact_commit FROM pg_stat_database",
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'workflow'",
    "SELECT 1/0",
    "SELECT sum(id)::numeric / nullif(count(*), 0) FROM workflow",
    "SELECT array_agg(name ORDER BY name) FROM meta_task_def",
    "SELECT string_agg(name, ',') FROM meta_task_def",
    "SELECT jsonb_agg(status) FROM workflow_index",
    "SELECT DISTINCT workflow_type FROM workflow_index",
    "SELECT DISTINCT ON (workflow_type) workflow_type, start_time FROM workflow_index ORDER BY workflow_type, start_time DESC",
    "SELECT * FROM workflow ORDER BY id OFFSET 5 LIMIT 5",
    "SELECT * FROM workflow FETCH FIRST 3 ROWS ONLY",
    "EXPLAIN SELECT * FROM workflow",
    "EXPLAIN (FORMAT JSON) SELECT * FROM workflow WHERE id = 1",
    "EXPLAIN (VERBOSE, COSTS false) SELECT count(*) FROM task",
    "SHOW statement_timeout",
    "SHOW server_version",
    "SHOW max_connections",
    "SHOW work_mem",
    "select now()",
    "SELECT current_timestamp",
    "SELECT 'a' || 'b'",
    "SELECT ARRAY[1,2] @> ARRAY[1]",
    "SELECT json_build_object('a', 1)",
    "SELECT md5('x')",
    "SELECT round(1.234, 2), floor(1.5), ceil(1.5), abs(-1)",
    "SELECT count(*) FROM queue_message WHERE deliver_on < now() AND NOT popped",
    // issue 11: what a triage engineer writes, refused before
    "SELECT count(*) FROM \"workflow\"",
    "SELECT task_def_name FROM public.\"task_in_progress\"",
    "SELECT \"count\"(*) FROM workflow",
    "SELECT ARRAY(SELECT name FROM meta_task_def)",
    "SELECT status, GROUPING(status), count(*) FROM workflow_index GROUP BY ROLLUP (status)",
    "TABLE queue",
    "SELECT current_user",
    "SELECT pg_is_in_recovery()",
    "SELECT * FROM workflow WHERE id >/* x */ 10",
    "SELECT * FROM workflow WHERE id>=/* x */10 AND id <=--\n 20",
    "SELECT 'a\\' AS backslash",
    "SELECT regexp_replace(json_data, '\\s+', ' ') FROM workflow LIMIT 3",
    "SELECT state, wait_event_type, wait_event, query_start, count(*) FROM pg_stat_activity GROUP BY 1, 2, 3, 4",
    "SELECT count(*) FROM pg_stat_activity a WHERE a.state = 'active'",
    "SELECT repeat('-', 40), lpad('x', 10), format('%s has %-10s', 'a', 'b')",
    "SELECT * FROM generate_series(1, 100000) g",
    "SELECT * FROM generate_series(-5, 5, 2) g",
    "SELECT E'tab\\there'",
    "SELECT $q$it's$q$ AS dollar",
    "SELECT count(*) FROM workflow_index WHERE correlation_id LIKE 'a!_%' ESCAPE '!'",
];

const DENY: &[&str] = &[
    // not a query
    "DELETE FROM workflow",
    "delete from workflow where id = 1",
    "UPDATE workflow SET json_data = ''",
    "INSERT INTO workflow (workflow_id, json_data) VALUES ('x', '{}')",
    "MERGE INTO workflow w USING task t ON w.id = t.id WHEN MATCHED THEN DELETE",
    "DROP TABLE workflow",
    "TRUNCATE workflow",
    "ALTER TABLE workflow ADD COLUMN x int",
    "CREATE TABLE t (x int)",
    "CREATE TABLE t AS SELECT * FROM workflow",
    "GRANT ALL ON workflow TO public",
    "VACUUM workflow",
    "ANALYZE workflow",
    "REINDEX TABLE workflow",
    "CLUSTER workflow",
    "LOCK TABLE workflow",
    "LISTEN probe",
    "NOTIFY probe, 'x'",
    "SET statement_timeout = 0",
    "SET LOCAL work_mem = '1GB'",
    "RESET ALL",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "PREPARE p AS SELECT 1",
    "EXECUTE p",
    "DEALLOCATE p",
    "DECLARE c CURSOR FOR SELECT * FROM workflow",
    "FETCH ALL FROM c",
    "COPY workflow TO '/tmp/x'",
    "COPY (SELECT 1) TO PROGRAM 'id'",
    "DO $$ BEGIN DELETE FROM workflow; END $$",
    "CALL p()",
    "DISCARD ALL",
    "CHECKPOINT",
    "REFRESH MATERIALIZED VIEW v",
    "COMMENT ON TABLE workflow IS 'x'",
    "SECURITY LABEL ON TABLE workflow IS 'x'",
    // several statements
    "SELECT 1; DELETE FROM workflow",
    "COMMIT; DELETE FROM workflow",
    "SELECT 1; SELECT 2",
    ";",
    "",
    "   ",
    "-- only a comment",
    // writes hidden in queries
    "WITH x AS (DELETE FROM workflow RETURNING *) SELECT * FROM x",
    "WITH x AS (UPDATE workflow SET json_data = '' RETURNING id) SELECT count(*) FROM x",
    "WITH x AS (INSERT INTO queue (queue_name) VALUES ('q') RETURNING *) SELECT 1",
    "SELECT * INTO new_table FROM workflow",
    "SELECT * FROM workflow FOR UPDATE",
    "SELECT * FROM workflow FOR SHARE",
    "SELECT * FROM workflow FOR NO KEY UPDATE",
    "SELECT * FROM workflow FOR KEY SHARE",
    "SELECT * FROM workflow FOR UPDATE SKIP LOCKED",
    "SELECT * FROM workflow FOR UPDATE NOWAIT",
    // EXPLAIN that executes
    "EXPLAIN ANALYZE SELECT 1",
    "EXPLAIN ANALYZE DELETE FROM workflow",
    "EXPLAIN (ANALYZE) SELECT 1",
    "EXPLAIN (ANALYZE true) SELECT 1",
    "EXPLAIN (analyze, format json) SELECT 1",
    "EXPLAIN DELETE FROM workflow",
    "EXPLAIN (WAL) SELECT 1",
    // SHOW of everything or an unlisted setting
    "SHOW ALL",
    "SHOW app.secret_token",
    "SHOW \"app.api_key\"",
    "SHOW data_directory",
    // functions outside the allow-list, however spelled
    "SELECT pg_sleep(10)",
    "SELECT PG_SLEEP(10)",
    "SELECT \"pg_sleep\"(10)",
    "SELECT pg_catalog.pg_sleep(10)",
    "SELECT \"pg_catalog\".\"pg_sleep\"(10)",
    "SELECT U&\"pg\\005fsleep\"(10)",
    "SELECT pg_sleep_for('10 seconds')",
    "SELECT pg_sleep_until(now() + interval '10 seconds')",
    "SELECT set_config('statement_timeout', '0', false)",
    "SELECT current_setting('app.secret')",
    "SELECT nextval('workflow_id_seq')",
    "SELECT setval('workflow_id_seq', 1)",
    "SELECT pg_advisory_lock(1)",
    "SELECT pg_try_advisory_lock(1)",
    "SELECT pg_advisory_xact_lock(1)",
    "SELECT pg_notify('probe', 'x')",
    "SELECT queue_notify()",
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
    "SELECT pg_cancel_backend(1)",
    "SELECT pg_reload_conf()",
    "SELECT pg_rotate_logfile()",
    "SELECT lo_create(0)",
    "SELECT lo_from_bytea(0, 'x')",
    "SELECT lo_import('/etc/passwd')",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_read_binary_file('/etc/passwd')",
    "SELECT pg_ls_dir('.')",
    "SELECT pg_stat_file('.')",
    "SELECT dblink_exec('dbname=conductor', 'DELETE FROM workflow')",
    "SELECT * FROM dblink('dbname=conductor', 'SELECT 1') AS t(x int)",
    "SELECT query_to_xml('DELETE FROM workflow RETURNING 1', true, true, '')",
    "SELECT txid_current()",
    "SELECT pg_current_xact_id()",
    "SELECT pg_logical_emit_message(true, 'x', 'y')",
    "SELECT pg_create_restore_point('x')",
    "SELECT pg_switch_wal()",
    "SELECT count(*) FROM workflow WHERE pg_sleep(1) IS NOT NULL",
    "SELECT * FROM workflow ORDER BY pg_sleep(1)",
    "SELECT (SELECT pg_sleep(1))",
    "SELECT * FROM pg_read_file('/etc/passwd')",
    "SELECT * FROM LATERAL pg_ls_dir('.')",
    "SELECT * FROM workflow, LATERAL (SELECT pg_sleep(1)) s",
    "SELECT array_agg(pg_sleep(1)) FROM workflow",
    "SELECT coalesce(null, pg_sleep(1))",
    "SELECT my_schema.count(*) FROM workflow",
    "SELECT public.count(*) FROM workflow",
    // relations outside the allow-list
    "SELECT * FROM pg_shadow",
    "SELECT * FROM pg_authid",
    "SELECT * FROM pg_settings",
    "SELECT * FROM pg_catalog.pg_settings",
    "SELECT * FROM pg_user_mappings",
    "SELECT * FROM information_schema.role_table_grants",
    "SELECT * FROM secrets",
    "SELECT * FROM other_schema.workflow",
    "SELECT * FROM conductor.public.workflow",
    "WITH a AS (SELECT * FROM pg_shadow), pg_shadow AS (SELECT 1) SELECT * FROM a",
    "SELECT * FROM (SELECT * FROM pg_shadow) x, (WITH pg_shadow AS (SELECT 1) SELECT * FROM pg_shadow) y",
    "WITH x AS (SELECT 1) SELECT * FROM x, pg_authid",
    "SELECT (SELECT count(*) FROM pg_authid)",
    "SELECT * FROM workflow WHERE id IN (SELECT oid FROM pg_authid)",
    "TABLE pg_shadow",
    "SELECT * FROM workflow w JOIN pg_shadow s ON true",
    // other dialects' syntax
    "SELECT TOP 5 * FROM workflow",
    "SELECT * FROM workflow LIMIT 1, 2",
    "SELECT * FROM workflow QUALIFY row_number() OVER () = 1",
    "FROM workflow SELECT *",
    "SELECT * FROM workflow |> WHERE id = 1",
    "SELECT * EXCLUDE (json_data) FROM workflow",
    // issue 11: operators that swallow a comment start, so the string's contents run as SQL
    "SELECT 1 <=/* 2, ' */ 1) s; DELETE FROM workflow; -- '",
    "SELECT 1 -/* 2, ' */ 1) s; DROP TABLE workflow; -- '",
    "SELECT 1 ||-- 2, '\n 1) s; TRUNCATE workflow; -- '",
    "SELECT 1 </* 2, ' */ 1) s; COPY (SELECT 1) TO PROGRAM 'id'; -- '",
    "SELECT 1 >/* 2, ' */ 1, pg_sleep(10) --'",
    "SELECT 1 @>/* ' */ 1, set_config('statement_timeout', '0', false) --'",
    "SELECT 1 !=/* ' */ 1, pg_read_file('/etc/passwd') --'",
    "SELECT 1 #>>/* ' */ 1) s; DELETE FROM workflow; --'",
    // the lexers disagree
    "SELECT $1$ ; DELETE FROM workflow $1$",
    "SELECT * FROM workflow WHERE id = $1",
    "SELECT * FROM workflow WHERE workflow_id = $id",
    "SELECT TRY_CAST('1' AS int)",
    "SELECT 1 OPERATOR(public.+) 2",
    "SELECT 1 OPERATOR(pg_catalog.+) 2",
    "SELECT * FROM TABLE(generate_series(1, 3))",
    // no bound on cost
    "SELECT count(*) FROM generate_series(1, 100000000000)",
    "SELECT count(*) FROM generate_series(1, (SELECT count(*) FROM workflow))",
    "SELECT * FROM generate_series(now() - interval '1 day', now(), interval '1 second')",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT * FROM n",
    "SELECT array_agg(repeat('x', 1000000)) FROM generate_series(1, 1000)",
    "SELECT format('%900000000s', 'x')",
    "SELECT format('%*s', 900000000, 'x')",
    "SELECT lpad('x', 900000000)",
    "SELECT rpad('x', (SELECT count(*)::int FROM workflow))",
    // other sessions' SQL
    "SELECT query FROM pg_stat_activity",
    "SELECT a.query FROM pg_stat_activity a",
    "SELECT * FROM pg_stat_activity",
    "SELECT a.* FROM pg_stat_activity a",
    "SELECT a::text FROM pg_stat_activity a",
    "SELECT row_to_json(a) FROM pg_stat_activity a",
    "SELECT (a).query FROM pg_stat_activity a",
    "SELECT q FROM pg_stat_activity AS a(d, dn, p, lp, u, un, an, ca, ch, cp, bs, xs, qs, sc, we, wt, st, bx, bxm, q)",
    "SELECT pg_stat_activity FROM pg_stat_activity",
    "TABLE pg_stat_activity",
    "SELECT x FROM (SELECT query AS x FROM pg_catalog.pg_stat_activity) s",
    // casts run a type's input function
    "SELECT 1::my_domain",
    "SELECT CAST('x' AS public.evil)",
    // input the guard refuses to read
    "SELECT 1\u{0}",
    "SELECT 1\u{7}",
    "SELECT '\u{1b}[31m'",
    "SELEC 1",
];

#[test]
fn the_corpus_is_judged_right_both_ways() {
    assert!(ALLOW.len() + DENY.len() >= 200, "{} cases", ALLOW.len() + DENY.len());
    let policy = Policy::default();
    let mut wrong = Vec::new();
    for sql in ALLOW {
        let v = check(sql, &policy);
        if !v.allowed {
            wrong.push(format!("should allow: {sql}  ({})", v.reason.unwrap_or_default()));
        } else if v.dispatched.as_deref().is_none_or(|d| d.is_empty()) {
            wrong.push(format!("no dispatched text: {sql}"));
        }
    }
    for sql in DENY {
        let v = check(sql, &policy);
        if v.allowed {
            wrong.push(format!("should deny: {sql}  (normalized {:?})", v.normalized));
        } else if v.reason.as_deref().is_none_or(str::is_empty) {
            wrong.push(format!("no reason for: {sql}"));
        }
    }
    let long = format!("SELECT '{}'", "x".repeat(40_000));
    assert!(!check(&long, &policy).allowed);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn reasons_name_the_rule_that_fired() {
    let p = Policy::default();
    let reason = |sql: &str| check(sql, &p).reason.unwrap_or_default();
    assert_eq!(reason("SELECT * FROM workflow FOR UPDATE"), "SELECT … FOR UPDATE/SHARE takes row locks");
    assert_eq!(reason("EXPLAIN (ANALYZE) SELECT 1"), "EXPLAIN (ANALYZE) executes the query");
    assert_eq!(reason("SELECT * INTO t FROM workflow"), "SELECT … INTO creates a table");
    assert!(reason("SELECT pg_sleep(1)").starts_with("function pg_sleep is not in the allow-list"));
    assert!(reason("SELECT * FROM pg_shadow").starts_with("relation pg_shadow is not in the allow-list"));
    assert_eq!(reason("SELECT 1; SELECT 2"), "2 statements: exactly one is allowed");
}

#[test]
fn the_relation_allow_list_is_configurable() {
    let p = Policy::default().with_relations(["orkes_secret_store_audit"]);
    assert!(check("SELECT count(*) FROM orkes_secret_store_audit", &p).allowed);
    assert!(!check("SELECT count(*) FROM orkes_secret_store_audit", &Policy::default()).allowed);
}

// ---- a real PostgreSQL ------------------------------------------------------------------------

/// A throwaway PostgreSQL 15 cluster on a Unix socket in a short temp path, owned by `postgres`
/// when the tests run as root (PostgreSQL refuses to run as root).
struct Pg {
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

fn sh(as_postgres: bool, args: &[&str]) -> std::process::Output {
    let mut cmd = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).args(args);
        c
    } else {
        let mut c = Command::new(args[0]);
        c.args(&args[1..]);
        c
    };
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e} (PostgreSQL 15's initdb and pg_ctl must be on PATH)"))
}

impl Pg {
    fn start() -> Pg {
        let as_postgres = is_root();
        let dir = tempfile::Builder::new().prefix("otpg").tempdir_in("/tmp").unwrap().keep();
        if as_postgres {
            assert!(Command::new("chown").args(["-R", "postgres:", dir.to_str().unwrap()]).status().unwrap().success());
        }
        let data = dir.join("data");
        let out =
            sh(as_postgres, &["initdb", "-D", data.to_str().unwrap(), "-U", "postgres", "-A", "trust", "--no-sync"]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let port = 20_000 + (std::process::id() % 20_000) as u16;
        let opts = format!("-k {} -p {port} -c listen_addresses='' -c fsync=off", dir.display());
        let log = dir.join("log");
        let out = sh(
            as_postgres,
            &["pg_ctl", "-D", data.to_str().unwrap(), "-o", &opts, "-l", log.to_str().unwrap(), "-w", "start"],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {} {}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let pg = Pg { dir, port, as_postgres };
        let mut admin = pg.connect("postgres", "admin");
        admin.batch_execute("CREATE DATABASE conductor").unwrap();
        let mut c = pg.connect("conductor", "admin");
        c.batch_execute(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conductor-postgres-schema.sql"),
            )
            .unwrap(),
        )
        .unwrap();
        c.batch_execute(
            "INSERT INTO workflow (workflow_id, correlation_id, json_data) SELECT 'w' || g, 'c' || g, '{\"input\": {}}' FROM generate_series(1, 50) g;
             INSERT INTO workflow_index SELECT 'w' || g, 'c', CASE WHEN g % 3 = 0 THEN 'sync' ELSE 'label' END, now() - g * interval '1 minute', CASE WHEN g % 5 = 0 THEN 'FAILED' ELSE 'RUNNING' END, '{\"status\": \"RUNNING\"}', now() FROM generate_series(1, 50) g;
             INSERT INTO meta_task_def (name, json_data) VALUES ('a', '{}'), ('b', '{}');
             INSERT INTO meta_workflow_def (name, version, json_data) VALUES ('a', 1, '{}');
             INSERT INTO queue_message (queue_name, message_id, payload) SELECT 'q' || (g % 3), 'm' || g, 'x' FROM generate_series(1, 30) g;
             CREATE OR REPLACE FUNCTION queue_notify() RETURNS void AS $$ BEGIN PERFORM pg_notify('probe', 'x'); END $$ LANGUAGE plpgsql;",
        )
        .unwrap();
        pg
    }

    fn connect(&self, db: &str, app: &str) -> Client {
        let conn =
            format!("host={} port={} user=postgres dbname={db} application_name={app}", self.dir.display(), self.port);
        Client::connect(&conn, NoTls).unwrap_or_else(|e| panic!("connect: {e}"))
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = sh(self.as_postgres, &["pg_ctl", "-D", data.to_str().unwrap(), "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// The sessions a trace check uses: the one running the query, a listener, and a bystander.
struct Harness {
    session: Client,
    listener: Client,
    bystander: Client,
}

impl Harness {
    fn new(pg: &Pg) -> Harness {
        let mut listener = pg.connect("conductor", "listener");
        listener.batch_execute("LISTEN probe").unwrap();
        Harness {
            session: pg.connect("conductor", "tester"),
            listener,
            bystander: pg.connect("conductor", "bystander"),
        }
    }

    fn settings(&mut self) -> Vec<(String, String)> {
        self.session
            .query("SELECT name, setting FROM pg_settings ORDER BY name", &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    /// Runs `sql` as the SQL tool would, then names every trace it left (empty: none).
    fn traces(&mut self, sql: &str) -> Vec<String> {
        let mut found = Vec::new();
        let before = self.settings();
        self.session.batch_execute("BEGIN READ ONLY; SET LOCAL statement_timeout = '2s'").unwrap();
        match self.session.simple_query(sql) {
            Ok(_) => {
                let xid: Option<i64> = self.session.query_one("SELECT txid_current_if_assigned()", &[]).unwrap().get(0);
                if xid.is_some() {
                    found.push("a transaction id was assigned (a write)".into());
                }
                self.session.batch_execute("COMMIT").unwrap();
            }
            Err(e) => {
                if e.code() == Some(&SqlState::QUERY_CANCELED) {
                    found.push("it ran into the statement timeout".into());
                }
                self.session.batch_execute("ROLLBACK").unwrap();
            }
        }
        if self.settings() != before {
            found.push("a setting changed".into());
        }
        let locks: i64 =
            self.session.query_one("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", &[]).unwrap().get(0);
        if locks > 0 {
            found.push("an advisory lock is still held".into());
        }
        let objects: i64 = self.session.query_one("SELECT count(*) FROM pg_largeobject_metadata", &[]).unwrap().get(0);
        if objects > 0 {
            found.push("a large object was created".into());
        }
        if self.listener.notifications().timeout_iter(Duration::from_millis(30)).next().ok().flatten().is_some() {
            found.push("a NOTIFY was delivered".into());
        }
        if self.bystander.simple_query("SELECT 1").is_err() {
            found.push("another backend was cancelled or terminated".into());
        }
        found
    }
}

#[test]
fn allowed_queries_leave_no_trace_on_postgres_and_the_harness_sees_traces() {
    let pg = Pg::start();
    let mut h = Harness::new(&pg);
    let policy = Policy::default();

    // The harness catches each kind of trace (these bypass the guard on purpose).
    for (attack, trace) in [
        ("SELECT txid_current()", "a transaction id was assigned"),
        ("SELECT set_config('work_mem', '1234kB', false)", "a setting changed"),
        ("SELECT pg_advisory_lock(42)", "an advisory lock is still held"),
        ("SELECT pg_notify('probe', 'x')", "a NOTIFY was delivered"),
        ("SELECT pg_sleep(5)", "statement timeout"),
    ] {
        let found = h.traces(attack);
        assert!(found.iter().any(|f| f.contains(trace)), "{attack}: {found:?}");
        assert!(!check(attack, &policy).allowed, "the guard stops {attack}");
        h.session.batch_execute("SELECT pg_advisory_unlock_all(); RESET ALL").unwrap();
    }
    let kill = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bystander'";
    assert!(h.traces(kill).iter().any(|f| f.contains("terminated")), "the harness sees a killed backend");
    assert!(!check(kill, &policy).allowed);
    h.bystander = pg.connect("conductor", "bystander");

    for sql in ALLOW {
        let v = check(sql, &policy);
        let dispatched = v.dispatched.unwrap();
        let found = h.traces(&dispatched);
        assert!(found.is_empty(), "{sql}\n→ {dispatched}\nleft: {found:?}");
    }
    // The row cap holds.
    let v = check("SELECT * FROM generate_series(1, 100000)", &policy);
    let rows = h.session.simple_query(&v.dispatched.unwrap()).unwrap();
    let n = rows.iter().filter(|m| matches!(m, postgres::SimpleQueryMessage::Row(_))).count();
    assert_eq!(n, 500);

    // Generated queries: whatever the guard allows leaves no trace.
    let mut runner = TestRunner::new(Config { cases: 300, failure_persistence: None, ..Config::default() });
    let harness = std::cell::RefCell::new(h);
    let allowed = std::cell::Cell::new(0);
    runner
        .run(&generated_query(), |sql| {
            let v = check(&sql, &policy);
            if v.allowed {
                allowed.set(allowed.get() + 1);
                let found = harness.borrow_mut().traces(&v.dispatched.unwrap());
                prop_assert!(found.is_empty(), "{} left {:?}", sql, found);
            }
            Ok(())
        })
        .unwrap();
    assert!(allowed.get() > 30, "the generator reaches allowed queries too ({})", allowed.get());
}

/// Queries mixing safe and dangerous pieces: functions (allowed and not, in several spellings),
/// relations, data-modifying CTEs, locking clauses and statement kinds.
fn generated_query() -> impl Strategy<Value = String> {
    let function = prop_oneof![
        Just("count(*)"),
        Just("now()"),
        Just("lower('A')"),
        Just("coalesce(null, 1)"),
        Just("pg_size_pretty(1::bigint)"),
        Just("pg_sleep(3)"),
        Just("\"pg_sleep\"(3)"),
        Just("pg_catalog.pg_sleep(3)"),
        Just("set_config('work_mem', '1234kB', false)"),
        Just("pg_advisory_lock(7)"),
        Just("pg_notify('probe', 'y')"),
        Just("txid_current()"),
        Just("lo_create(0)"),
        Just("queue_notify()"),
        Just("nextval('workflow_id_seq')"),
        Just("current_setting('work_mem')"),
    ];
    let relation = prop_oneof![
        Just("workflow"),
        Just("workflow_index"),
        Just("queue_message"),
        Just("pg_stat_activity"),
        Just("pg_locks"),
        Just("pg_settings"),
        Just("pg_shadow"),
        Just("public.task"),
    ];
    let shape = prop_oneof![
        Just("SELECT {f} FROM {r}"),
        Just("SELECT {f}"),
        Just("SELECT * FROM {r} WHERE {f} IS NOT NULL"),
        Just("WITH x AS (SELECT {f} AS v FROM {r}) SELECT * FROM x"),
        Just("WITH x AS (DELETE FROM {r} RETURNING 1) SELECT {f}"),
        Just("SELECT (SELECT {f}) FROM {r}"),
        Just("SELECT {f} FROM {r} FOR UPDATE"),
        Just("EXPLAIN SELECT {f} FROM {r}"),
        Just("EXPLAIN (ANALYZE) SELECT {f} FROM {r}"),
        Just("SELECT {f}; SELECT 1"),
        Just("SELECT {f} /* ; DELETE FROM workflow */ FROM {r}"),
        Just("SELECT {f} FROM {r} UNION ALL SELECT {f} FROM {r}"),
    ];
    (shape, function, relation).prop_map(|(s, f, r)| s.replace("{f}", f).replace("{r}", r))
}

// ---- the differential test: PostgreSQL runs exactly what the guard approved ------------------

/// Pieces an attacker mixes so that two lexers read one text differently: operators next to
/// comment starts, quotes of every kind, dollar tags, casts, parentheses and payloads.
fn differential_statement() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("1"),
        Just("id"),
        Just("'x'"),
        Just("count(*)"),
        Just("lower('A')"),
        Just("(2)"),
        Just("E'\\\\'"),
        Just("E'\\''"),
        Just("$$a$$"),
        Just("'a'::text"),
        Just("2::int"),
        Just("'a\\'"),
        Just("U&'\\0061'"),
        Just("workflow_id"),
    ];
    let op = prop_oneof![
        Just("<="),
        Just("-"),
        Just("||"),
        Just("<"),
        Just(">"),
        Just(">="),
        Just("="),
        Just("@>"),
        Just("#>>"),
        Just("!="),
        Just("+"),
        Just("*"),
        Just("~"),
        Just("::"),
        Just(","),
    ];
    // A comment opened right after the operator, a quote inside it, the comment closed, a
    // payload, a quote: one lexer sees a string, the other sees the payload run.
    let open = prop_oneof![3 => Just("/*"), 3 => Just("--"), 1 => Just(""), 1 => Just(" "), 1 => Just("/* c */")];
    let close = prop_oneof![3 => Just("*/"), 3 => Just("\n"), 1 => Just(""), 1 => Just("-- c\n")];
    let quote = prop_oneof![
        6 => Just("'"),
        1 => Just("''"),
        1 => Just("\\'"),
        1 => Just("E'"),
        1 => Just("U&'"),
        1 => Just("$$"),
        1 => Just("$1$"),
        1 => Just("$q$"),
        1 => Just("\""),
        1 => Just("("),
        1 => Just(")"),
    ];
    let payload = prop_oneof![
        2 => Just(" 2, "),
        3 => Just(" 1) s; DELETE FROM workflow; -- "),
        2 => Just(" 1) s; TRUNCATE queue; -- "),
        1 => Just(", pg_sleep(3) "),
        1 => Just(", set_config('work_mem', '1234kB', false) "),
        1 => Just(", pg_read_file('/etc/hostname') "),
        1 => Just(", txid_current() "),
        1 => Just(", (SELECT count(*) FROM pg_authid) "),
        1 => Just(" x "),
    ];
    let relation = prop_oneof![Just("workflow"), Just("queue"), Just("pg_stat_activity"), Just("(SELECT 1 AS id) t")];
    let tail = prop_oneof![2 => Just(String::new()), 1 => (atom.clone(), relation).prop_map(|(b, r)| format!(" {b} FROM {r}"))];
    let template =
        (atom.clone(), op.clone(), open, payload.clone(), quote.clone(), close, payload.clone(), quote.clone(), tail)
            .prop_map(|(a, o, g1, p1, q1, g2, p2, q2, tail)| format!("SELECT {a} {o}{g1}{p1}{q1}{g2}{p2}{q2}{tail}"));
    let soup = proptest::collection::vec(prop_oneof![atom, op, quote, payload], 1..8)
        .prop_map(|parts| format!("SELECT {}", parts.concat()));
    prop_oneof![3 => template, 1 => soup]
}

static LITERAL: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"'(?:[^']|'')*'").unwrap());
static CALL: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"([A-Za-z_][A-Za-z0-9_]*)\(").unwrap());

/// What PostgreSQL itself says a text touches: the relations and function calls in the
/// `EXPLAIN (VERBOSE, FORMAT JSON)` of it.
fn touched(plan: &serde_json::Value, relations: &mut Vec<String>, calls: &mut Vec<String>) {
    match plan {
        serde_json::Value::Object(m) => {
            if let Some(r) = m.get("Relation Name").and_then(|v| v.as_str()) {
                relations.push(r.to_string());
            }
            if let Some(f) = m.get("Function Name").and_then(|v| v.as_str()) {
                calls.push(f.to_string());
            }
            for (k, v) in m {
                let expressions =
                    ["Output", "Filter", "Join Filter", "Hash Cond", "Sort Key", "Group Key", "Function Call"];
                if expressions.contains(&k.as_str()) {
                    // EXPLAIN prints constants as '…' literals: what is inside one is no call.
                    let text: Vec<String> = match v {
                        serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str()).map(String::from).collect(),
                        other => other.as_str().map(String::from).into_iter().collect(),
                    };
                    for t in text {
                        let code = LITERAL.replace_all(&t, "''");
                        calls.extend(CALL.captures_iter(&code).map(|c| c[1].to_ascii_lowercase()));
                    }
                }
                touched(v, relations, calls);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| touched(v, relations, calls)),
        _ => {}
    }
}

/// Runs an approved text as sql_conductor would, in a READ ONLY transaction with a timeout, and
/// names every way PostgreSQL did something the guard did not approve.
fn differential_traces(session: &mut Client, dispatched: &str) -> Vec<String> {
    use oncall_triage::tools::sql_guard::lists::{FUNCTIONS, RELATIONS, SQL_SYNTAX_FUNCTIONS};
    let mut found = Vec::new();
    let run = |session: &mut Client, sql: &str, found: &mut Vec<String>| -> Vec<postgres::SimpleQueryMessage> {
        session.batch_execute("BEGIN READ ONLY; SET LOCAL statement_timeout = '2s'").unwrap();
        let out = session.simple_query(sql);
        let xid: Option<i64> = match &out {
            Ok(_) => session.query_one("SELECT txid_current_if_assigned()", &[]).unwrap().get(0),
            Err(_) => None,
        };
        session.batch_execute("ROLLBACK").unwrap();
        if xid.is_some() {
            found.push("a transaction id was assigned (a write)".into());
        }
        match out {
            Ok(messages) => {
                let statements =
                    messages.iter().filter(|m| matches!(m, postgres::SimpleQueryMessage::CommandComplete(_))).count();
                if statements != 1 {
                    found.push(format!("PostgreSQL ran {statements} statements"));
                }
                messages
            }
            Err(e) => {
                match e.code() {
                    Some(&SqlState::QUERY_CANCELED) => found.push("it ran into the statement timeout".into()),
                    Some(&SqlState::READ_ONLY_SQL_TRANSACTION) => found.push(format!("it tried to write: {e}")),
                    _ => {}
                }
                Vec::new()
            }
        }
    };
    let explained = run(session, &format!("EXPLAIN (VERBOSE, FORMAT JSON) {dispatched}"), &mut found);
    for m in &explained {
        if let postgres::SimpleQueryMessage::Row(row) = m {
            let plan: serde_json::Value = serde_json::from_str(row.get(0).unwrap_or("null")).unwrap();
            let (mut relations, mut calls) = (Vec::new(), Vec::new());
            touched(&plan, &mut relations, &mut calls);
            let allowed = |r: &String| RELATIONS.iter().any(|a| a.rsplit('.').next() == Some(r.as_str()));
            for r in relations.iter().filter(|r| !allowed(r)) {
                found.push(format!("it read the relation {r}"));
            }
            // Names EXPLAIN prints for expressions that are not calls of a function of anyone's,
            // and the functions inside the statistics views the allow-list names.
            let printed =
                ["coalesce", "greatest", "least", "nullif", "array", "row", "extract", "normalize", "any", "all"];
            let views = ["pg_stat_get_activity", "pg_lock_status"];
            for f in calls.iter().filter(|f| {
                !FUNCTIONS.contains(&f.as_str())
                    && !SQL_SYNTAX_FUNCTIONS.contains(&f.as_str())
                    && !printed.contains(&f.as_str())
                    && !views.contains(&f.as_str())
            }) {
                found.push(format!("it called {f}"));
            }
        }
    }
    run(session, dispatched, &mut found);
    found
}

#[test]
fn postgres_runs_exactly_what_the_guard_approved() {
    let pg = Pg::start();
    let mut session = pg.connect("conductor", "differential");
    let policy = Policy::default();

    // The harness sees each way a text can do more than it seems to.
    for (sql, trace) in [
        ("SELECT * FROM (SELECT 1) s; DELETE FROM workflow; -- ) AS capped LIMIT 500", "write"),
        ("SELECT * FROM (SELECT 1) s; SELECT 2", "2 statements"),
        ("SELECT pg_sleep(3)", "timeout"),
        ("SELECT pg_read_file('/etc/hostname')", "called pg_read_file"),
        ("SELECT count(*) FROM pg_authid", "relation pg_authid"),
        ("SELECT * FROM (SELECT 1 <= 1) s", ""),
    ] {
        let found = differential_traces(&mut session, sql);
        if trace.is_empty() {
            assert!(found.is_empty(), "{sql}: {found:?}");
        } else {
            assert!(found.iter().any(|f| f.contains(trace)), "{sql}: {found:?}");
        }
    }

    let mut runner = TestRunner::new(Config { cases: 4000, failure_persistence: None, ..Config::default() });
    let session = std::cell::RefCell::new(session);
    let allowed = std::cell::Cell::new(0);
    runner
        .run(&differential_statement(), |sql| {
            let v = check(&sql, &policy);
            if v.allowed {
                allowed.set(allowed.get() + 1);
                let dispatched = v.dispatched.unwrap();
                let found = differential_traces(&mut session.borrow_mut(), &dispatched);
                prop_assert!(found.is_empty(), "{}\n→ {}\n{:?}", sql, dispatched, found);
            }
            Ok(())
        })
        .unwrap();
    assert!(allowed.get() > 100, "the generator reaches allowed statements too ({})", allowed.get());
    let rows: i64 = session.borrow_mut().query_one("SELECT count(*) FROM workflow", &[]).unwrap().get(0);
    assert_eq!(rows, 50, "nothing was deleted");
}

#[test]
fn the_plain_form_means_the_same_under_every_setting_and_the_plan_budget_holds_on_postgres() {
    let pg = Pg::start();
    let mut session = pg.connect("conductor", "plain");
    let policy = Policy::default();
    // A backslash in a '…' string: printed as E'…', the same value whatever the setting.
    let v = check(r"SELECT 'a\' AS backslash, $$b\c$$ AS dollar", &policy);
    assert!(v.allowed, "{:?}", v.reason);
    for setting in ["on", "off"] {
        session.batch_execute(&format!("SET standard_conforming_strings = {setting}")).unwrap();
        let row = session.query_one(v.dispatched.as_deref().unwrap(), &[]).unwrap();
        assert_eq!((row.get::<_, String>(0), row.get::<_, String>(1)), (r"a\".to_string(), r"b\c".to_string()));
    }
    session.batch_execute("RESET standard_conforming_strings").unwrap();

    // The budget, on PostgreSQL's own estimates: what each query's plan costs.
    let cost = |session: &mut Client, sql: &str| {
        let v = check(sql, &policy);
        assert!(v.allowed, "{sql}: {:?}", v.reason);
        let plan: String = session
            .simple_query(v.plan.as_deref().unwrap())
            .unwrap()
            .iter()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .unwrap();
        let answer = serde_json::json!({"columns": ["QUERY PLAN"], "rows": [[plan]]});
        plan::within_budget(&plan::parse_answer(&answer), policy.max_cost)
    };
    for cheap in [
        "SELECT * FROM workflow ORDER BY id DESC LIMIT 20",
        "SELECT status, count(*) FROM workflow_index GROUP BY 1",
        "SELECT * FROM generate_series(1, 100000) a, generate_series(1, 100000) b",
    ] {
        assert!(cost(&mut session, cheap).is_ok(), "{cheap}: {:?}", cost(&mut session, cheap));
    }
    for costly in [
        "SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b",
        "SELECT count(*) FROM workflow a, workflow b, workflow c, workflow d, workflow e",
        "SELECT count(*) FROM generate_series(1, 100000) a JOIN generate_series(1, 100000) b ON a < b",
    ] {
        let refused = cost(&mut session, costly).expect_err(costly);
        assert!(refused.contains("over the budget"), "{costly}: {refused}");
    }
}
