//! Command-line interface: clap derive structs only. Here the top level (`Cli`, the parse
//! that counts every `-t`) and the list of commands; the options every command takes in
//! [`global`], each group of commands' arguments in a file of its own.

mod container;
mod global;
mod monitor;
mod release;
mod services;
mod setup;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

pub use container::{BackupArgs, DestroyArgs, RestoreArgs, WaitArgs};
pub use global::{GlobalArgs, OutputFormat};
pub use monitor::{MonitorAction, MonitorArgs};
pub use release::{DeployArgs, RollbackArgs};
pub use services::{ExecArgs, LogsArgs, MetricsArgs, StatusArgs};
pub use setup::{CompletionsArgs, InitArgs, ManArgs};

#[derive(Debug, Parser)]
#[command(
    name = "pxdeploy",
    version,
    about = "Deploy a Docker Compose application into an LXC container on a Proxmox VE host",
    long_about = "Deploy a Docker Compose application into an LXC container on a Proxmox VE host.\n\nEverything runs over one SSH session to the Proxmox node: `pct`, `pveam`, `vzdump` and `pvesm` on the host, `docker compose` inside the container through `pct exec`.",
    propagate_version = true,
    after_help = examples(&[
        ("pxdeploy check && pxdeploy create && pxdeploy deploy", "a new app, from its folder"),
        ("pxdeploy deploy -o json", "in CI: one JSON document on stdout, the exit code says how it went"),
    ])
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// The id of `-t/--target` (the field's name).
const TARGETS: &str = "targets";

impl Cli {
    /// Parses the arguments like `Cli::try_parse_from`, except that every `-t` counts: clap
    /// keeps only the subcommand's occurrences of a global option given on both sides of it
    /// (`-t a deploy -t b` would be just `b`). So `-t` is parsed by the top level and by each
    /// subcommand separately (same option, same help) and the two lists are joined; the
    /// environment's PXDEPLOY_TARGET counts only when no `-t` is given.
    pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Self::command_for_parsing().try_get_matches_from(args)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        if let Some((_, sub)) = matches.subcommand() {
            let after = from_command_line(sub);
            if !after.is_empty() {
                if from_command_line(&matches).is_empty() {
                    cli.global.targets.clear(); // PXDEPLOY_TARGET: the command line wins
                }
                cli.global.targets.extend(after);
            }
        }
        Ok(cli)
    }

    /// `Cli::command()` with `-t` local to the top level and repeated in every subcommand.
    fn command_for_parsing() -> clap::Command {
        let cmd = Cli::command().mut_arg(TARGETS, |a| a.global(false));
        let target = cmd
            .get_arguments()
            .find(|a| a.get_id() == TARGETS)
            .cloned()
            .expect("-t is defined");
        cmd.mut_subcommands(|sub| sub.arg(target.clone()))
    }
}

