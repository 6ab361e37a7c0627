//! `.dockerignore`, with Docker's exact semantics.
//!
//! A port of moby's `patternmatcher` (each pattern becomes a regular expression; a path is
//! excluded when it or one of its parent directories matches; the last matching pattern wins,
//! and `!` patterns re-include) and of buildkit's `dockerignore.ReadAll` (comments, `!`,
//! `filepath.Clean`, a leading `/` dropped). gitignore semantics differ, so the `ignore` crate
//! would not do.

use regex_lite::Regex;

#[derive(Debug)]
struct Pattern {
    regex: Regex,
    exclusion: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    #[error("line {line}: `!` alone is not a valid pattern")]
    LoneBang { line: usize },
    #[error("line {line}: pattern `{pattern}` is not valid")]
    Pattern { line: usize, pattern: String },
}

#[derive(Debug, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
    /// The `always` names the patterns had excluded.
    reincluded: Vec<String>,
}

impl DockerIgnore {
    /// Parses `.dockerignore` text, then adds `!<name>` for each of `always`, as the Docker CLI
    /// does for the Dockerfile and `.dockerignore` so that they are always sent.
    pub fn parse(text: &str, always: &[&str]) -> Result<Self, IgnoreError> {
        let mut patterns = Vec::new();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let mut pattern = raw.trim();
            if pattern.starts_with('#') || pattern.is_empty() {
                continue;
            }
            let exclusion = pattern.starts_with('!');
            if exclusion {
                pattern = pattern[1..].trim();
                if pattern.is_empty() {
                    return Err(IgnoreError::LoneBang { line });
                }
            }
            let mut cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let regex = Regex::new(&to_regex(&cleaned)).map_err(|_| IgnoreError::Pattern {
                line,
                pattern: pattern.to_owned(),
            })?;
            patterns.push(Pattern { regex, exclusion });
        }
        let mut ignore = DockerIgnore {
            patterns,
            reincluded: Vec::new(),
        };
        for name in always {
            if ignore.is_excluded(name) {
                ignore.patterns.push(Pattern {
                    regex: Regex::new(&format!("^{}$", regex_lite::escape(name)))
                        .expect("an escaped name compiles"),
                    exclusion: true,
                });
                ignore.reincluded.push((*name).to_owned());
            }
        }
        Ok(ignore)
    }

    /// Whether the patterns themselves excluded `name`, one of the names always sent.
    pub fn excludes_always_sent(&self, name: &str) -> bool {
        self.reincluded.iter().any(|n| n == name)
    }

    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// `path` is relative to the context, with `/` separators. moby's `MatchesOrParentMatches`.
    pub fn is_excluded(&self, path: &str) -> bool {
        let parent = match path.rsplit_once('/') {
            Some((parent, _)) => parent,
            None => ".",
        };
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for pattern in &self.patterns {
            // An exclusion can only undo a match, and an inclusion only make one.
            if pattern.exclusion != matched {
                continue;
            }
            let mut hit = pattern.regex.is_match(path);
            if !hit && parent != "." {
                hit = (1..=parent_dirs.len())
                    .any(|n| pattern.regex.is_match(&parent_dirs[..n].join("/")));
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }
}

/// A path pattern with the same rules (`*` within a directory, `**` across directories), for
/// buildspec artifact paths.
pub fn glob(pattern: &str) -> Option<Regex> {
    let cleaned = clean(pattern.trim_start_matches("./"));
    Regex::new(&to_regex(&cleaned)).ok()
}

/// moby's `Pattern.compile`: `*` is any run of non-`/`, `?` one non-`/`, `**` any number of
/// directories, `\` escapes, `[…]` is a class.
fn to_regex(pattern: &str) -> String {
    let mut regex = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    regex.push_str(".*");
                } else {
                    regex.push_str("(.*/)?");
                }
            }
            '*' => regex.push_str("[^/]*"),
            '?' => regex.push_str("[^/]"),
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' | '^' => {
                regex.push('\\');
                regex.push(ch);
            }
            '\\' => match chars.get(i) {
                Some(next) => {
                    i += 1;
                    regex.push_str(&regex_lite::escape(&next.to_string()));
                }
                None => regex.push_str("\\\\"),
            },
            _ => regex.push(ch),
        }
    }
    regex.push('$');
    regex
}

