//! The OCI spec's `linux.seccomp` profile (runtime-spec config-linux.md,
//! "Seccomp") as filters cordon's kernel runs on every application call.
//!
//! seccompiler compiles one filter per action: one that gives the default
//! action to every call no rule matches (and ALLOW to the rest), and one
//! per other action that gives it to the calls its rules match (and ALLOW
//! to the rest). Stacked, the most restrictive result wins, so a call gets
//! the action of the rule it matches, or the default. Names the kernel
//! does not know on x86-64 are skipped, as libseccomp skips them.

use std::collections::BTreeMap;

use cordon_kernel::abi::structs::SockFilter;
use cordon_kernel::seccomp::{Program, Seccomp};
use cordon_kernel::syscalls::TABLE;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator, LinuxSyscall};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

/// Why a profile cannot be enforced.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("linux.seccomp: {0}")]
    Compile(#[from] seccompiler::BackendError),
    #[error("linux.seccomp: the compiled filter is refused ({0})")]
    Refused(nix::errno::Errno),
    #[error("linux.seccomp: argument index {0} is past the six a system call has")]
    ArgumentIndex(usize),
}

/// EPERM: the errno of ERRNO actions that name none.
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// The rules of one action: per call number, its conditions (each rule
/// ANDs its own; the rules OR), or None when the call matches whatever its
/// arguments.
type Rules = BTreeMap<i64, Option<Vec<SeccompRule>>>;

/// The filters `profile` asks for, ready for a process to start under.
pub fn filters(profile: &LinuxSeccomp) -> Result<Seccomp, ProfileError> {
    let default = action(profile.default_action(), profile.default_errno_ret());
    let mut by_action: Vec<(SeccompAction, Rules)> = Vec::new();
    let mut every_rule = Rules::new();
    for syscall in profile.syscalls().iter().flatten() {
        let act = action(syscall.action(), syscall.errno_ret());
        let rules = rules_of(syscall)?;
        for name in syscall.names() {
            let Some(number) = number_of(name) else {
                tracing::debug!(name, "linux.seccomp names a call x86-64 does not have: skipped");
                continue;
            };
            add(&mut every_rule, number, rules.clone());
            let slot = match by_action.iter().position(|(known, _)| *known == act) {
                Some(i) => i,
                None => {
                    by_action.push((act.clone(), Rules::new()));
                    by_action.len() - 1
                }
            };
            add(&mut by_action[slot].1, number, rules.clone());
        }
    }
    if profile.listener_path().is_some() {
        tracing::debug!("linux.seccomp.listenerPath: user notification is not built; NOTIFY answers ENOSYS");
    }
    let mut seccomp = Seccomp::default();
    if default != SeccompAction::Allow {
        push(&mut seccomp, every_rule, default.clone(), SeccompAction::Allow)?;
    }
    for (act, rules) in by_action {
        if act != SeccompAction::Allow {
            push(&mut seccomp, rules, SeccompAction::Allow, act)?;
        }
    }
    Ok(seccomp)
}

/// The x86-64 number of the call `name`, from the kernel's table.
fn number_of(name: &str) -> Option<i64> {
    TABLE
        .entries()
        .find(|entry| entry.name == name)
        .and_then(|entry| i64::try_from(entry.number).ok())
}

fn add(rules: &mut Rules, number: i64, new: Option<Vec<SeccompRule>>) {
    let slot = rules.entry(number).or_insert_with(|| Some(Vec::new()));
    match (slot.as_mut(), new) {
        (Some(existing), Some(mut more)) => existing.append(&mut more),
        // A rule without conditions matches every call: the others add nothing.
        _ => *slot = None,
    }
}

/// The seccompiler rules of one entry of `syscalls`: None for no
/// conditions. As runc does, conditions on distinct arguments AND in one
/// rule, and conditions that repeat an argument become a rule each.
fn rules_of(syscall: &LinuxSyscall) -> Result<Option<Vec<SeccompRule>>, ProfileError> {
    let args = syscall.args().as_deref().unwrap_or_default();
    if args.is_empty() {
        return Ok(None);
    }
    let conditions = args.iter().map(condition).collect::<Result<Vec<_>, _>>()?;
    let mut indexes: Vec<usize> = args.iter().map(LinuxSeccompArg::index).collect();
    indexes.sort_unstable();
    indexes.dedup();
    let rules = if indexes.len() == args.len() {
        vec![SeccompRule::new(conditions)?]
    } else {
        conditions
            .into_iter()
            .map(|condition| SeccompRule::new(vec![condition]))
            .collect::<Result<_, _>>()?
    };
    Ok(Some(rules))
}

fn condition(arg: &LinuxSeccompArg) -> Result<SeccompCondition, ProfileError> {
    let index = u8::try_from(arg.index())
        .ok()
        .filter(|index| *index < 6)
        .ok_or(ProfileError::ArgumentIndex(arg.index()))?;
    let (op, value) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => (SeccompCmpOp::Ne, arg.value()),
        LinuxSeccompOperator::ScmpCmpLt => (SeccompCmpOp::Lt, arg.value()),
        LinuxSeccompOperator::ScmpCmpLe => (SeccompCmpOp::Le, arg.value()),
        LinuxSeccompOperator::ScmpCmpEq => (SeccompCmpOp::Eq, arg.value()),
        LinuxSeccompOperator::ScmpCmpGe => (SeccompCmpOp::Ge, arg.value()),
        LinuxSeccompOperator::ScmpCmpGt => (SeccompCmpOp::Gt, arg.value()),
        // (arg & value) == valueTwo.
        LinuxSeccompOperator::ScmpCmpMaskedEq => (SeccompCmpOp::MaskedEq(arg.value()), arg.value_two().unwrap_or(0)),
    };
    Ok(SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value)?)
}

/// A profile action as seccompiler names it. NOTIFY has no listener to go
/// to: like TRACE without a tracer, the kernel answers it ENOSYS.
fn action(action: LinuxSeccompAction, errno: Option<u32>) -> SeccompAction {
    match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => SeccompAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno(errno.unwrap_or(DEFAULT_ERRNO)),
        LinuxSeccompAction::ScmpActNotify => SeccompAction::Errno(libc::ENOSYS as u32),
        LinuxSeccompAction::ScmpActTrace => SeccompAction::Trace(errno.unwrap_or(0)),
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
    }
}

/// Compiles one filter and puts it on the stack.
fn push(
    seccomp: &mut Seccomp,
    rules: Rules,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<(), ProfileError> {
    let rules = rules
        .into_iter()
        .map(|(number, rules)| (number, rules.unwrap_or_default()))
        .collect();
    let filter = SeccompFilter::new(rules, mismatch, matched, TargetArch::x86_64)?;
    let bpf: BpfProgram = filter.try_into()?;
    let code: Vec<SockFilter> = bpf
        .iter()
        .map(|insn| SockFilter {
            code: insn.code,
            jt: insn.jt,
            jf: insn.jf,
            k: insn.k,
        })
        .collect();
    let program = Program::new(&code).map_err(ProfileError::Refused)?;
    seccomp.push(program).map_err(ProfileError::Refused)
}
