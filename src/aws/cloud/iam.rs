//! IAM: the brokers' role (trust policy, the object-store policy) and instance profile. Names
//! are account-wide keys: a create AWS already made answers `EntityAlreadyExists` and converges;
//! the SDK's retries cover every call here.

use super::{code, err, gone_ok, verb, Aws};
use crate::provision::cloud::CloudError;
use crate::provision::cloud::Removal;
use crate::provision::desired::{Desired, Iam};
use crate::provision::diff::{Actual, Change};

/// IAM returns policy documents URL-encoded.
fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                }
                Err(_) => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Aws {
    pub(super) async fn read_iam(&self, i: &Iam, a: &mut Actual) -> Result<(), CloudError> {
        match self.iam.get_role().role_name(&i.role_name).send().await {
            Ok(r) => {
                a.role_trust_policy = r
                    .role()
                    .and_then(|r| r.assume_role_policy_document())
                    .map(url_decode)
            }
            Err(e) if code(&e) == Some("NoSuchEntity") => {}
            Err(e) => return Err(CloudError::call("IAM", "GetRole", &i.role_name, e)),
        }
        if a.role_trust_policy.is_some() {
            match self
                .iam
                .get_role_policy()
                .role_name(&i.role_name)
                .policy_name(&i.policy_name)
                .send()
                .await
            {
                Ok(r) => a.role_policy = Some(url_decode(r.policy_document())),
                Err(e) if code(&e) == Some("NoSuchEntity") => {}
                Err(e) => return Err(CloudError::call("IAM", "GetRolePolicy", &i.role_name, e)),
            }
        }
        match self
            .iam
            .get_instance_profile()
            .instance_profile_name(&i.instance_profile_name)
            .send()
            .await
        {
            Ok(r) => {
                a.instance_profile_roles = Some(
                    r.instance_profile()
                        .map(|p| {
                            p.roles()
                                .iter()
                                .map(|r| r.role_name().to_string())
                                .collect()
                        })
                        .unwrap_or_default(),
                )
            }
            Err(e) if code(&e) == Some("NoSuchEntity") => {}
            Err(e) => {
                return Err(CloudError::call(
                    "IAM",
                    "GetInstanceProfile",
                    &i.instance_profile_name,
                    e,
                ))
            }
        }
        Ok(())
    }

    pub(super) async fn apply_iam(&self, d: &Desired, c: &Change) -> Result<(), CloudError> {
        let i = d.iam.as_ref().expect("IAM changes come from IAM");
        let role = i.role_name.as_str();
        let tags: Vec<aws_sdk_iam::types::Tag> = i
            .tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_iam::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("set")
            })
            .collect();
        match (c.kind, c.action) {
            ("iam-role", crate::provision::Action::Create) => {
                self.mutate("IAM", "CreateRole", role)?;
                match self
                    .iam
                    .create_role()
                    .role_name(role)
                    .assume_role_policy_document(&i.trust_policy)
                    .description(format!("streamctl brokers of {}", d.cluster))
                    .set_tags(Some(tags))
                    .send()
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(e) if code(&e) == Some("EntityAlreadyExists") => Ok(()),
                    Err(e) => Err(CloudError::call("IAM", "CreateRole", role, e)),
                }
            }
            ("iam-role", _) => {
                self.mutate("IAM", "UpdateAssumeRolePolicy", role)?;
                self.iam
                    .update_assume_role_policy()
                    .role_name(role)
                    .policy_document(&i.trust_policy)
                    .send()
                    .await
                    .map_err(err("IAM", "UpdateAssumeRolePolicy", role))?;
                Ok(())
            }
            ("iam-role-policy", _) => {
                self.mutate("IAM", "PutRolePolicy", role)?;
                self.iam
                    .put_role_policy()
                    .role_name(role)
                    .policy_name(&i.policy_name)
                    .policy_document(&i.policy)
                    .send()
                    .await
                    .map_err(err("IAM", "PutRolePolicy", role))?;
                Ok(())
            }
            ("iam-instance-profile", action) => {
                self.converge_instance_profile(i, action == crate::provision::Action::Create, tags)
                    .await
            }
            (other, _) => unreachable!("not an IAM change: {other}"),
        }
    }

    /// The instance profile (created when `create`), holding exactly the brokers' role.
    async fn converge_instance_profile(
        &self,
        i: &Iam,
        create: bool,
        tags: Vec<aws_sdk_iam::types::Tag>,
    ) -> Result<(), CloudError> {
        let role = i.role_name.as_str();
        let p = i.instance_profile_name.as_str();
        if create {
            self.mutate("IAM", "CreateInstanceProfile", p)?;
            match self
                .iam
                .create_instance_profile()
                .instance_profile_name(p)
                .set_tags(Some(tags))
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if code(&e) == Some("EntityAlreadyExists") => {}
                Err(e) => return Err(CloudError::call("IAM", "CreateInstanceProfile", p, e)),
            }
        }
        // Make the profile hold exactly our role.
        let current = self
            .iam
            .get_instance_profile()
            .instance_profile_name(p)
            .send()
            .await
            .map_err(err("IAM", "GetInstanceProfile", p))?;
        let roles: Vec<String> = current
            .instance_profile()
            .map(|ip| {
                ip.roles()
                    .iter()
                    .map(|r| r.role_name().to_string())
                    .collect()
            })
            .unwrap_or_default();
        for r in roles.iter().filter(|r| *r != role) {
            self.mutate("IAM", "RemoveRoleFromInstanceProfile", p)?;
            gone_ok(
                self.iam
                    .remove_role_from_instance_profile()
                    .instance_profile_name(p)
                    .role_name(r)
                    .send()
                    .await,
                "IAM",
                "RemoveRoleFromInstanceProfile",
                p,
            )?;
        }
        if !roles.iter().any(|r| r == role) {
            self.mutate("IAM", "AddRoleToInstanceProfile", p)?;
            if let Err(e) = self
                .iam
                .add_role_to_instance_profile()
                .instance_profile_name(p)
                .role_name(role)
                .send()
                .await
            {
                // A retry after a lost response meets "LimitExceeded" (a profile holds
                // one role): fine when that role is ours.
                let now = self
                    .iam
                    .get_instance_profile()
                    .instance_profile_name(p)
                    .send()
                    .await
                    .map_err(err("IAM", "GetInstanceProfile", p))?;
                let ours = now
                    .instance_profile()
                    .is_some_and(|ip| ip.roles().iter().any(|r| r.role_name() == role));
                if !ours {
                    return Err(CloudError::call("IAM", "AddRoleToInstanceProfile", p, e));
                }
            }
        }
        Ok(())
    }

    pub(super) async fn destroy_iam(
        &self,
        i: &Iam,
        actual: &Actual,
        execute: bool,
        out: &mut Vec<Removal>,
    ) -> Result<(), CloudError> {
        if let Some(roles) = &actual.instance_profile_roles {
            if execute {
                for r in roles {
                    self.mutate(
                        "IAM",
                        "RemoveRoleFromInstanceProfile",
                        &i.instance_profile_name,
                    )?;
                    // A few attempts, then look: after a lost response the retry finds the
                    // role already removed (AWS says NoSuchEntity; the emulator answers 500).
                    let once = aws_sdk_iam::config::Builder::default().retry_config(
                        aws_config::retry::RetryConfig::standard().with_max_attempts(3),
                    );
                    if let Err(e) = self
                        .iam
                        .remove_role_from_instance_profile()
                        .instance_profile_name(&i.instance_profile_name)
                        .role_name(r)
                        .customize()
                        .config_override(once)
                        .send()
                        .await
                    {
                        let still = match self
                            .iam
                            .get_instance_profile()
                            .instance_profile_name(&i.instance_profile_name)
                            .send()
                            .await
                        {
                            Ok(p) => p
                                .instance_profile()
                                .is_some_and(|p| p.roles().iter().any(|x| x.role_name() == r)),
                            Err(x) if code(&x) == Some("NoSuchEntity") => false,
                            Err(x) => {
                                return Err(CloudError::call(
                                    "IAM",
                                    "GetInstanceProfile",
                                    &i.instance_profile_name,
                                    x,
                                ))
                            }
                        };
                        if still {
                            return Err(CloudError::call(
                                "IAM",
                                "RemoveRoleFromInstanceProfile",
                                &i.instance_profile_name,
                                e,
                            ));
                        }
                    }
                }
                self.mutate("IAM", "DeleteInstanceProfile", &i.instance_profile_name)?;
                gone_ok(
                    self.iam
                        .delete_instance_profile()
                        .instance_profile_name(&i.instance_profile_name)
                        .send()
                        .await,
                    "IAM",
                    "DeleteInstanceProfile",
                    &i.instance_profile_name,
                )?;
            }
            out.push(Removal {
                kind: "iam-instance-profile",
                name: i.instance_profile_name.clone(),
                outcome: verb(execute, "deleted"),
            });
        }
        if actual.role_trust_policy.is_some() {
            if execute {
                if actual.role_policy.is_some() {
                    self.mutate("IAM", "DeleteRolePolicy", &i.role_name)?;
                    gone_ok(
                        self.iam
                            .delete_role_policy()
                            .role_name(&i.role_name)
                            .policy_name(&i.policy_name)
                            .send()
                            .await,
                        "IAM",
                        "DeleteRolePolicy",
                        &i.role_name,
                    )?;
                }
                self.mutate("IAM", "DeleteRole", &i.role_name)?;
                gone_ok(
                    self.iam.delete_role().role_name(&i.role_name).send().await,
                    "IAM",
                    "DeleteRole",
                    &i.role_name,
                )?;
            }
            out.push(Removal {
                kind: "iam-role",
                name: i.role_name.clone(),
                outcome: verb(execute, "deleted"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_documents_are_url_decoded() {
        assert_eq!(
            url_decode("%7B%22a%22%3A%20%22b%2Fc%22%7D"),
            r#"{"a": "b/c"}"#
        );
        assert_eq!(url_decode("plain"), "plain");
        assert_eq!(url_decode("50%"), "50%");
    }
}