/// Go's `filepath.Clean` for `/`-separated paths.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(patterns: &str, path: &str) -> bool {
        DockerIgnore::parse(patterns, &[])
            .unwrap()
            .is_excluded(path)
    }

    #[test]
    fn clean_matches_go() {
        for (input, want) in [
            ("a/b/../c", "a/c"),
            ("./a//b/", "a/b"),
            ("/../a", "/a"),
            ("..", ".."),
            ("", "."),
            ("a/..", "."),
        ] {
            assert_eq!(clean(input), want, "{input}");
        }
    }

    // Cases from moby/patternmatcher's TestMatches and docker's documentation.
    #[test]
    fn star_stays_within_a_directory() {
        assert!(excluded("*.md", "README.md"));
        assert!(!excluded("*.md", "docs/README.md"));
        assert!(excluded("*/temp*", "somedir/temporary.txt"));
        assert!(!excluded("*/temp*", "somedir/sub/temporary.txt"));
        assert!(excluded("temp?", "temp1"));
        assert!(!excluded("temp?", "temp12"));
    }

    #[test]
    fn double_star_spans_directories() {
        assert!(excluded("**/*.go", "main.go"));
        assert!(excluded("**/*.go", "a/b/c/main.go"));
        assert!(excluded("a/**", "a/b/c"));
        assert!(excluded("**", "anything/at/all"));
        assert!(excluded("a/**/z", "a/z"));
        assert!(excluded("a/**/z", "a/b/c/z"));
        assert!(!excluded("a/**/z", "b/z"));
    }

    #[test]
    fn a_matching_parent_excludes_its_contents() {
        assert!(excluded("node_modules", "node_modules/x/index.js"));
        assert!(excluded("build/", "build/out.bin"));
        assert!(!excluded("node_modules", "src/node_modules/x.js"));
    }

    #[test]
    fn exceptions_and_last_match_wins() {
        let patterns = "*.md\n!README.md\n";
        assert!(excluded(patterns, "CHANGES.md"));
        assert!(!excluded(patterns, "README.md"));
        let patterns = "docs\n!docs/keep.txt\n";
        assert!(excluded(patterns, "docs/other.txt"));
        assert!(!excluded(patterns, "docs/keep.txt"));
        let patterns = "!README.md\n*.md\n";
        assert!(excluded(patterns, "README.md"));
    }

    #[test]
    fn comments_blank_lines_and_leading_slash() {
        let patterns = "# a comment\n\n  /secret.txt  \n";
        assert!(excluded(patterns, "secret.txt"));
        assert!(!excluded(patterns, "# a comment"));
    }

    #[test]
    fn escapes_and_regex_characters_are_literal() {
        assert!(excluded("a+b.(c)", "a+b.(c)"));
        assert!(!excluded("a+b.(c)", "aab.(c)"));
        assert!(excluded("\\*star", "*star"));
        assert!(!excluded("\\*star", "xstar"));
        assert!(excluded("[ab]x", "bx"));
    }

    #[test]
    fn the_dockerfile_and_dockerignore_are_always_sent() {
        let ignore = DockerIgnore::parse("*\n", &["Dockerfile", ".dockerignore"]).unwrap();
        assert!(!ignore.is_excluded("Dockerfile"));
        assert!(!ignore.is_excluded(".dockerignore"));
        assert!(ignore.is_excluded("src/main.rs"));
    }

    #[test]
    fn a_lone_bang_is_an_error() {
        assert!(matches!(
            DockerIgnore::parse("a\n!\n", &[]),
            Err(IgnoreError::LoneBang { line: 2 })
        ));
    }
}
