//! A map that knows which entry was used least recently: what the stitcher
//! evicts when a limit is reached, and where idle packets are found, in O(1).

use foldhash::HashMap;

const NIL: u32 = u32::MAX;

/// Entries keyed by `u64`, in a slab doubly linked from oldest to newest use.
pub(super) struct Lru<V> {
    slots: Vec<Slot<V>>,
    index: HashMap<u64, u32>,
    free: Vec<u32>,
    oldest: u32,
    newest: u32,
}

struct Slot<V> {
    key: u64,
    value: Option<V>,
    older: u32,
    newer: u32,
}

impl<V> Default for Lru<V> {
    fn default() -> Self {
        Lru {
            slots: Vec::new(),
            index: HashMap::default(),
            free: Vec::new(),
            oldest: NIL,
            newest: NIL,
        }
    }
}

impl<V> Lru<V> {
    pub fn len(&self) -> usize {
        self.index.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Inserts as the newest entry, replacing (and returning) any value
    /// under the same key.
    pub fn insert(&mut self, key: u64, value: V) -> Option<V> {
        let previous = self.remove(key);
        let slot = Slot {
            key,
            value: Some(value),
            older: NIL,
            newer: NIL,
        };
        let at = match self.free.pop() {
            Some(at) => {
                self.slots[at as usize] = slot;
                at
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key, at);
        self.link_newest(at);
        previous
    }

    pub fn get(&self, key: u64) -> Option<&V> {
        let at = *self.index.get(&key)?;
        self.slots[at as usize].value.as_ref()
    }

    /// Every value, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().filter_map(|slot| slot.value.as_ref())
    }

    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        let at = *self.index.get(&key)?;
        self.slots[at as usize].value.as_mut()
    }

    /// Marks `key` as used now.
    pub fn touch(&mut self, key: u64) {
        if let Some(&at) = self.index.get(&key) {
            self.unlink(at);
            self.link_newest(at);
        }
    }

    pub fn remove(&mut self, key: u64) -> Option<V> {
        let at = self.index.remove(&key)?;
        self.unlink(at);
        self.free.push(at);
        self.slots[at as usize].value.take()
    }

    pub fn oldest(&self) -> Option<(u64, &V)> {
        let slot = self.slots.get(self.oldest as usize)?;
        Some((slot.key, slot.value.as_ref()?))
    }

    pub fn pop_oldest(&mut self) -> Option<(u64, V)> {
        let key = self.slots.get(self.oldest as usize)?.key;
        self.remove(key).map(|value| (key, value))
    }

    fn unlink(&mut self, at: u32) {
        let (older, newer) = {
            let slot = &self.slots[at as usize];
            (slot.older, slot.newer)
        };
        match older {
            NIL => self.oldest = newer,
            older => self.slots[older as usize].newer = newer,
        }
        match newer {
            NIL => self.newest = older,
            newer => self.slots[newer as usize].older = older,
        }
    }

    fn link_newest(&mut self, at: u32) {
        let previous = self.newest;
        {
            let slot = &mut self.slots[at as usize];
            slot.older = previous;
            slot.newer = NIL;
        }
        match previous {
            NIL => self.oldest = at,
            previous => self.slots[previous as usize].newer = at,
        }
        self.newest = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<V: Copy>(lru: &mut Lru<V>) -> Vec<(u64, V)> {
        std::iter::from_fn(|| lru.pop_oldest()).collect()
    }

    #[test]
    fn oldest_first_and_touch_moves_to_newest() {
        let mut lru = Lru::default();
        for key in 1..=4 {
            lru.insert(key, key * 10);
        }
        lru.touch(2);
        assert_eq!(lru.remove(3), Some(30));
        assert_eq!(lru.oldest(), Some((1, &10)));
        *lru.get_mut(4).unwrap() += 1;
        lru.insert(5, 50);
        assert_eq!(lru.len(), 4);
        assert_eq!(drain(&mut lru), [(1, 10), (4, 41), (2, 20), (5, 50)]);
        assert!(lru.is_empty());
        assert_eq!(lru.oldest(), None);
    }

    #[test]
    fn reinsert_replaces_and_reuses_slots() {
        let mut lru = Lru::default();
        lru.insert(7, 'a');
        lru.insert(8, 'b');
        assert_eq!(lru.insert(7, 'c'), Some('a'));
        assert_eq!(lru.remove(9), None);
        lru.touch(9);
        assert_eq!(drain(&mut lru), [(8, 'b'), (7, 'c')]);
        lru.insert(1, 'd');
        assert_eq!(lru.slots.len(), 2);
        assert_eq!(drain(&mut lru), [(1, 'd')]);
    }
}
