//! Property tests of the loader: no input panics; an error always names the file (and a
//! line when it is about a line); a value under `env` is never shown, whatever it is.

use proptest::prelude::*;

use super::tests::{Project, BASE};
use super::*;

const MARK: &str = "ZQXSECRET";
const MARK_DIGITS: &str = "918273645546372";

/// What might be written as the value of a key under `env`, each holding the marker.
fn env_value() -> impl Strategy<Value = String> {
    // Before the marker, no line break: after one, TOML reads what follows on the next line
    // as a key of its own (`ZQXSECRET = …`), and an error naming that key is naming a key,
    // not showing a value (this made the property fail about once in two runs).
    let before = "[^\u{0}\n\r]{0,12}";
    let after = "[^\u{0}]{0,12}";
    (before, after, 0..12usize).prop_map(|(a, b, form)| {
        let s = format!("{a}{MARK}{b}");
        let basic = s.replace('\\', "\\\\").replace('"', "\\\"");
        match form {
            0 => format!("\"{basic}\""),
            1 => format!("'{s}'"),
            2 => s,
            3 => format!("\"\"\"{s}\"\"\""),
            4 => format!("[\"{basic}\", 1]"),
            5 => format!("{{ a = \"{basic}\" }}"),
            6 => MARK_DIGITS.to_string(),
            7 => format!("-{MARK_DIGITS}"),
            8 => format!("{MARK_DIGITS}.5"),
            9 => format!("\"{a}\" {MARK}"),
            10 => format!("'{a}{MARK}"),
            _ => format!("\"{s}\""),
        }
    })
}

/// BASE with one more `env` key, written under [env.secrets], [env.values], or as a dotted
/// key at the top level; returns the text and the key's line.
fn with_env_key() -> impl Strategy<Value = (String, usize)> {
    (
        "[A-Za-z_][A-Za-z0-9_]{0,8}|[a-z-]{1,4}",
        env_value(),
        0..3usize,
    )
        .prop_map(|(key, value, place)| match place {
            0 => {
                let text = BASE.replacen(
                    "[env.secrets]\n",
                    &format!("[env.secrets]\n{key} = {value}\n"),
                    1,
                );
                (text, 14)
            }
            1 => {
                let text = BASE.replacen(
                    "[env.values]\n",
                    &format!("[env.values]\n{key} = {value}\n"),
                    1,
                );
                let line = BASE[..BASE.find("[env.values]").unwrap()].lines().count() + 2;
                (text, line)
            }
            _ => (
                format!(
                    "env.values.{key} = {value}\n{}",
                    BASE.replace("[env.values]\nDOMAIN = \"app.example.lan\"\n", "")
                ),
                1,
            ),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever is written under `env`, an error never shows it, and names the file and a
    /// line.
    #[test]
    fn an_env_value_is_never_shown((text, _line) in with_env_key()) {
        let project = Project::new(&text);
        let result = parse_str(&text, &project.path(), &|_: &str| None);
        if let Err(err) = result {
            let shown = err.render();
            prop_assert_eq!(err.exit_code(), 3);
            prop_assert!(!shown.contains("QXSEC"), "{}", shown);
            prop_assert!(!shown.contains(&MARK_DIGITS[2..12]), "{}", shown);
            let after: Vec<&str> = shown.split("pxdeploy.toml:").skip(1).collect();
            prop_assert!(!after.is_empty(), "an error without file and line:\n{}", shown);
            let located = after.iter().all(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
            prop_assert!(located, "an error without its line:\n{}", shown);
        }
    }

    /// No text panics the loader; an error always names the file.
    #[test]
    fn no_input_panics(text in "(\\PC|\n){0,200}", cut in 0..BASE.len(), insert in "[\\[\\]=\"'a-z.{}\n0-9 #\\\\]{0,20}") {
        let project = Project::new(BASE);
        for text in [text.clone(), {
            let cut = (0..=cut).rev().find(|i| BASE.is_char_boundary(*i)).unwrap_or(0);
            format!("{}{insert}{}", &BASE[..cut], &BASE[cut..])
        }] {
            if let Err(err) = parse_str(&text, &project.path(), &|_: &str| None) {
                prop_assert!(err.render().contains("pxdeploy.toml"), "{}", err.render());
                prop_assert_eq!(err.exit_code(), 3);
            }
        }
    }
}
