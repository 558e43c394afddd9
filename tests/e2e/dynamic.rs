//! Dynamically linked programs: the ELF interpreter a program names in
//! PT_INTERP is loaded with it, as Linux's binfmt_elf does.
//!
//! The programs are linked against musl, whose interpreter is musl's libc
//! itself: a program that only needs libc opens no further file, which is
//! all the sandbox can offer before it has a filesystem. Bundles get the
//! host's musl at `MUSL_INTERPRETER`. Broken interpreters are made by
//! rewriting the PT_INTERP path of the `dynamic` fixture.

use std::ffi::OsStr;
use std::fs;

use crate::common::{Bundle, MUSL_INTERPRETER, Spec, Toolchain, assert_contains, compile, run_cordon};

/// What `dynamic` prints after its argv and environment when the auxiliary
/// vector describes the program and its interpreter.
const AUXV_OK: &str = "AT_PHDR ok\nAT_PHNUM ok\nAT_ENTRY ok\nAT_BASE ok\n";

/// An interpreter path the same length as `MUSL_INTERPRETER`, so that it
/// can replace it in place.
const MISSING_INTERPRETER: &str = "/lib/ld-none-x86_64.so.1";
const TEXT_INTERPRETER: &str = "/lib/ld-text-x86_64.so.1";
const TINY_INTERPRETER: &str = "/lib/ld-tiny-x86_64.so.1";

/// Installs `dynamic` (compiled with `toolchain`) as `rootfs/bin/<name>`
/// with its PT_INTERP path replaced by `interpreter`.
fn install_with_interpreter(bundle: &Bundle, name: &str, toolchain: Toolchain, interpreter: &str) {
    assert_eq!(
        interpreter.len(),
        MUSL_INTERPRETER.len(),
        "the path is rewritten in place"
    );
    let binary = fs::read(compile("dynamic", toolchain)).expect("read the compiled fixture");
    let at: Vec<usize> = binary
        .windows(MUSL_INTERPRETER.len())
        .enumerate()
        .filter(|(_, window)| *window == MUSL_INTERPRETER.as_bytes())
        .map(|(at, _)| at)
        .collect();
    assert_eq!(at.len(), 1, "{MUSL_INTERPRETER} should appear once, in PT_INTERP");
    let mut patched = binary;
    patched[at[0]..at[0] + interpreter.len()].copy_from_slice(interpreter.as_bytes());
    let dest = bundle.rootfs().join("bin").join(name);
    fs::write(&dest, patched).unwrap_or_else(|e| panic!("cannot write {}: {e}", dest.display()));
    crate::common::make_executable(&dest);
}

