//! Authorization cache and batched reporting (issue #4), on a store shared by all workers.
//!
//! - [`store`]: the shared key-value store (proxy-wasm shared data) with compare-and-swap;
//! - [`key`]: what an authorization is cached under (service, credentials, usage);
//! - [`entry`]: one cached authorization as every worker sees it;
//! - [`authorizations`]: each worker's leases and the lookup / answer protocol;
//! - [`eviction`]: which slot a key may take from another (valid keys' answers stay);
//! - [`slot_count`]: how many slots there are, fixed for the plugin by its first configuration;
//! - [`reports`]: pending usage, the reporter election and the report calls;
//! - [`wake_list`]: the list of the workers' wake-up queues, as shared data holds it.

pub mod authorizations;
pub mod entry;
pub mod eviction;
pub mod key;
pub mod reports;
pub mod slot_count;
pub mod store;
pub mod wake_list;

pub use authorizations::{AuthCache, CacheSettings, Denial, Lookup, Ticket};
pub use key::{app_key_as_checked, EntryKey};
pub use reports::{Calls, LocalUsage, Merged, ReportBatch, RetiredServices};
pub use store::{MemoryStore, SharedStore};

#[cfg(test)]
mod overflow_tests;
