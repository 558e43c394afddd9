//! busybox's file tools in a bundle whose /tmp is a tmpfs: the everyday
//! commands (echo and redirections, cat, cp, mv, rm, mkdir -p, find, ls,
//! wc, sort, tee, ln -s, readlink, stat, du, dd, truncate, touch, sed,
//! diff, df) with their whole output asserted.
//!
//! The expected output is what the same script prints with the host's
//! busybox in a directory of a host tmpfs (mode 1777): cordon's tmpfs
//! answers as Linux's does, down to directory sizes and block counts.

use crate::common::{Bundle, Spec};

/// The applets the scripts call, linked to busybox in rootfs/bin.
const APPLETS: &[&str] = &[
    "awk", "cat", "cp", "cut", "dd", "df", "diff", "du", "find", "grep", "head", "ln", "ls", "md5sum", "mkdir", "mv",
    "printf", "readlink", "rm", "sed", "sort", "stat", "tail", "tee", "touch", "truncate", "uniq", "wc",
];

/// Runs `script` with `sh -c` (with "/tmp" as $1) in a bundle whose /tmp is
/// a 1 MiB tmpfs, as root, and returns its stdout after checking it exited
/// 0, left nothing behind and made no system call cordon lacks.
fn run_script(test: &str, script: &str) -> String {
    let spec = Spec::new(&["/bin/sh", "-c", script, "sh", "/tmp"]).tmpfs("/tmp", &["mode=1777", "size=1m"]);
    let bundle = Bundle::with_busybox(test, &spec);
    bundle.link_applets(APPLETS);
    let out = bundle.run(&[]);
    out.assert_code(0).assert_no_leftover();
    assert!(
        !out.stderr.contains("unimplemented system call"),
        "a tool fell back from a missing system call\n{out}"
    );
    out.stdout
}

/// The commands, run in order under `set -e` in a new directory of /tmp,
/// each with what it prints on Linux.
const FILE_TOOLS: &[(&str, &str)] = &[
    ("echo x > f", ""),
    ("cat f", "x\n"),
    ("cp f g", ""),
    ("cat g", "x\n"),
    ("mv g h", ""),
    ("ls", "f\nh\n"),
    ("rm h", ""),
    ("ls", "f\n"),
    ("mkdir -p a/b/c", ""),
    ("echo deep > a/b/c/file", ""),
    ("find a | sort", "a\na/b\na/b/c\na/b/c/file\n"),
    ("find . -type f | sort", "./a/b/c/file\n./f\n"),
    ("find . -name 'fi*' | sort", "./a/b/c/file\n"),
    (
        "ls -lan | awk '{print $1, $2, $3, $4, $5, $NF}'",
        "total 4    4\ndrwxr-xr-x 3 0 0 80 .\ndrwxrwxrwt 3 0 0 60 ..\ndrwxr-xr-x 3 0 0 60 a\n-rw-r--r-- 1 0 0 2 f\n",
    ),
    (r#"printf 'b\na\nc\nb\n' > list"#, ""),
    ("wc -l < list", "4\n"),
    ("wc -c < list", "8\n"),
    ("wc list", "        4         4         8 list\n"),
    ("sort list | uniq", "a\nb\nc\n"),
    ("sort -r list | tee sorted | head -n 1", "c\n"),
    ("cat sorted", "c\nb\nb\na\n"),
    ("ln -s a/b/c/file link", ""),
    ("readlink link", "a/b/c/file\n"),
    ("cat link", "deep\n"),
    (
        "ls -l link | awk '{print $1, $(NF-2), $(NF-1), $NF}'",
        "lrwxrwxrwx link -> a/b/c/file\n",
    ),
    (
        "stat -c '%n %s %F %a %h' f a link list",
        "f 2 regular file 644 1\na 60 directory 755 3\nlink 10 symbolic link 777 1\nlist 8 regular file 644 1\n",
    ),
    ("stat -L -c '%F %s' link", "regular file 5\n"),
    ("du -s a", "4\ta\n"),
    ("du -a a | sort -k2", "4\ta\n4\ta/b\n4\ta/b/c\n4\ta/b/c/file\n"),
    ("cp -r a copy", ""),
    ("find copy | sort", "copy\ncopy/b\ncopy/b/c\ncopy/b/c/file\n"),
    ("diff -r a copy && echo same", "same\n"),
    ("mv copy moved", ""),
    ("ls", "a\nf\nlink\nlist\nmoved\nsorted\n"),
    ("rm -r a moved", ""),
    ("ls", "f\nlink\nlist\nsorted\n"),
    ("echo one > t", ""),
    ("echo two >> t", ""),
    ("cat t", "one\ntwo\n"),
    ("tee -a t < list > /dev/null", ""),
    ("wc -l < t", "6\n"),
    ("dd if=/dev/zero of=zeros bs=1024 count=64 2>/dev/null", ""),
    ("stat -c '%s %b' zeros", "65536 128\n"),
    ("du -k zeros", "64\tzeros\n"),
    ("truncate -s 10 zeros", ""),
    ("stat -c '%s %b' zeros", "10 8\n"),
    ("touch -d '2020-01-02 03:04:05' f", ""),
    ("stat -c %Y f", "1577934245\n"),
    ("sed -i s/x/y/ f", ""),
    ("cat f", "y\n"),
    ("grep -c b list", "2\n"),
    ("md5sum f | cut -d' ' -f1", "009520053b00386d1173f3988c55d192\n"),
    ("rm -f f list sorted link t zeros", ""),
    ("ls -A | wc -l", "0\n"),
];

#[test]
fn busybox_file_tools_in_a_tmpfs() {
    let commands: Vec<&str> = FILE_TOOLS.iter().map(|&(command, _)| command).collect();
    let script = format!("set -e\ncd \"$1\"\nmkdir w\ncd w\n{}\n", commands.join("\n"));
    let stdout = run_script("busybox-files", &script);
    let expected: String = FILE_TOOLS.iter().map(|&(_, output)| output).collect();
    assert_eq!(stdout, expected, "--- stdout ---\n{stdout}");
}

/// df lists the root (the overlay over the bundle's rootfs) and the tmpfs
/// mounts, and the 1 MiB /tmp gives its space back once files are gone.
#[test]
fn busybox_df_sees_the_mounts() {
    let script = r#"
        df | awk '{print $1, $NF}'
        df -k /tmp | tail -n 1
        dd if=/dev/zero of=/tmp/f bs=1024 count=100 2>/dev/null
        df -k /tmp | tail -n 1
        rm /tmp/f
        df -k /tmp | tail -n 1
        df -k / | tail -n 1 | awk '{print $1, $NF}'
    "#;
    let stdout = run_script("busybox-df", script);
    let expected = "Filesystem on\n\
                    overlay /\n\
                    devfs /dev\n\
                    tmpfs /dev/shm\n\
                    tmpfs /tmp\n\
                    tmpfs                     1024         0      1024   0% /tmp\n\
                    tmpfs                     1024       100       924  10% /tmp\n\
                    tmpfs                     1024         0      1024   0% /tmp\n\
                    overlay /\n";
    assert_eq!(stdout, expected, "--- stdout ---\n{stdout}");
}
