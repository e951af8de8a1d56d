//! Configuration from 3scale System (the Admin Portal): who fetches and when
//! ([`schedule`]), what a fetch does ([`loader`]; a service a change between two pages hid:
//! `paging_race`), and how the result reaches every worker ([`published`]). The wire itself
//! is `config::system`.

mod collecting;
pub mod loader;
#[cfg(test)]
mod loader_tests;
mod paging_race;
#[cfg(test)]
mod paging_race_tests;
pub mod published;
pub mod schedule;
