//! `[app] compose_file`: one file (`"compose.yaml"`) or several in order
//! (`["compose.yaml", "compose.prod.yaml"]`, each one `-f`, later ones override).

use std::ops::Deref;

use serde::Deserialize;

/// Never empty after validation; derefs to the first file, the one whose folder is the
/// Compose project directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeFiles(pub Vec<String>);

impl ComposeFiles {
    pub fn one(file: &str) -> Self {
        ComposeFiles(vec![file.to_string()])
    }

    /// Every file, in order.
    pub fn all(&self) -> &[String] {
        &self.0
    }

    /// The files after the first.
    pub fn rest(&self) -> &[String] {
        self.0.get(1..).unwrap_or_default()
    }
}

impl Deref for ComposeFiles {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.first().map(String::as_str).unwrap_or("")
    }
}

impl PartialEq<&str> for ComposeFiles {
    fn eq(&self, other: &&str) -> bool {
        self.0.len() == 1 && self.0[0] == *other
    }
}

impl<'de> Deserialize<'de> for ComposeFiles {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        match OneOrMany::deserialize(d) {
            Ok(OneOrMany::One(s)) => Ok(ComposeFiles(vec![s])),
            Ok(OneOrMany::Many(v)) => Ok(ComposeFiles(v)),
            Err(_) => Err(serde::de::Error::custom(
                "expected a file name or a list of file names",
            )),
        }
    }
}
