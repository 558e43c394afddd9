//! The memory manager checked against a page model: after any sequence of
//! mmap, mprotect, munmap, mremap, madvise and brk, its VMAs, the
//! platform's mappings (as a recording address space saw the calls) and
//! the memory file's allocator agree with a map of page -> attributes, and
//! every page holds what the model says it holds.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use proptest::prelude::*;

use super::*;
use crate::platform::PlatformError;

const P: u64 = PAGE_SIZE;
/// The pages the operations name: mmap without an address fills them
/// top-down from their end, and brk grows up from their middle.
const WINDOW: u64 = 0x1000_0000;
const WINDOW_PAGES: u64 = 64;
const MMAP_BASE: u64 = WINDOW + WINDOW_PAGES * P;
const BRK_START: u64 = WINDOW + 40 * P;

/// A platform address space that keeps what the host would after the calls
/// it was given: the memory-file offset and protection of each mapped page.
/// It can be told to fail its next unmap or protect calls, which then do
/// part of their work first, as a host call may.
#[derive(Default)]
struct RecordingSpace {
    recorded: Mutex<Recorded>,
}

#[derive(Default)]
struct Recorded {
    pages: BTreeMap<u64, (u64, Prot)>,
    /// How many of the next unmap calls fail.
    failing_unmaps: u32,
    /// How many of the next protect calls fail.
    failing_protects: u32,
    /// How many calls have failed as told.
    failed: u32,
}

impl RecordingSpace {
    fn recorded(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().expect("recorded pages poisoned")
    }

    fn pages(&self) -> BTreeMap<u64, (u64, Prot)> {
        self.recorded().pages.clone()
    }

    fn fail_next_unmap(&self) {
        self.recorded().failing_unmaps = 1;
    }

    fn fail_next_protects(&self, calls: u32) {
        self.recorded().failing_protects = calls;
    }

    fn failed(&self) -> u32 {
        self.recorded().failed
    }
}

/// Counts down the calls told to fail: whether the one about to be made does.
fn fails_now(failing: &mut u32) -> bool {
    let fails = *failing > 0;
    *failing = failing.saturating_sub(1);
    fails
}

fn told_to_fail(call: &'static str) -> PlatformError {
    PlatformError::Injected {
        call,
        pid: 0,
        errno: Errno::ENOMEM,
    }
}

/// Checks that a call names whole pages, as the host's would require.
fn page_range(addr: u64, len: u64) -> impl Iterator<Item = u64> {
    assert!(
        addr % P == 0 && len % P == 0 && len > 0,
        "platform call on {addr:#x}+{len:#x}"
    );
    (addr..addr + len).step_by(P as usize)
}

impl AddressSpace for RecordingSpace {
    fn map(&self, addr: u64, len: u64, prot: Prot, file_offset: u64) -> Result<(), PlatformError> {
        let mut recorded = self.recorded();
        for page in page_range(addr, len) {
            recorded.pages.insert(page, (file_offset + (page - addr), prot));
        }
        Ok(())
    }

    fn unmap(&self, addr: u64, len: u64) -> Result<(), PlatformError> {
        let recorded = &mut *self.recorded();
        let fails = fails_now(&mut recorded.failing_unmaps);
        recorded.failed += u32::from(fails);
        // A failing call unmaps the first half of the range.
        let done = if fails { len / P / 2 * P } else { len };
        for page in page_range(addr, len).take_while(|&page| page < addr + done) {
            recorded.pages.remove(&page);
        }
        if fails {
            return Err(told_to_fail("munmap"));
        }
        Ok(())
    }

