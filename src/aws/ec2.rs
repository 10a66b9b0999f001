//! EC2: live instance-type figures (DescribeInstanceTypes) for `size --live-catalog`.

use std::future::Future;

use aws_sdk_ec2::types::InstanceType as SdkInstanceType;

use crate::provision::cloud::CloudError;
use crate::sizing::catalog::LiveFigures;

/// Where live instance-type figures come from (one real implementation: [`Ec2`]).
pub trait InstanceTypeSource {
    fn describe_instance_types(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<LiveFigures>, CloudError>> + Send;
}

/// The EC2 adapter.
#[derive(Debug, Clone)]
pub struct Ec2 {
    client: aws_sdk_ec2::Client,
}

impl Ec2 {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(config)
                    .retry_classifier(super::retry::TransportErrors)
                    .build(),
            ),
        }
    }
}

/// DescribeInstanceTypes accepts at most 100 names per call.
const PAGE: usize = 100;

impl InstanceTypeSource for Ec2 {
    async fn describe_instance_types(
        &self,
        names: &[String],
    ) -> Result<Vec<LiveFigures>, CloudError> {
        let mut out = Vec::new();
        for chunk in names.chunks(PAGE) {
            let types: Vec<SdkInstanceType> = chunk
                .iter()
                .map(|n| SdkInstanceType::from(n.as_str()))
                .collect();
            let mut pages = self
                .client
                .describe_instance_types()
                .set_instance_types(Some(types))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    CloudError::call("EC2", "DescribeInstanceTypes", chunk.join(","), e)
                })?;
                for info in page.instance_types() {
                    let Some(name) = info.instance_type() else {
                        continue;
                    };
                    let network = info.network_info();
                    let cards: Vec<f64> = network
                        .map(|n| {
                            n.network_cards()
                                .iter()
                                .filter_map(|c| c.baseline_bandwidth_in_gbps())
                                .collect()
                        })
                        .unwrap_or_default();
                    out.push(LiveFigures {
                        name: name.as_str().to_string(),
                        vcpus: info
                            .v_cpu_info()
                            .and_then(|v| v.default_v_cpus())
                            .and_then(|v| u32::try_from(v).ok()),
                        memory_gib: info
                            .memory_info()
                            .and_then(|m| m.size_in_mib())
                            .map(|m| m as f64 / 1024.0),
                        ebs_baseline_mbps: info
                            .ebs_info()
                            .and_then(|e| e.ebs_optimized_info())
                            .and_then(|o| o.baseline_throughput_in_m_bps()),
                        network_baseline_gbit: network_baseline(
                            &cards,
                            network.and_then(|n| n.network_performance()),
                        ),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// The instance's baseline bandwidth: the sum over its network cards, capped by a fixed rating
/// ("200 Gigabit"; not "Up to 25 Gigabit") when EC2 gives one — m6in.32xlarge lists two cards
/// of 200 Gbit/s each but is rated 200 Gbit/s in total.
pub fn network_baseline(cards_gbit: &[f64], performance: Option<&str>) -> Option<f64> {
    if cards_gbit.is_empty() {
        return None;
    }
    let sum: f64 = cards_gbit.iter().sum();
    let rated = performance
        .filter(|p| !p.to_ascii_lowercase().starts_with("up to"))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok());
    Some(rated.map_or(sum, |r| sum.min(r)))
}

#[cfg(test)]
mod tests {
    use super::network_baseline;

    #[test]
    fn cards_are_summed_and_capped_by_a_fixed_rating() {
        assert_eq!(
            network_baseline(&[3.125], Some("Up to 25 Gigabit")),
            Some(3.125)
        );
        assert_eq!(
            network_baseline(&[200.0, 200.0], Some("200 Gigabit")),
            Some(200.0)
        );
        assert_eq!(network_baseline(&[100.0, 100.0], None), Some(200.0));
        assert_eq!(network_baseline(&[], Some("10 Gigabit")), None);
    }
}
