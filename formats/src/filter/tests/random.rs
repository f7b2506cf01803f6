//! Property test: random expressions, evaluated directly from their parts,
//! agree with the compiled program on a set of varied events.

use super::{compile, on_device, packet, passes};
use crate::abi::{FILTER_MAX_INSNS, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, RawEvent, tcp_flag};
use crate::filter::matches;

/// Primitives whose verdicts differ across [`events`].
const PRIMITIVES: [&str; 18] = [
    "tcp",
    "udp",
    "icmp",
    "ip6",
    "port 80",
    "src port 1234",
    "udp dst port 53",
    "portrange 50-100",
    "dst host 10.0.0.2",
    "host 2001:db8::1",
    "net 10.0.0.0/8",
    "src net 2001:db8::/32",
    "ifname eth0",
    "pid 100",
    "netns 4026531840",
    "ifindex 2",
    "tcp-syn",
    "tcpflags FA",
];

fn events() -> Vec<RawEvent> {
    let mut syn = on_device(
        packet(IPPROTO_TCP, "10.0.0.1:1234", "10.0.0.2:80"),
        "eth0",
        2,
        4026531840,
    );
    syn.pkt.tcp_flags = tcp_flag::SYN;
    syn.pid = 100;
    let mut fin = packet(IPPROTO_TCP, "[2001:db8::1]:443", "[2001:db8::2]:1234");
    fin.pkt.tcp_flags = tcp_flag::FIN | tcp_flag::ACK;
    fin.pid = 100;
    let dns = on_device(
        packet(IPPROTO_UDP, "[2001:db8::1]:5353", "[fd00::53]:53"),
        "wlan0",
        3,
        4026531840,
    );
    let dns4 = on_device(
        packet(IPPROTO_UDP, "192.168.0.2:60", "10.9.9.9:53"),
        "eth0",
        2,
        1,
    );
    let ping = packet(IPPROTO_ICMP, "172.16.0.1:0", "10.0.0.2:0");
    vec![syn, fin, dns, dns4, ping, RawEvent::zeroed()]
}

/// A boolean expression over [`PRIMITIVES`].
enum Tree {
    Leaf(&'static str),
    Not(Box<Tree>),
    And(Box<Tree>, Box<Tree>),
    Or(Box<Tree>, Box<Tree>),
}

impl Tree {
    fn eval(&self, ev: &RawEvent) -> bool {
        match self {
            Tree::Leaf(primitive) => passes(primitive, ev),
            Tree::Not(inner) => !inner.eval(ev),
            Tree::And(left, right) => left.eval(ev) && right.eval(ev),
            Tree::Or(left, right) => left.eval(ev) || right.eval(ev),
        }
    }

    fn insn_count(&self) -> usize {
        match self {
            Tree::Leaf(primitive) => compile(primitive).unwrap().len(),
            Tree::Not(inner) => inner.insn_count() + 1,
            Tree::And(left, right) | Tree::Or(left, right) => {
                left.insn_count() + right.insn_count() + 1
            }
        }
    }

    /// Binding strength, to parenthesize only where needed.
    fn precedence(&self) -> u8 {
        match self {
            Tree::Or(..) => 1,
            Tree::And(..) => 2,
            Tree::Not(_) | Tree::Leaf(_) => 3,
        }
    }

    /// Source text with minimal parentheses (plus some redundant ones) and
    /// randomly chosen operator spellings.
    fn render(&self, rng: &mut Rng) -> String {
        match self {
            Tree::Leaf(primitive) => primitive.to_string(),
            Tree::Not(inner) => {
                let op = if rng.below(2) == 0 { "not " } else { "!" };
                format!("{op}{}", inner.operand(3, rng))
            }
            Tree::And(left, right) => {
                let op = if rng.below(2) == 0 { " and " } else { " && " };
                // Left-associative: a right operand at the same level needs parentheses.
                format!("{}{op}{}", left.operand(2, rng), right.operand(3, rng))
            }
            Tree::Or(left, right) => {
                let op = if rng.below(2) == 0 { " or " } else { "||" };
                format!("{}{op}{}", left.operand(1, rng), right.operand(2, rng))
            }
        }
    }

    /// Rendered as an operand that needs at least `precedence`.
    fn operand(&self, precedence: u8, rng: &mut Rng) -> String {
        let text = self.render(rng);
        if self.precedence() < precedence || rng.below(8) == 0 {
            format!("({text})")
        } else {
            text
        }
    }
}

/// xorshift64*: deterministic, good enough to shuffle test inputs.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

fn random_tree(rng: &mut Rng, depth: usize) -> Tree {
    let choice = if depth == 0 { 0 } else { rng.below(4) };
    match choice {
        0 => Tree::Leaf(PRIMITIVES[rng.below(PRIMITIVES.len())]),
        1 => Tree::Not(Box::new(random_tree(rng, depth - 1))),
        2 => Tree::And(
            Box::new(random_tree(rng, depth - 1)),
            Box::new(random_tree(rng, depth - 1)),
        ),
        _ => Tree::Or(
            Box::new(random_tree(rng, depth - 1)),
            Box::new(random_tree(rng, depth - 1)),
        ),
    }
}

#[test]
fn compiled_programs_agree_with_direct_evaluation() {
    let events = events();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0;
    let mut verdicts = [0usize; 2];
    while checked < 2000 {
        let tree = random_tree(&mut rng, 4);
        if tree.insn_count() > FILTER_MAX_INSNS {
            continue;
        }
        let text = tree.render(&mut rng);
        let program = compile(&text).unwrap_or_else(|err| panic!("{text:?}: {err}"));
        assert_eq!(program.len(), tree.insn_count(), "{text}");
        for ev in &events {
            let expected = tree.eval(ev);
            assert_eq!(matches(&program, ev), expected, "{text} on {ev:?}");
            verdicts[usize::from(expected)] += 1;
        }
        checked += 1;
    }
    // Both verdicts are common, so the comparison means something.
    assert!(verdicts.iter().all(|&n| n > 2000), "{verdicts:?}");
}
