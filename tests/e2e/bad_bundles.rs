//! Bundles that cannot run: cordon must say why in one `cordon: ` line on
//! stderr naming the culprit, exit non-zero, and leave no process behind.

use std::ffi::OsStr;
use std::fs;

use crate::common::{Bundle, Outcome, Spec, Toolchain};

/// Asserts the run failed cleanly and its one error line contains `needle`.
#[track_caller]
fn assert_error_mentions(out: &Outcome, needle: &str) {
    out.assert_failure().assert_no_leftover();
    let line = out.error_line();
    assert!(line.contains(needle), "error line lacks {needle:?}\n{out}");
}

/// Like `assert_error_mentions`, ignoring case.
#[track_caller]
fn assert_error_mentions_nocase(out: &Outcome, needle: &str) {
    out.assert_failure().assert_no_leftover();
    let line = out.error_line().to_lowercase();
    assert!(
        line.contains(&needle.to_lowercase()),
        "error line lacks {needle:?}\n{out}"
    );
}

/// A bundle whose only program is `hello`, and its valid spec.
fn hello_bundle(test: &str) -> (Bundle, Spec) {
    let bundle = Bundle::new(test);
    bundle.install_program("hello", Toolchain::GlibcStatic);
    (bundle, Spec::new(&["/bin/hello"]))
}

#[test]
fn missing_bundle_directory() {
    let bundle = Bundle::new("missing-dir");
    let missing = bundle.path().join("no-such-bundle");
    let missing = missing.to_str().expect("a UTF-8 path");
    let out = crate::common::run_cordon(&["run", "--bundle", missing, bundle.id()]);
    assert_error_mentions(&out, missing);
}

#[test]
fn missing_config_json() {
    let (bundle, _) = hello_bundle("missing-config");
    let out = bundle.run(&[]);
    assert_error_mentions(&out, "config.json");
}

#[test]
fn invalid_json_reports_the_line() {
    let (bundle, _) = hello_bundle("invalid-json");
    bundle.write_config_text("{\n  \"ociVersion\": \"1.0.2\",\n  \"process\": {,\n}\n");
    let out = bundle.run(&[]);
    assert_error_mentions(&out, "line");
}

#[test]
fn unsupported_oci_version() {
    let (bundle, spec) = hello_bundle("oci-version");
    let mut config = spec.to_json();
    config["ociVersion"] = "2.0.0".into();
    bundle.write_config_json(&config);
    let out = bundle.run(&[]);
    assert_error_mentions(&out, "2.0.0");
}

#[test]
fn empty_args() {
    let (bundle, spec) = hello_bundle("empty-args");
    let mut config = spec.to_json();
    config["process"]["args"] = serde_json::json!([]);
    bundle.write_config_json(&config);
    let out = bundle.run(&[]);
    assert_error_mentions(&out, "args");
}

#[test]
fn program_not_found_is_127() {
    let (bundle, _) = hello_bundle("not-found");
    bundle.write_spec(&Spec::new(&["/bin/nosuch"]));
    let out = bundle.run(&[]);
    out.assert_code(127);
    assert_error_mentions(&out, "not found");
    assert_error_mentions(&out, "/bin/nosuch");
}

#[test]
fn do_program_not_found_is_127() {
    let bundle = Bundle::new("do-not-found");
    let missing = bundle.path().join("nosuch");
    let missing = missing.to_str().expect("a UTF-8 path");
    let out = crate::common::run_cordon(&["do", "--", missing]);
    out.assert_code(127);
    assert_error_mentions(&out, "not found");
}

/// Bytes that start like an ELF file and then make no sense.
fn corrupt_elf() -> Vec<u8> {
    let mut bytes = b"\x7fELF".to_vec();
    // A fixed xorshift sequence: garbage, but the same garbage every run.
    let mut x: u32 = 0x2545_f491;
    bytes.extend((0..4092).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x.to_le_bytes()[0]
    }));
    bytes
}

#[test]
fn corrupt_elf_is_exec_format_error() {
    let bundle = Bundle::new("corrupt-elf");
    let path = bundle.rootfs().join("bin/corrupt");
    fs::write(&path, corrupt_elf()).expect("write the corrupt ELF");
    crate::common::make_executable(&path);
    bundle.write_spec(&Spec::new(&["/bin/corrupt"]));
    let out = bundle.run(&[]);
    assert_error_mentions_nocase(&out, "exec format error");
}

#[test]
fn foreign_architecture_elf_is_exec_format_error() {
    const E_MACHINE: usize = 18;
    const EM_AARCH64: u16 = 183;
    let bundle = Bundle::new("aarch64-elf");
    let mut elf = fs::read(crate::common::compile("hello", Toolchain::GlibcStatic)).expect("read hello");
    elf[E_MACHINE..E_MACHINE + 2].copy_from_slice(&EM_AARCH64.to_le_bytes());
    let path = bundle.rootfs().join("bin/hello");
    fs::write(&path, elf).expect("write the patched ELF");
    crate::common::make_executable(&path);
    bundle.write_spec(&Spec::new(&["/bin/hello"]));
    let out = bundle.run(&[]);
    assert_error_mentions_nocase(&out, "exec format error");
}

#[test]
fn spec_writes_a_default_config() {
    let bundle = Bundle::new("spec");
    let config = bundle.path().join("config.json");
    assert!(!config.exists());
    let out = crate::common::run_cordon(&[OsStr::new("spec"), OsStr::new("--bundle"), bundle.path().as_os_str()]);
    out.assert_code(0).assert_no_leftover();
    let text =
        fs::read_to_string(&config).unwrap_or_else(|e| panic!("cordon spec wrote no {}: {e}\n{out}", config.display()));
    let json: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("config.json is not JSON: {e}\n{text}"));
    let version = json["ociVersion"].as_str().unwrap_or_default();
    assert!(!version.is_empty(), "config.json has no ociVersion string\n{text}");
}
