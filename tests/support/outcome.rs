//! One `pxdeploy` run of a [`Session`]: its [`Run`], the node's calls that named the
//! container while it ran, and the `expect_*` checks a test makes of it.

use std::ops::Deref;

use super::{Call, Run, Session};

/// One `pxdeploy` run of a [`Session`] and what the test expects of it.
pub struct Outcome<'s, 'n> {
    session: &'s Session<'n>,
    run: Run,
    calls: Vec<Call>,
}

impl<'n> Deref for Outcome<'_, 'n> {
    type Target = Session<'n>;

    fn deref(&self) -> &Session<'n> {
        self.session
    }
}

impl<'s, 'n> Outcome<'s, 'n> {
    pub(crate) fn new(session: &'s Session<'n>, run: Run, calls: Vec<Call>) -> Self {
        Outcome {
            session,
            run,
            calls,
        }
    }

    /// The finished process: exit code, stdout, stderr.
    pub fn run(&self) -> &Run {
        &self.run
    }

    /// The node's calls that named the container while this ran, oldest first.
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// Each of [`Outcome::calls`] as one line (`pct exec 210 -- …`).
    pub fn call_lines(&self) -> Vec<String> {
        self.calls.iter().map(Call::line).collect()
    }

    /// stdout as one JSON document.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        self.run.json()
    }

    /// Exit code 0.
    #[track_caller]
    pub fn expect_ok(self) -> Self {
        self.run.assert_success();
        self
    }

    /// Exit code `code`.
    #[track_caller]
    pub fn expect_exit(self, code: i32) -> Self {
        self.run.assert_code(code);
        self
    }

    /// stderr (where messages, warnings and errors go) contains `text`.
    #[track_caller]
    pub fn expect_says(self, text: &str) -> Self {
        self.run.assert_stderr_contains(text);
        self
    }

    /// stdout (the data) contains `text`.
    #[track_caller]
    pub fn expect_prints(self, text: &str) -> Self {
        self.run.assert_stdout_contains(text);
        self
    }

    /// Neither stdout nor stderr contains `text`.
    #[track_caller]
    pub fn expect_never_says(self, text: &str) -> Self {
        self.run.assert_stderr_lacks(text);
        self
    }

    /// No value of `secrets` appears in stdout or stderr (the message names no value).
    #[track_caller]
    pub fn expect_hides(self, secrets: &[&str]) -> Self {
        for s in secrets {
            assert!(
                !self.run.stdout.contains(s) && !self.run.stderr.contains(s),
                "a secret value appears in the output of `{}` (exit {})",
                self.run.what,
                self.run.status
            );
        }
        self
    }

    /// Nothing ran on the node for the container (refused before connecting, or before
    /// touching it).
    #[track_caller]
    pub fn expect_no_calls(self) -> Self {
        assert!(
            self.calls.is_empty(),
            "`{}` ran on the node: {:#?}\n{}",
            self.run.what,
            self.call_lines(),
            self.run.dump()
        );
        self
    }

    /// No call of this run contains any of `words` (` up `, `tar`, `.env`, …).
    #[track_caller]
    pub fn expect_no_call_with(self, words: &[&str]) -> Self {
        let hits: Vec<String> = self
            .call_lines()
            .into_iter()
            .filter_map(|l| {
                let word = words.iter().find(|w| l.contains(*w))?;
                // The first words of the call: the scripts they carry are long.
                Some(format!(
                    "{word:?} in: {}",
                    l.chars().take(100).collect::<String>()
                ))
            })
            .collect();
        assert!(
            hits.is_empty(),
            "`{}` ran what it must not: {hits:#?}",
            self.run.what
        );
        self
    }

    /// The JSON report lists services, each running and, when it has a health check,
    /// healthy (`-o json` of `deploy`, `status`, `restore`, `rollback --snapshot`).
    #[track_caller]
    pub fn expect_healthy(self) -> Self {
        let doc = self.json();
        let services = doc["services"]
            .as_array()
            .unwrap_or_else(|| panic!("no services in the report\n{}", self.run.dump()));
        assert!(!services.is_empty(), "{}", self.run.dump());
        for s in services {
            let health = s["health"].as_str().unwrap_or_default();
            assert!(
                s["state"] == "running" && (health.is_empty() || health == "healthy"),
                "{s}\n{}",
                self.run.dump()
            );
        }
        self
    }

    /// The deploy's JSON report says it pushed `files` files.
    #[track_caller]
    pub fn expect_pushed(self, files: u64) -> Self {
        let doc = self.json();
        assert_eq!(doc["pushed"]["files"], files, "{doc:#}");
        self
    }
}
