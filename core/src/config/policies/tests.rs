//! Tests of policy chains.
