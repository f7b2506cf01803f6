//! tdmactl: configures the sch_tdma qdisc over rtnetlink, shows its counters,
//! applies schedule files and runs the dynamic TDMA agent.

pub mod agent;
pub mod netlink;
pub mod network;
pub mod schedule;
pub mod uapi;
pub mod units;
