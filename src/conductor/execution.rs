//! The failing `health_check` execution (domain.md §2): its cluster context, the issues it found,
//! the cluster data it collected and the component checks that failed. Read tolerantly: real
//! payloads carry extra fields and miss some.

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::domain::{AlertKind, Issue, Severity};

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("execution {id}: {missing} is missing from its input, so its cluster cannot be addressed")]
pub struct ContextError {
    pub id: String,
    pub missing: &'static str,
}

/// Where investigation commands go. Read from the execution, never supplied by a model or person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterContext {
    pub organization_id: String,
    pub organization_name: Option<String>,
    pub cluster_name: String,
    pub cluster_id: Option<String>,
    pub environment: String,
    pub cloud_environment_tag: String,
}

impl ClusterContext {
    pub fn from_execution(execution: &Value) -> Result<ClusterContext, ContextError> {
        let id = execution.get("workflowId").and_then(Value::as_str).unwrap_or("?").to_string();
        let input = execution.get("input").unwrap_or(&Value::Null);
        let text = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        let organization_id = text(input.get("organizationId"))
            .or_else(|| text(input.get("customerId")))
            .ok_or_else(|| ContextError { id: id.clone(), missing: "organizationId (or customerId)" })?;
        let cluster_name = text(input.get("clusterName"))
            .or_else(|| text(input.pointer("/agentHandlerRequest/clusterName")))
            .ok_or(ContextError { id, missing: "clusterName" })?;
        let cloud_environment_tag = text(input.get("cloudEnvironmentTag")).unwrap_or_else(|| {
            let prefix: String = organization_id.chars().take(5).collect();
            format!("c{prefix}-{cluster_name}")
        });
        Ok(ClusterContext {
            organization_name: text(input.get("organizationName")),
            cluster_id: text(input.get("clusterId")),
            environment: text(input.get("environment")).unwrap_or_else(|| "prod".to_string()),
            cloud_environment_tag,
            organization_id,
            cluster_name,
        })
    }

    /// The task domain of the cluster's in-cluster agent: `<orgId>#-#<clusterName>`.
    pub fn domain(&self) -> String {
        format!("{}#-#{}", self.organization_id, self.cluster_name)
    }
}

/// A component check (`*health_check` task) that reported unhealthy.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailedCheck {
    pub task: String,
    pub details: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Execution {
    pub id: String,
    pub status: String,
    pub reason: Option<String>,
    pub context: ClusterContext,
    pub issues: Vec<Issue>,
    /// `parse_conductor_cluster_data_ref` → `outputData.result` (redis, heap, cpu, postgres).
    pub cluster_data: Option<Value>,
    pub failed_checks: Vec<FailedCheck>,
    /// The execution as Conductor returned it (for the flight recorder).
    #[serde(skip)]
    pub raw: Value,
}

fn task<'a>(execution: &'a Value, reference: &str) -> Option<&'a Value> {
    execution
        .get("tasks")?
        .as_array()?
        .iter()
        .find(|t| t.get("referenceTaskName").and_then(Value::as_str) == Some(reference))
}

impl Execution {
    /// Reads an execution, keeping it whole as `raw` (moved in, not copied).
    pub fn parse(execution: Value) -> Result<Execution, ContextError> {
        let context = ClusterContext::from_execution(&execution)?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        let issues = task(&execution, "issues")
            .and_then(|t| t.pointer("/outputData/issues"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| {
                let description = text(i.get("description"))?;
                let severity = i
                    .get("severity")
                    .and_then(Value::as_str)
                    .and_then(|s| serde_json::from_value::<Severity>(Value::String(s.to_ascii_uppercase())).ok());
                Some(Issue { severity, kind: AlertKind::classify(&description), description })
            })
            .collect();
        let failed_checks = execution
            .get("tasks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|t| t.get("taskType").and_then(Value::as_str).is_some_and(|ty| ty.ends_with("health_check")))
            .filter(|t| t.pointer("/outputData/healthy").and_then(Value::as_bool) == Some(false))
            .map(|t| FailedCheck {
                task: t.get("taskType").and_then(Value::as_str).unwrap_or_default().to_string(),
                details: text(t.pointer("/outputData/details")).unwrap_or_default(),
            })
            .collect();
        Ok(Execution {
            id: text(execution.get("workflowId")).unwrap_or_default(),
            status: text(execution.get("status")).unwrap_or_else(|| "UNKNOWN".to_string()),
            reason: text(execution.get("reasonForIncompletion")),
            context,
            issues,
            cluster_data: task(&execution, "parse_conductor_cluster_data_ref")
                .and_then(|t| t.pointer("/outputData/result"))
                .cloned(),
            failed_checks,
            raw: execution,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn context_uses_every_fallback_and_derives_the_tag() {
        let exec = json!({"workflowId": "w1", "input": {"customerId": "3f0c549d-aaaa",
            "agentHandlerRequest": {"clusterName": "viz-stage"}}});
        let ctx = ClusterContext::from_execution(&exec).unwrap();
        assert_eq!(ctx.organization_id, "3f0c549d-aaaa");
        assert_eq!(ctx.cluster_name, "viz-stage");
        assert_eq!(ctx.environment, "prod");
        assert_eq!(ctx.cloud_environment_tag, "c3f0c5-viz-stage");
        assert_eq!(ctx.domain(), "3f0c549d-aaaa#-#viz-stage");
        let exec = json!({"workflowId": "w2", "input": {"clusterName": "x"}});
        let err = ClusterContext::from_execution(&exec).unwrap_err();
        assert_eq!(
            err.to_string(),
            "execution w2: organizationId (or customerId) is missing from its input, so its cluster cannot be addressed"
        );
    }

    #[test]
    fn reads_issues_cluster_data_and_failed_checks() {
        let exec = json!({"workflowId": "w", "status": "FAILED", "input": {"organizationId": "o", "clusterName": "c"},
        "tasks": [
            {"referenceTaskName": "issues", "outputData": {"issues": [
                {"severity": "major", "description": "The Redis instance is at 57%, above the MAJOR threshold of 50%"}]}},
            {"referenceTaskName": "parse_conductor_cluster_data_ref", "outputData": {"result": {"redis": {"usage": 57}}}},
            {"referenceTaskName": "redis_health_check_ref", "taskType": "redis_health_check",
             "outputData": {"healthy": false, "details": "Redis at 57%"}},
            {"referenceTaskName": "dns_health_check_ref", "taskType": "dns_health_check", "outputData": {"healthy": true}}
        ]});
        let e = Execution::parse(exec).unwrap();
        assert_eq!(e.issues.len(), 1);
        assert_eq!(e.issues[0].severity, Some(Severity::Major));
        assert_eq!(e.issues[0].kind, AlertKind::RedisHighUsage);
        assert_eq!(e.cluster_data.unwrap()["redis"]["usage"], 57);
        assert_eq!(
            e.failed_checks,
            vec![FailedCheck { task: "redis_health_check".into(), details: "Redis at 57%".into() }]
        );
    }
}
