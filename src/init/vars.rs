//! The variables a compose file takes from `.env`: `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?message}`, `${VAR:+alt}` and `$VAR`, in the file's string
//! values (comments and keys are not interpolated by Compose); `$$` is a literal `$`.

/// One variable, first use in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Var {
    pub name: String,
    /// The `:-default` / `-default` text, if the file gives one.
    pub default: Option<String>,
    /// `${VAR:?…}` / `${VAR?…}`: Compose refuses to start without it.
    pub required: bool,
}

impl Var {
    /// PASSWORD, SECRET, KEY or TOKEN in the name: generate it, never write it.
    pub(crate) fn is_secret(&self) -> bool {
        let upper = self.name.to_ascii_uppercase();
        ["PASSWORD", "SECRET", "KEY", "TOKEN"]
            .iter()
            .any(|w| upper.contains(w))
    }
}

/// Every variable used in the string values of the YAML `text`, deduplicated (a later use
/// adds a default or `required` that an earlier use lacked).
pub(crate) fn compose_vars(text: &str) -> Result<Vec<Var>, String> {
    let doc: serde_norway::Value = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    walk(&doc, &mut out);
    Ok(out)
}

fn walk(value: &serde_norway::Value, out: &mut Vec<Var>) {
    use serde_norway::Value;
    match value {
        Value::String(s) => scan(s, out),
        Value::Sequence(items) => items.iter().for_each(|v| walk(v, out)),
        Value::Mapping(map) => map.values().for_each(|v| walk(v, out)),
        Value::Tagged(tagged) => walk(&tagged.value, out),
        _ => {}
    }
}

/// The variables of one string.
pub(crate) fn scan(s: &str, out: &mut Vec<Var>) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'$') => i += 2,
            Some(b'{') => {
                let Some(len) = s[i + 2..].find('}') else {
                    return;
                };
                parse_braced(&s[i + 2..i + 2 + len], out);
                i += 3 + len;
            }
            Some(_) => {
                let name = name_at(&s[i + 1..]);
                i += 1 + name.len();
                add(out, name, None, false);
            }
            None => i += 1,
        }
    }
}

/// `VAR`, `VAR:-default`, `VAR-default`, `VAR:?msg`, `VAR?msg`, `VAR:+alt`, `VAR+alt`.
fn parse_braced(inner: &str, out: &mut Vec<Var>) {
    let name = name_at(inner);
    let rest = &inner[name.len()..];
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    let (default, required) = match rest.chars().next() {
        Some('-') => (Some(rest[1..].to_string()), false),
        Some('?') => (None, true),
        _ => (None, false),
    };
    add(out, name, default, required);
}

fn name_at(s: &str) -> &str {
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(s.len(), |(i, _)| i);
    &s[..end]
}

fn add(out: &mut Vec<Var>, name: &str, default: Option<String>, required: bool) {
    if name.is_empty() {
        return;
    }
    match out.iter_mut().find(|v| v.name == name) {
        Some(v) => {
            v.default = v.default.take().or(default);
            v.required |= required;
        }
        None => out.push(Var {
            name: name.to_string(),
            default,
            required,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<(String, Option<String>, bool)> {
        compose_vars(text)
            .unwrap()
            .into_iter()
            .map(|v| (v.name, v.default, v.required))
            .collect()
    }

    #[test]
    fn every_form_of_interpolation_is_found_once() {
        let text = r#"
# ${IN_A_COMMENT} is not interpolated
services:
  db:
    image: "postgres:${PG_VERSION:-16}"
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD:?set it}
      PLAIN: $PLAIN_VAR/suffix
      ESCAPED: $$NOT_A_VAR
      DASH: ${NO_COLON-x}
      ALT: ${ALT_VAR:+yes}
    ports: ["${PORT:-8080}:80", "${PORT}:81"]
    command: ["sh", "-c", "echo $$HOME ${DB_PASSWORD}"]
"#;
        assert_eq!(
            names(text),
            vec![
                ("PG_VERSION".into(), Some("16".into()), false),
                ("DB_PASSWORD".into(), None, true),
                ("PLAIN_VAR".into(), None, false),
                ("NO_COLON".into(), Some("x".into()), false),
                ("ALT_VAR".into(), None, false),
                ("PORT".into(), Some("8080".into()), false),
            ]
        );
    }

    #[test]
    fn secrets_are_recognised_by_name() {
        let var = |name: &str| Var {
            name: name.into(),
            default: None,
            required: false,
        };
        for name in [
            "DB_PASSWORD",
            "SECRET_KEY",
            "api_token",
            "JWT_SECRET",
            "AWS_KEY_ID",
        ] {
            assert!(var(name).is_secret(), "{name}");
        }
        for name in ["PORT", "DOMAIN", "LOG_LEVEL"] {
            assert!(!var(name).is_secret(), "{name}");
        }
    }

    #[test]
    fn a_lone_dollar_and_an_unclosed_brace_are_not_variables() {
        let mut out = Vec::new();
        scan("costs 5$ and ${UNCLOSED", &mut out);
        assert!(out.is_empty(), "{out:?}");
    }
}
