//! `docker compose up` failures that are really a service's failure, not Compose's.

use crate::output::strip_ansi;

/// `up` gave up because a one-shot dependency failed
/// (`service "migrate" didn't complete successfully: exit 1`): returns the service and code.
pub(crate) fn incomplete_dependency(stderr: &str) -> Option<(String, i64)> {
    stderr.lines().rev().find_map(|line| {
        let line = strip_ansi(line);
        let rest = line.split("service \"").nth(1)?;
        let (service, rest) = rest.split_once("\" didn't complete successfully: exit ")?;
        let code = rest.split_whitespace().next()?.parse().ok()?;
        Some((service.to_string(), code))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_failed_one_shot() {
        assert_eq!(
            incomplete_dependency(
                " Container app-migrate-1  Exited\nservice \"migrate\" didn't complete successfully: exit 1\n"
            ),
            Some(("migrate".into(), 1))
        );
        assert_eq!(
            incomplete_dependency("Error response from daemon: dependency failed to start: container app-db-1 is unhealthy"),
            None
        );
    }
}
