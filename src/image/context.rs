//! The build context: the files under the context directory that `.dockerignore` lets through,
//! streamed to the daemon as a tar in 64 KiB chunks, never held whole in memory.
//!
//! `.cb-step/` at the top of the context is never sent. Entries are sorted by path, owned by 0:0 (as the Docker CLI sends them) and keep their mode
//! and modification time; symbolic links are sent as links, not followed.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::error::ImageError;
use super::ignore::DockerIgnore;
use crate::record::build_record::RECORD_DIR;

const CHUNK: usize = 64 * 1024;

/// The private name of a Dockerfile that cb-step sends itself: one from outside the context,
/// or one with cb-step's labels appended.
const PRIVATE_DOCKERFILE: &str = ".cb-step.Dockerfile";

/// What will be sent: the files, and the Dockerfile's name inside the tar.
#[derive(Debug)]
pub struct Context {
    root: PathBuf,
    /// Paths relative to `root`, `/`-separated, sorted; directories before their contents.
    entries: Vec<String>,
    /// A Dockerfile sent under `PRIVATE_DOCKERFILE` instead of the one in the context.
    private_dockerfile: Option<Vec<u8>>,
    /// What to send as `.dockerignore` instead of the file on disk.
    dockerignore: Option<Vec<u8>>,
    /// The context's own Dockerfile, when the patterns exclude it and it is sent only because
    /// it is the Dockerfile.
    excluded_dockerfile: Option<String>,
    pub dockerfile_name: String,
}

impl Context {
    /// Walks `root` and applies its `.dockerignore`. `dockerfile` may lie outside `root`.
    ///
    /// Like the Docker CLI, it sends the Dockerfile and `.dockerignore` even when the patterns
    /// exclude them. The classic builder reads both and then drops them from the context; the
    /// Engine API's BuildKit path drops neither, so for it (`daemon_drops_build_files` false)
    /// an excluded `.dockerignore` stays out. The Dockerfile cannot: BuildKit reads it from the
    /// context.
    pub fn scan(
        root: &Path,
        dockerfile: &Path,
        daemon_drops_build_files: bool,
    ) -> Result<Self, ImageError> {
        let meta = fs::metadata(root).map_err(|source| ImageError::ContextDir {
            path: root.to_owned(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(ImageError::ContextDir {
                path: root.to_owned(),
                source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
            });
        }
        if !dockerfile.is_file() {
            return Err(ImageError::NoDockerfile {
                path: dockerfile.to_owned(),
            });
        }
        let inside = dockerfile
            .canonicalize()
            .ok()
            .zip(root.canonicalize().ok())
            .and_then(|(file, dir)| {
                file.strip_prefix(&dir)
                    .ok()
                    .map(|p| p.to_string_lossy().replace('\\', "/"))
            });
        let outside = inside.is_none();
        let dockerfile_name = inside.unwrap_or_else(|| PRIVATE_DOCKERFILE.to_owned());
        let ignore_path = under(root, ".dockerignore");
        let ignore = match fs::read_to_string(&ignore_path) {
            Ok(text) => DockerIgnore::parse(&text, &[&dockerfile_name, ".dockerignore"]).map_err(
                |reason| ImageError::DockerIgnore {
                    path: ignore_path,
                    reason,
                },
            )?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => DockerIgnore::default(),
            Err(source) => {
                return Err(ImageError::ContextRead {
                    path: ignore_path,
                    source,
                });
            }
        };
        let mut entries = Vec::new();
        walk(root, "", &ignore, &mut entries)?;
        if !daemon_drops_build_files && ignore.excludes_always_sent(".dockerignore") {
            entries.retain(|e| e != ".dockerignore");
        }
        let excluded_dockerfile = ignore
            .excludes_always_sent(&dockerfile_name)
            .then(|| dockerfile_name.clone());
        let mut context = Context {
            root: root.to_owned(),
            entries,
            private_dockerfile: None,
            dockerignore: None,
            excluded_dockerfile,
            dockerfile_name,
        };
        if outside {
            let contents = fs::read(dockerfile).map_err(|source| ImageError::ContextRead {
                path: dockerfile.to_owned(),
                source,
            })?;
            context.replace_dockerfile(contents, daemon_drops_build_files)?;
        }
        Ok(context)
    }

    /// Sends `contents` as the Dockerfile, under a private name. With `hide`, the name is also
    /// appended to the `.dockerignore` that is sent (one is made if there is none), exactly as
    /// the docker CLI does for a Dockerfile from outside the context: the classic builder then
    /// drops both from the context after reading them, so no image sees them.
    pub fn replace_dockerfile(&mut self, contents: Vec<u8>, hide: bool) -> Result<(), ImageError> {
        self.private_dockerfile = Some(contents);
        self.dockerfile_name = PRIVATE_DOCKERFILE.to_owned();
        if let Some(original) = self.excluded_dockerfile.take() {
            self.entries.retain(|e| *e != original);
        }
        if hide {
            let path = under(&self.root, ".dockerignore");
            let mut ignore = match fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::NotFound => b".dockerignore".to_vec(),
                Err(source) => return Err(ImageError::ContextRead { path, source }),
            };
            ignore.extend_from_slice(format!("\n{PRIVATE_DOCKERFILE}\n").as_bytes());
            self.dockerignore = Some(ignore);
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Starts writing the tar on a blocking thread; the receiver yields its chunks.
    pub fn stream(self) -> mpsc::Receiver<Result<Bytes, io::Error>> {
        let (sender, receiver) = mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let writer = ChunkWriter {
                buffer: Vec::with_capacity(CHUNK),
                sender: sender.clone(),
            };
            if let Err(e) = self.write_tar(writer) {
                let _ = sender.blocking_send(Err(e));
            }
        });
        receiver
    }

    fn write_tar(&self, writer: ChunkWriter) -> io::Result<()> {
        let mut tar = tar::Builder::new(writer);
        tar.follow_symlinks(false);
        tar.mode(tar::HeaderMode::Complete);
        let mut generated: Vec<(&str, &[u8])> = Vec::new();
        if let Some(ignore) = &self.dockerignore {
            generated.push((".dockerignore", ignore));
        }
        if let Some(dockerfile) = &self.private_dockerfile {
            generated.push((PRIVATE_DOCKERFILE, dockerfile));
        }
        for entry in &self.entries {
            if !generated.iter().any(|(name, _)| name == entry) {
                append(&mut tar, &self.root.join(entry), entry)?;
            }
        }
        for (name, contents) in generated {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            header.set_size(contents.len() as u64);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, name, contents)?;
        }
        tar.into_inner()?.flush()
    }
}

