//! A packet's part of a pass: the nodes about its skbs, what they called,
//! and the calls around them for context. A receive softirq handles a
//! batch of packets in one tree; each packet shows only its own branch.

use crate::stitch::pass::Pass;

/// The pass cut down to the nodes in `owned` (sorted indices) and their
/// ancestors; `skbs` are the packet's. `None` when that is the whole pass.
pub(super) fn sub_pass(pass: &Pass, owned: &[u32], skbs: &[u64]) -> Option<Pass> {
    let keep = kept(pass, owned);
    if keep.iter().all(|&k| k) {
        return None;
    }
    let mut nodes = Vec::with_capacity(keep.iter().filter(|&&k| k).count());
    // Indices in `nodes` of the kept nodes still open, and the old `end` of each.
    let mut open: Vec<(usize, u32)> = Vec::new();
    for (index, node) in pass.nodes.iter().enumerate() {
        if !keep[index] {
            continue;
        }
        while let Some(&(at, end)) = open.last() {
            if index as u32 >= end {
                nodes[at] = close(&nodes[at], nodes.len());
                open.pop();
            } else {
                break;
            }
        }
        open.push((nodes.len(), node.end));
        nodes.push(node.clone());
    }
    let count = nodes.len();
    for (at, _) in open {
        nodes[at] = close(&nodes[at], count);
    }
    let mut seen: Vec<u64> = Vec::new();
    for node in &nodes {
        for skb in [
            node.event.skb,
            node.exit.as_ref().map_or(0, |exit| exit.skb),
        ] {
            if skb != 0 && skbs.contains(&skb) && !seen.contains(&skb) {
                seen.push(skb);
            }
        }
    }
    Some(Pass {
        cpu: pass.cpu,
        softirq: pass.softirq,
        nodes,
        skbs: seen,
        omitted_nodes: pass.omitted_nodes,
        cut: pass.cut,
        start_ns: pass.start_ns,
        end_ns: pass.end_ns,
    })
}

fn close(node: &crate::stitch::Node, end: usize) -> crate::stitch::Node {
    let mut node = node.clone();
    node.end = end as u32;
    node
}

/// Which nodes stay: the owned ones and every ancestor of one.
fn kept(pass: &Pass, owned: &[u32]) -> Vec<bool> {
    let mut keep = vec![false; pass.nodes.len()];
    // Ancestors of the current node, as indices.
    let mut path: Vec<usize> = Vec::new();
    let mut next_owned = owned.iter().copied().peekable();
    for (index, node) in pass.nodes.iter().enumerate() {
        while path
            .last()
            .is_some_and(|&a| pass.nodes[a].end as usize <= index)
        {
            path.pop();
        }
        while next_owned.peek().is_some_and(|&o| (o as usize) < index) {
            next_owned.next();
        }
        if next_owned.peek() == Some(&(index as u32)) {
            keep[index] = true;
            for &ancestor in &path {
                keep[ancestor] = true;
            }
        }
        let _ = node;
        path.push(index);
    }
    keep
}
