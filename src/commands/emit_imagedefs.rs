//! `cb-step emit-imagedefs`: images (build record, `--image`) → deploy artifacts.

use std::fs;
use std::path::{Path, PathBuf};

use crate::atomic::{self, PendingFile};
use crate::config::EmitConfig;
use crate::error::Error;
use crate::manifest::appspec::{self, AppSpec};
use crate::manifest::error::ManifestError;
use crate::manifest::resolved::ResolvedImage;
use crate::manifest::selection::{self, Candidate};
use crate::manifest::{image_definitions, image_detail, taskdef};
use crate::record::build_record::BuildRecord;

pub fn execute(config: EmitConfig) -> Result<(), Error> {
    let mut candidates: Vec<Candidate> = config
        .images
        .iter()
        .map(|(arg, container, image)| Candidate::from_flag(arg, container.clone(), image))
        .collect();
    if let Some(path) = &config.record {
        let record = BuildRecord::read(path)?;
        if record.images.is_empty() {
            return Err(ManifestError::EmptyRecord { path: path.clone() }.into());
        }
        candidates.extend(
            record
                .images
                .iter()
                .map(|image| Candidate::from_record(path.clone(), image)),
        );
    }
    let selected = selection::select(candidates, config.container.as_ref())?;
    let resolved = selected
        .iter()
        .map(|candidate| selection::resolve(candidate, config.pin))
        .collect::<Result<Vec<_>, _>>()?;

    let files = render(&config, &resolved)?;
    if !config.output_dir.as_os_str().is_empty() {
        fs::create_dir_all(&config.output_dir).map_err(|source| ManifestError::OutputDir {
            path: config.output_dir.clone(),
            source,
        })?;
    }
    atomic::write_all_or_nothing(&files).map_err(ManifestError::Write)?;
    for image in &resolved {
        tracing::info!("{} → {}", image.container, image.uri);
    }
    for file in &files {
        println!("{}", file.path.display());
    }
    Ok(())
}

/// Every requested file, in memory: nothing is written until all of them rendered.
fn render(config: &EmitConfig, resolved: &[ResolvedImage]) -> Result<Vec<PendingFile>, Error> {
    let at = |name: &str| config.output_dir.join(name);
    let only = |output: &'static str| match resolved {
        [image] => Ok(image),
        _ => Err(ManifestError::Ambiguous {
            output,
            containers: resolved.iter().map(|i| i.container.to_string()).collect(),
        }),
    };

    let definitions = image_definitions::render(resolved);
    if definitions.len() > image_definitions::MAX_BYTES {
        return Err(ManifestError::TooLarge {
            bytes: definitions.len(),
            limit: image_definitions::MAX_BYTES,
        }
        .into());
    }
    let mut files = vec![pending(at(image_definitions::FILE_NAME), definitions)];

    if config.image_detail {
        let image = only(image_detail::FILE_NAME)?;
        files.push(pending(
            at(image_detail::FILE_NAME),
            image_detail::render(image),
        ));
    }
    if let Some(settings) = &config.appspec {
        let image = only(appspec::FILE_NAME)?;
        let spec = AppSpec {
            container: image.container.clone(),
            container_port: settings.container_port,
            platform_version: settings.platform_version.clone(),
            network: settings.network.clone(),
            capacity_providers: settings.capacity_providers.clone(),
            hooks: settings.hooks.clone(),
        };
        files.push(pending(at(appspec::FILE_NAME), appspec::render(&spec)));
    }
    if let Some(settings) = &config.taskdef {
        let image = only(taskdef::FILE_NAME)?;
        let output = at(taskdef::FILE_NAME);
        let template = read_template(&settings.template, &output)?;
        let value = settings.placeholder.as_deref().unwrap_or(&image.uri);
        let contents = taskdef::render(&template, &image.container, value).map_err(|problem| {
            ManifestError::Template {
                path: settings.template.clone(),
                problem,
            }
        })?;
        files.push(pending(output, contents));
    }
    Ok(files)
}

fn pending(path: PathBuf, contents: Vec<u8>) -> PendingFile {
    PendingFile {
        path,
        contents,
        mode: None,
    }
}

fn read_template(path: &Path, output: &Path) -> Result<serde_json::Value, ManifestError> {
    let same_file = match (fs::canonicalize(path), fs::canonicalize(output)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same_file {
        return Err(ManifestError::TemplateIsOutput {
            path: path.to_owned(),
        });
    }
    let text = fs::read(path).map_err(|source| ManifestError::TemplateRead {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| ManifestError::TemplateParse {
        path: path.to_owned(),
        source,
    })
}
