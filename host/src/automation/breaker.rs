//! An automation's circuit breaker, `max_runs: { count: 100, per: 1h }`:
//! once `count` runs of the automation have been created in the last `per`,
//! new runs are created paused, to wait for an operator
//! (`keystep runs resume-paused` / `cancel-paused`). It stops a runaway
//! cause — a bad import that "removes" every user, a schedule's CEL that
//! matches everyone — from revoking access at machine speed.
//!
//! Pure: the store counts the runs, this decides.

use chrono::{DateTime, Duration, Utc};
use marked_yaml::Node;

use super::Pos;
use super::yaml::{kind_of, pos_of, pos_of_scalar};

/// `max_runs:`: at most `count` runs in any `per` window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    pub count: u32,
    pub per: Window,
}

/// The windows a breaker counts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Hour,
    Day,
    Week,
    Month,
}

impl Window {
    const NAMES: [(&'static str, Window); 4] = [
        ("1h", Window::Hour),
        ("1d", Window::Day),
        ("7d", Window::Week),
        ("30d", Window::Month),
    ];

    fn parse(text: &str) -> Option<Window> {
        Self::NAMES
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, w)| *w)
    }

    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, w)| *w == self).unwrap().0
    }

    fn length(self) -> Duration {
        match self {
            Window::Hour => Duration::hours(1),
            Window::Day => Duration::days(1),
            Window::Week => Duration::days(7),
            Window::Month => Duration::days(30),
        }
    }
}

impl Breaker {
    /// Where the window ending `now` starts: runs created at or after it count.
    pub fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.per.length()
    }

    /// Whether a new run may start when `created` runs were created in the
    /// window.
    pub fn admits(&self, created: u64) -> bool {
        created < u64::from(self.count)
    }

    /// Reads `max_runs:`'s mapping; an error says where and what was expected.
    pub fn from_node(node: &Node) -> Result<Breaker, (Pos, String)> {
        const EXPECTED: &str =
            "expected `max_runs: { count: 100, per: 1h }` (per: 1h, 1d, 7d or 30d)";
        let Node::Mapping(map) = node else {
            return Err((
                pos_of(node),
                format!(
                    "`max_runs` must be a mapping, found {}; {EXPECTED}",
                    kind_of(node)
                ),
            ));
        };
        if let Some(key) = map.keys().find(|k| !["count", "per"].contains(&k.as_str())) {
            return Err((
                pos_of_scalar(key),
                format!("unknown key `{}` in max_runs; {EXPECTED}", key.as_str()),
            ));
        }
        let scalar = |key: &str| match map.get_node(key) {
            Some(Node::Scalar(s)) => Ok((s.as_str().to_string(), pos_of_scalar(s))),
            Some(other) => Err((
                pos_of(other),
                format!("`max_runs.{key}` must be a scalar; {EXPECTED}"),
            )),
            None => Err((
                pos_of(node),
                format!("missing `max_runs.{key}`; {EXPECTED}"),
            )),
        };
        let (count, at) = scalar("count")?;
        let count = match count.parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err((
                    at,
                    format!(
                        "`max_runs.count` must be a whole number of at least 1, found `{count}`"
                    ),
                ));
            }
        };
        let (per, at) = scalar("per")?;
        let per = Window::parse(&per).ok_or_else(|| {
            (
                at,
                format!("`max_runs.per` must be 1h, 1d, 7d or 30d, found `{per}`"),
            )
        })?;
        Ok(Breaker { count, per })
    }
}

impl std::fmt::Display for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} runs per {}", self.count, self.per.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(text: &str) -> Node {
        let root = marked_yaml::parse_yaml(0, text).unwrap();
        root.as_mapping()
            .unwrap()
            .get_node("max_runs")
            .unwrap()
            .clone()
    }

    #[test]
    fn reads_count_and_window() {
        let b = Breaker::from_node(&node("max_runs: { count: 100, per: 1h }")).unwrap();
        assert_eq!(
            b,
            Breaker {
                count: 100,
                per: Window::Hour
            }
        );
        assert_eq!(b.to_string(), "100 runs per 1h");
        for (per, window) in [
            ("1d", Window::Day),
            ("7d", Window::Week),
            ("30d", Window::Month),
        ] {
            let text = format!("max_runs:\n  count: 5\n  per: {per}\n");
            assert_eq!(Breaker::from_node(&node(&text)).unwrap().per, window);
        }
    }

    #[test]
    fn refuses_bad_settings_where_they_are() {
        for (text, wanted, column) in [
            ("max_runs: { count: 0, per: 1h }", "at least 1", 20),
            ("max_runs: { count: many, per: 1h }", "at least 1", 20),
            (
                "max_runs: { count: 5, per: 2h }",
                "1h, 1d, 7d or 30d, found `2h`",
                28,
            ),
            ("max_runs: { count: 5, pr: 1h }", "unknown key `pr`", 23),
            ("max_runs: { count: 5 }", "missing `max_runs.per`", 11),
            ("max_runs: 5", "must be a mapping", 11),
        ] {
            let (pos, message) = Breaker::from_node(&node(text)).unwrap_err();
            assert!(message.contains(wanted), "{text}: {message}");
            assert_eq!((pos.line, pos.column), (1, column), "{text}: {message}");
        }
    }

    #[test]
    fn admits_below_the_count_over_a_sliding_window() {
        let b = Breaker {
            count: 100,
            per: Window::Day,
        };
        assert!(b.admits(99));
        assert!(!b.admits(100));
        let now = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            b.window_start(now).to_rfc3339(),
            "2026-11-30T10:00:00+00:00"
        );
    }
}
