//! The arithmetic of JWT signature checks, in a crate of its own so that it is compiled for
//! speed (`opt-level = 3` in the workspace's release profile) while the rest of the filter is
//! compiled for size: generic code is compiled in the crate that instantiates it, so p256's
//! point arithmetic used here runs at this crate's level, not the core's `opt-level = "z"`.
//! Only public data is handled (keys, signatures, digests): nothing here is constant-time.

pub mod es256;
pub mod montgomery;
pub mod p256_field;
pub mod p256_point;
