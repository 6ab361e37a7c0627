//! A value that must never reach a log, an error message or a `Debug` dump.

use std::fmt;

/// Holds an ECR password (or any other credential). `Debug` and `Display` print `<redacted>`;
/// the value is reachable only through [`Secret::expose`], so every use is greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `Debug` of variables by name only: `{"NAME": <redacted>, …}`. For settings that hold
/// `--env`/`--env-file` values (parameter-store and secrets-manager ones among them) or
/// registry credentials, so that a `{:?}` anywhere shows what is set, never what it is.
pub struct Redacted<'a>(pub Vec<&'a str>);

impl<'a> Redacted<'a> {
    pub fn names<I: IntoIterator<Item = &'a String>>(names: I) -> Self {
        Redacted(names.into_iter().map(String::as_str).collect())
    }
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|name| (name, Hidden)))
            .finish()
    }
}

struct Hidden;

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_show_by_name_only() {
        let vars = [("TOKEN".to_owned(), "hunter2".to_owned())];
        let shown = format!("{:?}", Redacted::names(vars.iter().map(|(k, _)| k)));
        assert_eq!(shown, r#"{"TOKEN": <redacted>}"#);
    }

    #[test]
    fn never_prints_its_value() {
        let secret = Secret::new("hunter2".into());
        assert_eq!(format!("{secret:?} {secret}"), "<redacted> <redacted>");
        assert_eq!(secret.expose(), "hunter2");
    }
}
