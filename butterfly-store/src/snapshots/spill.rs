//! A large kind's manifest entries, spilled to temporary files while the kind is fetched.
//!
//! A kind's entries are stored as sorted entry lists when it finishes, so until then a
//! writer holds them. For the largest kinds of a large org (group memberships and app
//! assignments: hundreds of thousands of entries, about 100 bytes each with the id's
//! allocation) that was tens of MiB, growing with the org. Instead, every [`SPILL_AT`]
//! entries are sorted and written as one run to an anonymous temporary file (removed by
//! the system when closed, even if the process dies), and when the kind finishes the
//! runs and the entries still in memory are merged, one entry of each at a time, into
//! exactly the sorted, deduplicated sequence sorting them all at once would give.
//!
//! The files are local scratch, not part of the repository: an S3-backed repository
//! spills to the same local temporary directory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use butterfly_core::{Digest, ManifestEntry};

/// Entries a kind holds in memory before they are spilled as a run.
pub(super) const SPILL_AT: usize = 16 * 1024;

/// The longest id a run can hold (ids are provider ids and pairs of them, far shorter).
const MAX_ID_BYTES: usize = 64 * 1024;

/// One kind's spilled runs, each sorted and without duplicates.
#[derive(Debug, Default)]
pub(super) struct Spill {
    runs: Vec<File>,
}

impl Spill {
    /// Sort `entries`, write them as a new run, and empty the vector (its allocation is
    /// kept for the next run).
    pub(super) fn push_run(&mut self, entries: &mut Vec<ManifestEntry>) -> io::Result<()> {
        entries.sort_unstable();
        entries.dedup();
        let file = tempfile::tempfile()?;
        let mut out = BufWriter::new(file);
        for entry in entries.drain(..) {
            let id = entry.id.as_bytes();
            let len = u32::try_from(id.len())
                .ok()
                .filter(|_| id.len() <= MAX_ID_BYTES)
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("a resource id of {} bytes is too long", id.len()),
                    )
                })?;
            out.write_all(&len.to_le_bytes())?;
            out.write_all(id)?;
            out.write_all(entry.digest.as_bytes())?;
        }
        let mut file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.seek(SeekFrom::Start(0))?;
        self.runs.push(file);
        Ok(())
    }

    /// Every entry of the runs and of `rest`, sorted and without duplicates.
    pub(super) fn merge(self, mut rest: Vec<ManifestEntry>) -> io::Result<Merge> {
        rest.sort_unstable();
        rest.dedup();
        let mut sources: Vec<Source> = self
            .runs
            .into_iter()
            .map(|file| Source::Run(BufReader::new(file)))
            .collect();
        sources.push(Source::Memory(rest.into_iter()));
        let mut heads = BinaryHeap::with_capacity(sources.len());
        for (i, source) in sources.iter_mut().enumerate() {
            if let Some(entry) = source.next_entry()? {
                heads.push(Reverse((entry, i)));
            }
        }
        Ok(Merge {
            sources,
            heads,
            last: None,
        })
    }
}

/// Where a merge reads from.
#[derive(Debug)]
enum Source {
    Run(BufReader<File>),
    Memory(std::vec::IntoIter<ManifestEntry>),
}

impl Source {
    fn next_entry(&mut self) -> io::Result<Option<ManifestEntry>> {
        let reader = match self {
            Source::Memory(entries) => return Ok(entries.next()),
            Source::Run(reader) => reader,
        };
        let mut len = [0u8; 4];
        match reader.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_ID_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a spilled run is damaged",
            ));
        }
        let mut id = vec![0u8; len];
        reader.read_exact(&mut id)?;
        let mut digest = [0u8; 32];
        reader.read_exact(&mut digest)?;
        let id = String::from_utf8(id)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a spilled run is damaged"))?;
        Ok(Some(ManifestEntry {
            id,
            digest: Digest::from_array(digest),
        }))
    }
}

/// The merged entries of a [`Spill`], in order; see [`Spill::merge`].
#[derive(Debug)]
pub(super) struct Merge {
    sources: Vec<Source>,
    /// The next entry of each source that has one, smallest first.
    heads: BinaryHeap<Reverse<(ManifestEntry, usize)>>,
    last: Option<ManifestEntry>,
}

impl Merge {
    /// The next entry, or `None` when every source is read.
    pub(super) fn next_entry(&mut self) -> io::Result<Option<ManifestEntry>> {
        while let Some(Reverse((entry, i))) = self.heads.pop() {
            if let Some(next) = self.sources[i].next_entry()? {
                self.heads.push(Reverse((next, i)));
            }
            // The same entry in two runs (a resource listed twice) is kept once, as a
            // sort and dedup of them all would.
            if self.last.as_ref() == Some(&entry) {
                continue;
            }
            self.last = Some(entry.clone());
            return Ok(Some(entry));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, digest: u8) -> ManifestEntry {
        ManifestEntry {
            id: id.to_owned(),
            digest: Digest::from_array([digest; 32]),
        }
    }

    fn drain(mut merge: Merge) -> Vec<ManifestEntry> {
        let mut out = Vec::new();
        while let Some(entry) = merge.next_entry().unwrap() {
            out.push(entry);
        }
        out
    }

    #[test]
    fn merging_runs_gives_what_sorting_everything_gives() {
        // Shuffled ids, some twice (within a run and across runs), one with two digests.
        let all: Vec<ManifestEntry> = (0..5000u32)
            .map(|i| {
                let n = (i * 7919) % 3001;
                entry(&format!("00u{n:05}"), (n % 251) as u8)
            })
            .chain([entry("00u00007", 1), entry("00u00007", 2), entry("", 0)])
            .collect();
        let mut expected = all.clone();
        expected.sort();
        expected.dedup();

        let mut spill = Spill::default();
        let mut held = Vec::new();
        for (i, e) in all.iter().enumerate() {
            held.push(e.clone());
            if i % 1200 == 1199 {
                spill.push_run(&mut held).unwrap();
                assert!(held.is_empty());
            }
        }
        assert_eq!(spill.runs.len(), 4);
        assert_eq!(drain(spill.merge(held).unwrap()), expected);
    }

    #[test]
    fn no_runs_is_the_sorted_memory_and_nothing_is_nothing() {
        let held = vec![entry("b", 1), entry("a", 2), entry("b", 1)];
        assert_eq!(
            drain(Spill::default().merge(held).unwrap()),
            vec![entry("a", 2), entry("b", 1)]
        );
        assert!(drain(Spill::default().merge(Vec::new()).unwrap()).is_empty());
    }

    #[test]
    fn an_empty_run_and_a_damaged_run() {
        let mut spill = Spill::default();
        spill.push_run(&mut Vec::new()).unwrap();
        spill.push_run(&mut vec![entry("x", 3)]).unwrap();
        assert_eq!(drain(spill.merge(Vec::new()).unwrap()), vec![entry("x", 3)]);

        // A run cut inside an entry is an error, not a short or wrong list.
        let mut spill = Spill::default();
        spill.push_run(&mut vec![entry("x", 3)]).unwrap();
        let len = spill.runs[0].metadata().unwrap().len();
        spill.runs[0].set_len(len - 1).unwrap();
        let err = spill
            .merge(Vec::new())
            .and_then(|mut m| m.next_entry())
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
