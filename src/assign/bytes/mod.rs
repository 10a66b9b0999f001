//! Byte balance (pure): after the forced moves, each AZ's brokers exchange replicas until every
//! broker's bytes lie within a band around the AZ's mean, moving as few bytes as it can.
//!
//! * [`bands`]: each broker's band.
//! * [`balance`]: the greedy exchange, and the exact search where an AZ is small.
//! * [`relax`]: the split-replica relaxation (a min-cost flow).
//! * [`exact`]: the branch and bound over whole replicas.
//! * [`bound`]: the lower bound on bytes moved reported beside the plan.
//!
//! The files depend in that order, bottom up: bands ← relax ← exact ← bound ← balance.

pub mod balance;
pub mod bands;
pub mod bound;
pub mod exact;
pub mod relax;
