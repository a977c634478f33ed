//! The repository's index of every stored object: where each digest is.
//!
//! A backup asks it about every object it adds, so it must answer fast; it is also the
//! largest thing a repository handle holds, one entry per object ever stored: about
//! 360,000 for one backup of a 50K-user org, 1.4 million at 200K users. Held whole in
//! memory at 48 bytes an object (digest and location) it was the part of a backup's
//! memory that grew with the org, by 66 MiB at 200K users, and twice that for a moment
//! each time its vector grew.
//!
//! So the entries live on local disk, and memory keeps 4 bytes an object:
//!
//! - Objects added since the last merge are in a small map (`recent`). At [`MERGE_AT`]
//!   of them they are sorted and written to an anonymous temporary file as a **run**:
//!   fixed-size slots (digest, offset, pack number, length) in digest order. Memory keeps
//!   the run's **prefixes**, the first 4 bytes of each slot's digest, in the same order.
//! - A lookup binary-searches each run's prefixes; only when a prefix matches does it
//!   read the slot (one small read, usually from the page cache) to compare the whole
//!   digest. A digest that is not stored (every object of a first backup) costs a read
//!   only when its prefix matches another's (see [`prefix`]).
//! - Runs are merged pairwise, as a binary counter carries: while the newest run is as
//!   large as the one before it. A handle holds at most log2(n / MERGE_AT) + 1 runs, a
//!   lookup searches that many prefix vectors, and each slot is rewritten about that
//!   many times over the index's life.
//!
//! The files are local scratch, not part of the repository (as the spilled manifest
//! entries of `spill` are): removed by the system when closed, even if the process dies,
//! and rebuilt from the packs' indexes when a repository is opened.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use butterfly_core::Digest;

use crate::format::pack::{Location, PackId};

/// Objects kept in the map before they are written as a run.
const MERGE_AT: usize = 1 << 15;

/// One slot of a run: digest (32), offset (8), pack number (4), length (4), big-endian.
const SLOT_LEN: usize = 32 + 8 + 4 + 4;

/// A location, its pack as a number into [`ObjectIndex::packs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed {
    offset: u64,
    pack: u32,
    length: u32,
}

/// One object of a run.
#[derive(Debug, Clone, Copy)]
struct Slot {
    digest: Digest,
    at: Packed,
}

impl Slot {
    fn encode(&self) -> [u8; SLOT_LEN] {
        let mut bytes = [0u8; SLOT_LEN];
        bytes[..32].copy_from_slice(self.digest.as_bytes());
        bytes[32..40].copy_from_slice(&self.at.offset.to_be_bytes());
        bytes[40..44].copy_from_slice(&self.at.pack.to_be_bytes());
        bytes[44..].copy_from_slice(&self.at.length.to_be_bytes());
        bytes
    }

    fn decode(bytes: &[u8; SLOT_LEN]) -> Slot {
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&bytes[..32]);
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&bytes[32..40]);
        let mut pack = [0u8; 4];
        pack.copy_from_slice(&bytes[40..44]);
        let mut length = [0u8; 4];
        length.copy_from_slice(&bytes[44..]);
        Slot {
            digest: Digest::from_array(digest),
            at: Packed {
                offset: u64::from_be_bytes(offset),
                pack: u32::from_be_bytes(pack),
                length: u32::from_be_bytes(length),
            },
        }
    }
}

/// The first 4 bytes of a digest, as a number that sorts as the digest does.
///
/// Four are enough to make a slot read rare where it is not needed: with 3 million
/// objects indexed, a digest that is not stored matches some prefix once in about 1,400
/// lookups (3M / 2^32), and costs one read then. Eight would double the index's memory.
fn prefix(digest: &Digest) -> u32 {
    let mut first = [0u8; 4];
    first.copy_from_slice(&digest.as_bytes()[..4]);
    u32::from_be_bytes(first)
}

/// A sorted run: its slots in a temporary file, their prefixes in memory.
#[derive(Debug)]
struct Run {
    prefixes: Vec<u32>,
    file: File,
}

impl Run {
    fn len(&self) -> usize {
        self.prefixes.len()
    }

    /// Write slots sorted by digest, without duplicates, as a run.
    fn write(slots: &[Slot]) -> io::Result<Run> {
        let mut prefixes = Vec::with_capacity(slots.len());
        let mut out = BufWriter::new(tempfile::tempfile()?);
        for slot in slots {
            prefixes.push(prefix(&slot.digest));
            out.write_all(&slot.encode())?;
        }
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        Ok(Run { prefixes, file })
    }

    /// The position and location of `digest`, if this run holds it.
    fn find(&self, digest: &Digest) -> io::Result<Option<(usize, Packed)>> {
        let key = prefix(digest);
        let mut i = self.prefixes.partition_point(|p| *p < key);
        while self.prefixes.get(i) == Some(&key) {
            let slot = self.read(i)?;
            if slot.digest == *digest {
                return Ok(Some((i, slot.at)));
            }
            i += 1;
        }
        Ok(None)
    }

