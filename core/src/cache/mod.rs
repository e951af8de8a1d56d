//! Authorization cache and batched reporting (issue #4), on a store shared by all workers.
//!
//! - [`store`]: the shared key-value store (proxy-wasm shared data) with compare-and-swap;
//! - [`key`]: what an authorization is cached under (service, credentials, usage);
//! - [`entry`]: one cached authorization as every worker sees it;
//! - [`authorizations`]: each worker's leases and the lookup / answer protocol;
//! - [`reports`]: pending usage, the reporter election and the report calls.

pub mod authorizations;
pub mod entry;
pub mod key;
pub mod reports;
pub mod store;

pub use authorizations::{AuthCache, CacheSettings, Denial, Lookup, Ticket};
pub use key::EntryKey;
pub use reports::{Calls, LocalUsage, Merged, ReportBatch};
pub use store::{MemoryStore, SharedStore};

#[cfg(test)]
mod overflow_tests;
