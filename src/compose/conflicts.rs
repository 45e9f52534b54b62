//! `container_name:` is a name of the whole Docker engine: when a container of another project
//! (or one made by hand) already has it, `up` would stop and recreate part of the app and then
//! fail. pxdeploy checks first and stops before anything is touched (exit 5).

use super::Project;
use crate::error::{Error, Result};

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
    let whose = if owner.is_empty() {
        "a container that is not part of any Compose project".to_string()
    } else {
        format!("a container of the Compose project {owner:?}")
    };
    Err(Error::remote(format!(
        "container name {name:?} (container_name in the compose file) is already used by {whose} in container {}; nothing was stopped",
        project.inside.id()
    ))
    .hint(format!(
        "remove that container (`pct exec {} -- docker rm -f {name}`) or change container_name, then deploy again",
        project.inside.id()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

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
