//! The content key: a sha256 of everything that decides what a build produces, so that an
//! unchanged service is not built again. It covers the context after `.dockerignore` (paths,
//! file contents, executable bits, link targets), the Dockerfile, build args, target and
//! platform. It leaves out what changes on every checkout without changing the image's
//! contents: modification times, owners, and cb-step's own labels (commit, build id, time).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest as _, Sha256};

use super::context::Context;
use super::error::ImageError;

/// Bumped when what the key covers changes, so old `ctx-` tags stop matching.
const SCHEME: &str = "cb-step content key v1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentKey(String);

impl ContentKey {
    pub fn hex(&self) -> &str {
        &self.0
    }

    /// The tag that marks an image built from this content: `ctx-<first 12 hex>`.
    pub fn tag(&self) -> String {
        format!("ctx-{}", &self.0[..12])
    }
}

pub struct KeyInputs<'a> {
    pub dockerfile: &'a [u8],
    pub build_args: &'a HashMap<String, String>,
    pub target: Option<&'a str>,
    pub platform: &'a str,
}

/// Hashes the context's files on `threads` threads: one file is read and hashed by one thread,
/// so a context of many files keeps every core and the disk busy.
pub fn compute(
    context: &Context,
    inputs: &KeyInputs<'_>,
    threads: usize,
) -> Result<ContentKey, ImageError> {
    let root = context.root();
    let entries = context.entries();
    let described = describe_all(root, entries, threads.max(1))?;
    let mut hasher = Sha256::new();
    hasher.update(SCHEME.as_bytes());
    hasher.update([0]);
    for (entry, description) in entries.iter().zip(&described) {
        field(&mut hasher, entry.as_bytes());
        field(&mut hasher, description);
    }
    field(&mut hasher, b"dockerfile");
    field(&mut hasher, &Sha256::digest(inputs.dockerfile));
    let mut args: Vec<_> = inputs.build_args.iter().collect();
    args.sort();
    for (key, value) in args {
        field(&mut hasher, b"build-arg");
        field(&mut hasher, key.as_bytes());
        field(&mut hasher, value.as_bytes());
    }
    field(&mut hasher, b"target");
    field(&mut hasher, inputs.target.unwrap_or_default().as_bytes());
    field(&mut hasher, b"platform");
    field(&mut hasher, inputs.platform.as_bytes());
    Ok(ContentKey(hex(&hasher.finalize())))
}

/// Length-prefixed, so that no two different inputs hash the same byte stream.
fn field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

fn describe_all(
    root: &Path,
    entries: &[String],
    threads: usize,
) -> Result<Vec<Vec<u8>>, ImageError> {
    let next = AtomicUsize::new(0);
    let worker = || {
        let mut buffer = vec![0; 256 * 1024];
        let mut done = Vec::new();
        while let Some(entry) = entries.get(next.fetch_add(1, Ordering::Relaxed)) {
            let path = root.join(entry);
            match describe(&path, &mut buffer) {
                Ok(description) => done.push((entry, description)),
                Err(source) => return Err(ImageError::ContextRead { path, source }),
            }
        }
        Ok(done)
    };
    let mut described: HashMap<&String, Vec<u8>> = HashMap::with_capacity(entries.len());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(entries.len()).max(1))
            .map(|_| scope.spawn(worker))
            .collect();
        for handle in workers {
            described.extend(handle.join().expect("hashing does not panic")?);
        }
        Ok::<_, ImageError>(())
    })?;
    Ok(entries
        .iter()
        .map(|e| described.remove(e).expect("every entry was described"))
        .collect())
}

/// `d <mode>`, `l <target>` or `f <mode> <sha256>`; only the executable bits of the mode, as
/// git keeps no other permission bits.
fn describe(path: &Path, buffer: &mut [u8]) -> io::Result<Vec<u8>> {
    let meta = std::fs::symlink_metadata(path)?;
    let executable = meta.permissions().mode() & 0o111 != 0;
    let kind = meta.file_type();
    if kind.is_symlink() {
        let target = std::fs::read_link(path)?;
        let mut out = b"l ".to_vec();
        out.extend_from_slice(target.as_os_str().as_encoded_bytes());
        return Ok(out);
    }
    if kind.is_dir() {
        return Ok(b"d".to_vec());
    }
    let mut hasher = Sha256::new();
    let mut file = File::open(path)?;
    loop {
        let read = file.read(buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    let mut out = if executable {
        b"f x ".to_vec()
    } else {
        b"f - ".to_vec()
    };
    out.extend_from_slice(&hasher.finalize());
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dir: &Path, args: &[(&str, &str)], target: Option<&str>) -> ContentKey {
        let context = Context::scan(dir, &dir.join("Dockerfile"), false).unwrap();
        let dockerfile = std::fs::read(dir.join("Dockerfile")).unwrap();
        let build_args = args
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let inputs = KeyInputs {
            dockerfile: &dockerfile,
            build_args: &build_args,
            target,
            platform: "linux/amd64",
        };
        compute(&context, &inputs, 4).unwrap()
    }

    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\nCOPY . /\n").unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "notes.txt\n").unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/main.c"), "int main;\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored\n").unwrap();
        dir
    }

    #[test]
    fn the_key_follows_content_not_times_or_ignored_files() {
        let dir = fixture();
        let first = key(dir.path(), &[], None);
        assert_eq!(first.tag().len(), 16);
        assert!(first.tag().starts_with("ctx-"));
        std::fs::write(dir.path().join("notes.txt"), "edited, still ignored\n").unwrap();
        let file = File::options()
            .write(true)
            .open(dir.path().join("src/main.c"))
            .unwrap();
        file.set_modified(std::time::SystemTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(key(dir.path(), &[], None), first);
        std::fs::write(dir.path().join("src/main.c"), "int main = 1;\n").unwrap();
        assert_ne!(key(dir.path(), &[], None), first);
    }

    #[test]
    fn build_args_target_and_the_executable_bit_count() {
        let dir = fixture();
        let plain = key(dir.path(), &[], None);
        assert_ne!(key(dir.path(), &[("A", "1")], None), plain);
        assert_ne!(
            key(dir.path(), &[("A", "1")], None),
            key(dir.path(), &[("A", "2")], None)
        );
        assert_ne!(key(dir.path(), &[], Some("runtime")), plain);
        let main = dir.path().join("src/main.c");
        std::fs::set_permissions(&main, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_ne!(key(dir.path(), &[], None), plain);
    }

    #[test]
    fn one_thread_and_many_agree() {
        let dir = fixture();
        for i in 0..50 {
            std::fs::write(dir.path().join(format!("src/f{i}")), format!("{i}")).unwrap();
        }
        let context = Context::scan(dir.path(), &dir.path().join("Dockerfile"), false).unwrap();
        let inputs = KeyInputs {
            dockerfile: b"FROM scratch\n",
            build_args: &HashMap::new(),
            target: None,
            platform: "linux/amd64",
        };
        assert_eq!(
            compute(&context, &inputs, 1).unwrap(),
            compute(&context, &inputs, 8).unwrap()
        );
    }
}
