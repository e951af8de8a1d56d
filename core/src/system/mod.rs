//! Configuration from 3scale System (the Admin Portal): who fetches and when
//! ([`schedule`]), what a fetch does ([`loader`]), and how the result reaches every worker
//! ([`published`]). The wire itself is `config::system`.

pub mod loader;
#[cfg(test)]
mod loader_tests;
pub mod published;
pub mod schedule;
