//! A TDMA network described in one TOML file: the frame shared by every
//! node, and each node's windows. `tdmactl apply` installs one node's part.
//!
//! ```toml
//! frame = "10ms"          # required
//! guard = "50us"          # default 0
//! base-time = 0           # ns on `clock`, default 0
//! clock = "tai"           # tai (default), monotonic, realtime, boottime
//! limit = 1000            # packets, default 1000
//! rate = "100mbit"        # default: unknown
//!
//! [[node]]
//! name = "a"
//! windows = ["0+3ms"]     # OFFSET+LENGTH (or OFFSET:LENGTH), sorted
//!
//! [[node]]
//! name = "b"
//! windows = ["5ms+2ms"]
//! ```
//!
//! Every node's schedule must be valid on its own, and no two nodes' windows
//! may overlap: overlapping windows mean two senders on the medium at once,
//! which is what TDMA exists to prevent.

use serde::Deserialize;
use thiserror::Error;

use crate::schedule::{Clock, Schedule, ScheduleError, Window};
use crate::uapi::TDMA_DEFAULT_LIMIT;
use crate::units::{UnitError, parse_duration, parse_rate};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    /// A schedule without windows: what all nodes share.
    pub common: Schedule,
    pub nodes: Vec<Node>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub windows: Vec<Window>,
}

#[derive(Debug, Error)]
pub enum NetworkError {
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error("{field}: {source}")]
    Field {
        field: &'static str,
        source: UnitError,
    },
    #[error("clock: {0}")]
    Clock(ScheduleError),
    #[error("no [[node]] given")]
    NoNodes,
    #[error("node {0:?} is defined twice")]
    DuplicateNode(String),
    #[error("node {node:?}: {source}")]
    Node { node: String, source: ScheduleError },
    #[error("node {a:?} window {a_window} overlaps node {b:?} window {b_window}")]
    Overlap {
        a: String,
        a_window: Window,
        b: String,
        b_window: Window,
    },
    #[error("no node {name:?} in the file (nodes: {known})")]
    UnknownNode { name: String, known: String },
}

/// The file as written, before units are parsed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct File {
    frame: String,
    #[serde(default)]
    guard: Option<String>,
    #[serde(default)]
    base_time: i64,
    #[serde(default)]
    clock: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    rate: Option<String>,
    #[serde(default)]
    node: Vec<FileNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNode {
    name: String,
    windows: Vec<String>,
}

impl Network {
    /// Parses and checks the whole file: a network that loads is one every
    /// node can apply.
    pub fn from_toml(text: &str) -> Result<Network, NetworkError> {
        let file: File = toml::from_str(text)?;
        let field = |field| move |source| NetworkError::Field { field, source };
        let mut common =
            Schedule::new(parse_duration(&file.frame).map_err(field("frame"))?, vec![]);
        common.base_time_ns = file.base_time;
        if let Some(guard) = &file.guard {
            common.guard_ns = parse_duration(guard).map_err(field("guard"))?;
        }
        if let Some(clock) = &file.clock {
            common.clock = clock.parse::<Clock>().map_err(NetworkError::Clock)?;
        }
        common.limit = file.limit.unwrap_or(TDMA_DEFAULT_LIMIT);
        if let Some(rate) = &file.rate {
            common.rate_bytes_per_sec = parse_rate(rate).map_err(field("rate"))?;
        }
        let nodes = file
            .node
            .into_iter()
            .map(|n| {
                let windows = n
                    .windows
                    .iter()
                    .map(|w| w.parse::<Window>())
                    .collect::<Result<_, _>>()
                    .map_err(|source| NetworkError::Node {
                        node: n.name.clone(),
                        source,
                    })?;
                Ok(Node {
                    name: n.name,
                    windows,
                })
            })
            .collect::<Result<Vec<_>, NetworkError>>()?;
        let network = Network { common, nodes };
        network.check()?;
        Ok(network)
    }

