//! Which pages of a memory file's data hold something: what a tmpfs
//! charges against its size and what st_blocks counts. Holes (pages never
//! written, or cut off by a truncation) cost nothing, as in Linux's shmem.

use std::collections::BTreeMap;

/// A set of page numbers, kept as disjoint runs that do not touch.
#[derive(Debug, Default)]
pub struct PageSet {
    /// The start of each run and its end (exclusive).
    runs: BTreeMap<u64, u64>,
    /// How many pages the runs hold.
    count: u64,
}

impl PageSet {
    /// How many pages are in the set.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// How many pages of `start..end` are not in the set.
    pub fn missing(&self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        // The run starting at or before `start` may reach into the range.
        let from = self.runs.range(..=start).next_back().map_or(start, |(&s, _)| s);
        let present: u64 = self
            .runs
            .range(from..end)
            .map(|(&s, &e)| e.min(end).saturating_sub(s.max(start)))
            .sum();
        (end - start) - present
    }

    /// Adds `start..end`; returns how many pages were not there before.
    pub fn insert(&mut self, start: u64, end: u64) -> u64 {
        let new = self.missing(start, end);
        if new == 0 {
            return 0;
        }
        let (mut lo, mut hi) = (start, end);
        if let Some((&s, &e)) = self.runs.range(..=lo).next_back() {
            if e >= lo {
                lo = s;
                hi = hi.max(e);
            }
        }
        let absorbed: Vec<(u64, u64)> = self.runs.range(lo..=hi).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in absorbed {
            self.runs.remove(&s);
            hi = hi.max(e);
        }
        self.runs.insert(lo, hi);
        self.count += new;
        new
    }

    /// Removes the pages of `start..end`; returns how many were there.
    pub fn remove(&mut self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        let tail = self.split_off(end);
        let gone = self.truncate(start);
        self.runs.extend(tail.runs);
        self.count += tail.count;
        gone
    }

    /// The pages from `at` on, taken out of this set.
    fn split_off(&mut self, at: u64) -> PageSet {
        let mut tail = PageSet::default();
        if let Some((_, end)) = self.runs.range_mut(..at).next_back() {
            if *end > at {
                tail.runs.insert(at, *end);
                *end = at;
            }
        }
        tail.runs.extend(self.runs.split_off(&at));
        tail.count = tail.runs.iter().map(|(&s, &e)| e - s).sum();
        self.count -= tail.count;
        tail
    }

    /// Removes every page from `from` on; returns how many went.
    pub fn truncate(&mut self, from: u64) -> u64 {
        let mut gone = 0;
        if let Some((_, end)) = self.runs.range_mut(..from).next_back() {
            if *end > from {
                gone += *end - from;
                *end = from;
            }
        }
        let tail: Vec<(u64, u64)> = self.runs.range(from..).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in tail {
            self.runs.remove(&s);
            gone += e - s;
        }
        self.count -= gone;
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_and_count_only_new_pages() {
        let mut set = PageSet::default();
        assert_eq!(set.insert(10, 12), 2);
        assert_eq!(set.insert(0, 1), 1);
        assert_eq!(set.missing(0, 12), 9);
        assert_eq!(set.insert(11, 14), 2);
        assert_eq!(set.insert(1, 10), 9);
        assert_eq!(set.len(), 14);
        assert_eq!(set.runs.len(), 1, "{:?}", set.runs);
        assert_eq!(set.insert(3, 5), 0);
        assert_eq!(set.missing(13, 20), 6);
    }

    #[test]
    fn truncation_cuts_runs_and_returns_the_pages() {
        let mut set = PageSet::default();
        set.insert(0, 4);
        set.insert(8, 10);
        set.insert(256, 257);
        assert_eq!(set.truncate(9), 2);
        assert_eq!(set.len(), 5);
        assert_eq!(set.missing(0, 10), 5);
        assert_eq!(set.truncate(0), 5);
        assert_eq!(set.len(), 0);
        assert!(set.runs.is_empty());
    }

    #[test]
    fn removal_cuts_a_hole_in_runs() {
        let mut set = PageSet::default();
        set.insert(0, 16);
        set.insert(20, 22);
        assert_eq!(set.remove(2, 9), 7);
        assert_eq!(set.len(), 11);
        assert_eq!(set.missing(0, 16), 7);
        assert_eq!(set.missing(9, 16), 0);
        assert_eq!(set.remove(15, 21), 2);
        assert_eq!(set.missing(20, 22), 1);
        assert_eq!(set.remove(100, 200), 0);
        assert_eq!(set.len(), 9);
    }
}
