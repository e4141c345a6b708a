//! The Conductor side: the API client (Orkes token auth) and the failing execution's model,
//! including the cluster context every investigation command is addressed to (domain.md §2).

pub mod client;
pub mod dispatch;
pub mod execution;

pub use client::{ConductorAuth, ConductorClient, ConductorError};
pub use execution::{ClusterContext, Execution};