    fn protect(&self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
        let recorded = &mut *self.recorded();
        // The host's mprotect fails with ENOMEM on a hole.
        if page_range(addr, len).any(|page| !recorded.pages.contains_key(&page)) {
            return Err(told_to_fail("mprotect"));
        }
        let fails = fails_now(&mut recorded.failing_protects);
        recorded.failed += u32::from(fails);
        // A failing call changes the first half of the range.
        let done = if fails { len / P / 2 * P } else { len };
        for page in page_range(addr, len).take_while(|&page| page < addr + done) {
            recorded.pages.get_mut(&page).expect("checked above").1 = prot;
        }
        if fails {
            return Err(told_to_fail("mprotect"));
        }
        Ok(())
    }
}

/// What the model knows of one application page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Page {
    prot: Prot,
    shared: bool,
    kind: VmaKind,
    /// What the test wrote at the start of the page; 0 for a page mapped
    /// since, which must read as zero.
    stamp: u64,
}

/// The address space as Linux would have it, page by page.
struct Model {
    pages: BTreeMap<u64, Page>,
    brk: u64,
    /// The next stamp to write.
    next_stamp: u64,
}

impl Model {
    fn new() -> Self {
        Model {
            pages: BTreeMap::new(),
            brk: BRK_START,
            next_stamp: 1,
        }
    }

    fn resolve(&self, at: At) -> u64 {
        match at {
            At::Mapped(nth) if !self.pages.is_empty() => *self
                .pages
                .keys()
                .nth(nth % self.pages.len())
                .expect("nth below the count"),
            At::Mapped(_) => WINDOW,
            At::Page(page) => addr(page),
        }
    }

    fn map_fresh(&mut self, addr: u64, len: u64, like: Page) {
        for page in (addr..addr + len).step_by(P as usize) {
            self.pages.insert(page, Page { stamp: 0, ..like });
        }
    }

    fn unmap(&mut self, addr: u64, len: u64) {
        let pages: Vec<u64> = self.pages.range(addr..addr + len).map(|(&page, _)| page).collect();
        for page in pages {
            self.pages.remove(&page);
        }
    }

    fn is_free(&self, addr: u64, len: u64) -> bool {
        self.pages.range(addr..addr + len).next().is_none()
    }

    fn covered(&self, addr: u64, len: u64) -> bool {
        self.pages.range(addr..addr + len).count() as u64 == len / P
    }

    /// The attributes of `[addr, addr + len)` if it is one mapping as far
    /// as mremap is concerned: every page mapped, all alike.
    fn one_mapping(&self, addr: u64, len: u64) -> Option<Page> {
        let first = *self.pages.get(&addr)?;
        let alike = |page: &Page| (page.prot, page.shared, page.kind) == (first.prot, first.shared, first.kind);
        (self.covered(addr, len) && self.pages.range(addr..addr + len).all(|(_, page)| alike(page))).then_some(first)
    }

    /// Where a mapping without a usable hint goes: the highest free range
    /// below the base.
    fn top_down(&self, len: u64) -> u64 {
        let mut end = MMAP_BASE;
        loop {
            match self.pages.range(end - len..end).next_back() {
                Some((&page, _)) => end = page,
                None => return end - len,
            }
        }
    }

    /// mmap(2), with the address the manager must choose.
    fn mmap(&mut self, at: Placement, len: u64, like: Page) -> Result<u64, Errno> {
        let addr = match at {
            Placement::Anywhere => self.top_down(len),
            Placement::Hint(hint) if self.is_free(hint, len) => hint,
            Placement::Hint(_) => self.top_down(len),
            Placement::Fixed(addr) => addr,
            Placement::NoReplace(addr) if self.is_free(addr, len) => addr,
            Placement::NoReplace(_) => return Err(Errno::EEXIST),
        };
        self.map_fresh(addr, len, like);
        Ok(addr)
    }

    fn mprotect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<u64, Errno> {
        if !self.covered(addr, len) {
            return Err(Errno::ENOMEM);
        }
        for (_, page) in self.pages.range_mut(addr..addr + len) {
            page.prot = prot;
        }
        Ok(0)
    }

