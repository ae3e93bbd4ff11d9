//! The result of one diagnosis (`Check`) and of a whole run (`Report`), and how both are
//! printed: one line per check, an indented `fix:` line under each failure or warning, and a
//! summary line.
//!
//! This file decides nothing about Laravel or the server; it only carries and renders verdicts.

use std::fmt::Write as _;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The setting or the live probe is as it must be.
    Pass,
    /// Works, but is fragile or could not be fully verified; does not fail the run.
    Warn,
    /// Broadcasting cannot work this way; fails the run.
    Fail,
    /// Not checked, because an earlier check failed or the input to check is absent.
    Skip,
}

impl Status {
    fn symbol(self) -> &'static str {
        match self {
            Status::Pass => "✔",
            Status::Warn => "!",
            Status::Fail => "✘",
            Status::Skip => "-",
        }
    }
}

/// One diagnosis: what was checked, what was found, and for a failure how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Short, stable name, e.g. `broadcast connection`.
    pub name: String,
    /// The verdict.
    pub status: Status,
    /// What was found, naming the variables and lines involved.
    pub detail: String,
    /// What to change; present for every failure and most warnings.
    pub fix: Option<String>,
}

impl Check {
    /// A passing check.
    pub fn pass(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Pass, detail, None)
    }

    /// A warning with an optional fix.
    pub fn warn(name: impl Into<String>, detail: impl Into<String>, fix: Option<String>) -> Check {
        Check::new(name, Status::Warn, detail, fix)
    }

    /// A failure; a failure always says how to fix it.
    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::new(name, Status::Fail, detail, Some(fix.into()))
    }

    /// A check that did not run, with the reason.
    pub fn skip(name: impl Into<String>, reason: impl Into<String>) -> Check {
        Check::new(
            name,
            Status::Skip,
            format!("not checked: {}", reason.into()),
            None,
        )
    }

    fn new(
        name: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Check {
        Check {
            name: name.into(),
            status,
            detail: detail.into(),
            fix,
        }
    }
}

/// Every check of one run, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// The first check with this name.
    pub fn find(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|check| check.name == name)
    }

    /// True when no check failed; warnings and skipped checks do not fail a run.
    pub fn passed(&self) -> bool {
        !self.checks.iter().any(|check| check.status == Status::Fail)
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The text printed by `sockwave doctor`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            let _ = writeln!(
                out,
                "{} {} — {}",
                check.status.symbol(),
                check.name,
                check.detail
            );
            if let Some(fix) = &check.fix {
                let _ = writeln!(out, "    fix: {fix}");
            }
        }
        let _ = writeln!(
            out,
            "summary: {} passed, {} failed, {} {}, {} not checked",
            self.count(Status::Pass),
            self.count(Status::Fail),
            self.count(Status::Warn),
            if self.count(Status::Warn) == 1 {
                "warning"
            } else {
                "warnings"
            },
            self.count(Status::Skip)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_line_per_check_and_a_fix_under_failures() {
        let report = Report {
            checks: vec![
                Check::pass("a", "fine"),
                Check::fail("b", "broken", "mend it"),
                Check::skip("c", "b failed"),
            ],
        };
        assert_eq!(
            report.render(),
            "✔ a — fine\n✘ b — broken\n    fix: mend it\n- c — not checked: b failed\n\
             summary: 1 passed, 1 failed, 0 warnings, 1 not checked\n"
        );
        assert!(!report.passed());
    }
}
