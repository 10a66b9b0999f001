//! `migrate diskless --engine connect`: the copy runs as a MirrorMaker 2 source connector on a
//! Kafka Connect cluster; the offset map, verification and cutover are the diskless migration's
//! own ([`super::diskless`]).
//!
//! * [`plan`]: the connector's config, quotas per task, task actions, preflight facts (pure).
//! * [`engine`]: the [`super::diskless::copy::CopyEngine`] that drives the connector.
//! * [`verify`]: the verifier that builds the offset map from both sides.
//!
//! The Connect REST client is [`crate::connect`].

pub mod engine;
pub mod plan;
pub mod verify;