/// Writes `rootfs/<path>` (an absolute path) with `contents`, mode 0755.
fn install_file(bundle: &Bundle, path: &str, contents: &[u8]) {
    let dest = bundle.rootfs().join(path.trim_start_matches('/'));
    fs::create_dir_all(dest.parent().expect("an absolute path has a parent")).expect("create the directory");
    fs::write(&dest, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", dest.display()));
    crate::common::make_executable(&dest);
}

fn args_env_and_exit_code(test: &str, toolchain: Toolchain) {
    let spec = Spec::new(&["/bin/dynamic", "one", "two words"]).env(&["PATH=/bin", "DYN_GREETING=hello", "DYN_EXIT=7"]);
    Bundle::with_program(test, "dynamic", toolchain, &spec)
        .run(&[])
        .assert_code(7)
        .assert_stdout(&format!(
            "argv[0]=/bin/dynamic\nargv[1]=one\nargv[2]=two words\n\
             env DYN_GREETING=hello\nenv DYN_EXIT=7\n{AUXV_OK}"
        ))
        .assert_no_leftover();
}

#[test]
fn dynamic_musl_program_gets_args_env_auxv_and_exit_code() {
    args_env_and_exit_code("dynamic", Toolchain::MuslDynamic);
}

#[test]
fn dynamic_musl_pie_gets_args_env_auxv_and_exit_code() {
    args_env_and_exit_code("dynamic-pie", Toolchain::MuslDynamicPie);
}

/// exec_dynamic.c: a dynamic program forks and execs another (a non-PIE one
/// from a PIE one), runs a `#!` script whose interpreter is dynamic, and
/// checks execve's errors for interpreters it cannot use.
#[test]
fn dynamic_program_forks_and_execs_dynamic_programs() {
    let bundle = Bundle::with_program(
        "exec-dynamic",
        "exec_dynamic",
        Toolchain::MuslDynamicPie,
        &Spec::new(&["/bin/exec_dynamic"]),
    );
    bundle.install_program("dynamic", Toolchain::MuslDynamic);
    install_with_interpreter(&bundle, "no_interp", Toolchain::MuslDynamic, MISSING_INTERPRETER);
    install_with_interpreter(&bundle, "bad_interp", Toolchain::MuslDynamic, TEXT_INTERPRETER);
    install_with_interpreter(&bundle, "tiny_interp", Toolchain::MuslDynamic, TINY_INTERPRETER);
    install_file(
        &bundle,
        TEXT_INTERPRETER,
        b"this is a text file, not an ELF interpreter; it is longer than 64 bytes.\n",
    );
    install_file(&bundle, TINY_INTERPRETER, b"\x7fELF");
    install_file(&bundle, "/bin/dynamic.sh", b"#!/bin/dynamic from-script\n");
    bundle
        .run(&[])
        .assert_code(0)
        .assert_stdout("exec ok\nscript ok\nerrors ok\n")
        .assert_no_leftover();
}

/// A bundle whose init is `dynamic` with `interpreter` as its PT_INTERP.
fn init_with_interpreter(test: &str, interpreter: &str) -> Bundle {
    let bundle = Bundle::new(test);
    install_with_interpreter(&bundle, "dynamic", Toolchain::MuslDynamic, interpreter);
    bundle.write_spec(&Spec::new(&["/bin/dynamic"]));
    bundle
}

#[test]
fn run_names_a_missing_interpreter() {
    let bundle = init_with_interpreter("missing-interp", MISSING_INTERPRETER);
    let out = bundle.run(&[]);
    // As a shell reports a program it cannot find (execve's ENOENT).
    out.assert_code(127).assert_stdout("").assert_no_leftover();
    let line = out.error_line();
    assert_contains(&out, line, "/bin/dynamic");
    assert_contains(&out, line, MISSING_INTERPRETER);
    assert_contains(&out, line, "not found");
}

#[test]
fn run_refuses_an_interpreter_that_is_not_elf() {
    let bundle = init_with_interpreter("text-interp", TEXT_INTERPRETER);
    install_file(
        &bundle,
        TEXT_INTERPRETER,
        b"#!/bin/sh\n# A script, not an ELF interpreter, and longer than an ELF header.\n",
    );
    let out = bundle.run(&[]);
    out.assert_code(126).assert_stdout("").assert_no_leftover();
    let line = out.error_line();
    assert_contains(&out, line, "bad ELF interpreter");
    assert_contains(&out, line, TEXT_INTERPRETER);
}

#[test]
fn do_runs_a_dynamic_musl_program_from_the_host() {
    let dynamic = compile("dynamic", Toolchain::MuslDynamicPie);
    let out = run_cordon(&[
        OsStr::new("do"),
        OsStr::new("--"),
        dynamic.as_os_str(),
        OsStr::new("arg"),
    ]);
    out.assert_code(0).assert_no_leftover();
    let argv0 = format!("argv[0]={}\n", dynamic.display());
    assert!(out.stdout.starts_with(&format!("{argv0}argv[1]=arg\n")), "{out}");
    assert!(out.stdout.ends_with(AUXV_OK), "{out}");
}

/// The host's own dynamically linked glibc programs run through `cordon do`:
/// ld.so opens and maps libc.so.6 from the host's root under the overlay.
#[test]
fn host_glibc_dynamic_programs_run() {
    run_cordon(&["do", "--", "/bin/true"])
        .assert_code(0)
        .assert_stdout("")
        .assert_no_leftover();
    let out = run_cordon(&[
        "do",
        "--",
        "/bin/sh",
        "-c",
        "echo $((6 * 7)) | /bin/cat; /bin/ls -d /etc",
    ]);
    out.assert_code(0).assert_stdout("42\n/etc\n").assert_no_leftover();
}