/// `root/name`, written `name` when the root is the current directory.
pub fn under(root: &Path, name: &str) -> PathBuf {
    if root == Path::new(".") {
        PathBuf::from(name)
    } else {
        root.join(name)
    }
}

fn append(tar: &mut tar::Builder<ChunkWriter>, path: &Path, name: &str) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    header.set_uid(0);
    header.set_gid(0);
    header.set_username("")?;
    header.set_groupname("")?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(path)?;
        header.set_size(0);
        tar.append_link(&mut header, name, target)
    } else if meta.is_dir() {
        tar.append_data(&mut header, format!("{name}/"), io::empty())
    } else if meta.is_file() {
        tar.append_data(&mut header, name, fs::File::open(path)?)
    } else {
        // Sockets, FIFOs and devices have no place in an image context; Docker skips them too.
        Ok(())
    }
}

fn walk(
    root: &Path,
    prefix: &str,
    ignore: &DockerIgnore,
    out: &mut Vec<String>,
) -> Result<(), ImageError> {
    let dir = root.join(prefix);
    let read_err = |source| ImageError::ContextRead {
        path: dir.clone(),
        source,
    };
    let mut names: Vec<String> = fs::read_dir(&dir)
        .map_err(read_err)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    // Go's filepath.Walk order: by name, byte-wise.
    names.sort();
    for name in names {
        let relative = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let path = root.join(&relative);
        let meta = fs::symlink_metadata(&path).map_err(|source| ImageError::ContextRead {
            path: path.clone(),
            source,
        })?;
        // cb-step's own bookkeeping changes on every run; sending it would bust `COPY . .`.
        if relative == RECORD_DIR {
            continue;
        }
        let excluded = ignore.is_excluded(&relative);
        if meta.is_dir() {
            // An excluded directory may still hold files that a `!` pattern re-includes.
            if excluded && !ignore.has_exceptions() {
                continue;
            }
            if !excluded {
                out.push(relative.clone());
            }
            walk(root, &relative, ignore, out)?;
        } else if !excluded {
            out.push(relative);
        }
    }
    Ok(())
}

/// Cuts the tar into chunks for the request body; blocks when the daemon reads slower.
struct ChunkWriter {
    buffer: Vec<u8>,
    sender: mpsc::Sender<Result<Bytes, io::Error>>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.sender
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the daemon stopped reading the context",
                )
            })
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buffer.len();
        let taken = room.min(data.len());
        self.buffer.extend_from_slice(&data[..taken]);
        if self.buffer.len() == CHUNK {
            self.send()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_dockerignore_and_sorts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, body) in [
            ("Dockerfile", "FROM scratch"),
            (
                ".dockerignore",
                "*.log\nsecrets\n!secrets/public.pem\nDockerfile\n",
            ),
            ("b.txt", "b"),
            ("a.log", "x"),
            ("src/main.rs", "fn main(){}"),
            ("secrets/key.pem", "k"),
            ("secrets/public.pem", "p"),
        ] {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, body).unwrap();
        }
        let context = Context::scan(root, &root.join("Dockerfile"), true).unwrap();
        assert_eq!(
            context.entries(),
            [
                ".dockerignore",
                "Dockerfile",
                "b.txt",
                "secrets/public.pem",
                "src",
                "src/main.rs"
            ]
        );
        assert_eq!(context.dockerfile_name, "Dockerfile");
    }
}
