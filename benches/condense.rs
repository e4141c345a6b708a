//! Evidence condensing benchmark: prints figures for a 10 MB Java log (time, shrink factor,
//! exception classes in the input and how many survive in the condensed text), and the
//! redactor's throughput on the same log, clean and with a secret every hundred lines.
//!
//! Run: cargo bench --bench condense

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod report;

use std::collections::BTreeSet;
use std::time::Instant;

use oncall_triage::sim::synthetic;
use oncall_triage::tools::condense;
use regex::Regex;

fn main() {
    let text = synthetic::java_log(10 * 1024 * 1024);
    let class = Regex::new(r"\b((?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error))\b").unwrap();
    let in_input: BTreeSet<&str> = class.captures_iter(&text).map(|c| c.get(1).unwrap().as_str()).collect();
    let mut best = f64::MAX;
    let mut digest = condense::log(&text);
    for _ in 0..5 {
        let started = Instant::now();
        digest = condense::log(&text);
        best = best.min(started.elapsed().as_secs_f64());
    }
    let survived = in_input.iter().filter(|c| digest.text.contains(**c)).count();
    println!(
        "condense: {:.1} MB, {} lines → {} bytes in {:.0} ms (best of 5): {:.0}× smaller; {} distinct messages; exception classes {survived}/{} kept",
        text.len() as f64 / 1_048_576.0,
        digest.lines,
        digest.text.len(),
        best * 1000.0,
        text.len() as f64 / digest.text.len() as f64,
        digest.distinct,
        in_input.len()
    );
    let mb = text.len() as f64 / 1_048_576.0;
    let condense_mb_s = mb / best;
    report::row("condenser: a 10 MB log", format!("{condense_mb_s:.0}"), "MB/s", "≥ 20 MB/s (10 MB in < 0.5 s)");
    report::row(
        "condenser: shrink of a 10 MB log",
        format!("{:.0}", text.len() as f64 / digest.text.len() as f64),
        "×",
        "≥ 100×",
    );
    let salted: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i % 100 == 0 {
                format!("{l} DB_PASSWORD=hunter2x{i} token xoxb-1234567890-abcdefghijkl\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    for (name, input) in [("clean", &text), ("salted", &salted)] {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            std::hint::black_box(oncall_triage::redact::redact(std::hint::black_box(input)));
            best = best.min(started.elapsed().as_secs_f64());
        }
        println!(
            "redact ({name}): {:.1} MB in {:.0} ms (best of 3) = {:.0} MB/s (condense: {condense_mb_s:.0} MB/s)",
            input.len() as f64 / 1_048_576.0,
            best * 1000.0,
            input.len() as f64 / 1_048_576.0 / best
        );
        let figure = format!("redactor: a 10 MB log ({name})");
        report::row(&figure, format!("{:.0}", input.len() as f64 / 1_048_576.0 / best), "MB/s", "≥ 20 MB/s");
    }
}