/// The `-t` values given on the command line at this level (not from PXDEPLOY_TARGET).
fn from_command_line(matches: &ArgMatches) -> Vec<String> {
    if matches.value_source(TARGETS) != Some(ValueSource::CommandLine) {
        return Vec::new();
    }
    matches
        .get_many::<String>(TARGETS)
        .map(|values| values.cloned().collect())
        .unwrap_or_default()
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the LXC container and install Docker with Compose inside it
    #[command(after_help = examples(&[
        ("pxdeploy create", "template, pct create, start, network, Docker + Compose"),
        ("pxdeploy create --dry-run", "print the host commands, change nothing"),
    ]))]
    Create,
    /// Push the app, write .env, `docker compose up`, wait for health
    #[command(after_help = examples(&[
        ("pxdeploy deploy", "up is skipped when nothing changed and all is healthy"),
        ("pxdeploy deploy --force -o json | jq .services", "always run up; the result as JSON"),
    ]))]
    Deploy(DeployArgs),
    /// List the releases kept in the container
    #[command(after_help = examples(&[
        ("pxdeploy releases", "id, deployed, by, result; the current one marked"),
        ("pxdeploy releases -o json | jq -r .current", "the current release's id"),
    ]))]
    Releases,
    /// Show the pushed files changed inside the container since they were deployed (changes nothing)
    #[command(after_help = examples(&[
        ("pxdeploy diff", "each changed or missing file; nothing when there is no drift"),
        ("pxdeploy diff -o json | jq -r '.drifted[].path'", "their paths; `pxdeploy deploy` puts them back"),
    ]))]
    Diff,
    /// Show the container's state, IP address, what it uses, and each service's health and use
    #[command(after_help = examples(&[
        ("pxdeploy status", "state, CPU, memory, disk, network, uptime; each service's health, CPU, memory, restarts"),
        ("pxdeploy status -o json | jq '.services[] | {service, health, cpu_percent}'", "each service's health and CPU"),
        ("pxdeploy status --watch --interval 5", "redraw every 5 seconds until Ctrl-C"),
    ]))]
    Status(StatusArgs),
    /// Show the node's history of the container (CPU, memory, network, disk I/O)
    #[command(after_help = examples(&[
        ("pxdeploy metrics", "the last hour: sparklines with min/avg/max on a terminal, a table otherwise"),
        ("pxdeploy metrics --since week -o json | jq .summary.cpu_percent", "the week's CPU min/avg/max"),
    ]))]
    Metrics(MetricsArgs),
    /// Show the services' logs (`docker compose logs`)
    #[command(after_help = examples(&[
        ("pxdeploy logs web --tail 50", "the last 50 lines of the web service"),
        ("pxdeploy logs -f", "follow every service (Ctrl-C to stop)"),
    ]))]
    Logs(LogsArgs),
    /// Show the watcher in the guest (`[monitor]`): version, last check, open alerts, each channel's last result
    #[command(after_help = examples(&[
        ("pxdeploy monitor", "is it running, when did it last check, what is wrong now"),
        ("pxdeploy monitor -o json | jq .open_alerts", "the open alerts as JSON"),
        ("pxdeploy monitor test", "a test notification through every channel, from inside the guest"),
    ]))]
    Monitor(MonitorArgs),
    /// Shut the container down gracefully (data is kept)
    #[command(after_help = examples(&[
        ("pxdeploy stop", "pct shutdown; `pxdeploy start` brings it back"),
    ]))]
    Stop,
    /// Start the container and wait for the services' health
    #[command(after_help = examples(&[
        ("pxdeploy start", "start and wait until every service is healthy"),
        ("pxdeploy start --no-wait", "return as soon as the container runs"),
    ]))]
    Start(WaitArgs),
    /// Reboot the container and wait for the services' health
    #[command(after_help = examples(&[
        ("pxdeploy restart", "reboot and wait until every service is healthy"),
        ("pxdeploy restart --no-wait", ""),
    ]))]
    Restart(WaitArgs),
    /// Destroy the container and its disks (asks for confirmation)
    #[command(after_help = examples(&[
        ("pxdeploy destroy", "asks you to type the hostname"),
        ("pxdeploy destroy --backup-first --yes", "in CI: back up, then destroy without asking"),
    ]))]
    Destroy(DestroyArgs),
    /// Back up the container with vzdump, list its backups, or schedule Proxmox to back it up
    #[command(after_help = examples(&[
        ("pxdeploy backup", "vzdump now, then prune to the retention"),
        ("pxdeploy backup --list -o json", "this container's backups and its backup job as JSON"),
        ("pxdeploy backup --schedule", "the job pxdeploy-<vmid> at [backup] schedule, with the [backup] settings"),
        ("pxdeploy backup --schedule 'mon..fri 22:30'", "that calendar event instead"),
        ("pxdeploy backup --unschedule", "remove the job"),
    ]))]
    Backup(BackupArgs),
    /// Run a command in a service's running container (`docker compose exec`); exits with its code
    #[command(after_help = examples(&[
        ("pxdeploy exec web -- ./manage.py migrate", "on a terminal: interactive, with a pty"),
        ("pxdeploy exec db -- pg_dump -U app app > dump.sql", "no terminal: plain streams (`exec -T`)"),
        ("pxdeploy exec web -- sh -c 'test -f /data/ready'; echo $?", "the command's exit code is pxdeploy's"),
    ]))]
    Exec(ExecArgs),
    /// Open an interactive shell in the container (`pct enter`)
    #[command(after_help = examples(&[
        ("pxdeploy shell", "the container's root shell on your terminal; `exit` to leave"),
        ("echo 'df -h /' | pxdeploy shell", "without a terminal the shell reads its commands from stdin"),
    ]))]
    Shell,
    /// Go back to an earlier release (default: the newest healthy one before the current), or
    /// to a Proxmox snapshot with `--snapshot [NAME]` (asks for confirmation)
    #[command(after_help = examples(&[
        ("pxdeploy rollback", "the newest healthy release before the current one; today's secrets stay in .env"),
        ("pxdeploy rollback 20261129T191501Z-3fa9c2d1 --with-env", "that release, with its .env as it was (old secrets too)"),
        ("pxdeploy rollback --snapshot", "back to the newest pxdeploy_* snapshot (asks first)"),
        ("pxdeploy rollback --snapshot pxdeploy_20261129T191501Z --yes", "in CI: that snapshot, without asking"),
    ]))]
    Rollback(RollbackArgs),
    /// Restore the whole container from a vzdump archive (asks for confirmation)
    #[command(after_help = examples(&[
        ("pxdeploy restore --latest", "the newest backup on [backup] storage (asks first)"),
        ("pxdeploy restore local:backup/vzdump-lxc-210-2026_11_29-02_00_01.tar.zst --yes", "that archive, without asking"),
    ]))]
    Restore(RestoreArgs),
    /// Preflight: check SSH, the Proxmox node, storage, bridge, template and settings
    #[command(after_help = examples(&[
        ("pxdeploy check", "every failure explained with the fix"),
        ("pxdeploy -c staging.toml check", "another configuration file"),
    ]))]
    Check,
    /// Write a commented pxdeploy.toml for the compose file in this folder
    #[command(after_help = examples(&[
        ("pxdeploy init --host pve.lan --vmid 210", "services, secrets and values from ./compose.yaml (or docker-compose.yml)"),
        ("PROXMOX_HOST=pve.lan PROXMOX_CONTAINER_ID=210 pxdeploy init --force", "the Taskfile's variables; replace an existing pxdeploy.toml"),
    ]))]
    Init(Box<InitArgs>),
    /// Print the JSON Schema of pxdeploy.toml (for editors: taplo's `#:schema`)
    #[command(after_help = examples(&[
        ("pxdeploy schema > pxdeploy.schema.json", "then start pxdeploy.toml with `#:schema ./pxdeploy.schema.json`"),
    ]))]
    Schema,
    /// Print a shell completion script
    #[command(after_help = examples(&[
        ("pxdeploy completions bash > /etc/bash_completion.d/pxdeploy", ""),
        ("pxdeploy completions zsh > ~/.zfunc/_pxdeploy", ""),
    ]))]
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command into a folder
    #[command(after_help = examples(&[
        ("pxdeploy man | man -l -", "read it now"),
        ("pxdeploy man --out-dir /usr/local/share/man/man1", "pxdeploy.1 and pxdeploy-<command>.1"),
    ]))]
    Man(ManArgs),
}

