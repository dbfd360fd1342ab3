//! The seqs one subscriber received: a bit per seq after the head it subscribed at.

/// Bits beyond this many seqs past the head are refused (a corrupt seq must not allocate GiBs).
const MAX_SPAN: u64 = 1 << 30;

/// What [`SeqSet::insert`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Insert {
    New,
    Again,
    /// At or below the head, or more than [`MAX_SPAN`] past it.
    OutOfRange,
}

/// A growable bit set of the seqs `head + 1 ..= head + MAX_SPAN`.
#[derive(Debug, Clone)]
pub(super) struct SeqSet {
    head: u64,
    words: Vec<u64>,
}

impl SeqSet {
    /// An empty set for the seqs after `head`.
    pub(super) fn after(head: u64) -> SeqSet {
        SeqSet {
            head,
            words: Vec::new(),
        }
    }

    fn slot(&self, seq: u64) -> Option<(usize, u64)> {
        let offset = seq.checked_sub(self.head + 1)?;
        if offset >= MAX_SPAN {
            return None;
        }
        let word = usize::try_from(offset / 64).ok()?;
        Some((word, 1u64 << (offset % 64)))
    }

    pub(super) fn insert(&mut self, seq: u64) -> Insert {
        let Some((word, bit)) = self.slot(seq) else {
            return Insert::OutOfRange;
        };
        if word >= self.words.len() {
            self.words.resize((word + 1).next_power_of_two(), 0);
        }
        let w = &mut self.words[word];
        if *w & bit != 0 {
            return Insert::Again;
        }
        *w |= bit;
        Insert::New
    }

    pub(super) fn contains(&self, seq: u64) -> bool {
        self.slot(seq)
            .is_some_and(|(word, bit)| self.words.get(word).is_some_and(|w| w & bit != 0))
    }

    /// How many of `expected` (sorted, distinct) seqs after the head are missing.
    pub(super) fn missing(&self, expected: &[u64]) -> u64 {
        let start = expected.partition_point(|&s| s <= self.head);
        expected[start..]
            .iter()
            .filter(|&&s| !self.contains(s))
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_finds_duplicates_and_refuses_out_of_range() {
        let mut s = SeqSet::after(10);
        assert_eq!(s.insert(10), Insert::OutOfRange);
        assert_eq!(s.insert(11), Insert::New);
        assert_eq!(s.insert(11), Insert::Again);
        assert_eq!(s.insert(300), Insert::New);
        assert_eq!(s.insert(10 + MAX_SPAN + 1), Insert::OutOfRange);
        assert!(s.contains(11) && s.contains(300) && !s.contains(12) && !s.contains(5));
    }

    #[test]
    fn counts_missing_expected_seqs_after_the_head() {
        let mut s = SeqSet::after(2);
        for seq in [3, 4, 6] {
            s.insert(seq);
        }
        assert_eq!(s.missing(&[1, 2, 3, 4, 5, 6, 7]), 2);
        assert_eq!(s.missing(&[]), 0);
    }
}
