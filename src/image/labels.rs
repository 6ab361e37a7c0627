//! Labels for the classic builder, as one `LABEL` instruction appended to the Dockerfile.
//!
//! The classic builder turns each label given through the API into its own `LABEL` step, and
//! every step commits a container: four labels cost about 230 ms on the project machine. One
//! appended instruction costs one step. Appending is only done where it cannot change what
//! the Dockerfile means; otherwise the caller passes the labels through the API.

use std::collections::HashMap;

/// `dockerfile` with `LABEL "k"="v" …` appended, or `None` when that is not safe: a parser
/// directive that changes the escape character, a last line that continues, or a label that
/// needs quoting beyond plain double quotes.
pub fn append(dockerfile: &[u8], labels: &HashMap<String, String>) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(dockerfile).ok()?;
    let changes_escape = text
        .lines()
        .take_while(|l| l.trim_start().starts_with('#'))
        .any(|l| {
            l.to_ascii_lowercase()
                .replace(' ', "")
                .starts_with("#escape=")
        });
    let continues = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_end().ends_with('\\'));
    if changes_escape || continues || labels.is_empty() {
        return None;
    }
    let mut keys: Vec<&String> = labels.keys().collect();
    keys.sort();
    let mut instruction = String::from("LABEL");
    for key in keys {
        let value = &labels[key];
        let plain = |s: &str| {
            !s.chars()
                .any(|c| matches!(c, '"' | '\\' | '$' | '`' | '\n' | '\r'))
        };
        if !plain(key) || !plain(value) || key.is_empty() {
            return None;
        }
        instruction.push_str(&format!(" \"{key}\"=\"{value}\""));
    }
    let mut out = dockerfile.to_vec();
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(format!("{instruction}\n").as_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn appends_one_sorted_instruction() {
        let out = append(
            b"FROM x\nRUN true",
            &labels(&[("b", "2"), ("a", "https://x/y.git")]),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "FROM x\nRUN true\nLABEL \"a\"=\"https://x/y.git\" \"b\"=\"2\"\n"
        );
    }

    #[test]
    fn refuses_what_could_change_meaning() {
        let l = labels(&[("a", "1")]);
        assert!(append(b"# escape=`\nFROM x\n", &l).is_none());
        assert!(append(b"FROM x\nRUN echo \\\n", &l).is_none());
        assert!(append(b"FROM x\n", &labels(&[("a", "$HOME")])).is_none());
        assert!(append(b"FROM x\n", &labels(&[("a", "say \"hi\"")])).is_none());
        assert!(append(b"FROM x\n", &HashMap::new()).is_none());
    }
}
