//! Runs `/bin/echo embedded` in a sandbox over the host's root and prints
//! what it captured: `cargo build && cargo run --example embed` (the sandbox
//! process is the `cordon` executable; see `cordon::sandbox`).

use std::process::ExitCode;

use cordon::{ExitStatus, Sandbox, SandboxStdio};

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
        .command(["/bin/sleep", "60"])
        .stdio(SandboxStdio::Null)
        .build()?;
    let init = sandbox.start()?;
    println!("sandbox init started as pid {init}");

    let output = sandbox.exec(["/bin/echo", "embedded"])?;
    print!("captured from the sandbox: {}", String::from_utf8_lossy(&output.stdout));
    println!("echo ended with {:?}", output.status);

    sandbox.signal(libc::SIGKILL)?;
    let status = sandbox.wait()?;
    assert_eq!(status, ExitStatus::Signaled(libc::SIGKILL));
    println!("init ended with {status:?}");
    Ok(())
}
