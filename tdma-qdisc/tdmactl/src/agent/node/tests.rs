//! The protocol on a simulated segment: nodes, a network with per-link delay
//! and loss, and a model of the qdisc (one running schedule, one pending
//! change that a newer change replaces). Every millisecond the simulation
//! checks that no two nodes' running windows overlap.

use super::*;
use crate::agent::wire::Announcement;

const MS: u64 = 1_000_000;
const T0: u64 = 1_000_000 * 1_000 * MS; // an arbitrary clock time, not a boundary
const PARAMS: FrameParams = FrameParams {
    frame_ns: 10 * MS,
    guard_ns: MS / 10,
};

fn config(name: &str, instance: u64) -> Config {
    Config {
        name: name.into(),
        instance,
        params: PARAMS,
        interval_ns: 50 * MS,
        timeout_ns: 150 * MS,
        settle_ns: 150 * MS,
        listen_ns: 100 * MS,
    }
}

/// The kernel side of one node: what runs, and the change waiting for its time.
#[derive(Default)]
struct Qdisc {
    running: Option<Window>,
    pending: Option<(u64, Option<Window>)>,
}

struct SimNode {
    node: Node,
    qdisc: Qdisc,
    decisions: Vec<Decision>,
    /// Extra delay of every packet this node receives.
    rx_delay_ns: u64,
    up: bool,
}

struct Sim {
    now: u64,
    nodes: Vec<SimNode>,
    /// (deliver at, to, packet bytes)
    in_flight: Vec<(u64, usize, Vec<u8>)>,
    loss_percent: u64,
    rng: u64,
    next_instance: u64,
    notes: Vec<String>,
}

impl Sim {
    fn new() -> Sim {
        Sim {
            now: T0,
            nodes: Vec::new(),
            in_flight: Vec::new(),
            loss_percent: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
            next_instance: 1,
            notes: Vec::new(),
        }
    }