    /// madvise(MADV_DONTNEED): private pages read as zero afterwards.
    fn dontneed(&mut self, addr: u64, len: u64) -> Result<u64, Errno> {
        if !self.covered(addr, len) {
            return Err(Errno::ENOMEM);
        }
        for (_, page) in self.pages.range_mut(addr..addr + len).filter(|(_, page)| !page.shared) {
            page.stamp = 0;
        }
        Ok(0)
    }

    /// mremap(2), as cordon implements it.
    fn mremap(&mut self, old: u64, old_len: u64, new_len: u64, flags: u64, new_addr: u64) -> Result<u64, Errno> {
        let may_move = flags & libc::MREMAP_MAYMOVE as u64 != 0;
        let fixed = flags & libc::MREMAP_FIXED as u64 != 0;
        let dont_unmap = flags & libc::MREMAP_DONTUNMAP as u64 != 0;
        if dont_unmap && old_len != new_len {
            return Err(Errno::EINVAL);
        }
        let like = self.one_mapping(old, old_len).ok_or(Errno::EFAULT)?;
        let dest = if fixed {
            if new_addr < old + old_len && old < new_addr + new_len {
                return Err(Errno::EINVAL);
            }
            self.unmap(new_addr, new_len);
            new_addr
        } else {
            if new_len <= old_len && !dont_unmap {
                self.unmap(old + new_len, old_len - new_len);
                return Ok(old);
            }
            if !dont_unmap && self.is_free(old + old_len, new_len - old_len) {
                self.map_fresh(old + old_len, new_len - old_len, like);
                return Ok(old);
            }
            if !may_move {
                return Err(Errno::ENOMEM);
            }
            self.top_down(new_len)
        };
        let moved: Vec<Page> = self.pages.range(old..old + old_len).map(|(_, &page)| page).collect();
        self.unmap(old, old_len);
        for (page, at) in moved.into_iter().zip((dest..dest + new_len).step_by(P as usize)) {
            self.pages.insert(at, page);
        }
        if new_len > old_len {
            self.map_fresh(dest + old_len, new_len - old_len, like);
        }
        if dont_unmap {
            self.map_fresh(old, old_len, like);
        }
        Ok(dest)
    }

    /// brk(2): the new break, or the old one.
    fn brk(&mut self, addr: u64) -> u64 {
        if addr < BRK_START {
            return self.brk;
        }
        let new_end = page_up(addr).expect("small address");
        let old_end = page_up(self.brk).expect("small address");
        if new_end > old_end {
            if new_end > MMAP_BASE || !self.is_free(old_end, new_end - old_end) {
                return self.brk;
            }
            let heap = Page {
                prot: Prot::READ_WRITE,
                shared: false,
                kind: VmaKind::Heap,
                stamp: 0,
            };
            self.map_fresh(old_end, new_end - old_end, heap);
        } else {
            self.unmap(new_end, old_end - new_end);
        }
        self.brk = addr;
        addr
    }
}

#[derive(Debug, Clone, Copy)]
enum Placement {
    Anywhere,
    Hint(u64),
    Fixed(u64),
    NoReplace(u64),
}

/// Where a call on existing memory starts.
#[derive(Debug, Clone, Copy)]
enum At {
    /// This page of the window.
    Page(u64),
    /// The nth mapped page (modulo their number), so that calls find
    /// memory to act on more often than a page picked at random would.
    Mapped(usize),
}

/// One system call; lengths in pages.
#[derive(Debug, Clone)]
enum Op {
    Mmap {
        at: Placement,
        pages: u64,
        prot: Prot,
        shared: bool,
    },
    Mprotect {
        at: At,
        pages: u64,
        prot: Prot,
    },
    Munmap {
        at: At,
        pages: u64,
    },
    Mremap {
        at: At,
        old_pages: u64,
        new_pages: u64,
        flags: u64,
        new_page: u64,
    },
    DontNeed {
        at: At,
        pages: u64,
    },
    /// brk to this many bytes past a page below the start of the heap.
    Brk {
        bytes: u64,
    },
    /// Not a call: the platform's next unmap fails.
    FailNextUnmap,
    /// Not a call: the platform's next protect calls fail, this many.
    FailNextProtects(u32),
}

