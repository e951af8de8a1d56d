//! Configuration from 3scale System (the Admin Portal): who fetches and when
//! ([`schedule`]), and how the result reaches every worker ([`published`]).

pub mod published;
pub mod schedule;
