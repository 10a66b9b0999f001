//! `migrate diskless`: copy topics from a classic cluster to a diskless one (whose brokers assign
//! their own offsets), keep the exact source → target offset map, verify both sides record by
//! record, and cut consumer groups over through the map.
//!
//! * [`plan`]: preflight and the copy plan (pure).
//! * [`map`]: the offset map and group translation (pure).
//! * [`journal`]: what a run has done, saved after every step.
//! * [`cursor`], [`copy`], [`verify`]: reading, the built-in copier, the verifier.
//! * [`cutover`]: the engine-neutral cutover; [`sync`]: group offset sync while following;
//!   [`topics`]: topic config, partition and deletion sync while following;
//!   [`handoff`]: a cutover asked of a running follower.
//! * [`error`]: what stops a run.
//! * [`report`]: what a step reports (stable fields).
//! * [`workflow`]: the steps the command calls, from its settings.
//!
//! The Kafka Connect engine is [`super::connect`].

pub mod copy;
pub mod cursor;
pub mod cutover;
pub mod error;
pub(crate) mod follow;
pub mod handoff;
pub mod journal;
pub mod map;
pub mod plan;
pub mod report;
pub mod sync;
pub mod topics;
pub mod verify;
pub mod workflow;