fn addr(page: u64) -> u64 {
    WINDOW + page * P
}

fn prot() -> impl Strategy<Value = Prot> {
    prop_oneof![
        Just(Prot::NONE),
        Just(Prot::READ),
        Just(Prot::READ_WRITE),
        Just(Prot::READ.union(Prot::EXEC)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let page = || 0..WINDOW_PAGES;
    let pages = || 1..=8u64;
    let at = || {
        prop_oneof![
            1 => (0..WINDOW_PAGES).prop_map(At::Page),
            3 => any::<usize>().prop_map(At::Mapped),
        ]
    };
    let placement = prop_oneof![
        Just(Placement::Anywhere),
        page().prop_map(|page| Placement::Hint(addr(page))),
        page().prop_map(|page| Placement::Fixed(addr(page))),
        page().prop_map(|page| Placement::NoReplace(addr(page))),
    ];
    let may_move = libc::MREMAP_MAYMOVE as u64;
    let remap_flags = prop_oneof![
        Just(0),
        Just(may_move),
        Just(may_move | libc::MREMAP_FIXED as u64),
        Just(may_move | libc::MREMAP_DONTUNMAP as u64),
        Just(may_move | libc::MREMAP_FIXED as u64 | libc::MREMAP_DONTUNMAP as u64),
    ];
    prop_oneof![
        4 => (placement, pages(), prot(), any::<bool>())
            .prop_map(|(at, pages, prot, shared)| Op::Mmap { at, pages, prot, shared }),
        3 => (at(), 1..=4u64, prot()).prop_map(|(at, pages, prot)| Op::Mprotect { at, pages, prot }),
        2 => (at(), pages()).prop_map(|(at, pages)| Op::Munmap { at, pages }),
        3 => (at(), 1..=4u64, pages(), remap_flags, page(), any::<bool>()).prop_map(
            |(at, old_pages, new_pages, flags, new_page, same_len)| {
                // MREMAP_DONTUNMAP needs equal lengths; try the other case too.
                let dont_unmap = flags & libc::MREMAP_DONTUNMAP as u64 != 0;
                let new_pages = if dont_unmap && same_len { old_pages } else { new_pages };
                Op::Mremap { at, old_pages, new_pages, flags, new_page }
            }
        ),
        1 => (at(), 1..=4u64).prop_map(|(at, pages)| Op::DontNeed { at, pages }),
        2 => (0..30 * P).prop_map(|bytes| Op::Brk { bytes }),
    ]
}

/// The calls of `op`, and now and then a platform call told to fail.
fn op_or_failure() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => op(),
        1 => Just(Op::FailNextUnmap),
        2 => (1..=2u32).prop_map(Op::FailNextProtects),
    ]
}

/// A manager over a new memory file, with the window's base and heap.
fn manager() -> MemoryManager {
    let file = Arc::new(MemoryFile::new().expect("memfd"));
    let mut mm = MemoryManager::new(file);
    mm.set_mmap_base(MMAP_BASE);
    mm.set_brk_start(BRK_START);
    mm
}

