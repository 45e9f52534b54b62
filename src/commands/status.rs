//! `pxdeploy status`: the guest's state (container or VM), its IP address, what it uses (CPU, memory,
//! disk, network, uptime), and each Compose service's state, health, CPU, memory and
//! restart count. Read-only, in two round trips: `pct status`, then one node command that
//! reads the node's figures (`/cluster/resources`, `rrddata`), the address, and inside
//! the guest the Compose listing with `docker stats` and `docker inspect`
//! ([`crate::figures`]). `--watch` repeats the read on the same connection
//! ([`super::status_watch`]).

use serde_json::{json, Value};

use super::context::Context;
use crate::cli::StatusArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::figures::{self, docker, GuestFigures, ServiceFigures};
use crate::guest::{CtState, Guest, Op};
use crate::health::ServiceHealth;
use crate::output::{sanitize, tail};
use crate::remote::host::Host;

pub(super) fn run(ctx: &Context, args: &StatusArgs) -> Result<()> {
    let config = ctx.config()?;
    let host = ctx.connect(&config)?;
    if args.watch {
        return super::status_watch::run(ctx, &config, &host, args.interval);
    }
    let report = read(&config, &host)?;
    for warning in &report.warnings {
        ctx.out.warn(warning);
    }
    ctx.out.data(report.text());
    ctx.succeed(None, report.json());
    Ok(())
}

/// One look at the guest and its services.
pub(super) struct Report {
    pub vmid: u32,
    /// `container` or `VM`.
    pub noun: &'static str,
    pub hostname: String,
    pub state: CtState,
    pub node: Option<String>,
    pub ip: Option<String>,
    pub figures: GuestFigures,
    pub services: Vec<(ServiceHealth, ServiceFigures)>,
    /// What could not be read (the services of a guest without Docker, …).
    pub warnings: Vec<String>,
}

/// Reads the [`Report`]: `pct status`, then everything else in one node command.
pub(super) fn read(config: &Config, host: &Host) -> Result<Report> {
    let guest = Guest::of(host, config);
    let state = guest.require_state()?;
    let running = state == CtState::Running;
    let project = config.project();
    let read = docker::read_argv(
        &project.name,
        &project.ps_argv(),
        guest.kind() == crate::guest::Kind::Vm,
    );
    // The node's reads run meanwhile into a `mktemp` file (after the rest without one).
    let node_reads = format!(
        "{}; {}; {}; {} 2>/dev/null",
        figures::echo_mark("resources"),
        crate::cluster::RESOURCES,
        figures::echo_mark("rrd"),
        figures::rrddata(guest.kind().api(), guest.id(), "hour"),
    );
    // A VM's inside runs on its own session (one more call), a container's in this one.
    let vm = guest.kind() == crate::guest::Kind::Vm;
    let inside = match running {
        true => format!(
            "{}; {}; {}",
            figures::echo_mark("addr"),
            guest.line(Op::Address),
            match vm {
                true => String::new(),
                false => format!("{}; ", guest.exec_line(&read)),
            },
        ),
        false => String::new(),
    };
    let command = format!(
        "t=$(mktemp 2>/dev/null) && {{ {{ {node_reads}; }} >\"$t\" & }}; {inside}\
         if [ -n \"$t\" ]; then wait; cat \"$t\"; rm -f \"$t\"; else {node_reads}; fi"
    );
    let out = host.probe(&command)?;
    let mut stdout = out.stdout_str();
    if vm && running {
        let inner = guest.inside_host()?.probe(&guest.exec_line(&read))?;
        // Before the node's output: the node's reads stay the last sections.
        stdout = format!("{}{stdout}", inner.stdout_str());
    }
    let stderr = out.stderr_str();
    let parts = figures::sections(&stdout);
    // The node's reads come last (after the guest's output): the last of their sections.
    let resources = figures::last_section(&parts, "resources");
    let guests = crate::cluster::parse_resources(resources).map_err(|e| {
        Error::remote(format!("`{}` printed no JSON", crate::cluster::RESOURCES))
            .cause(e.to_string())
            .cause(tail(&stderr, 3))
    })?;
    let node = crate::cluster::owner(&guests, guest.id()).map(|g| g.node.clone());
    let mut figures = figures::guest_figures(
        guest.kind().api(),
        guest.id(),
        resources,
        figures::last_section(&parts, "rrd"),
    );
    let mut report = Report {
        vmid: guest.id(),
        noun: guest.kind().noun(),
        hostname: config.hostname().to_string(),
        state,
        node,
        ip: None,
        figures: GuestFigures::default(),
        services: Vec::new(),
        warnings: Vec::new(),
    };
    if running {
        report.ip = guest.parse_address(figures::section(&parts, "addr"));
        if guest.kind() == crate::guest::Kind::Vm {
            let df = docker::parse_df(figures::section(&parts, "df"));
            figures.disk_used_bytes = df.map(|(used, _)| used);
            figures.disk_size_bytes = df.map(|(_, size)| size).or(figures.disk_size_bytes);
        }
        match services(config, &parts) {
            Ok(services) => report.services = services,
            Err(why) => report.warnings.push(format!(
                "no service status: {why}{}",
                match tail(&stderr, 3) {
                    t if t.is_empty() => String::new(),
                    t => format!("\n{t}"),
                }
            )),
        }
    }
    report.figures = figures;
    Ok(report)
}

