//! Runs `echo embedded` in a sandbox over the host's root and prints what it
//! captured: `cargo run --example embed`.
//!
//! The natural command is the host's `/bin/echo`, but it is dynamically
//! linked, and the kernel cannot yet load an ELF interpreter or open the
//! libraries it needs: that arrives with the VFS issue. Until then this runs
//! the static busybox of Debian's busybox-static, `/bin/busybox echo`.

use std::process::ExitCode;

use cordon::{ExitStatus, Sandbox, SandboxStdio};

/// A static program on the host that can echo.
const ECHO: [&str; 2] = ["/bin/busybox", "echo"];

fn main() -> ExitCode {
    match embed() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("embed: {err}");
            ExitCode::FAILURE
        }
    }
}

fn embed() -> Result<(), cordon::SandboxError> {
    // The init only has to keep the sandbox running while we exec into it.
    let sandbox = Sandbox::builder()
        .rootfs("/")
        .command(["/bin/busybox", "sleep", "60"])
        .stdio(SandboxStdio::Null)
        .build()?;
    let init = sandbox.start()?;
    println!("sandbox init started as pid {init}");

    let output = sandbox.exec(ECHO.into_iter().chain(["embedded"]))?;
    print!("captured from the sandbox: {}", String::from_utf8_lossy(&output.stdout));
    println!("echo ended with {:?}", output.status);

    sandbox.signal(libc::SIGKILL)?;
    let status = sandbox.wait()?;
    assert_eq!(status, ExitStatus::Signaled(libc::SIGKILL));
    println!("init ended with {status:?}");
    Ok(())
}
