//! Property tests: hostile input never panics the parser or the shell, every line
//! ends within its budget, and quoting round-trips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod shell_common;

use hpti_sensors::shell::parser::{Command, List};
use hpti_sensors::shell::{LineEditor, ShellLimits, parse, quote};
use proptest::prelude::*;
use shell_common::{MockHost, shell_with_limits};

fn words_of(list: &List) -> Option<Vec<String>> {
    let item = list.first()?;
    match item.and_or.first.commands.first()? {
        Command::Simple(s) => s.words.iter().map(|w| w.literal_text()).collect(),
        _ => None,
    }
}

/// Shell-ish fragments, so random lines exercise the grammar rather than only
/// producing "command not found".
fn shellish() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "echo",
        "x",
        "$x",
        "${x:-y}",
        "$(",
        ")",
        "`",
        "'",
        "\"",
        ";",
        "&&",
        "||",
        "|",
        "&",
        ">",
        ">>",
        "<",
        "2>&1",
        "<<E",
        "\n",
        "E",
        "if",
        "then",
        "fi",
        "for",
        "in",
        "do",
        "done",
        "while",
        "true",
        "false",
        "case",
        "esac",
        "((",
        "))",
        "{",
        "}",
        "$((1+",
        "\\",
        "#",
        "*",
        "~",
        "cat",
        "ls",
        "wget",
        "http://1.2.3.4/a",
        "sh",
        "-c",
        "=",
        "x=",
        "f()",
        "$?",
        "$$",
        "break",
        "exit",
        "cd",
        "/tmp",
        "..",
        "rm",
        "-rf",
        "printf",
        "%s",
        "\\x41",
        "eval",
        "source",
        "busybox",
        "yes",
        "seq",
        "9999999",
        "head",
        "awk",
        "sed",
        "s/a/b/",
        "[",
        "]",
        "-eq",
        "$((2**62))",
        "${#x}",
        "${x/a/b}",
        "${x#*}",
        "read",
        "v",
    ]);
    prop::collection::vec(atoms, 0..24).prop_map(|v| v.join(" "))
}

fn limits() -> ShellLimits {
    ShellLimits {
        max_commands: 300,
        max_output_bytes: 16 * 1024,
        max_work_bytes: 1 << 20,
        max_overlay_bytes: 64 * 1024,
        max_overlay_nodes: 200,
        max_depth: 8,
        ..ShellLimits::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_strings(s in ".{0,200}") {
        let _ = parse(&s);
    }

    #[test]
    fn parser_never_panics_on_bytes(b in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn parser_never_panics_on_shellish(s in shellish()) {
        let _ = parse(&s);
    }

    #[test]
    fn quoting_round_trips(words in prop::collection::vec(prop_oneof![
        ".{0,12}",
        // Shell syntax as plain words (the fuzz target found `esac` first did not parse).
        prop::sample::select(&["if", "then", "fi", "esac", "done", "for", "function", "{", "}", "!", "in", "[[", "case"][..]).prop_map(str::to_owned),
    ], 1..6)) {
        let line = quote(&words);
        let list = parse(&line).expect("quoted words parse");
        prop_assert_eq!(words_of(&list), Some(words));
    }

    #[test]
    fn line_editor_is_bounded(b in prop::collection::vec(any::<u8>(), 0..2000)) {
        let mut e = LineEditor::new(64);
        let out = e.feed(&b);
        prop_assert!(e.pending().len() <= 64);
        prop_assert!(out.echo.len() <= b.len() * 4 + 4);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn run_never_panics_and_stays_bounded(lines in prop::collection::vec(shellish(), 1..4)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let l = limits();
            let mut sh = shell_with_limits("root", l.clone());
            let mut host = MockHost::default().serve("http://1.2.3.4/a", b"echo a; sh -c 'yes'\n");
            for line in &lines {
                let o = sh.run(line, &mut host).await;
                assert!(o.output.len() <= l.max_output_bytes);
                assert!(sh.filesystem().overlay_bytes() <= l.max_overlay_bytes);
                assert!(sh.filesystem().overlay_nodes() <= l.max_overlay_nodes);
                if o.exit {
                    break;
                }
            }
            assert!(host.fetched.len() <= l.max_fetches * lines.len());
        });
    }

    #[test]
    fn run_never_panics_on_random_text(s in ".{0,120}") {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut sh = shell_with_limits("deploy", limits());
            let mut host = MockHost::default();
            let _ = sh.run(&s, &mut host).await;
            let _ = sh.exec(&s, &mut host).await;
        });
    }
}

#[tokio::test]
async fn deep_nesting_is_rejected_not_overflowed() {
    let mut sh = shell_with_limits("root", ShellLimits::default());
    let mut host = MockHost::default();
    for line in [
        "(".repeat(10_000),
        "$(".repeat(5_000),
        format!("{}echo hi{}", "$(".repeat(200), ")".repeat(200)),
        format!("{}echo hi{}", "`".repeat(3), "`".repeat(3)),
        "if ".repeat(3_000),
        "\"$(".repeat(3_000),
        "${x:-".repeat(3_000),
        format!("{}1{}", "$((".repeat(500), "))".repeat(500)),
    ] {
        let o = sh.run(&line, &mut host).await;
        assert!(o.output.len() < 4096);
    }
    let o = sh.run("sh -c \"bash -c 'echo deep'\"", &mut host).await;
    assert_eq!(o.output, b"deep\n");
    let nested = "eval 'eval \"eval echo x\"'";
    let o = sh.run(nested, &mut host).await;
    assert_eq!(o.output, b"x\n");
}