    /// The schedule `name` runs.
    pub fn schedule_for(&self, name: &str) -> Result<Schedule, NetworkError> {
        let node = self.nodes.iter().find(|n| n.name == name).ok_or_else(|| {
            NetworkError::UnknownNode {
                name: name.into(),
                known: self
                    .nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })?;
        Ok(Schedule {
            windows: node.windows.clone(),
            ..self.common.clone()
        })
    }

    fn check(&self) -> Result<(), NetworkError> {
        if self.nodes.is_empty() {
            return Err(NetworkError::NoNodes);
        }
        for (i, a) in self.nodes.iter().enumerate() {
            if self.nodes[..i].iter().any(|b| b.name == a.name) {
                return Err(NetworkError::DuplicateNode(a.name.clone()));
            }
            self.schedule_for(&a.name)?
                .validate()
                .map_err(|source| NetworkError::Node {
                    node: a.name.clone(),
                    source,
                })?;
        }
        for (i, a) in self.nodes.iter().enumerate() {
            for b in &self.nodes[i + 1..] {
                for wa in &a.windows {
                    if let Some(wb) = b.windows.iter().find(|wb| wa.overlaps(wb)) {
                        return Err(NetworkError::Overlap {
                            a: a.name.clone(),
                            a_window: *wa,
                            b: b.name.clone(),
                            b_window: *wb,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    const GOOD: &str = r#"
        frame = "10ms"
        guard = "50us"
        base-time = 1000
        clock = "monotonic"
        limit = 500
        rate = "100mbit"

        [[node]]
        name = "a"
        windows = ["0+3ms"]

        [[node]]
        name = "b"
        windows = ["3ms+2ms", "8ms:1ms"]
    "#;

    fn error(text: &str) -> String {
        Network::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn parses_a_network() {
        let net = Network::from_toml(GOOD).unwrap();
        let b = net.schedule_for("b").unwrap();
        assert_eq!(b.frame_ns, 10 * MS);
        assert_eq!(b.guard_ns, 50_000);
        assert_eq!(b.base_time_ns, 1000);
        assert_eq!(b.clock, Clock::Monotonic);
        assert_eq!(b.limit, 500);
        assert_eq!(b.rate_bytes_per_sec, 12_500_000);
        assert_eq!(
            b.windows,
            vec![
                Window {
                    offset_ns: 3 * MS,
                    length_ns: 2 * MS
                },
                Window {
                    offset_ns: 8 * MS,
                    length_ns: MS
                }
            ]
        );
    }

    #[test]
    fn defaults() {
        let net =
            Network::from_toml("frame = \"1ms\"\n[[node]]\nname = \"x\"\nwindows = [\"0+1ms\"]")
                .unwrap();
        assert_eq!(
            net.schedule_for("x").unwrap(),
            Schedule::new(
                MS,
                vec![Window {
                    offset_ns: 0,
                    length_ns: MS
                }]
            )
        );
    }

    #[test]
    fn overlap_names_both_nodes_and_windows() {
        let text = GOOD.replace(
            "\"8ms:1ms\"",
            "\"8ms:1ms\"]\n[[node]]\nname = \"c\"\nwindows = [\"2ms+2ms\"",
        );
        assert_eq!(
            error(&text),
            "node \"a\" window 0+3ms overlaps node \"c\" window 2ms+2ms"
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(
            error(&GOOD.replace("name = \"b\"", "name = \"a\"")),
            "node \"a\" is defined twice"
        );
        assert_eq!(
            error(&GOOD.replace("\"8ms:1ms\"", "\"8ms:3ms\"")),
            "node \"b\": window 1 (8ms+3ms) ends after the end of the frame (10ms)"
        );
        assert_eq!(
            error(&GOOD.replace("\"8ms:1ms\"", "\"8ms\"")),
            "node \"b\": invalid window \"8ms\": expected OFFSET+LENGTH or OFFSET:LENGTH, e.g. 5ms+2ms"
        );
        assert!(
            error(&GOOD.replace("\"100mbit\"", "\"fast\""))
                .starts_with("rate: invalid rate \"fast\"")
        );
        assert!(
            error(&GOOD.replace("\"monotonic\"", "\"gps\""))
                .starts_with("clock: unknown clock \"gps\"")
        );
        assert_eq!(error("frame = \"10ms\""), "no [[node]] given");
        assert!(error("frame = \"10ms\"\nspeed = 1").contains("unknown field `speed`"));
        let net = Network::from_toml(GOOD).unwrap();
        assert_eq!(
            net.schedule_for("z").unwrap_err().to_string(),
            "no node \"z\" in the file (nodes: a, b)"
        );
    }

    #[test]
    fn shipped_example_is_valid() {
        let text = include_str!("../../examples/three-nodes.toml");
        let net = Network::from_toml(text).unwrap();
        assert_eq!(net.nodes.len(), 3);
    }
}
