//! A standalone `docker-compose` in the container, for `create`'s message when `docker
//! compose` does not work. A real node runs `pct exec` with PATH `/sbin:/bin:/usr/sbin:/usr/bin`
//! (pve-common `src/PVE/CLIHandler.pm:688`, kept by `lxc-attach --keep-env`), so pip's
//! `/usr/local/bin/docker-compose` is not found by name: it is looked for by its full path.

use crate::compose;
use crate::error::Error;
use crate::guest::Inside;

/// `pct exec <vmid> -- sh -c <PROBE>` (for a container)
pub(super) fn probe(inside: Inside) -> String {
    inside.exec(&["sh", "-c", PROBE])
}

/// Compose v2 or later outside the plugin: the error, with the command that makes it the
/// plugin (Docker finds plugins in `/usr/local/lib/docker/cli-plugins` whatever the PATH).
pub(super) fn not_the_plugin(inside: Inside, path: &str, v: compose::Version, fix: &str) -> Error {
    let vmid = inside.id();
    Error::remote(format!(
        "container {vmid} has Compose {v} only as a standalone `{path}`, not as the `docker compose` plugin pxdeploy runs"
    ))
    .hint(format!(
        "make it the plugin: `{}`, or {fix}",
        inside.exec(&["sh", "-c", &link_plugin(path)])
    ))
}

/// Looks in `/usr/bin`, then pip's `/usr/local/bin`. Prints the path, then its `version`
/// output; exit 127 when there is none.
const PROBE: &str = "for c in /usr/bin/docker-compose /usr/local/bin/docker-compose; do if [ -x \"$c\" ]; then echo \"$c\"; exec \"$c\" version; fi; done; exit 127";
const PATHS: [&str; 2] = ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"];

/// The path and version printed by [`PROBE`] (a path it did not look at is
/// not believed: the container's output is not trusted).
pub(super) fn parse(stdout: &str) -> Option<(&'static str, compose::Version)> {
    let (path, rest) = stdout.split_once('\n')?;
    let path = PATHS.into_iter().find(|p| *p == path.trim())?;
    Some((path, compose::parse_version(rest)?))
}

/// The shell line that makes a standalone Compose binary the Docker CLI plugin (Docker
/// finds plugins in `/usr/local/lib/docker/cli-plugins` whatever the PATH).
fn link_plugin(path: &str) -> String {
    format!(
        "mkdir -p /usr/local/lib/docker/cli-plugins && ln -sf {} /usr/local/lib/docker/cli-plugins/docker-compose",
        crate::remote::quote::quote(path)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standalone_compose_is_looked_for_by_its_full_path() {
        assert!(PROBE.contains("/usr/local/bin/docker-compose"));
        assert_eq!(
            parse("/usr/local/bin/docker-compose\ndocker-compose version 1.29.2, build 5becea4c\n")
                .map(|(p, v)| (p, v.to_string())),
            Some(("/usr/local/bin/docker-compose", "1.29.2".into()))
        );
        assert_eq!(
            parse("/usr/bin/docker-compose\nDocker Compose version v2.40.3\n")
                .map(|(p, v)| (p, v.to_string())),
            Some(("/usr/bin/docker-compose", "2.40.3".into()))
        );
        assert_eq!(parse(""), None);
        assert_eq!(
            parse("/tmp/x;reboot\nDocker Compose version v2.40.3\n"),
            None
        );
        assert_eq!(
            link_plugin("/usr/local/bin/docker-compose"),
            "mkdir -p /usr/local/lib/docker/cli-plugins && ln -sf /usr/local/bin/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose"
        );
    }
}