    /// Starts a node (again, with a new instance, if `name` ran before).
    fn start(&mut self, name: &str) -> usize {
        self.next_instance += 1;
        let node = Node::new(config(name, self.next_instance), self.now);
        let fresh = SimNode {
            node,
            qdisc: Qdisc::default(),
            decisions: Vec::new(),
            rx_delay_ns: 0,
            up: true,
        };
        match self.index(name) {
            Some(i) => {
                self.nodes[i] = fresh;
                i
            }
            None => {
                self.nodes.push(fresh);
                self.nodes.len() - 1
            }
        }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.node.cfg.name == name)
    }

    /// A crash: no goodbye, the qdisc keeps its schedule... which would
    /// overlap the survivors' new one, so the model clears it (the host is gone).
    fn crash(&mut self, name: &str) {
        let i = self.index(name).unwrap();
        self.nodes[i].up = false;
        self.nodes[i].qdisc = Qdisc::default();
    }

    fn stop(&mut self, name: &str) {
        let i = self.index(name).unwrap();
        let actions = self.nodes[i].node.leave(self.now);
        self.handle(i, actions);
        self.nodes[i].up = false;
    }

    fn random(&mut self) -> u64 {
        // xorshift: deterministic loss pattern per test.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn handle(&mut self, i: usize, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Announce(a) => {
                    let bytes = a.encode();
                    for to in 0..self.nodes.len() {
                        if self.loss_percent > 0 && self.random() % 100 < self.loss_percent {
                            continue;
                        }
                        // Our own broadcasts loop back, as on Linux.
                        let at = self.now + 100_000 + self.nodes[to].rx_delay_ns;
                        self.in_flight.push((at, to, bytes.clone()));
                    }
                }
                Action::Apply(d) => {
                    let n = &mut self.nodes[i];
                    let at = d
                        .switch_at_ns
                        .unwrap_or_else(|| PARAMS.boundary_after(self.now));
                    n.qdisc.pending = Some((at, d.window));
                    n.decisions.push(d);
                }
                Action::Note(s) => self
                    .notes
                    .push(format!("{}: {s}", self.nodes[i].node.cfg.name)),
            }
        }
    }

    fn step(&mut self) {
        self.now += MS;
        let now = self.now;
        for n in &mut self.nodes {
            if let Some((at, w)) = n.qdisc.pending
                && at <= now
            {
                n.qdisc.running = w;
                n.qdisc.pending = None;
            }
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|m| m.0 <= now);
        self.in_flight = later;
        for (_, to, bytes) in due {
            if self.nodes[to].up {
                let a = Announcement::decode(&bytes).unwrap();
                let actions = self.nodes[to].node.receive(now, a);
                self.handle(to, actions);
            }
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].up {
                let actions = self.nodes[i].node.tick(now);
                self.handle(i, actions);
            }
        }
        self.check_no_overlap();
    }

    fn run_ms(&mut self, ms: u64) {
        for _ in 0..ms {
            self.step();
        }
    }

    fn check_no_overlap(&self) {
        for (i, a) in self.nodes.iter().enumerate() {
            for b in &self.nodes[i + 1..] {
                if let (Some(x), Some(y)) = (a.qdisc.running, b.qdisc.running) {
                    assert!(
                        x.offset_ns + x.length_ns <= y.offset_ns
                            || y.offset_ns + y.length_ns <= x.offset_ns,
                        "at {}: {} runs {x:?}, {} runs {y:?}\n{}",
                        self.now - T0,
                        a.node.cfg.name,
                        b.node.cfg.name,
                        self.notes.join("\n")
                    );
                }
            }
        }
    }

    fn last_switch(&self, name: &str) -> &Decision {
        let n = &self.nodes[self.index(name).unwrap()];
        n.decisions
            .iter()
            .rev()
            .find(|d| d.phase == Phase::Switch)
            .expect("switched")
    }

    /// All `names` run the same membership `names`, switched at the same
    /// time, with windows that do not overlap.
    fn assert_converged(&self, names: &[&str]) {
        let want = Members::new(names.iter().map(|s| s.to_string()));
        let first = self.last_switch(names[0]).switch_at_ns;
        for name in names {
            let n = &self.nodes[self.index(name).unwrap()];
            assert_eq!(
                n.node.active(),
                Some(&want),
                "{name}\n{}",
                self.notes.join("\n")
            );
            let d = self.last_switch(name);
            assert_eq!(d.members, want);
            assert_eq!(d.switch_at_ns, first, "{name} switched at another time");
            assert_eq!(n.qdisc.running, PARAMS.window_of(&want, name).unwrap());
            assert!(n.qdisc.running.is_some());
        }
    }
}

#[test]
fn three_nodes_starting_apart_agree() {
    let mut sim = Sim::new();
    sim.start("a");
    sim.run_ms(30);
    sim.start("b");
    sim.run_ms(45);
    sim.start("c");
    sim.run_ms(1_000);
    sim.assert_converged(&["a", "b", "c"]);
}

#[test]
fn first_join_listens_before_claiming_anything() {
    let mut sim = Sim::new();
    sim.start("a");
    sim.run_ms(99);
    assert!(
        sim.nodes[0].decisions.is_empty(),
        "nothing decided while listening"
    );
    sim.run_ms(2);
    let d = &sim.nodes[0].decisions[0];
    assert_eq!(
        (d.phase, d.window),
        (Phase::Interim, None),
        "no window before the first switch"
    );
    sim.run_ms(500);
    sim.assert_converged(&["a"]);
    assert_eq!(
        sim.nodes[0].qdisc.running.unwrap().length_ns,
        PARAMS.frame_ns - PARAMS.guard_ns
    );
}

#[test]
fn leave_and_rejoin_of_three_nodes() {
    let mut sim = Sim::new();
    for n in ["a", "b", "c"] {
        sim.start(n);
    }
    sim.run_ms(800);
    sim.assert_converged(&["a", "b", "c"]);

    sim.stop("b");
    assert_eq!(
        sim.nodes[1].qdisc.pending,
        Some((PARAMS.boundary_after(sim.now), None))
    );
    sim.run_ms(500);
    sim.assert_converged(&["a", "c"]);

    sim.start("b");
    sim.run_ms(800);
    sim.assert_converged(&["a", "b", "c"]);
}

