//! Around a start (`start`, `restart`, and the `rollback --snapshot` / `restore` that leave
//! the guest stopped): its firewall rules first, then the guest runs, then the services are
//! healthy. Command-level: it joins the guest's lifecycle (`crate::guest`), the firewall
//! (`crate::firewall`) and the health wait (`crate::health`).

use crate::config::Config;
use crate::error::{Error, Result};
use crate::guest::{CtState, Guest};
use crate::output::Output;
use crate::progress::Reporter;
use crate::remote::host::Host;

/// Before any start: the guest's `[firewall]` brought in line with pxdeploy.toml (the
/// `.fw` file written when missing or different, `firewall=1` on net0), as `deploy` does,
/// so a guest is never started without its rules (SPEC, "Trust boundaries"). Nothing
/// without a `[firewall]` section; under `--dry-run`, says what it would write.
pub(super) fn rules_first(
    out: &Output,
    reporter: &dyn Reporter,
    host: &Host,
    config: &Config,
) -> Result<()> {
    crate::firewall::apply(host, config, reporter, out).map(drop)
}

/// After `pct rollback` or `pct restore` (both leave the container stopped): its rules
/// ([`rules_first`]), then starts it and waits for its services. Returns the facts
/// `warnings` and, when an app is deployed, `services`.
pub(super) fn start_and_wait(
    out: &Output,
    reporter: &dyn Reporter,
    guest: Guest<'_>,
    config: &Config,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    rules_first(out, reporter, guest.host(), config)?;
    let warnings = guest.start(reporter, out)?;
    let mut facts = serde_json::Map::new();
    facts.insert("warnings".into(), serde_json::json!(warnings));
    if let serde_json::Value::Object(health) = wait_for_services(out, reporter, guest, config)? {
        facts.extend(health);
    }
    Ok(facts)
}

/// How long a VM may take to boot and answer over SSH after its start.
const BOOT_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// After `start`/`restart`: the container runs, then the services are healthy; their table
/// goes to stdout (data), as in `deploy` and `status`.
pub(super) fn wait_for_services(
    out: &Output,
    reporter: &dyn Reporter,
    guest: Guest<'_>,
    config: &Config,
) -> Result<serde_json::Value> {
    let (vmid, named) = (guest.id(), guest.named());
    let host = guest.host();
    if host.dry_run() {
        return Ok(serde_json::json!({}));
    }
    let state = guest.require_state()?;
    if state != CtState::Running {
        return Err(
            Error::remote(format!("{named} is {} after starting", state.as_str()))
                .hint(guest.kind().debug_hint(vmid)),
        );
    }
    // A VM boots first: its SSH session answers once it has.
    guest.wait_inside(BOOT_LIMIT)?;
    // A guest created but never deployed to has no compose file: nothing to wait for.
    let project = config.project();
    let deployed = guest.probe(&["test", "-f", project.file.as_str()])?;
    if !deployed.status.success() {
        out.info(format!(
            "no app deployed in {named} yet (`pxdeploy deploy`): no services to wait for"
        ));
        return Ok(serde_json::json!({ "services": [] }));
    }
    let services = crate::health::wait(guest, config, reporter)?;
    if !services.is_empty() {
        out.data(crate::health::table(&services));
    }
    Ok(serde_json::json!({ "services": services }))
}
