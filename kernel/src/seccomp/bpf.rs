//! Classic BPF as seccomp accepts it: the checks Linux makes before a
//! program is installed (bpf_check_classic, then seccomp_check_filter's
//! narrower instruction set) and an interpreter over `seccomp_data`.
//!
//! A program reads the 64-byte `seccomp_data` with 32-bit absolute loads
//! only, computes in 32-bit A and X registers and 16 scratch words, jumps
//! forward only, and ends every path in a return; so it always terminates
//! within its length.

use nix::errno::Errno;

use super::SeccompData;
use crate::abi::structs::SockFilter;

/// BPF_MAXINSNS.
pub const MAX_INSTRUCTIONS: usize = 4096;
/// BPF_MEMWORDS: the scratch memory.
const MEMORY_WORDS: u32 = 16;

// Instruction classes, sizes, modes, operations and sources (linux/bpf_common.h).
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const ADD: u16 = 0x00;
const SUB: u16 = 0x10;
const MUL: u16 = 0x20;
const DIV: u16 = 0x30;
const OR: u16 = 0x40;
const AND: u16 = 0x50;
const LSH: u16 = 0x60;
const RSH: u16 = 0x70;
const NEG: u16 = 0x80;
const XOR: u16 = 0xa0;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JGT: u16 = 0x20;
const JGE: u16 = 0x30;
const JSET: u16 = 0x40;
const K: u16 = 0x00;
const X: u16 = 0x08;
const RET_A: u16 = 0x10;
const TAX: u16 = 0x00;
const TXA: u16 = 0x80;

/// One instruction, decoded once at installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// A = the word of seccomp_data at this offset.
    LoadData(u32),
    LoadImm(u32),
    LoadMem(u32),
    LoadXImm(u32),
    LoadXMem(u32),
    Store(u32),
    StoreX(u32),
    Alu(u16, Operand),
    Neg,
    Jump(u32),
    /// Compare A with the operand; then skip `jt` or `jf` instructions.
    Branch(u16, Operand, u8, u8),
    ReturnK(u32),
    ReturnA,
    Tax,
    Txa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operand {
    K(u32),
    X,
}

/// A validated program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    ops: Vec<Op>,
}

/// What a run may read of `seccomp_data`: everything, or (to learn whether
/// a call's result depends on anything but its number) the number and
/// architecture alone.
pub(super) trait Input {
    /// The 32-bit word at `offset` (a multiple of 4 below 64); None when
    /// this input does not know it.
    fn word(&self, offset: u32) -> Option<u32>;
}