/// Runs `op` on both, and checks that they answer alike. False when a
/// platform call failed as told and the address space is lost, which the
/// model does not follow.
fn step(mm: &mut MemoryManager, space: &RecordingSpace, model: &mut Model, op: &Op) -> bool {
    let failed = space.failed();
    let before = model.pages.clone();
    let (got, want) = match *op {
        Op::Mmap {
            at,
            pages,
            prot,
            shared,
        } => {
            let (addr, fixed, noreplace) = match at {
                Placement::Anywhere => (0, false, false),
                Placement::Hint(addr) => (addr, false, false),
                Placement::Fixed(addr) => (addr, true, false),
                Placement::NoReplace(addr) => (addr, false, true),
            };
            let req = MapRequest {
                addr,
                len: pages * P,
                prot,
                shared,
                fixed,
                noreplace,
                growsdown: false,
                kind: VmaKind::Anonymous,
            };
            let like = Page {
                prot,
                shared,
                kind: VmaKind::Anonymous,
                stamp: 0,
            };
            (mm.map(req, u64::MAX, space), model.mmap(at, pages * P, like))
        }
        Op::Mprotect { at, pages, prot } => {
            let start = model.resolve(at);
            (
                mm.protect(start, pages * P, prot, space).map(|()| 0),
                model.mprotect(start, pages * P, prot),
            )
        }
        Op::Munmap { at, pages } => {
            let start = model.resolve(at);
            model.unmap(start, pages * P);
            (mm.unmap(start, pages * P, space).map(|()| 0), Ok(0))
        }
        Op::Mremap {
            at,
            old_pages,
            new_pages,
            flags,
            new_page,
        } => {
            let (old, old_len, new_len, new_addr) = (model.resolve(at), old_pages * P, new_pages * P, addr(new_page));
            (
                mm.remap(old, old_len, new_len, flags, new_addr, space),
                model.mremap(old, old_len, new_len, flags, new_addr),
            )
        }
        Op::DontNeed { at, pages } => {
            let start = model.resolve(at);
            (
                mm.advise(start, pages * P, libc::MADV_DONTNEED).map(|()| 0),
                model.dontneed(start, pages * P),
            )
        }
        Op::Brk { bytes } => {
            let to = BRK_START - P + bytes;
            (Ok(mm.set_brk(to, u64::MAX, space)), Ok(model.brk(to)))
        }
        Op::FailNextUnmap => {
            space.fail_next_unmap();
            (Ok(0), Ok(0))
        }
        Op::FailNextProtects(calls) => {
            space.fail_next_protects(calls);
            (Ok(0), Ok(0))
        }
    };
    if space.failed() != failed {
        if mm.is_broken() {
            return false;
        }
        // A failed mprotect that could be undone: nothing changed.
        assert!(
            matches!(op, Op::Mprotect { .. }),
            "{op:?} went on after a failed platform call"
        );
        assert_eq!(got, Err(Errno::ENOMEM), "{op:?}");
        model.pages = before;
        return true;
    }
    assert!(!mm.is_broken(), "{op:?} broke the manager");
    assert_eq!(got, want, "{op:?}");
    true
}

/// The memory-file pages the allocator would hand out now, below `bound`
/// (everything at and above the highest allocation is free anyway). Found
/// by allocating page after page, lowest first, then freeing them again.
fn free_pages(file: &MemoryFile, bound: u64) -> Vec<u64> {
    let mut free = Vec::new();
    loop {
        let offset = file.allocate(P).expect("the memory file has room");
        free.push(offset);
        if offset >= bound {
            break;
        }
    }
    for &offset in &free {
        file.free(offset, P);
    }
    free.pop();
    free
}

/// Checks that none of `offsets` is free in the memory file.
fn assert_allocated(file: &MemoryFile, offsets: &HashSet<u64>) {
    let bound = offsets.iter().max().map_or(0, |&offset| offset + P);
    let reused: Vec<u64> = free_pages(file, bound)
        .into_iter()
        .filter(|offset| offsets.contains(offset))
        .collect();
    assert!(reused.is_empty(), "reachable memory-file pages are free: {reused:x?}");
}

