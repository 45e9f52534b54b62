//! POSIX shell quoting of argv. Every value that reaches a remote shell goes through here.
//!
//! `pct exec 210 -- sh -c '…'` is two shells deep: the host's login shell parses the line
//! that SSH carries, and `sh -c` inside the container parses its script. Build the inner
//! script with [`join`], then quote that script once more as one argument of the outer line.

/// Quotes one word for a POSIX shell. Plain words stay as they are; anything else is put in
/// single quotes, with each `'` written as `'\''`.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%^".contains(&b));
    if plain {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Quotes every word and joins them with spaces: a command line a shell reads back as `argv`.
pub fn join<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_plain() {
        assert_eq!(quote("pct"), "pct");
        assert_eq!(quote("local-lvm:16"), "local-lvm:16");
        assert_eq!(quote("name=eth0,bridge=vmbr0,ip=dhcp"), "name=eth0,bridge=vmbr0,ip=dhcp");
        assert_eq!(quote("/opt/my_app"), "/opt/my_app");
    }

    #[test]
    fn everything_else_is_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$(reboot)"), "'$(reboot)'");
        assert_eq!(quote("`id`"), "'`id`'");
        assert_eq!(quote("a;b"), "'a;b'");
        assert_eq!(quote("line1\nline2"), "'line1\nline2'");
        assert_eq!(quote("{{guestname}} pxdeploy"), "'{{guestname}} pxdeploy'");
    }

    #[test]
    fn join_quotes_each_word() {
        assert_eq!(
            join(&["pct", "exec", "210", "--", "tar", "-x", "-C", "/opt/my app"]),
            "pct exec 210 -- tar -x -C '/opt/my app'"
        );
    }

    #[test]
    fn two_shells_deep() {
        let inner = join(&["printf", "%s", "it's $(x)"]);
        assert_eq!(inner, "printf %s 'it'\\''s $(x)'");
        let outer = join(&["pct", "exec", "210", "--", "sh", "-c", &inner]);
        assert_eq!(
            outer,
            "pct exec 210 -- sh -c 'printf %s '\\''it'\\''\\'\\'''\\''s $(x)'\\'''"
        );
    }
}

#[cfg(test)]
mod shell_tests {
    use super::*;

    /// The quoting is checked by a real shell: two shells deep, a hostile value arrives verbatim.
    #[test]
    fn hostile_values_survive_two_real_shells() {
        let hostile = [
            "it's",
            "\"double\"",
            "$(touch /tmp/pxdeploy-quote-pwned)",
            "`touch /tmp/pxdeploy-quote-pwned`",
            "a; touch /tmp/pxdeploy-quote-pwned",
            "spaces  and\ttabs",
            "new\nline",
            "back\\slash",
            "'\\''",
            "",
        ];
        for value in hostile {
            let inner = join(&["printf", "%s", value]);
            let outer = join(&["sh", "-c", &inner]);
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&outer)
                .output()
                .unwrap();
            assert!(out.status.success(), "{outer}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), value, "via {outer}");
        }
        assert!(!std::path::Path::new("/tmp/pxdeploy-quote-pwned").exists());
    }
}