impl Program {
    /// Checks `code` as Linux checks a seccomp filter: 1 to 4096
    /// instructions, only the opcodes seccomp allows, aligned loads inside
    /// seccomp_data, scratch words in range and stored before they are
    /// loaded on every path, no constant division by zero or shift past 31,
    /// jumps inside the program, and a return last. EINVAL otherwise.
    pub fn new(code: &[SockFilter]) -> Result<Program, Errno> {
        if code.is_empty() || code.len() > MAX_INSTRUCTIONS {
            return Err(Errno::EINVAL);
        }
        let len = code.len();
        let mut ops = Vec::with_capacity(len);
        for (pc, insn) in code.iter().enumerate() {
            let op = decode(insn)?;
            let remaining = (len - pc - 1) as u64;
            match op {
                Op::Jump(k) if u64::from(k) >= remaining => return Err(Errno::EINVAL),
                Op::Branch(_, _, jt, jf) if u64::from(jt) >= remaining || u64::from(jf) >= remaining => {
                    return Err(Errno::EINVAL);
                }
                _ => {}
            }
            ops.push(op);
        }
        if !matches!(ops.last(), Some(Op::ReturnK(_) | Op::ReturnA)) {
            return Err(Errno::EINVAL);
        }
        check_memory(&ops)?;
        Ok(Program { ops })
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Runs the program: its return value, or None if it read a word
    /// `input` does not know. Division by a zero X returns 0, as Linux's
    /// translation of classic BPF does.
    pub(super) fn run(&self, input: &dyn Input) -> Option<u32> {
        let (mut a, mut x) = (0u32, 0u32);
        let mut memory = [0u32; MEMORY_WORDS as usize];
        let mut pc = 0usize;
        loop {
            let op = self.ops[pc];
            pc += 1;
            match op {
                Op::LoadData(offset) => a = input.word(offset)?,
                Op::LoadImm(k) => a = k,
                Op::LoadMem(k) => a = memory[k as usize],
                Op::LoadXImm(k) => x = k,
                Op::LoadXMem(k) => x = memory[k as usize],
                Op::Store(k) => memory[k as usize] = a,
                Op::StoreX(k) => memory[k as usize] = x,
                Op::Alu(operation, operand) => {
                    let value = match operand {
                        Operand::K(k) => k,
                        Operand::X => x,
                    };
                    a = match operation {
                        ADD => a.wrapping_add(value),
                        SUB => a.wrapping_sub(value),
                        MUL => a.wrapping_mul(value),
                        DIV if value == 0 => return Some(0),
                        DIV => a / value,
                        OR => a | value,
                        AND => a & value,
                        LSH => a.wrapping_shl(value),
                        RSH => a.wrapping_shr(value),
                        XOR => a ^ value,
                        _ => unreachable!("decode admits no other operation"),
                    };
                }
                Op::Neg => a = a.wrapping_neg(),
                Op::Jump(k) => pc += k as usize,
                Op::Branch(test, operand, jt, jf) => {
                    let value = match operand {
                        Operand::K(k) => k,
                        Operand::X => x,
                    };
                    let taken = match test {
                        JEQ => a == value,
                        JGT => a > value,
                        JGE => a >= value,
                        JSET => a & value != 0,
                        _ => unreachable!("decode admits no other test"),
                    };
                    pc += usize::from(if taken { jt } else { jf });
                }
                Op::ReturnK(k) => return Some(k),
                Op::ReturnA => return Some(a),
                Op::Tax => x = a,
                Op::Txa => a = x,
            }
        }
    }
}

/// The instruction as seccomp allows it (seccomp_check_filter), or EINVAL.
fn decode(insn: &SockFilter) -> Result<Op, Errno> {
    let k = insn.k;
    let memory_slot = |k: u32| if k < MEMORY_WORDS { Ok(k) } else { Err(Errno::EINVAL) };
    let operand = |code: u16| if code & X != 0 { Operand::X } else { Operand::K(k) };
    let op = match insn.code {
        code if code == LD | W | ABS => {
            let size = u32::try_from(std::mem::size_of::<SeccompData>()).expect("64 bytes");
            if k >= size || k % 4 != 0 {
                return Err(Errno::EINVAL);
            }
            Op::LoadData(k)
        }
        // The "length" of seccomp_data is its size.
        code if code == LD | W | LEN => Op::LoadImm(64),
        code if code == LDX | W | LEN => Op::LoadXImm(64),
        code if code == LD | IMM => Op::LoadImm(k),
        code if code == LDX | IMM => Op::LoadXImm(k),
        code if code == LD | MEM => Op::LoadMem(memory_slot(k)?),
        code if code == LDX | MEM => Op::LoadXMem(memory_slot(k)?),
        code if code == ST => Op::Store(memory_slot(k)?),
        code if code == STX => Op::StoreX(memory_slot(k)?),
        code if code == ALU | NEG => Op::Neg,
        code if code & 0x07 == ALU => {
            let operation = code & 0xf0;
            if code & !(0xf0 | X) != ALU || !matches!(operation, ADD | SUB | MUL | DIV | OR | AND | LSH | RSH | XOR) {
                return Err(Errno::EINVAL);
            }
            if code & X == K && ((operation == DIV && k == 0) || (matches!(operation, LSH | RSH) && k >= 32)) {
                return Err(Errno::EINVAL);
            }
            Op::Alu(operation, operand(code))
        }
        code if code == JMP | JA => Op::Jump(k),
        code if code & 0x07 == JMP => {
            let test = code & 0xf0;
            if !matches!(test, JEQ | JGT | JGE | JSET) || code & !(0xf0 | X) != JMP {
                return Err(Errno::EINVAL);
            }
            Op::Branch(test, operand(code), insn.jt, insn.jf)
        }
        code if code == RET | K => Op::ReturnK(k),
        code if code == RET | RET_A => Op::ReturnA,
        code if code == MISC | TAX => Op::Tax,
        code if code == MISC | TXA => Op::Txa,
        _ => return Err(Errno::EINVAL),
    };
    Ok(op)
}

/// Linux's check_load_and_stores: a scratch word must have been stored on
/// every path that reaches a load of it.
fn check_memory(ops: &[Op]) -> Result<(), Errno> {
    let mut valid_at = vec![u16::MAX; ops.len()];
    let mut valid = 0u16;
    for (pc, op) in ops.iter().enumerate() {
        valid &= valid_at[pc];
        match *op {
            Op::Store(k) | Op::StoreX(k) => valid |= 1 << k,
            Op::LoadMem(k) | Op::LoadXMem(k) if valid & (1 << k) == 0 => return Err(Errno::EINVAL),
            Op::Jump(k) => {
                valid_at[pc + 1 + k as usize] &= valid;
                valid = u16::MAX;
            }
            Op::Branch(_, _, jt, jf) => {
                valid_at[pc + 1 + usize::from(jt)] &= valid;
                valid_at[pc + 1 + usize::from(jf)] &= valid;
                valid = u16::MAX;
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(code: u16, k: u32) -> SockFilter {
        SockFilter { code, jt: 0, jf: 0, k }
    }

    fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
        SockFilter { code, jt, jf, k }
    }

    struct Data(SeccompData);

    impl Input for Data {
        fn word(&self, offset: u32) -> Option<u32> {
            Some(self.0.word(offset))
        }
    }

    fn data(nr: i32, arg0: u64) -> Data {
        Data(SeccompData {
            nr,
            arch: super::super::AUDIT_ARCH_X86_64,
            instruction_pointer: 0x1000,
            args: [arg0, 0, 0, 0, 0, 0],
        })
    }

    #[test]
    fn a_filter_on_the_number_and_an_argument() {
        // getpgid(12345) -> ERRNO(EXDEV); everything else ALLOW.
        let program = Program::new(&[
            stmt(LD | W | ABS, 0),
            jump(JMP | JEQ | K, 121, 0, 3),
            stmt(LD | W | ABS, 16),
            jump(JMP | JEQ | K, 12345, 0, 1),
            stmt(RET | K, 0x0005_0000 | 18),
            stmt(RET | K, 0x7fff_0000),
        ])
        .unwrap();
        assert_eq!(program.run(&data(121, 12345)), Some(0x0005_0012));
        assert_eq!(program.run(&data(121, 0)), Some(0x7fff_0000));
        assert_eq!(program.run(&data(39, 12345)), Some(0x7fff_0000));
    }

    #[test]
    fn arithmetic_and_memory() {
        let program = Program::new(&[
            stmt(LD | W | LEN, 0),
            stmt(ST, 3),
            stmt(LDX | MEM, 3),
            stmt(ALU | ADD | X, 0),
            stmt(ALU | RSH | K, 1),
            stmt(ALU | NEG, 0),
            stmt(ALU | NEG, 0),
            stmt(RET | RET_A, 0),
        ])
        .unwrap();
        assert_eq!(program.run(&data(0, 0)), Some(64));
        // A zero X divides to a return of 0.
        let divide = Program::new(&[stmt(LDX | IMM, 0), stmt(ALU | DIV | X, 0), stmt(RET | K, 7)]).unwrap();
        assert_eq!(divide.run(&data(0, 0)), Some(0));
    }

    #[test]
    fn linux_refuses_these_programs() {
        let ret = stmt(RET | K, 0);
        let refused: &[&[SockFilter]] = &[
            &[],
            &[stmt(LD | W | ABS, 0)],
            &[stmt(LD | W | ABS, 2), ret],
            &[stmt(LD | W | ABS, 64), ret],
            &[stmt(0x30 /* LD|B|ABS */, 0), ret],
            &[stmt(LD | MEM, 0), ret],
            &[stmt(ST, 16), ret],
            &[stmt(ALU | DIV | K, 0), ret],
            &[stmt(ALU | LSH | K, 32), ret],
            &[stmt(ALU | 0x90 /* MOD */ | K, 3), ret],
            &[stmt(JMP | JA, 1), ret],
            &[jump(JMP | JEQ | K, 0, 1, 0), ret],
            &[stmt(RET | X, 0)],
        ];
        for program in refused {
            assert_eq!(Program::new(program), Err(Errno::EINVAL), "{program:?}");
        }
        assert_eq!(Program::new(&vec![ret; MAX_INSTRUCTIONS + 1]), Err(Errno::EINVAL));
        assert!(Program::new(&vec![ret; MAX_INSTRUCTIONS]).is_ok());
    }

    #[test]
    fn a_word_stored_on_one_branch_only_cannot_be_loaded() {
        let program = [
            jump(JMP | JEQ | K, 0, 0, 1),
            stmt(ST, 0),
            stmt(LD | MEM, 0),
            stmt(RET | K, 0),
        ];
        assert_eq!(Program::new(&program), Err(Errno::EINVAL));
        let both = [
            stmt(ST, 0),
            jump(JMP | JEQ | K, 0, 0, 0),
            stmt(LD | MEM, 0),
            stmt(RET | K, 0),
        ];
        assert!(Program::new(&both).is_ok());
    }
}
