//! `[monitor]`: the watcher `deploy` installs in the guest (the `monitor` module, above
//! this one), its timing and its channels. Each channel URL is a secret: a plain string or
//! `{ from_env | from_file | command }` ([`Secret`]), never quoted by an error (these
//! readers say what is wrong in words of their own) and never shown by `Debug`.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::problem::Problem;
use super::secret_source::{self, Secret};
use crate::envfile::Redacted;

/// Every message of these readers starts with this: the parse error handler shows such a
/// message whole (it holds no value), and any other message on a `[monitor]` line only
/// when it quotes nothing.
pub(super) const OWN_PREFIX: &str = "URL source: ";

/// Bounds of the settings (docs/monitoring.md).
pub(super) const INTERVAL_MAX: u64 = 86_400;
pub(super) const REPEAT_MAX: u64 = 24 * 365;

/// `[monitor]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Monitor {
    /// Seconds between two checks in the guest (1–86400).
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// Alert when the guest's root filesystem is fuller than this (1–100 %).
    #[serde(default = "default_disk")]
    pub disk_percent: u8,
    /// Repeat an alert still open after this many hours (0: never).
    #[serde(default = "default_repeat")]
    pub repeat_hours: u64,
    /// JSON POST of each notification; a URL or `{ from_env | from_file | command }`.
    #[serde(default, deserialize_with = "channel")]
    #[schemars(schema_with = "channel_schema")]
    pub webhook: Option<Channel>,
    /// `json` (pxdeploy's payload) or `slack` (`{"text": …}`: Slack, Mattermost, Discord's /slack).
    #[serde(default)]
    pub webhook_format: WebhookFormat,
    /// An ntfy topic URL; a URL or `{ from_env | from_file | command }`.
    #[serde(default, deserialize_with = "channel")]
    #[schemars(schema_with = "channel_schema")]
    pub ntfy: Option<Channel>,
    /// A heartbeat URL (healthchecks.io and the like): requested after every good check,
    /// `<url>/fail` with the reason while an alert is open.
    #[serde(default, deserialize_with = "channel")]
    #[schemars(schema_with = "channel_schema")]
    pub ping: Option<Channel>,
}

/// The body of a webhook notification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// pxdeploy's payload (docs/monitoring.md, "Payload schema").
    #[default]
    Json,
    /// `{"text": "…"}`.
    Slack,
}

impl WebhookFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
        }
    }
}

/// Where a channel's URL comes from.
#[derive(Debug, Clone)]
pub enum Channel {
    /// Written in the file (still a secret: never shown).
    Url(Redacted<String>),
    /// Read on every deploy from outside the file.
    Source(Secret),
}

impl Monitor {
    /// `(name, channel)` of each configured channel, in the watcher's order.
    pub fn channels(&self) -> Vec<(&'static str, &Channel)> {
        [
            ("webhook", &self.webhook),
            ("ntfy", &self.ntfy),
            ("ping", &self.ping),
        ]
        .into_iter()
        .filter_map(|(n, c)| c.as_ref().map(|c| (n, c)))
        .collect()
    }
}

fn default_interval() -> u64 {
    60
}
fn default_disk() -> u8 {
    90
}
fn default_repeat() -> u64 {
    6
}

/// A channel: text (a URL) or a source table; the error names the problem, never the value.
fn channel<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Channel>, D::Error> {
    match toml::Value::deserialize(d)? {
        toml::Value::String(url) => Ok(Some(Channel::Url(Redacted::new(url)))),
        toml::Value::Table(table) => secret_source::from_table("URL source", table)
            .map(|s| Some(Channel::Source(s)))
            .map_err(D::Error::custom),
        _ => Err(D::Error::custom(format!(
            "{OWN_PREFIX}takes a URL in quotes or one of {{ from_env = \"NAME\" }}, {{ from_file = \"path\" }}, {{ command = \"…\" }}"
        ))),
    }
}

fn channel_schema(_: &mut SchemaGenerator) -> Schema {
    let source = |key: &str| {
        serde_json::json!({
            "type": "object", "additionalProperties": false, "required": [key],
            "properties": { key: { "type": "string", "minLength": 1 } }
        })
    };
    json_schema!({
        "description": "a URL (a secret: never printed), or where to read it on every deploy",
        "anyOf": [
            { "type": "string", "pattern": "^https?://" },
            source("from_env"), source("from_file"), source("command")
        ]
    })
}

/// Why a channel URL (plain or read from its source) cannot be used; never quotes it.
pub(crate) fn url_problem(url: &str) -> Option<&'static str> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Some("is not an http:// or https:// URL");
    }
    if url.len() > 2048 {
        return Some("is longer than 2048 characters");
    }
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\')
    {
        return Some(
            "holds a space, a quote, a backslash or a control character (percent-encode them)",
        );
    }
    None
}