/// An "Examples:" section for a subcommand's help: each command line, and after it what it
/// does when that is not obvious.
fn examples(lines: &[(&str, &str)]) -> String {
    let mut text = String::from("Examples:");
    for (command, what) in lines {
        text.push_str("\n  ");
        text.push_str(command);
        if !what.is_empty() {
            text.push_str("\n      ");
            text.push_str(what);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_before_or_after_the_subcommand() {
        let a = Cli::try_parse_from(["pxdeploy", "--dry-run", "-o", "json", "status"]).unwrap();
        let b = Cli::try_parse_from(["pxdeploy", "status", "--dry-run", "-o", "json"]).unwrap();
        assert!(a.global.dry_run && b.global.dry_run);
        assert_eq!(a.global.output, OutputFormat::Json);
        assert_eq!(b.global.output, OutputFormat::Json);
    }

    #[test]
    fn rollback_snapshot_name_is_optional_and_restore_needs_an_archive() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["pxdeploy"], args].concat());
        let snapshot = |args: &[&str]| match parse(args).unwrap().command {
            Command::Rollback(a) => (a.id, a.snapshot),
            other => panic!("{other:?}"),
        };
        assert_eq!(snapshot(&["rollback", "--snapshot"]), (None, Some(None)));
        assert_eq!(
            snapshot(&["rollback", "--snapshot", "before"]),
            (None, Some(Some("before".into())))
        );
        assert_eq!(snapshot(&["rollback", "r1"]), (Some("r1".into()), None));
        assert!(parse(&["rollback", "r1", "--snapshot", "x"]).is_err());
        assert!(parse(&["restore"]).is_err());
        assert!(parse(&["restore", "local:backup/x.tar.zst", "--latest"]).is_err());
        assert!(parse(&["restore", "--latest"]).is_ok());
    }

    #[test]
    fn exec_takes_the_command_after_a_double_dash_verbatim() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["pxdeploy"], args].concat());
        match parse(&["exec", "web", "--", "sh", "-c", "exit 7"])
            .unwrap()
            .command
        {
            Command::Exec(a) => {
                assert_eq!(a.service, "web");
                assert_eq!(a.command, ["sh", "-c", "exit 7"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["exec", "web"]).is_err(), "a command is required");
        assert!(
            parse(&["exec", "--", "ls"]).is_err(),
            "a service is required"
        );
        let b = parse(&["backup", "--schedule", "sat 03:00"]).unwrap();
        assert!(
            matches!(b.command, Command::Backup(a) if a.schedule == Some(Some("sat 03:00".into())))
        );
        assert!(parse(&["backup", "--schedule", "--unschedule"]).is_err());
    }

    #[test]
    fn parsing_command_is_well_formed_and_help_still_shows_target() {
        Cli::command_for_parsing().debug_assert();
        let help = Cli::command_for_parsing()
            .find_subcommand_mut("deploy")
            .unwrap()
            .render_help()
            .to_string();
        assert!(help.contains("--target <NAME>"), "{help}");
    }

    #[test]
    fn every_target_counts_before_and_after_the_subcommand() {
        let targets = |args: &[&str]| {
            Cli::parse_args([&["pxdeploy"], args].concat())
                .unwrap()
                .global
                .targets
        };
        assert_eq!(targets(&["-t", "a", "deploy", "-t", "b"]), ["a", "b"]);
        assert_eq!(
            targets(&["-t", "a,b", "status", "--target", "c,a"]),
            ["a", "b", "c", "a"]
        );
        assert_eq!(targets(&["-t", "a", "deploy", "--force"]), ["a"]);
        assert_eq!(targets(&["deploy", "-t", "b"]), ["b"]);
        assert!(targets(&["deploy"]).is_empty());
        let cli = Cli::parse_args(["pxdeploy", "-t", "a", "deploy", "--force", "-t", "b"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Deploy(DeployArgs { force: true, .. })
        ));
        assert!(Cli::parse_args(["pxdeploy", "-t"]).is_err());
    }

    #[test]
    fn targets_repeat_and_take_comma_lists() {
        let cli = Cli::parse_args(["pxdeploy", "-t", "a,b", "--target", "c", "deploy"]).unwrap();
        assert_eq!(cli.global.targets, ["a", "b", "c"]);
        let cli = Cli::parse_args(["pxdeploy", "deploy", "-t", "a", "-t", "b"]).unwrap();
        assert_eq!(cli.global.targets, ["a", "b"]);
        assert_eq!(cli.global.parallel, 4);
        assert!(Cli::try_parse_from(["pxdeploy", "--parallel", "0", "status"]).is_err());
    }
}
