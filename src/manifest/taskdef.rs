//! `taskdef.json`: a task definition template with the chosen container's image filled in.

use serde_json::Value;

use crate::record::container_name::ContainerName;

pub const FILE_NAME: &str = "taskdef.json";

/// CodeDeployToECS's default: `Image1ContainerName: IMAGE1_NAME` in the pipeline, written
/// `<IMAGE1_NAME>` in the task definition (anchors.md §5.3).
pub const DEFAULT_PLACEHOLDER: &str = "IMAGE1_NAME";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateProblem {
    #[error("is not a JSON object")]
    NotObject,
    #[error("has no `containerDefinitions` list")]
    NoContainerDefinitions,
    #[error("has no container named `{container}` (it has: {})", .available.join(", "))]
    NoSuchContainer {
        container: ContainerName,
        available: Vec<String>,
    },
}

/// Sets `image` of the container named `container` and keeps everything else, key order
/// included, as it was.
pub fn render(
    template: &Value,
    container: &ContainerName,
    image: &str,
) -> Result<Vec<u8>, TemplateProblem> {
    let mut taskdef = template.clone();
    let definitions = taskdef
        .as_object_mut()
        .ok_or(TemplateProblem::NotObject)?
        .get_mut("containerDefinitions")
        .and_then(Value::as_array_mut)
        .ok_or(TemplateProblem::NoContainerDefinitions)?;
    let available: Vec<String> = definitions
        .iter()
        .filter_map(|d| d.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let definition = definitions
        .iter_mut()
        .find(|d| d.get("name").and_then(Value::as_str) == Some(container.as_str()))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| TemplateProblem::NoSuchContainer {
            container: container.clone(),
            available,
        })?;
    definition.insert("image".into(), Value::String(image.to_owned()));
    let mut bytes = serde_json::to_vec_pretty(&taskdef).expect("a JSON value always serializes");
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_only_the_named_container_image() {
        let template: Value = serde_json::from_str(
            r#"{"family":"f","containerDefinitions":[{"name":"web","image":"x"},{"name":"log","image":"y"}]}"#,
        )
        .unwrap();
        let out = render(
            &template,
            &ContainerName::parse("web").unwrap(),
            "<IMAGE1_NAME>",
        )
        .unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["containerDefinitions"][0]["image"], "<IMAGE1_NAME>");
        assert_eq!(out["containerDefinitions"][1]["image"], "y");
        assert_eq!(out["family"], "f");
    }

    #[test]
    fn names_what_is_missing() {
        let name = ContainerName::parse("api").unwrap();
        let template: Value =
            serde_json::from_str(r#"{"containerDefinitions":[{"name":"web"}]}"#).unwrap();
        assert_eq!(
            render(&template, &name, "i").unwrap_err().to_string(),
            "has no container named `api` (it has: web)"
        );
        assert_eq!(
            render(&Value::Null, &name, "i").unwrap_err(),
            TemplateProblem::NotObject
        );
        assert_eq!(
            render(&serde_json::json!({}), &name, "i").unwrap_err(),
            TemplateProblem::NoContainerDefinitions
        );
    }
}
