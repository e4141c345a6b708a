//! Synthetic evidence at any size, for tests and benchmarks of big outputs: a Conductor server
//! log of realistic lines with, now and then, an ERROR entry with a stack trace and a cause.

use std::fmt::Write;

/// The exception classes a synthetic log carries (each `Caused by: java.io.IOException`).
pub const EXCEPTION_CLASSES: &[&str] = &[
    "java.lang.OutOfMemoryError",
    "java.net.SocketTimeoutException",
    "io.lettuce.core.RedisCommandTimeoutException",
    "org.postgresql.util.PSQLException",
    "com.netflix.conductor.core.exception.TransientException",
    "org.springframework.dao.QueryTimeoutException",
    "java.util.concurrent.RejectedExecutionException",
    "com.fasterxml.jackson.core.JsonParseException",
];

/// About `bytes` of log text.
pub fn java_log(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 1024);
    let mut i = 0u64;
    while text.len() < bytes {
        i += 1;
        let _ = writeln!(
            text,
            "2025-11-27T07:{:02}:{:02}.{:03}Z  INFO 1 --- [io-8080-exec-{}] c.n.c.core.WorkflowExecutor : Completed workflow {:08x}-{} of shipment_sync in {} ms",
            (i / 60) % 60,
            i % 60,
            i % 1000,
            i % 200,
            i,
            i % 97,
            i % 5000
        );
        if i.is_multiple_of(7) {
            let _ = writeln!(
                text,
                "2025-11-27T07:00:{:02}.000Z  WARN 1 --- [sweeper-{}] c.n.c.core.WorkflowSweeper : Workflow {:08x} in DECIDER queue for {} s",
                i % 60,
                i % 8,
                i,
                i % 900
            );
        }
        if i.is_multiple_of(997) {
            let class = EXCEPTION_CLASSES[(i as usize / 997) % EXCEPTION_CLASSES.len()];
            let _ = write!(
                text,
                "2025-11-27T07:00:00.000Z ERROR 1 --- [pool-{}] c.n.c.core.Sweeper : sweep failed\n{class}: boom {i}\n\tat com.netflix.conductor.core.Sweeper.sweep(Sweeper.java:{})\n\tat java.base/java.lang.Thread.run(Thread.java:1583)\nCaused by: java.io.IOException: broken pipe\n",
                i % 9,
                i % 300
            );
        }
    }
    text
}
