//! Tollgate core: everything the filter decides, independent of the proxy-wasm host.
//!
//! The Wasm adapter (the `tollgate` crate) only moves data between Envoy and these modules:
//! - [`config`]: the JSON configuration, validated and compiled once;
//! - [`pipeline`]: service selection, credentials, mapping rules and the verdict;
//! - [`backend`]: the 3scale Service Management API requests and answers;
//! - [`policies`]: what a chain's header, status and CORS policies do to a request;
//! - [`mapping`], [`credentials`]: APIcast's matching and extraction rules.

pub mod auth;
pub mod backend;
#[doc(hidden)]
pub mod base64;
pub mod body_scan;
pub mod cache;
pub mod condition;
pub mod config;
pub mod credentials;
#[cfg(test)]
mod credentials_location_tests;
#[cfg(test)]
mod credentials_tests;
pub mod encoding;
pub mod hashing;
pub mod mapping;
pub mod pipeline;
pub mod policies;
pub mod regex;
pub mod request;
#[cfg(feature = "rewrite")]
pub mod rewrite;
pub mod secret;
pub mod sorting;
pub mod system;
