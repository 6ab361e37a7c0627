//! `imageDetail.json` for CodePipeline's CodeDeployToECS (blue/green) action.

use serde::Serialize;

use super::resolved::ResolvedImage;

/// CodePipeline requires exactly this name (anchors.md §5.2).
pub const FILE_NAME: &str = "imageDetail.json";

#[derive(Serialize)]
struct ImageDetail<'a> {
    #[serde(rename = "ImageURI")]
    image_uri: &'a str,
}

pub fn render(image: &ResolvedImage) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(&ImageDetail {
        image_uri: &image.uri,
    })
    .expect("a string always serializes");
    bytes.push(b'\n');
    bytes
}
