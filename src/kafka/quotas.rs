//! Client quotas over an admin connection, for the blocking copy engines: the Connect engine
//! throttles each task's source consumer through the `consumer_byte_rate` of its client id.

use super::{ClusterAdmin, KafkaError};
use crate::migrate::connect::engine::Quotas;

const RATE: &str = "consumer_byte_rate";

/// [`Quotas`] over an async admin connection, blocking on `rt`.
pub struct AdminQuotas<'r, A> {
    pub rt: &'r tokio::runtime::Runtime,
    pub admin: A,
}

impl<A: ClusterAdmin> Quotas for AdminQuotas<'_, A> {
    fn get(&mut self, client_id: &str) -> Result<Option<f64>, KafkaError> {
        let q = self.rt.block_on(self.admin.client_quota(client_id))?;
        Ok(q.get(RATE).copied())
    }
    fn set(&mut self, client_id: &str, value: Option<f64>) -> Result<(), KafkaError> {
        self.rt
            .block_on(self.admin.set_client_quota(client_id, RATE, value))
    }
}
