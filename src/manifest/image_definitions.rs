//! `imagedefinitions.json` for CodePipeline's ECS (standard) deploy action.

use serde::Serialize;

use super::resolved::ResolvedImage;

pub const FILE_NAME: &str = "imagedefinitions.json";

/// CodePipeline rejects larger files (anchors.md §5.1). Counted in bytes, 1 KB = 1000 bytes,
/// so that we never pass a file that is over the limit by either reading of "KB".
pub const MAX_BYTES: usize = 100_000;

#[derive(Serialize)]
struct Entry<'a> {
    name: &'a str,
    #[serde(rename = "imageUri")]
    image_uri: &'a str,
}

/// `[{"name": …, "imageUri": …}]`, in the order given, pretty-printed with a final newline.
pub fn render(images: &[ResolvedImage]) -> Vec<u8> {
    let entries: Vec<Entry<'_>> = images
        .iter()
        .map(|i| Entry {
            name: i.container.as_str(),
            image_uri: &i.uri,
        })
        .collect();
    let mut bytes = serde_json::to_vec_pretty(&entries).expect("plain strings always serialize");
    bytes.push(b'\n');
    bytes
}