    fn read(&self, i: usize) -> io::Result<Slot> {
        // `&File` reads and seeks; the index's lock keeps one reader at a time.
        let mut file = &self.file;
        file.seek(SeekFrom::Start((i * SLOT_LEN) as u64))?;
        let mut bytes = [0u8; SLOT_LEN];
        file.read_exact(&mut bytes)?;
        Ok(Slot::decode(&bytes))
    }

    fn overwrite(&self, i: usize, slot: Slot) -> io::Result<()> {
        let mut file = &self.file;
        file.seek(SeekFrom::Start((i * SLOT_LEN) as u64))?;
        file.write_all(&slot.encode())
    }

    /// Every slot in order, read sequentially.
    fn slots(&self) -> io::Result<RunSlots<'_>> {
        let mut file = &self.file;
        file.seek(SeekFrom::Start(0))?;
        Ok(RunSlots {
            reader: BufReader::new(file),
            left: self.len(),
        })
    }
}

/// A run's slots, front to back.
struct RunSlots<'a> {
    reader: BufReader<&'a File>,
    left: usize,
}

impl RunSlots<'_> {
    fn next_slot(&mut self) -> io::Result<Option<Slot>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let mut bytes = [0u8; SLOT_LEN];
        self.reader.read_exact(&mut bytes)?;
        Ok(Some(Slot::decode(&bytes)))
    }
}

/// Where an object's entry is kept.
#[derive(Debug, Clone, Copy)]
enum Place {
    Recent,
    Run { run: usize, slot: usize },
}

/// Where each stored object is. See the [module docs](self).
#[derive(Debug, Default)]
pub(super) struct ObjectIndex {
    /// Every pack an entry names, by number.
    packs: Vec<PackId>,
    numbers: HashMap<PackId, u32>,
    /// Oldest (and largest) first; no digest in two runs, nor in a run and `recent`.
    runs: Vec<Run>,
    /// Added since the last run was written.
    recent: HashMap<Digest, Packed>,
}

impl ObjectIndex {
    /// Where `digest` is, if indexed. Fails only if a run's temporary file cannot be
    /// read.
    pub(super) fn get(&self, digest: &Digest) -> io::Result<Option<Location>> {
        Ok(self.find(digest)?.map(|(_, at)| self.unpack(at)))
    }

    /// Where `digest` is, and where its entry is kept.
    fn find(&self, digest: &Digest) -> io::Result<Option<(Place, Packed)>> {
        if let Some(at) = self.recent.get(digest) {
            return Ok(Some((Place::Recent, *at)));
        }
        for (r, run) in self.runs.iter().enumerate().rev() {
            if let Some((i, at)) = run.find(digest)? {
                return Ok(Some((Place::Run { run: r, slot: i }, at)));
            }
        }
        Ok(None)
    }

    /// How many objects are indexed.
    pub(super) fn len(&self) -> usize {
        self.runs.iter().map(Run::len).sum::<usize>() + self.recent.len()
    }

    /// Forget everything.
    pub(super) fn clear(&mut self) {
        *self = ObjectIndex::default();
    }

