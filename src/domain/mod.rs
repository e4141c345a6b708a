//! The facts every layer shares, importing no adapter: an alert and its issues, the `ts` that
//! names it, the read-only commands an investigation may dispatch, and the hypothesis a triage
//! concludes. Slack, Conductor, the reasoners, core and the front-ends all speak these types.

mod alert;
mod command;
mod hypothesis;
mod ts;

pub use alert::{Alert, AlertKind, Issue, Severity};
pub use command::{Command, CommandStatus};
pub use hypothesis::{Confidence, Hypothesis};
pub use ts::Ts;