/// The services' health (one Compose listing, no waiting) and figures. A guest without
/// Docker or without the app yet has no services (an error here: the warning says why).
fn services(
    config: &Config,
    parts: &[(String, String, String)],
) -> std::result::Result<Vec<(ServiceHealth, ServiceFigures)>, String> {
    match figures::marker_arg(parts, "ps-exit") {
        None => return Err("the guest did not answer".to_string()),
        Some("0") => {}
        Some(code) => return Err(format!("`docker compose ps` exited with {code}")),
    }
    let project = config.project();
    let health = crate::health::from_listing(
        &project,
        &config.health_services(),
        figures::section(parts, "ps"),
    )
    .map_err(|e| e.to_string())?;
    let by = docker::per_service(
        &docker::parse_stats(figures::section(parts, "stats")),
        &docker::parse_inspect(figures::section(parts, "inspect")),
    );
    Ok(health
        .into_iter()
        .map(|h| {
            let f = by.get(&h.service).cloned().unwrap_or_default();
            (h, f)
        })
        .collect())
}

impl Report {
    /// The human text: state, node, address, the guest's figures, the services' table.
    pub(super) fn text(&self) -> String {
        let mut lines = vec![format!(
            "{} {} ({}): {}",
            self.noun,
            self.vmid,
            sanitize(&self.hostname),
            self.state.as_str()
        )];
        if let Some(node) = &self.node {
            lines.push(format!("node: {}", sanitize(node)));
        }
        let ip = match (&self.ip, self.state) {
            (Some(ip), _) => ip.as_str(),
            (None, CtState::Running) => "none yet",
            (None, _) => "-",
        };
        lines.push(format!("ip: {ip}"));
        lines.push(figures::guest_lines(&self.figures));
        if !self.services.is_empty() {
            lines.push(service_table(&self.services));
        }
        lines.join("\n")
    }

    /// The JSON facts: the guest's figures at the top level (units in the keys, `null` when
    /// unknown), each service's health with its figures.
    pub(super) fn json(&self) -> Value {
        let mut doc = json!({
            "vmid": self.vmid,
            "hostname": self.hostname,
            "state": self.state,
            "node": self.node,
            "ip": self.ip,
        });
        if let (Value::Object(map), Ok(Value::Object(f))) =
            (&mut doc, serde_json::to_value(&self.figures))
        {
            map.extend(f);
        }
        let services: Vec<Value> = self
            .services
            .iter()
            .map(|(h, f)| {
                let mut v = serde_json::to_value(h).unwrap_or_default();
                if let (Value::Object(map), Ok(Value::Object(f))) =
                    (&mut v, serde_json::to_value(f))
                {
                    map.extend(f);
                }
                v
            })
            .collect();
        doc["services"] = services.into();
        doc
    }
}

/// The health table (`SERVICE  STATE  HEALTH`) with `CPU  MEMORY  RESTARTS` after it.
fn service_table(services: &[(ServiceHealth, ServiceFigures)]) -> String {
    let health: Vec<ServiceHealth> = services.iter().map(|(h, _)| h.clone()).collect();
    let table = crate::health::table(&health);
    let width = table.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut rows = vec![(
        "CPU".to_string(),
        "MEMORY".to_string(),
        "RESTARTS".to_string(),
    )];
    rows.extend(services.iter().map(|(_, f)| {
        (
            figures::show_percent(f.cpu_percent),
            figures::show_bytes(f.mem_used_bytes),
            f.restart_count.map_or("-".to_string(), |n| n.to_string()),
        )
    }));
    let cpu_w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let mem_w = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    table
        .lines()
        .zip(rows)
        .map(|(line, (cpu, mem, restarts))| {
            let pad = width - line.chars().count();
            format!(
                "{line}{}  {cpu:>cpu_w$}  {mem:>mem_w$}  {restarts}",
                " ".repeat(pad)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_table_adds_the_figures_aligned() {
        let h = |service: &str, state: &str, health: &str| ServiceHealth {
            service: service.into(),
            state: state.into(),
            health: health.into(),
            exit_code: None,
            ok: true,
            replicas: None,
        };
        let t = service_table(&[
            (
                h("web", "running", "healthy"),
                ServiceFigures {
                    cpu_percent: Some(0.5),
                    mem_used_bytes: Some(307200),
                    restart_count: Some(0),
                },
            ),
            (h("worker", "exited", "none"), ServiceFigures::default()),
        ]);
        assert_eq!(
            t,
            "SERVICE  STATE         HEALTH    CPU     MEMORY  RESTARTS\n\
             web      running       healthy  0.5%  300.0 KiB  0\n\
             worker   exited        none        -          -  -"
        );
    }
}
