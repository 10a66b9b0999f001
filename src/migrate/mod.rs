//! Migrations between storage models. The planning parts are pure (no async, no I/O): which
//! topics go in which wave, what each wave uploads and how long it should take, when a
//! partition counts as tiered, what a rollback changes. The runners drive them over
//! [`crate::kafka::ClusterAdmin`] and journal every step, as [`crate::execute`] does.

pub mod connect;
pub mod diskless;
#[cfg(test)]
pub(crate) mod mem;
pub mod tiered;
