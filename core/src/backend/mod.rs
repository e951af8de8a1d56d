//! The 3scale Service Management API, as the filter speaks it: requests it sends
//! and how it reads the answers. Transport is the adapter's job.

pub mod answer;
pub mod answer_headers;
pub mod authrep;
pub mod protocol;
pub mod report;

pub use answer::{BackendAnswer, Decision};
pub use authrep::{authrep_path, BackendCall};
pub use protocol::{Endpoint, OPTIONS as THREESCALE_OPTIONS};
pub use report::{reporting_fingerprint, ReportingIdentity, Transactions};