/// Checks the settings and the plain URLs (a sourced URL is checked when it is read).
pub(super) fn validate(m: &Monitor, problems: &mut Vec<Problem>) {
    if !(1..=INTERVAL_MAX).contains(&m.interval_secs) {
        problems.push(Problem::new(
            "monitor.interval_secs",
            format!("must be 1–{INTERVAL_MAX} seconds"),
        ));
    }
    if !(1..=100).contains(&m.disk_percent) {
        problems.push(Problem::new("monitor.disk_percent", "must be 1–100"));
    }
    if m.repeat_hours > REPEAT_MAX {
        problems.push(Problem::new(
            "monitor.repeat_hours",
            format!("must be 0 (never) to {REPEAT_MAX}"),
        ));
    }
    if m.channels().is_empty() {
        problems.push(
            Problem::new("monitor", "names no channel: nobody would hear an alert")
                .hint("set `webhook`, `ntfy` or `ping` under [monitor] (docs/monitoring.md, \"Channels\")"),
        );
    }
    for (name, channel) in m.channels() {
        if let Channel::Url(url) = channel {
            if let Some(why) = url_problem(url.expose()) {
                problems.push(Problem::new(
                    format!("monitor.{name}"),
                    format!("{why} (the value is not shown: it is a secret)"),
                ));
            }
        }
    }
    if m.webhook_format == WebhookFormat::Slack && m.webhook.is_none() {
        problems.push(Problem::new(
            "monitor.webhook_format",
            "is set but there is no `webhook` to use it",
        ));
    }
}

#[cfg(test)]
mod tests {
    fn load(monitor: &str) -> Result<crate::config::Config, crate::error::Error> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("docker-compose.yml"),
            "services:\n  web:\n    image: x\n",
        )
        .unwrap();
        let text = format!(
            "[proxmox]\nhost = \"pve\"\n[container]\nvmid = 120\nhostname = \"app\"\n[app]\nname = \"app\"\n[monitor]\n{monitor}"
        );
        crate::config::parse_str(&text, &dir.path().join("pxdeploy.toml"), &|_| None)
    }

    #[track_caller]
    fn refused(monitor: &str, says: &str) {
        let err = load(monitor).unwrap_err();
        let text = err.render();
        assert_eq!(err.exit_code(), 3, "{text}");
        assert!(text.contains(says), "{monitor}: {text}");
        assert!(!text.contains("tok-S3cret"), "a URL shown: {text}");
    }

    #[test]
    fn defaults_and_every_source() {
        let c = load("ping = \"https://hc/tok-S3cret\"\nntfy = { from_env = \"N\" }\nwebhook = { command = \"pass show hook\" }\n").unwrap();
        let m = c.monitor.unwrap();
        assert_eq!(
            (m.interval_secs, m.disk_percent, m.repeat_hours),
            (60, 90, 6)
        );
        assert_eq!(m.webhook_format, super::WebhookFormat::Json);
        let names: Vec<&str> = m.channels().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["webhook", "ntfy", "ping"]);
        assert!(!format!("{m:?}").contains("tok-S3cret"));
    }

    #[test]
    fn bad_settings_and_urls_are_refused_without_showing_a_url() {
        refused(
            "interval_secs = 0\nping = \"https://h/x\"\n",
            "monitor.interval_secs",
        );
        refused(
            "disk_percent = 101\nping = \"https://h/x\"\n",
            "monitor.disk_percent",
        );
        refused("interval_secs = 5\n", "names no channel");
        refused("ping = \"ftp://h/tok-S3cret\"\n", "monitor.ping");
        refused("ping = \"https://h/tok-S3cret x\"\n", "holds a space");
        refused(
            "webhook_format = \"slack\"\nping = \"https://h/x\"\n",
            "no `webhook`",
        );
        refused(
            "webhook_format = \"xml\"\nping = \"https://h/x\"\n",
            "webhook_format",
        );
        refused(
            "ping = { from_evn = \"https://h/tok-S3cret\" }\n",
            "unknown key `from_evn`",
        );
        refused("ping = 42\n", "takes a URL in quotes");
        refused("ping = \"https://h/tok-S3cret\n", "");
        refused("pong = \"https://h/tok-S3cret\"\n", "unknown field `pong`");
        // A URL typed into the wrong key: the parser's "invalid type: string …" would quote it.
        refused(
            "interval_secs = \"https://h/tok-S3cret\"\nping = \"https://h/x\"\n",
            "interval_secs",
        );
    }
}
