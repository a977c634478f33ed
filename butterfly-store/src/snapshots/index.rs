//! The repository's in-memory index of every stored object: where each digest is.
//!
//! A backup asks it about every object it adds, so it must answer fast; it is also the
//! largest thing a repository handle holds (one entry per object ever stored: about
//! 360,000 for one backup of a 50K-user org), so it must be small. A `HashMap<Digest,
//! Location>` spent about 65 bytes per object plus a half-empty table, and doubled it
//! while it grew. This keeps 48 bytes per object: the digest, and the location with its
//! pack as a number into a table of packs, in one vector sorted by digest (binary
//! search), and the objects added since the last merge in a small map, merged in when it
//! reaches [`MERGE_AT`] entries (sort it, then merge from the back, in place).

use std::collections::{HashMap, HashSet};

use butterfly_core::Digest;

use crate::format::pack::{Location, PackId};

/// Objects kept in the unsorted part before it is merged into the sorted one.
const MERGE_AT: usize = 1 << 15;

/// A location, its pack as a number into [`ObjectIndex::packs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed {
    offset: u64,
    pack: u32,
    length: u32,
}

/// One object of the sorted part.
#[derive(Debug, Clone, Copy)]
struct Slot {
    digest: Digest,
    at: Packed,
}

/// Where each stored object is. See the [module docs](self).
#[derive(Debug, Default)]
pub(super) struct ObjectIndex {
    /// Every pack an entry names, by number.
    packs: Vec<PackId>,
    numbers: HashMap<PackId, u32>,
    /// Sorted by digest, no digest twice, none of them in `recent`.
    sorted: Vec<Slot>,
    /// Added since the last merge.
    recent: HashMap<Digest, Packed>,
}

impl ObjectIndex {
    /// Where `digest` is, if indexed.
    pub(super) fn get(&self, digest: &Digest) -> Option<Location> {
        let at = if let Some(at) = self.recent.get(digest) {
            *at
        } else {
            let i = self
                .sorted
                .binary_search_by(|slot| slot.digest.cmp(digest))
                .ok()?;
            self.sorted[i].at
        };
        Some(self.unpack(at))
    }

    /// How many objects are indexed.
    pub(super) fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    /// Forget everything.
    pub(super) fn clear(&mut self) {
        *self = ObjectIndex::default();
    }

    /// Record where an object is, keeping a copy in a trusted pack over one in an
    /// untrusted pack (a damaged pack's objects are stored again, and the new copy must
    /// win).
    pub(super) fn prefer_trusted(
        &mut self,
        untrusted: &HashSet<PackId>,
        digest: Digest,
        location: Location,
    ) {
        let existing = match self.recent.get(&digest) {
            Some(at) => Some(*at),
            None => self
                .sorted
                .binary_search_by(|slot| slot.digest.cmp(&digest))
                .ok()
                .map(|i| self.sorted[i].at),
        };
        if let Some(existing) = existing {
            let existing_pack = self.packs[existing.pack as usize];
            if untrusted.contains(&existing_pack) && !untrusted.contains(&location.pack) {
                let at = self.pack(location);
                match self.recent.get_mut(&digest) {
                    Some(slot) => *slot = at,
                    None => {
                        if let Ok(i) = self
                            .sorted
                            .binary_search_by(|slot| slot.digest.cmp(&digest))
                        {
                            self.sorted[i].at = at;
                        }
                    }
                }
            }
            return;
        }
        let at = self.pack(location);
        self.recent.insert(digest, at);
        if self.recent.len() >= MERGE_AT {
            self.merge();
        }
    }

    fn pack(&mut self, location: Location) -> Packed {
        let next = self.packs.len();
        let pack = *self.numbers.entry(location.pack).or_insert_with(|| {
            self.packs.push(location.pack);
            // More than 4 billion packs in one handle is not a repository anyone has.
            u32::try_from(next).unwrap_or(u32::MAX)
        });
        Packed {
            offset: location.offset,
            pack,
            length: location.length,
        }
    }

    fn unpack(&self, at: Packed) -> Location {
        Location {
            pack: self.packs[at.pack as usize],
            offset: at.offset,
            length: at.length,
        }
    }

    /// Move `recent` into `sorted`: sort it, grow `sorted` by its length and merge the
    /// two from the back, so no second copy of `sorted` is made.
    fn merge(&mut self) {
        let mut new: Vec<Slot> = self
            .recent
            .drain()
            .map(|(digest, at)| Slot { digest, at })
            .collect();
        new.sort_unstable_by_key(|slot| slot.digest);
        let mut old = self.sorted.len();
        // Placeholders, each overwritten by the merge below.
        self.sorted.extend_from_slice(&new);
        let mut next = new.len();
        let mut to = self.sorted.len();
        while next > 0 {
            to -= 1;
            if old > 0 && self.sorted[old - 1].digest > new[next - 1].digest {
                self.sorted[to] = self.sorted[old - 1];
                old -= 1;
            } else {
                self.sorted[to] = new[next - 1];
                next -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn location(pack: &PackId, n: u64) -> Location {
        Location {
            pack: *pack,
            offset: n * 100,
            length: u32::try_from(n % 1000).unwrap() + 1,
        }
    }

    #[test]
    fn finds_every_object_across_merges_like_a_map() {
        let packs: Vec<PackId> = (0..7).map(|_| PackId::new_random()).collect();
        let mut index = ObjectIndex::default();
        let mut expected = BTreeMap::new();
        let none = HashSet::new();
        // Enough for two merges and a remainder; each digest twice, the first kept.
        let n = 2 * MERGE_AT as u64 + 123;
        for round in 0..2 {
            for i in 0..n {
                let digest = Digest::of_bytes(&i.to_be_bytes());
                let at = location(&packs[((i + round) % 7) as usize], i + round);
                index.prefer_trusted(&none, digest, at);
                expected.entry(digest).or_insert(at);
            }
        }
        assert_eq!(index.len(), expected.len());
        assert!(index.sorted.windows(2).all(|w| w[0].digest < w[1].digest));
        for (digest, at) in &expected {
            assert_eq!(index.get(digest), Some(*at));
        }
        assert_eq!(index.get(&Digest::of_bytes(b"never stored")), None);
        index.clear();
        assert_eq!(index.len(), 0);
        assert_eq!(index.get(expected.keys().next().unwrap()), None);
    }

    #[test]
    fn a_copy_in_a_trusted_pack_replaces_one_in_an_untrusted_pack() {
        let (bad, good, other) = (
            PackId::new_random(),
            PackId::new_random(),
            PackId::new_random(),
        );
        let untrusted = HashSet::from([bad]);
        let mut index = ObjectIndex::default();
        let merged = Digest::of_bytes(b"merged");
        let recent = Digest::of_bytes(b"recent");
        index.prefer_trusted(&untrusted, merged, location(&bad, 1));
        index.merge();
        index.prefer_trusted(&untrusted, recent, location(&bad, 2));
        for (digest, first) in [(merged, location(&bad, 1)), (recent, location(&bad, 2))] {
            // Another untrusted copy does not replace it; a trusted one does, and stays.
            index.prefer_trusted(&untrusted, digest, location(&bad, 9));
            assert_eq!(index.get(&digest), Some(first));
            index.prefer_trusted(&untrusted, digest, location(&good, 3));
            assert_eq!(index.get(&digest), Some(location(&good, 3)));
            index.prefer_trusted(&untrusted, digest, location(&other, 4));
            assert_eq!(index.get(&digest), Some(location(&good, 3)));
        }
    }
}