/// Checks that the VMAs are well formed, and returns what each of their
/// pages is: (memory-file offset, prot, shared, kind).
fn check_vmas(mm: &MemoryManager) -> BTreeMap<u64, (u64, Prot, bool, VmaKind)> {
    let mut vma_pages = BTreeMap::new();
    let mut previous: Option<&Vma> = None;
    for (&start, vma) in &mm.vmas {
        assert_eq!(start, vma.start);
        assert!(vma.start < vma.end, "empty VMA {vma:?}");
        assert!(
            [vma.start, vma.end, vma.offset].iter().all(|value| value % P == 0),
            "unaligned VMA {vma:?}"
        );
        assert!(
            MMAP_MIN_ADDR <= vma.start && vma.end <= USER_END,
            "VMA out of bounds {vma:?}"
        );
        if let Some(previous) = previous {
            assert!(previous.end <= vma.start, "overlapping VMAs {previous:?} {vma:?}");
            assert!(!previous.mergeable(vma), "unmerged VMAs {previous:?} {vma:?}");
        }
        if let Some(backing) = &vma.backing {
            let (from, to) = (vma.offset, vma.offset + vma.len());
            assert!(
                backing.offset <= from && to <= backing.offset + backing.len,
                "shared VMA outside its backing {vma:?}"
            );
        }
        for page in (vma.start..vma.end).step_by(P as usize) {
            vma_pages.insert(page, (vma.offset + (page - vma.start), vma.prot, vma.shared, vma.kind));
        }
        previous = Some(vma);
    }
    assert_eq!(mm.mapped, vma_pages.len() as u64 * P, "mapped bytes");
    vma_pages
}

/// Checks the manager's invariants and that it, the platform and the model
/// agree; then stamps the pages mapped since the last check.
fn check(mm: &MemoryManager, space: &RecordingSpace, model: &mut Model) {
    let vma_pages = check_vmas(mm);
    assert_eq!(mm.brk, model.brk, "brk");

    let modelled: BTreeMap<u64, _> = model
        .pages
        .iter()
        .map(|(&page, p)| (page, (p.prot, p.shared, p.kind)))
        .collect();
    let managed: BTreeMap<u64, _> = vma_pages
        .iter()
        .map(|(&page, &(_, prot, shared, kind))| (page, (prot, shared, kind)))
        .collect();
    assert_eq!(managed, modelled, "the VMAs differ from the model");

    let platform = space.pages();
    let managed: BTreeMap<u64, _> = vma_pages
        .iter()
        .map(|(&page, &(offset, prot, _, _))| (page, (offset, prot)))
        .collect();
    assert_eq!(platform, managed, "the platform's mappings differ from the VMAs");

    let offsets: HashSet<u64> = platform.values().map(|&(offset, _)| offset).collect();
    assert_eq!(offsets.len(), platform.len(), "a memory-file page mapped twice");
    assert_allocated(&mm.file, &offsets);

    for (&page, modelled) in model.pages.iter_mut() {
        let mut stamp = [0u8; 8];
        mm.file.read(platform[&page].0, &mut stamp);
        assert_eq!(u64::from_le_bytes(stamp), modelled.stamp, "contents of page {page:#x}");
        if modelled.stamp == 0 {
            modelled.stamp = model.next_stamp;
            model.next_stamp += 1;
            mm.fill(page, &modelled.stamp.to_le_bytes()).expect("mapped page");
        }
    }
}

/// What must hold of a broken manager: its VMAs are well formed, and no
/// page the application may still reach (what the platform maps, and what
/// the failed unmap was to remove) is free in the memory file.
fn check_broken(mm: &MemoryManager, space: &RecordingSpace) {
    check_vmas(mm);
    let mut reachable: HashSet<u64> = space.pages().values().map(|&(offset, _)| offset).collect();
    for vma in &mm.stranded {
        reachable.extend((vma.offset..vma.offset + vma.len()).step_by(P as usize));
    }
    assert_allocated(&mm.file, &reachable);
}