    /// Record where an object is, keeping a copy in a trusted pack over one in an
    /// untrusted pack (a damaged pack's objects are stored again, and the new copy must
    /// win). Fails only if a run's temporary file cannot be read or written; the index
    /// is then unchanged but for, at worst, this object.
    pub(super) fn prefer_trusted(
        &mut self,
        untrusted: &HashSet<PackId>,
        digest: Digest,
        location: Location,
    ) -> io::Result<()> {
        if let Some((place, existing)) = self.find(&digest)? {
            let existing_pack = self.packs[existing.pack as usize];
            if untrusted.contains(&existing_pack) && !untrusted.contains(&location.pack) {
                let at = self.pack(location);
                match place {
                    Place::Recent => {
                        self.recent.insert(digest, at);
                    }
                    Place::Run { run, slot } => {
                        self.runs[run].overwrite(slot, Slot { digest, at })?;
                    }
                }
            }
            return Ok(());
        }
        let at = self.pack(location);
        self.recent.insert(digest, at);
        if self.recent.len() >= MERGE_AT {
            self.write_recent()?;
        }
        Ok(())
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

    /// Write `recent` as a new run, then merge the newest two runs while the newer is
    /// as large as the older.
    fn write_recent(&mut self) -> io::Result<()> {
        let mut slots: Vec<Slot> = self
            .recent
            .iter()
            .map(|(digest, at)| Slot {
                digest: *digest,
                at: *at,
            })
            .collect();
        slots.sort_unstable_by_key(|slot| slot.digest);
        let run = Run::write(&slots)?;
        self.recent.clear();
        self.runs.push(run);
        while let [.., older, newer] = self.runs.as_slice()
            && newer.len() >= older.len()
        {
            let merged = merge(older, newer)?;
            self.runs.truncate(self.runs.len() - 2);
            self.runs.push(merged);
        }
        Ok(())
    }
}

/// Two runs with no digest in common, as one.
fn merge(a: &Run, b: &Run) -> io::Result<Run> {
    let mut prefixes = Vec::with_capacity(a.len() + b.len());
    let mut out = BufWriter::new(tempfile::tempfile()?);
    let (mut a, mut b) = (a.slots()?, b.slots()?);
    let (mut next_a, mut next_b) = (a.next_slot()?, b.next_slot()?);
    loop {
        let slot = match (next_a, next_b) {
            (Some(x), Some(y)) if x.digest <= y.digest => {
                next_a = a.next_slot()?;
                x
            }
            (_, Some(y)) => {
                next_b = b.next_slot()?;
                y
            }
            (Some(x), None) => {
                next_a = a.next_slot()?;
                x
            }
            (None, None) => break,
        };
        prefixes.push(prefix(&slot.digest));
        out.write_all(&slot.encode())?;
    }
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    Ok(Run { prefixes, file })
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
    fn finds_every_object_across_runs_like_a_map() {
        let packs: Vec<PackId> = (0..7).map(|_| PackId::new_random()).collect();
        let mut index = ObjectIndex::default();
        let mut expected = BTreeMap::new();
        let none = HashSet::new();
        // Enough for several runs, merged, and a remainder; each digest twice, the first
        // kept.
        let n = 5 * MERGE_AT as u64 + 123;
        for round in 0..2 {
            for i in 0..n {
                let digest = Digest::of_bytes(&i.to_be_bytes());
                let at = location(&packs[((i + round) % 7) as usize], i + round);
                index.prefer_trusted(&none, digest, at).unwrap();
                expected.entry(digest).or_insert(at);
            }
        }
        assert_eq!(index.len(), expected.len());
        // Five runs written, merged down as a binary counter of 5 (4 + 1).
        let sizes: Vec<usize> = index.runs.iter().map(Run::len).collect();
        assert_eq!(sizes, [4 * MERGE_AT, MERGE_AT]);
        for run in &index.runs {
            assert!(run.prefixes.windows(2).all(|w| w[0] <= w[1]));
        }
        for (digest, at) in &expected {
            assert_eq!(index.get(digest).unwrap(), Some(*at));
        }
        assert_eq!(index.get(&Digest::of_bytes(b"never stored")).unwrap(), None);
        index.clear();
        assert_eq!(index.len(), 0);
        assert_eq!(index.get(expected.keys().next().unwrap()).unwrap(), None);
    }

    #[test]
    fn digests_sharing_a_prefix_are_told_apart_by_the_whole_digest() {
        let pack = PackId::new_random();
        let none = HashSet::new();
        let mut index = ObjectIndex::default();
        // Twenty digests with the same first 4 bytes, and their neighbours on each side.
        let digest = |first: u8, rest: u8| {
            let mut bytes = [first; 32];
            bytes[4..].fill(rest);
            Digest::from_array(bytes)
        };
        let mut stored = Vec::new();
        for rest in (0..40u8).step_by(2) {
            stored.push(digest(7, rest));
        }
        stored.push(digest(6, 255));
        stored.push(digest(8, 0));
        for (n, d) in stored.iter().enumerate() {
            index
                .prefer_trusted(&none, *d, location(&pack, n as u64))
                .unwrap();
        }
        index.write_recent().unwrap();
        assert!(index.recent.is_empty());
        for (n, d) in stored.iter().enumerate() {
            assert_eq!(index.get(d).unwrap(), Some(location(&pack, n as u64)));
        }
        for rest in (1..40u8).step_by(2) {
            assert_eq!(index.get(&digest(7, rest)).unwrap(), None);
        }
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
        let in_run = Digest::of_bytes(b"in a run");
        let recent = Digest::of_bytes(b"recent");
        index
            .prefer_trusted(&untrusted, in_run, location(&bad, 1))
            .unwrap();
        index.write_recent().unwrap();
        index
            .prefer_trusted(&untrusted, recent, location(&bad, 2))
            .unwrap();
        for (digest, first) in [(in_run, location(&bad, 1)), (recent, location(&bad, 2))] {
            // Another untrusted copy does not replace it; a trusted one does, and stays.
            index
                .prefer_trusted(&untrusted, digest, location(&bad, 9))
                .unwrap();
            assert_eq!(index.get(&digest).unwrap(), Some(first));
            index
                .prefer_trusted(&untrusted, digest, location(&good, 3))
                .unwrap();
            assert_eq!(index.get(&digest).unwrap(), Some(location(&good, 3)));
            index
                .prefer_trusted(&untrusted, digest, location(&other, 4))
                .unwrap();
            assert_eq!(index.get(&digest).unwrap(), Some(location(&good, 3)));
        }
        assert_eq!(index.len(), 2);
    }
}