#[test]
fn a_crashed_node_times_out() {
    let mut sim = Sim::new();
    for n in ["a", "b", "c"] {
        sim.start(n);
    }
    sim.run_ms(800);
    sim.crash("a");
    sim.run_ms(800);
    sim.assert_converged(&["b", "c"]);
    assert!(
        sim.notes.iter().any(|n| n == "b: a timed out"),
        "{:?}",
        sim.notes
    );
}

#[test]
fn nodes_noticing_a_change_at_different_moments_pick_one_switch_time() {
    let mut sim = Sim::new();
    sim.start("a");
    sim.start("b");
    sim.run_ms(800);
    // b hears everything 37 ms late, so it notices c's arrival long after a
    // proposed its switch time (and proposes a later one itself).
    sim.nodes[1].rx_delay_ns = 37 * MS;
    sim.start("c");
    sim.run_ms(1_000);
    sim.assert_converged(&["a", "b", "c"]);
}

#[test]
fn proposals_arriving_too_late_still_converge_without_overlap() {
    let mut sim = Sim::new();
    for n in ["a", "b", "c"] {
        sim.start(n);
    }
    sim.run_ms(800);
    // c hears its peers later than the settle time: every proposal it sees
    // is already unusable when it arrives.
    sim.nodes[2].rx_delay_ns = 170 * MS;
    sim.stop("a");
    sim.run_ms(3_000);
    let c = &sim.nodes[2];
    assert_eq!(
        c.node.active().map(|m| m.len()),
        Some(2),
        "{}",
        sim.notes.join("\n")
    );
    assert_eq!(sim.nodes[1].node.active(), c.node.active());
}

#[test]
fn lossy_segment_converges_without_overlap() {
    let mut sim = Sim::new();
    sim.loss_percent = 30;
    for n in ["a", "b", "c", "d"] {
        sim.start(n);
        sim.run_ms(20);
    }
    sim.run_ms(3_000);
    let all = Members::new(["a", "b", "c", "d"].map(String::from));
    for n in &sim.nodes {
        assert_eq!(n.node.active(), Some(&all), "{}", sim.notes.join("\n"));
    }
    sim.crash("c");
    sim.run_ms(3_000);
    let rest = Members::new(["a", "b", "d"].map(String::from));
    for n in sim.nodes.iter().filter(|n| n.up) {
        assert_eq!(n.node.active(), Some(&rest), "{}", sim.notes.join("\n"));
    }
}

#[test]
fn mismatched_frame_and_duplicate_names_are_reported_and_ignored() {
    let mut node = Node::new(config("a", 1), T0);
    let hello = |name: &str, instance, frame_ns| Announcement {
        v: PROTOCOL_VERSION,
        kind: Kind::Hello,
        name: name.into(),
        instance,
        frame_ns,
        guard_ns: PARAMS.guard_ns,
        view: vec![],
        switch_at_ns: None,
    };
    let notes = |actions: Vec<Action>| -> Vec<String> {
        actions
            .into_iter()
            .filter_map(|a| match a {
                Action::Note(s) => Some(s),
                _ => None,
            })
            .collect()
    };
    let n = notes(node.receive(T0, hello("b", 2, 20 * MS)));
    assert_eq!(
        n,
        [
            "b runs frame 20000000ns guard 100000ns, we run frame 10000000ns guard 100000ns: ignoring it"
        ]
    );
    assert!(
        notes(node.receive(T0, hello("b", 2, 20 * MS))).is_empty(),
        "warned once"
    );
    let n = notes(node.receive(T0, hello("a", 9, PARAMS.frame_ns)));
    assert_eq!(
        n,
        ["another node also calls itself \"a\": names must be unique"]
    );
    assert!(
        notes(node.receive(T0, hello("a", 1, PARAMS.frame_ns))).is_empty(),
        "own echo"
    );
    node.tick(T0 + 200 * MS);
    assert_eq!(
        node.goal(),
        Some(&Members::new(["a".to_string()])),
        "neither b nor the namesake joined"
    );
}
