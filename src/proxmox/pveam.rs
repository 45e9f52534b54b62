//! `pveam`: template index update, available templates, templates on a storage, download.
//! `pveam update` and `pveam download` exit 0 even when they fail: check their output.

use crate::remote::quote::{join, quote};

/// `pveam update`
pub(crate) fn update() -> String {
    "pveam update".to_string()
}

/// `pveam available --section system`
pub(crate) fn available_system() -> String {
    "pveam available --section system".to_string()
}

/// `pveam list <storage>`
pub(crate) fn list(storage: &str) -> String {
    format!("pveam list {}", quote(storage))
}

/// `pveam download <storage> <template>`
pub(crate) fn download(storage: &str, template: &str) -> String {
    join(&["pveam", "download", storage, template])
}

/// The volume id of a template file on a storage: `local:vztmpl/<file>`.
pub(crate) fn volid(storage: &str, template: &str) -> String {
    format!("{storage}:vztmpl/{template}")
}

/// The file name of a template volume id (`local:vztmpl/x.tar.zst` → `x.tar.zst`).
pub(crate) fn template_file(volid: &str) -> &str {
    volid.split_once(":vztmpl/").map_or(volid, |(_, f)| f)
}

/// True when a template setting is a full volume id rather than a name prefix.
pub(crate) fn is_volid(template: &str) -> bool {
    template.contains(':')
}

/// `update successful` on stdout; failure prints `update failed - see /var/log/pveam.log for
/// details` on stderr and still exits 0.
pub(crate) fn update_succeeded(stdout: &str, stderr: &str) -> bool {
    stdout.lines().any(|l| l.trim() == "update successful") && !stderr.contains("update failed")
}

/// The volume ids of `pveam list <storage>` (header `NAME … SIZE` skipped).
pub(crate) fn parse_list(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| *w != "NAME" && w.contains(":vztmpl/"))
        .map(str::to_string)
        .collect()
}

/// One line of `pveam available`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Available {
    pub section: String,
    pub template: String,
    /// Only in the ≥ 9.2.7 three-column format (`unknown` when the index has none).
    pub arch: Option<String>,
}

/// Parses `pveam available` in both formats: `system          <template>` (< 9.2.7) and
/// `system          <template padded to 60> <arch>` (≥ 9.2.7).
pub(crate) fn parse_available(stdout: &str) -> Vec<Available> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let section = words.next()?.to_string();
            let template = words.next()?.to_string();
            let arch = words.next().map(str::to_string);
            Some(Available {
                section,
                template,
                arch,
            })
        })
        .collect()
}

/// The version field of a template file name: `debian-12-standard_12.7-1_amd64.tar.zst` → `12.7-1`.
pub(crate) fn template_version(file: &str) -> Option<&str> {
    file.split('_').nth(1)
}

/// The newest template whose file name starts with `prefix`, comparing versions numerically
/// (`12.12-1` is newer than `12.7-1`). Takes file names or volume ids.
pub(crate) fn newest_match<'a, I>(prefix: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    candidates
        .into_iter()
        .filter(|c| template_file(c).starts_with(prefix))
        .max_by(|a, b| {
            let (fa, fb) = (template_file(a), template_file(b));
            super::compare_versions(
                template_version(fa).unwrap_or(""),
                template_version(fb).unwrap_or(""),
            )
            .then_with(|| fa.cmp(fb))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(update(), "pveam update");
        assert_eq!(available_system(), "pveam available --section system");
        assert_eq!(list("local"), "pveam list local");
        assert_eq!(
            download("local", "debian-12-standard_12.7-1_amd64.tar.zst"),
            "pveam download local debian-12-standard_12.7-1_amd64.tar.zst"
        );
        assert_eq!(download("my store", "x"), "pveam download 'my store' x");
        assert_eq!(
            volid("local", "debian-12-standard_12.7-1_amd64.tar.zst"),
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
        );
    }

    #[test]
    fn update_result_is_read_from_the_text() {
        assert!(update_succeeded("update successful\n", ""));
        assert!(!update_succeeded(
            "",
            "update failed - see /var/log/pveam.log for details\n"
        ));
        assert!(!update_succeeded("", ""));
    }

    #[test]
    fn parses_list() {
        let out = format!(
            "{:<60} {:<6}\n{:<60} {:<4.2}MB\n{:<60} {:<4.2}MB\n",
            "NAME",
            "SIZE",
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            120.28,
            "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
            141.5
        );
        assert!(out
            .starts_with("NAME                                                         SIZE  \n"));
        assert_eq!(
            parse_list(&out),
            vec![
                "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
                "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"
            ]
        );
        assert_eq!(
            parse_list(&format!("{:<60} {:<6}\n", "NAME", "SIZE")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn parses_both_available_formats() {
        let old = "system          debian-12-standard_12.7-1_amd64.tar.zst\nsystem          debian-12-standard_12.12-1_amd64.tar.zst\n";
        let new = format!(
            "{:<15} {:<60} {}\n{:<15} {:<60} {}\n",
            "system",
            "debian-12-standard_12.7-1_amd64.tar.zst",
            "amd64",
            "system",
            "debian-12-standard_12.12-1_amd64.tar.zst",
            "unknown"
        );
        let a = parse_available(old);
        assert_eq!(a[0].section, "system");
        assert_eq!(a[0].template, "debian-12-standard_12.7-1_amd64.tar.zst");
        assert_eq!(a[0].arch, None);
        let b = parse_available(&new);
        assert_eq!(b[1].template, "debian-12-standard_12.12-1_amd64.tar.zst");
        assert_eq!(b[0].arch.as_deref(), Some("amd64"));
        assert_eq!(b[1].arch.as_deref(), Some("unknown"));
    }

    #[test]
    fn newest_match_compares_versions_numerically() {
        let names = [
            "debian-11-standard_11.7-1_amd64.tar.zst",
            "debian-12-standard_12.2-1_amd64.tar.zst",
            "debian-12-standard_12.12-1_amd64.tar.zst",
            "debian-12-standard_12.7-1_amd64.tar.zst",
            "debian-13-standard_13.1-2_amd64.tar.zst",
        ];
        assert_eq!(
            newest_match("debian-12-standard", names),
            Some("debian-12-standard_12.12-1_amd64.tar.zst")
        );
        assert_eq!(newest_match("alpine", names), None);
        let volids = ["local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"];
        assert_eq!(
            newest_match("debian-12-standard", volids),
            Some("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst")
        );
        assert_eq!(
            template_file(volids[0]),
            "debian-12-standard_12.7-1_amd64.tar.zst"
        );
        assert!(is_volid(volids[0]) && !is_volid("debian-12-standard"));
    }
}