/// Runs `ops` on a new manager and the model, checking both after each;
/// once the manager is broken, checks what still must hold and stops, as
/// the task layer kills the address space. Dropping the manager must free
/// every page, stranded ones too.
fn run(ops: &[Op]) {
    let mut mm = manager();
    let space = RecordingSpace::default();
    let mut model = Model::new();
    for op in ops {
        if !step(&mut mm, &space, &mut model, op) {
            check_broken(&mm, &space);
            break;
        }
        check(&mm, &space, &mut model);
    }
    let file = Arc::clone(&mm.file);
    drop(mm);
    // With nothing allocated, the first allocation of any size is at 0.
    assert_eq!(file.allocate(1 << 30), Ok(0), "memory-file pages leaked");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Every call answers as the model does and `check` holds after each.
    #[test]
    fn any_sequence_of_calls_keeps_the_manager_consistent(ops in proptest::collection::vec(op(), 1..40)) {
        run(&ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// As above, with platform calls that fail part way through.
    #[test]
    fn failed_platform_calls_free_no_reachable_page(ops in proptest::collection::vec(op_or_failure(), 1..40)) {
        run(&ops);
    }
}

#[test]
fn a_failed_platform_mprotect_changes_nothing() {
    let mut mm = manager();
    let space = RecordingSpace::default();
    mm.map(
        MapRequest::fixed(WINDOW, 4 * P, Prot::READ_WRITE, VmaKind::Anonymous),
        u64::MAX,
        &space,
    )
    .unwrap();
    mm.protect(WINDOW + P, P, Prot::READ, &space).unwrap();
    let vmas = |mm: &MemoryManager| -> Vec<(u64, u64, Prot)> { mm.vmas().map(|v| (v.start, v.end, v.prot)).collect() };
    let (vmas_before, platform_before) = (vmas(&mm), space.pages());

    space.fail_next_protects(1);
    assert_eq!(mm.protect(WINDOW, 4 * P, Prot::NONE, &space), Err(Errno::ENOMEM));
    assert!(!mm.is_broken(), "the platform's protections were put back");
    assert_eq!(vmas(&mm), vmas_before);
    assert_eq!(space.pages(), platform_before);

    // When they cannot be put back either, the address space is lost.
    space.fail_next_protects(2);
    assert_eq!(mm.protect(WINDOW, 4 * P, Prot::NONE, &space), Err(Errno::ENOMEM));
    assert!(mm.is_broken());
    assert_eq!(vmas(&mm), vmas_before);
}

#[test]
fn pages_a_failed_munmap_leaves_mapped_are_not_handed_out_again() {
    let mut mm = manager();
    let space = RecordingSpace::default();
    let private = mm.map(
        MapRequest::fixed(WINDOW, 4 * P, Prot::READ_WRITE, VmaKind::Anonymous),
        u64::MAX,
        &space,
    );
    let shared = MapRequest {
        shared: true,
        ..MapRequest::fixed(WINDOW + 4 * P, 2 * P, Prot::READ_WRITE, VmaKind::Anonymous)
    };
    let shared = mm.map(shared, u64::MAX, &space);
    assert_eq!((private, shared), (Ok(WINDOW), Ok(WINDOW + 4 * P)));
    mm.fill(WINDOW, b"secret").unwrap();
    let offsets: HashSet<u64> = space.pages().values().map(|&(offset, _)| offset).collect();

    space.fail_next_unmap();
    assert_eq!(mm.unmap(WINDOW, 6 * P, &space), Err(Errno::ENOMEM));
    assert!(mm.is_broken());
    assert_eq!(mm.vmas().count(), 0, "the VMAs are gone");
    assert!(!space.pages().is_empty(), "the platform still maps some of the pages");
    // What other address spaces get next is none of those pages.
    let file = Arc::clone(&mm.file);
    let other = file.allocate(16 * P).unwrap();
    assert!(offsets.iter().all(|&offset| !(other..other + 16 * P).contains(&offset)));
    assert_allocated(&file, &offsets);
    file.free(other, 16 * P);

    drop(mm);
    assert_eq!(file.allocate(1 << 30), Ok(0), "freed with the manager");
}
