//! The agent-handler commands a triage may dispatch (domain.md §3): read-only, closed. No
//! mutating command has a variant, so none can be sent, whatever a model or a person writes.

/// Every command a dispatch can name: read-only, closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    GetClusterMetrics,
    GetInfrastructureMetrics,
    GetPodsData,
    GetDeploymentsInfo,
    GetPodEvents,
    GetTopOutputFromPod,
    PullLogs,
    GetIngressInfo,
    SqlConductor,
}

impl Command {
    pub const ALL: [Command; 9] = [
        Command::GetClusterMetrics,
        Command::GetInfrastructureMetrics,
        Command::GetPodsData,
        Command::GetDeploymentsInfo,
        Command::GetPodEvents,
        Command::GetTopOutputFromPod,
        Command::PullLogs,
        Command::GetIngressInfo,
        Command::SqlConductor,
    ];

    /// The agent-handler command name.
    pub fn name(self) -> &'static str {
        match self {
            Command::GetClusterMetrics => "GET_CLUSTER_METRICS",
            Command::GetInfrastructureMetrics => "GET_INFRASTRUCTURE_METRICS",
            Command::GetPodsData => "GET_PODS_DATA",
            Command::GetDeploymentsInfo => "GET_DEPLOYMENTS_INFO",
            Command::GetPodEvents => "GET_POD_EVENTS",
            Command::GetTopOutputFromPod => "GET_TOP_OUTPUT_FROM_POD",
            Command::PullLogs => "PULL_LOGS",
            Command::GetIngressInfo => "GET_INGRESS_INFO",
            Command::SqlConductor => "SQL_CONDUCTOR",
        }
    }

    /// The Conductor workflow that runs it.
    pub fn workflow(self) -> &'static str {
        match self {
            Command::GetClusterMetrics => "get_cluster_metrics",
            Command::GetInfrastructureMetrics => "get_infrastructure_metrics",
            Command::GetPodsData => "get_pods_data",
            Command::GetDeploymentsInfo => "get_deployments_info",
            Command::GetPodEvents => "get_pod_events",
            Command::GetTopOutputFromPod => "get_top_output_from_pod",
            Command::PullLogs => "pull_logs",
            Command::GetIngressInfo => "get_ingress_info",
            Command::SqlConductor => "sql_conductor",
        }
    }
}

/// Where a dispatched command's workflow stands, in Conductor's words (`COMPLETED`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommandStatus {
    Completed,
    Failed,
    TimedOut,
    Terminated,
    /// Its in-cluster task was never picked up.
    Scheduled,
    /// Not finished by the deadline.
    Running,
}

impl CommandStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Completed => "COMPLETED",
            CommandStatus::Failed => "FAILED",
            CommandStatus::TimedOut => "TIMED_OUT",
            CommandStatus::Terminated => "TERMINATED",
            CommandStatus::Scheduled => "SCHEDULED",
            CommandStatus::Running => "RUNNING",
        }
    }
}

impl std::fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
