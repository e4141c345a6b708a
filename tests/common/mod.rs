//! Helpers shared by the integration tests: a simulator on loopback, fast enough for tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use oncall_triage::sim::{SimOptions, Simulator, scenario};

pub fn fast_options() -> SimOptions {
    SimOptions { latency_scale: 0.05, ..SimOptions::default() }
}

/// The embedded scenarios on a simulator with fixture latencies scaled down 20×.
pub async fn simulator() -> Simulator {
    Simulator::start(scenario::embedded().expect("embedded scenarios"), fast_options()).await.expect("simulator")
}

/// The test-only scenarios of tests/fixtures/scenarios (failed, timed-out and stuck commands).
pub async fn fixture_simulator(options: SimOptions) -> Simulator {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios");
    Simulator::start(scenario::load_dir(&dir).expect("fixture scenarios"), options).await.expect("simulator")
}

pub fn http() -> reqwest::Client {
    oncall_triage::http::client(Duration::from_secs(20))
}
