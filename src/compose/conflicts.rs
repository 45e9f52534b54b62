//! `container_name:` is a name of the whole Docker engine: when a container of another project
//! (or one made by hand) already has it, `up` would stop and recreate part of the app and then
//! fail. pxdeploy checks first and stops before anything is touched (exit 5).

use super::Project;
use crate::error::{Error, Result};
use crate::guest::Inside;

const FORMAT: &str = "{{.Names}}\t{{.Label \"com.docker.compose.project\"}}";

/// `pct exec <vmid> -- docker ps -a --format '{{.Names}}\t{{.Label "com.docker.compose.project"}}'`
pub(crate) fn command(project: &Project) -> String {
    project
        .inside
        .exec(&["docker", "ps", "-a", "--format", FORMAT])
}

/// The wanted names already taken by a container outside `project`: (name, its project or "").
pub(crate) fn taken(ps: &str, project: &str, wanted: &[String]) -> Vec<(String, String)> {
    ps.lines()
        .filter_map(|line| {
            let (name, owner) = line.split_once('\t').unwrap_or((line, ""));
            let (name, owner) = (name.trim(), owner.trim());
            (wanted.iter().any(|w| w == name) && owner != project)
                .then(|| (name.to_string(), owner.to_string()))
        })
        .collect()
}

/// Exit 5 naming the container and the fix when a `container_name` of an active service is
/// used by another project's container. `ps` runs [`command`] on the host and gives its
/// stdout, or `None` when it failed: then this says nothing (Docker cannot be asked; `up`
/// will).
pub(crate) fn check(
    project: &Project,
    ps: impl FnOnce(&str) -> Result<Option<String>>,
) -> Result<()> {
    let active = project.model.active(&project.profiles);
    let wanted: Vec<String> = project
        .model
        .services
        .iter()
        .filter(|s| active.contains(&s.name))
        .filter_map(|s| s.container_name.clone())
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let Some(out) = ps(&command(project))? else {
        return Ok(());
    };
    let Some((name, owner)) = taken(&out, &project.name, &wanted).into_iter().next() else {
        return Ok(());
    };
    Err(refusal(project.inside, &name, &owner))
}

/// Exit 5: `name` is taken by a container of project `owner` ("": of none) in the guest.
fn refusal(inside: Inside, name: &str, owner: &str) -> Error {
    let whose = if owner.is_empty() {
        "a container that is not part of any Compose project".to_string()
    } else {
        format!("a container of the Compose project {owner:?}")
    };
    Error::remote(format!(
        "container name {name:?} (container_name in the compose file) is already used by {whose} in {}; nothing was stopped",
        inside.named()
    ))
    .hint(format!(
        "remove that container ({}) or change container_name, then deploy again",
        inside.by_hand(&["docker", "rm", "-f", name])
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_names_the_guest_and_the_fix_of_its_kind() {
        let e = refusal(Inside::Vm(220), "prometheus", "monitoring");
        assert_eq!(e.exit_code(), 5);
        assert_eq!(
            e.message,
            "container name \"prometheus\" (container_name in the compose file) is already used by a container of the Compose project \"monitoring\" in VM 220; nothing was stopped"
        );
        let hint = e.hint.clone().unwrap_or_default();
        assert!(
            hint.contains("`sudo docker rm -f prometheus` in VM 220"),
            "{hint}"
        );
        assert!(!hint.contains("pct"), "{hint}");
        let e = refusal(Inside::Container(210), "handmade", "");
        assert!(e.message.ends_with(
            "already used by a container that is not part of any Compose project in container 210; nothing was stopped"
        ));
        assert!(e
            .hint
            .unwrap_or_default()
            .contains("`pct exec 210 -- docker rm -f handmade` on the host"));
    }

    #[test]
    fn only_names_of_other_projects_are_taken() {
        let ps = "shop-web-1\tshop\nprometheus\tmonitoring\ngrafana\tshop\nhandmade\t\n";
        let wanted = vec![
            "prometheus".to_string(),
            "grafana".into(),
            "handmade".into(),
        ];
        assert_eq!(
            taken(ps, "shop", &wanted),
            [
                ("prometheus".to_string(), "monitoring".to_string()),
                ("handmade".into(), String::new())
            ]
        );
        let p = Project::new(
            crate::guest::Inside::Container(210),
            "shop",
            "/opt/shop",
            "compose.yaml",
        );
        assert_eq!(
            command(&p),
            "pct exec 210 -- docker ps -a --format '{{.Names}}\t{{.Label \"com.docker.compose.project\"}}'"
        );
    }
}
