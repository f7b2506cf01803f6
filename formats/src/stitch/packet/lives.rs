//! Which packet an skb address stands for at a given time.
//!
//! An skb's address is reused as soon as it is freed, so an address names
//! a succession of skbs: its *lives*, each from its first event to its free.
//! Passes reach the packet builder when they complete, not when they start
//! (a receive softirq nested in a transmit completes first, and CPUs race),
//! so an event may be filed after a later free of its address: it is placed
//! by its timestamp, into the first life that had not ended by then.

use foldhash::HashMap;

use super::ident::{FlowKey, Ident};

/// One skb's life at an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Life {
    /// Its earliest event filed so far.
    pub from_ns: u64,
    /// Its end: its free, or where another skb took the address over.
    pub until_ns: Option<u64>,
    /// `until_ns` is a free that was seen.
    pub freed: bool,
    pub packet: u64,
    /// The headers it carried, and when they were first seen: a later event
    /// of the address with other headers is another skb (freed unseen).
    pub ident: Option<(Ident, u64)>,
    /// The socket it was seen with (transmit above IP shows only that):
    /// one skb never changes sockets there.
    pub socket: Option<FlowKey>,
}

impl Life {
    fn covers(&self, ts: u64) -> bool {
        self.until_ns.is_none_or(|until| until >= ts)
    }
}

#[derive(Default)]
pub(super) struct Lives {
    by_addr: HashMap<u64, Vec<Life>>,
}

impl Lives {
    /// The life of `addr` an event at `ts` belongs to: the first one not
    /// ended before `ts` (its start moves back to `ts` if need be).
    pub fn at(&mut self, addr: u64, ts: u64) -> Option<&mut Life> {
        let life = self
            .by_addr
            .get_mut(&addr)?
            .iter_mut()
            .find(|life| life.covers(ts))?;
        life.from_ns = life.from_ns.min(ts);
        Some(life)
    }

    /// A new life of `addr` from `ts` on, for `packet`; lives are kept in
    /// time order.
    pub fn begin(&mut self, addr: u64, ts: u64, packet: u64) {
        let lives = self.by_addr.entry(addr).or_default();
        let at = lives
            .iter()
            .position(|life| life.covers(ts))
            .unwrap_or(lives.len());
        lives.insert(
            at,
            Life {
                from_ns: ts,
                until_ns: None,
                freed: false,
                packet,
                ident: None,
                socket: None,
            },
        );
    }

    /// The index and a copy of the life [`at`](Self::at) would return,
    /// without moving its start.
    pub fn find(&self, addr: u64, ts: u64) -> Option<(usize, Life)> {
        self.by_addr
            .get(&addr)?
            .iter()
            .enumerate()
            .find(|(_, life)| life.covers(ts))
            .map(|(i, life)| (i, *life))
    }

    /// Life `index` of `addr`.
    pub fn get_mut(&mut self, addr: u64, index: usize) -> Option<&mut Life> {
        self.by_addr.get_mut(&addr)?.get_mut(index)
    }

    /// A life of `addr` for `packet` from `from` to a seen free at
    /// `until`, before the lives that cover later times.
    pub fn insert_ended(&mut self, addr: u64, from: u64, until: u64, packet: u64) {
        let lives = self.by_addr.entry(addr).or_default();
        let at = lives
            .iter()
            .position(|life| life.covers(from))
            .unwrap_or(lives.len());
        lives.insert(
            at,
            Life {
                from_ns: from,
                until_ns: Some(until),
                freed: true,
                packet,
                ident: None,
                socket: None,
            },
        );
    }

    /// Ends the life at `ts` before `ts` and starts one for `packet` from
    /// `ts` to where the old one ended: the address changed hands unseen.
    pub fn split(&mut self, addr: u64, ts: u64, packet: u64) {
        let Some(lives) = self.by_addr.get_mut(&addr) else {
            return self.begin(addr, ts, packet);
        };
        let Some(at) = lives.iter().position(|life| life.covers(ts)) else {
            return self.begin(addr, ts, packet);
        };
        let (until_ns, freed) = (lives[at].until_ns, lives[at].freed);
        lives[at].until_ns = Some(ts.saturating_sub(1));
        lives[at].freed = false;
        lives.insert(
            at + 1,
            Life {
                from_ns: ts,
                until_ns,
                freed,
                packet,
                ident: None,
                socket: None,
            },
        );
    }

    /// The lives of `from` become `to`'s.
    pub fn reassign(&mut self, addr: u64, from: u64, to: u64) {
        for life in self.by_addr.get_mut(&addr).into_iter().flatten() {
            if life.packet == from {
                life.packet = to;
            }
        }
    }

    /// Whether every life of `addr` that belongs to `packet` has ended.
    pub fn ended(&self, addr: u64, packet: u64) -> bool {
        self.by_addr.get(&addr).is_none_or(|lives| {
            lives
                .iter()
                .filter(|life| life.packet == packet)
                .all(|life| life.until_ns.is_some())
        })
    }

    /// Forgets `packet`'s lives of `addr` (it was emitted).
    pub fn forget(&mut self, addr: u64, packet: u64) {
        if let Some(lives) = self.by_addr.get_mut(&addr) {
            lives.retain(|life| life.packet != packet);
            if lives.is_empty() {
                self.by_addr.remove(&addr);
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_addr.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_filed_late_lands_in_the_life_of_its_time() {
        let mut lives = Lives::default();
        lives.begin(0xa, 100, 1);
        lives.at(0xa, 100).unwrap().until_ns = Some(150);
        lives.begin(0xa, 200, 2);
        // Filed after both: before the free, so the first skb's.
        assert_eq!(lives.at(0xa, 90).unwrap().packet, 1);
        assert_eq!(lives.at(0xa, 90).unwrap().from_ns, 90);
        assert_eq!(lives.at(0xa, 150).unwrap().packet, 1);
        assert_eq!(lives.at(0xa, 151).unwrap().packet, 2);
        assert!(lives.ended(0xa, 1));
        assert!(!lives.ended(0xa, 2));
    }

    #[test]
    fn a_split_hands_the_rest_of_a_life_to_another_packet() {
        let mut lives = Lives::default();
        lives.begin(0xa, 100, 1);
        lives.split(0xa, 300, 2);
        assert_eq!(lives.at(0xa, 299).unwrap().packet, 1);
        assert_eq!(lives.at(0xa, 300).unwrap().packet, 2);
        assert!(lives.ended(0xa, 1));
        lives.reassign(0xa, 2, 7);
        assert_eq!(lives.at(0xa, 400).unwrap().packet, 7);
        lives.forget(0xa, 1);
        lives.forget(0xa, 7);
        assert_eq!(lives.len(), 0);
    }
}
