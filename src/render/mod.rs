//! Template rendering (minijinja) over the files in `templates/` and `policies/`, compiled into
//! the binary so a single executable carries reviewed documents.

pub mod configs;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// Templates by name, embedded at build time.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "kafka/server.properties.j2",
        include_str!("../../templates/kafka/server.properties.j2"),
    ),
    (
        "kafka/topic-defaults.properties.j2",
        include_str!("../../templates/kafka/topic-defaults.properties.j2"),
    ),
    (
        "kafka/confluent-tier.env.j2",
        include_str!("../../templates/kafka/confluent-tier.env.j2"),
    ),
    (
        "clients/producer.properties.j2",
        include_str!("../../templates/clients/producer.properties.j2"),
    ),
    (
        "clients/consumer.properties.j2",
        include_str!("../../templates/clients/consumer.properties.j2"),
    ),
    (
        "bufstream/values.yaml.j2",
        include_str!("../../templates/bufstream/values.yaml.j2"),
    ),
    (
        "etcd/etcd.conf.yml.j2",
        include_str!("../../templates/etcd/etcd.conf.yml.j2"),
    ),
    (
        "user-data.sh.j2",
        include_str!("../../templates/user-data.sh.j2"),
    ),
    (
        "broker-object-store.json",
        include_str!("../../policies/broker-object-store.json"),
    ),
    (
        "ec2-assume-role.json",
        include_str!("../../policies/ec2-assume-role.json"),
    ),
    (
        "deny-insecure-transport.json",
        include_str!("../../policies/deny-insecure-transport.json"),
    ),
];

#[derive(Debug, thiserror::Error)]
#[error("template {name}: {message}")]
pub struct RenderError {
    pub name: String,
    pub message: String,
}

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    // A missing variable is a bug in streamctl, never an empty string in a config.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_trim_blocks(true);
    for (name, text) in TEMPLATES {
        env.add_template(name, text)
            .expect("embedded templates parse (checked by tests)");
    }
    env
}

/// Render an embedded template with `ctx`.
pub fn render<S: Serialize>(name: &str, ctx: S) -> Result<String, RenderError> {
    let env = env();
    let t = env.get_template(name).map_err(|e| RenderError {
        name: name.into(),
        message: e.to_string(),
    })?;
    t.render(ctx).map_err(|e| RenderError {
        name: name.into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_template_parses() {
        let env = env();
        for (name, _) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn missing_variables_are_errors() {
        let e = render("broker-object-store.json", minijinja::context! {}).unwrap_err();
        assert!(e.message.contains("undefined"), "{e}");
    }
}
