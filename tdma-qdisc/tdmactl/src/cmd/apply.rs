//! `apply`: installs one node's part of a network file.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use tdmactl::netlink::{Qdiscs, ifindex};
use tdmactl::network::Network;

use super::status;

pub fn run(file: &Path, node: &str, dev: &str, dry_run: bool, out: &mut impl Write) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let network = Network::from_toml(&text).with_context(|| format!("{}", file.display()))?;
    let schedule = network.schedule_for(node)?;
    if dry_run {
        writeln!(out, "dev {dev} {schedule}")?;
        return Ok(());
    }
    let index = ifindex(dev)?;
    let mut qdiscs = Qdiscs::open()?;
    let ack = match qdiscs.get(index)? {
        None => {
            let ack = qdiscs.add(index, &schedule)?;
            status(&format!("added node {node}'s schedule on {dev}"));
            ack
        }
        Some(_) => {
            let ack = qdiscs.change(index, &schedule, None)?;
            status(&format!(
                "changed {dev} to node {node}'s schedule (from the next frame)"
            ));
            ack
        }
    };
    super::warn(&ack);
    Ok(())
}
