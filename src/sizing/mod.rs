//! Sizing (pure): the instance catalog, the throughput models for classic / tiered / diskless
//! brokers, gp3 limits, the monthly cost estimate and the layout search behind `size recommend`.

pub mod catalog;
pub mod cost;
pub mod gp3;
pub mod models;
pub mod recommend;

pub use catalog::{Catalog, InstanceType};
pub use models::{
    estimate, Bottleneck, BrokerResources, ConsumerGroups, DisklessParams, StorageModel,
    ThroughputEstimate, ThroughputInput,
};
