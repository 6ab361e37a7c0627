//! `appspec.yaml` for a CodeDeploy blue/green deployment of an ECS service.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::record::container_name::ContainerName;

pub const FILE_NAME: &str = "appspec.yaml";

/// CodePipeline replaces this literal with the task definition it registers (anchors.md §5.3).
pub const TASK_DEFINITION_PLACEHOLDER: &str = "<TASK_DEFINITION>";

/// The five lifecycle hooks CodeDeploy offers for ECS, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hook {
    BeforeInstall,
    AfterInstall,
    AfterAllowTestTraffic,
    BeforeAllowTraffic,
    AfterAllowTraffic,
}

impl Hook {
    pub const ALL: [Hook; 5] = [
        Hook::BeforeInstall,
        Hook::AfterInstall,
        Hook::AfterAllowTestTraffic,
        Hook::BeforeAllowTraffic,
        Hook::AfterAllowTraffic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Hook::BeforeInstall => "BeforeInstall",
            Hook::AfterInstall => "AfterInstall",
            Hook::AfterAllowTestTraffic => "AfterAllowTestTraffic",
            Hook::BeforeAllowTraffic => "BeforeAllowTraffic",
            Hook::AfterAllowTraffic => "AfterAllowTraffic",
        }
    }
}

impl FromStr for Hook {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Hook::ALL.into_iter().find(|h| h.name() == s).ok_or(())
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CapacityProvider {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<u32>,
    pub capacity_provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    pub container: ContainerName,
    pub container_port: u16,
    pub platform_version: Option<String>,
    pub network: Option<Network>,
    pub capacity_providers: Vec<CapacityProvider>,
    /// Sorted by hook; one function each.
    pub hooks: Vec<(Hook, String)>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Document<'a> {
    #[serde(rename = "version")]
    version: f64,
    resources: [Resource<'a>; 1],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hooks: Vec<std::collections::BTreeMap<&'static str, &'a str>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Resource<'a> {
    target_service: TargetService<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TargetService<'a> {
    #[serde(rename = "Type")]
    kind: &'static str,
    properties: Properties<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Properties<'a> {
    task_definition: &'static str,
    load_balancer_info: LoadBalancerInfo<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network_configuration: Option<NetworkConfiguration<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    capacity_provider_strategy: &'a [CapacityProvider],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LoadBalancerInfo<'a> {
    container_name: &'a str,
    /// The one property CodeDeploy wants as a number rather than a string.
    container_port: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NetworkConfiguration<'a> {
    awsvpc_configuration: AwsvpcConfiguration<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AwsvpcConfiguration<'a> {
    subnets: &'a [String],
    security_groups: &'a [String],
    assign_public_ip: &'static str,
}

pub fn render(spec: &AppSpec) -> Vec<u8> {
    let document = Document {
        version: 0.0,
        resources: [Resource {
            target_service: TargetService {
                kind: "AWS::ECS::Service",
                properties: Properties {
                    task_definition: TASK_DEFINITION_PLACEHOLDER,
                    load_balancer_info: LoadBalancerInfo {
                        container_name: spec.container.as_str(),
                        container_port: spec.container_port,
                    },
                    platform_version: spec.platform_version.as_deref(),
                    network_configuration: spec.network.as_ref().map(|n| NetworkConfiguration {
                        awsvpc_configuration: AwsvpcConfiguration {
                            subnets: &n.subnets,
                            security_groups: &n.security_groups,
                            assign_public_ip: if n.assign_public_ip {
                                "ENABLED"
                            } else {
                                "DISABLED"
                            },
                        },
                    }),
                    capacity_provider_strategy: &spec.capacity_providers,
                },
            },
        }],
        hooks: spec
            .hooks
            .iter()
            .map(|(hook, function)| [(hook.name(), function.as_str())].into())
            .collect(),
    };
    serde_yaml::to_string(&document)
        .expect("plain data always serializes")
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_appspec_parses_back_with_numeric_port() {
        let yaml = render(&AppSpec {
            container: ContainerName::parse("web").unwrap(),
            container_port: 8080,
            platform_version: None,
            network: None,
            capacity_providers: vec![],
            hooks: vec![],
        });
        let text = String::from_utf8(yaml).unwrap();
        assert!(text.starts_with("version: 0.0\n"), "{text}");
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let props = &doc["Resources"][0]["TargetService"]["Properties"];
        assert_eq!(props["TaskDefinition"].as_str(), Some("<TASK_DEFINITION>"));
        assert_eq!(
            props["LoadBalancerInfo"]["ContainerPort"].as_u64(),
            Some(8080)
        );
        assert_eq!(
            doc["Resources"][0]["TargetService"]["Type"].as_str(),
            Some("AWS::ECS::Service")
        );
    }
}
