//! Text commands: `echo`, `printf`, `grep`, `sed`, `awk`, `head`, `tail`, `wc`, ...

use std::fmt::Write as _;

use base64::Engine as _;

use super::super::interp::{Interp, Io};
use super::super::text;
use super::Opts;

impl Interp<'_> {
    pub(crate) fn cmd_echo(&mut self, args: &[String], io: Io) -> i32 {
        let mut newline = true;
        let mut escapes = false;
        let mut i = 0;
        while let Some(a) = args.get(i) {
            let Some(flags) = a.strip_prefix('-') else {
                break;
            };
            if flags.is_empty() || !flags.chars().all(|c| matches!(c, 'n' | 'e' | 'E')) {
                break;
            }
            for c in flags.chars() {
                match c {
                    'n' => newline = false,
                    'e' => escapes = true,
                    _ => escapes = false,
                }
            }
            i += 1;
        }
        let joined = args.get(i..).unwrap_or(&[]).join(" ");
        let mut out = if escapes {
            let (bytes, stop) = text::unescape_c(&joined, true);
            if stop {
                self.out(io, bytes);
                return 0;
            }
            bytes
        } else {
            joined.into_bytes()
        };
        if newline {
            out.push(b'\n');
        }
        self.out(io, out);
        0
    }

    pub(crate) fn cmd_printf(&mut self, args: &[String], io: Io) -> i32 {
        let Some(fmt) = args.first() else {
            self.errln(io, "printf: usage: printf [-v var] format [arguments]");
            return 2;
        };
        let rest = args.get(1..).unwrap_or(&[]);
        let mut out = Vec::new();
        let mut idx = 0usize;
        let mut status = 0;
        loop {
            let (consumed, stop) = printf_once(fmt, rest, &mut idx, &mut out, &mut status);
            if stop || !consumed || idx >= rest.len() || out.len() > self.st.limits.max_output_bytes
            {
                break;
            }
        }
        self.out(io, out);
        status
    }

    /// The input of a text filter: named files (or `-`) or stdin.
    fn inputs(&mut self, name: &str, files: &[String], io: Io) -> (Vec<(String, Vec<u8>)>, i32) {
        let mut status = 0;
        let mut out = Vec::new();
        if files.is_empty() {
            out.push(("-".to_string(), self.read_all(io)));
            return (out, 0);
        }
        for f in files {
            if f == "-" {
                out.push((f.clone(), self.read_all(io)));
                continue;
            }
            match self.fs_read(f) {
                Ok(d) => out.push((f.clone(), d)),
                Err(e) => {
                    self.err(io, format!("{name}: {f}: {e}\n"));
                    status = if name == "grep" { 2 } else { 1 };
                }
            }
        }
        (out, status)
    }

    pub(crate) fn cmd_head_tail(&mut self, name: &str, args: &[String], io: Io) -> i32 {
        let mut lines: Option<i64> = Some(10);
        let mut bytes: Option<i64> = None;
        let mut from_start = false;
        let mut files = Vec::new();
        let mut i = 0;
        while let Some(a) = args.get(i) {
            let next = args.get(i + 1).cloned().unwrap_or_default();
            match a.as_str() {
                "-n" | "--lines" => {
                    from_start = next.starts_with('+');
                    lines = next.trim_start_matches('+').parse().ok();
                    i += 2;
                    continue;
                }
                "-c" | "--bytes" => {
                    from_start = next.starts_with('+');
                    bytes = next.trim_start_matches('+').parse().ok();
                    lines = None;
                    i += 2;
                    continue;
                }
                "-f" | "-F" | "-q" | "-v" | "--follow" => {}
                s if s.starts_with("-n") => lines = s[2..].parse().ok(),
                s if s.starts_with("-c") => {
                    bytes = s[2..].parse().ok();
                    lines = None;
                }
                s if s.starts_with('-')
                    && s[1..].chars().all(|c| c.is_ascii_digit())
                    && s.len() > 1 =>
                {
                    lines = s[1..].parse().ok();
                }
                s if s.starts_with('+') && name == "tail" => {
                    from_start = true;
                    lines = s[1..].parse().ok();
                }
                _ => files.push(a.clone()),
            }
            i += 1;
        }
        let (inputs, status) = self.inputs(name, &files, io);
        let multi = inputs.len() > 1;
        for (n, (fname, data)) in inputs.iter().enumerate() {
            if multi {
                self.out(
                    io,
                    format!("{}==> {fname} <==\n", if n > 0 { "\n" } else { "" }),
                );
            }
            let slice: Vec<u8> = if let Some(b) = bytes {
                let b = b.max(0) as usize;
                if name == "head" {
                    data.get(..b.min(data.len())).unwrap_or(&[]).to_vec()
                } else if from_start {
                    data.get(b.saturating_sub(1).min(data.len())..)
                        .unwrap_or(&[])
                        .to_vec()
                } else {
                    data.get(data.len().saturating_sub(b)..)
                        .unwrap_or(&[])
                        .to_vec()
                }
            } else {
                let k = lines.unwrap_or(10).max(0) as usize;
                let all: Vec<&[u8]> = data.split_inclusive(|&c| c == b'\n').collect();
                let picked: &[&[u8]] = if name == "head" {
                    all.get(..k.min(all.len())).unwrap_or(&[])
                } else if from_start {
                    all.get(k.saturating_sub(1).min(all.len())..).unwrap_or(&[])
                } else {
                    all.get(all.len().saturating_sub(k)..).unwrap_or(&[])
                };
                picked.concat()
            };
            self.out(io, slice);
        }
        status
    }

    pub(crate) fn cmd_grep(&mut self, args: &[String], io: Io) -> i32 {
        let mut flags = Vec::new();
        let mut patterns: Vec<String> = Vec::new();
        let mut files = Vec::new();
        let mut i = 0;
        let mut only_args = false;
        while let Some(a) = args.get(i) {
            if !only_args && a == "--" {
                only_args = true;
            } else if !only_args && (a == "-e" || a == "--regexp") {
                if let Some(p) = args.get(i + 1) {
                    patterns.push(p.clone());
                }
                i += 1;
            } else if !only_args && a.starts_with("--") {
                match a.as_str() {
                    "--ignore-case" => flags.push('i'),
                    "--invert-match" => flags.push('v'),
                    "--count" => flags.push('c'),
                    "--quiet" | "--silent" => flags.push('q'),
                    _ => {}
                }
            } else if !only_args && a.starts_with('-') && a.len() > 1 {
                flags.extend(a.chars().skip(1));
            } else if patterns.is_empty() && !flags.contains(&'e') {
                patterns.push(a.clone());
                flags.push('e');
            } else {
                files.push(a.clone());
            }
            i += 1;
        }
        let Some(_) = patterns.first() else {
            self.err(io, "Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n");
            return 2;
        };
        let has = |c: char| flags.contains(&c);
        let mut res = Vec::new();
        for p in &patterns {
            let mut pat = if has('F') {
                regex::escape(p)
            } else if has('E') || has('P') {
                p.clone()
            } else {
                text::bre_to_ere(p)
            };
            if has('w') {
                pat = format!(r"\b(?:{pat})\b");
            }
            if has('x') {
                pat = format!("^(?:{pat})$");
            }
            res.push(pat);
        }
        let combined = res.join("|");
        let Some(re) = text::regex(&combined, has('i')) else {
            self.err(io, "grep: Unmatched ( or \\(\n");
            return 2;
        };
        let recursive = has('r') || has('R');
        let mut inputs_files = files.clone();
        if recursive {
            if inputs_files.is_empty() {
                inputs_files.push(".".into());
            }
            let mut expanded = Vec::new();
            for f in &inputs_files {
                match self.st.fs.stat(&self.st.cwd, f) {
                    Ok((canon, n)) if n.is_dir() => {
                        for (p, c) in self.st.fs.walk(&canon, 5_000) {
                            if c.kind == super::super::fs::Kind::File {
                                let rel = p.strip_prefix(&canon).unwrap_or(&p);
                                expanded.push(format!("{}{rel}", f.trim_end_matches('/')));
                            }
                        }
                    }
                    _ => expanded.push(f.clone()),
                }
            }
            inputs_files = expanded;
        }
        let quiet_errors = has('s');
        let (inputs, mut status) = if quiet_errors {
            let buf = io;
            let mut silent = buf;
            silent.err = super::super::interp::NULL;
            self.inputs("grep", &inputs_files, silent)
        } else {
            self.inputs("grep", &inputs_files, io)
        };
        let show_names = (inputs.len() > 1 || recursive) && !has('h') || has('H');
        let mut out = String::new();
        let mut any = false;
        for (fname, data) in &inputs {
            let text = String::from_utf8_lossy(data);
            let mut count = 0usize;
            let binary = data.contains(&0);
            for (ln, line) in text.lines().enumerate() {
                let m = re.is_match(line) != has('v');
                if !m {
                    continue;
                }
                count += 1;
                any = true;
                if has('q') {
                    return 0;
                }
                if has('c') || has('l') || binary {
                    continue;
                }
                let prefix = if show_names {
                    format!("{fname}:")
                } else {
                    String::new()
                };
                let num = if has('n') {
                    format!("{}:", ln + 1)
                } else {
                    String::new()
                };
                if has('o') && !has('v') {
                    for mm in re.find_iter(line) {
                        let _ = writeln!(out, "{prefix}{num}{}", mm.as_str());
                    }
                } else {
                    let _ = writeln!(out, "{prefix}{num}{line}");
                }
                if out.len() > self.st.limits.max_output_bytes {
                    break;
                }
            }
            if has('c') {
                if show_names {
                    let _ = writeln!(out, "{fname}:{count}");
                } else {
                    let _ = writeln!(out, "{count}");
                }
            } else if has('l') && count > 0 {
                let _ = writeln!(out, "{fname}");
            } else if binary && count > 0 {
                let _ = writeln!(out, "grep: {fname}: binary file matches");
            }
        }
        self.out(io, out);
        if status == 0 {
            status = if any { 0 } else { 1 };
        }
        status
    }

    pub(crate) fn cmd_wc(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let mut which: Vec<char> = o
            .flags
            .iter()
            .copied()
            .filter(|c| "lwcm".contains(*c))
            .collect();
        if which.is_empty() {
            which = vec!['l', 'w', 'c'];
        }
        let (inputs, status) = self.inputs("wc", &o.args, io);
        let mut rows: Vec<(Vec<usize>, String)> = Vec::new();
        let mut totals = [0usize; 4];
        for (name, data) in &inputs {
            let text = String::from_utf8_lossy(data);
            let counts = [
                data.iter().filter(|&&b| b == b'\n').count(),
                text.split_whitespace().count(),
                data.len(),
                text.chars().count(),
            ];
            for (t, c) in totals.iter_mut().zip(counts) {
                *t += c;
            }
            let shown: Vec<usize> = ['l', 'w', 'c', 'm']
                .iter()
                .enumerate()
                .filter(|(_, c)| which.contains(c))
                .map(|(i, _)| counts[i])
                .collect();
            rows.push((
                shown,
                if name == "-" && o.args.is_empty() {
                    String::new()
                } else {
                    name.clone()
                },
            ));
        }
        if inputs.len() > 1 {
            let shown: Vec<usize> = ['l', 'w', 'c', 'm']
                .iter()
                .enumerate()
                .filter(|(_, c)| which.contains(c))
                .map(|(i, _)| totals[i])
                .collect();
            rows.push((shown, "total".into()));
        }
        let single = which.len() == 1 && rows.len() == 1;
        let width = if single {
            0
        } else if o.args.is_empty() {
            7
        } else {
            rows.iter()
                .flat_map(|(v, _)| v.iter())
                .max()
                .map_or(1, |m| m.to_string().len())
        };
        let mut out = String::new();
        for (vals, name) in rows {
            let nums: Vec<String> = vals.iter().map(|v| format!("{v:>width$}")).collect();
            let line = nums.join(" ");
            if name.is_empty() {
                let _ = writeln!(out, "{line}");
            } else {
                let _ = writeln!(out, "{line} {name}");
            }
        }
        self.out(io, out);
        status
    }

    pub(crate) fn cmd_sort(&mut self, args: &[String], io: Io) -> i32 {
        let mut reverse = false;
        let mut numeric = false;
        let mut unique = false;
        let mut key: Option<usize> = None;
        let mut sep: Option<char> = None;
        let mut files = Vec::new();
        let mut i = 0;
        while let Some(a) = args.get(i) {
            if a == "-k" || a == "-t" {
                let v = args.get(i + 1).cloned().unwrap_or_default();
                if a == "-k" {
                    key = v
                        .split([',', '.'])
                        .next()
                        .and_then(|x| x.trim_end_matches(|c: char| c.is_alphabetic()).parse().ok());
                    if v.contains('n') {
                        numeric = true;
                    }
                } else {
                    sep = v.chars().next();
                }
                i += 2;
                continue;
            }
            if let Some(f) = a
                .strip_prefix('-')
                .filter(|f| !f.is_empty() && !a.starts_with("--"))
            {
                for c in f.chars() {
                    match c {
                        'r' => reverse = true,
                        'n' | 'h' | 'g' => numeric = true,
                        'u' => unique = true,
                        _ => {}
                    }
                }
            } else if !a.starts_with("--") {
                files.push(a.clone());
            }
            i += 1;
        }
        let (inputs, status) = self.inputs("sort", &files, io);
        let mut lines: Vec<String> = inputs
            .iter()
            .flat_map(|(_, d)| {
                String::from_utf8_lossy(d)
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        let field = |l: &str| -> String {
            match key {
                Some(k) if k > 0 => {
                    let parts: Vec<&str> = match sep {
                        Some(s) => l.split(s).collect(),
                        None => l.split_whitespace().collect(),
                    };
                    parts.get(k - 1).map(|s| s.to_string()).unwrap_or_default()
                }
                _ => l.to_string(),
            }
        };
        let num = |s: &str| -> f64 {
            let t = s.trim();
            let end = t
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .unwrap_or(t.len());
            t[..end].parse().unwrap_or(0.0)
        };
        lines.sort_by(|a, b| {
            let (fa, fb) = (field(a), field(b));
            let ord = if numeric {
                num(&fa)
                    .partial_cmp(&num(&fb))
                    .unwrap_or(std::cmp::Ordering::Equal)
            } else {
                fa.cmp(&fb)
            };
            ord.then_with(|| a.cmp(b))
        });
        if reverse {
            lines.reverse();
        }
        if unique {
            lines.dedup_by(|a, b| field(a) == field(b));
        }
        let mut out = lines.join("\n");
        if !lines.is_empty() {
            out.push('\n');
        }
        self.out(io, out);
        status
    }

    pub(crate) fn cmd_uniq(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let (inputs, status) = self.inputs("uniq", &o.args, io);
        let text: String = inputs
            .iter()
            .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
            .collect();
        let mut groups: Vec<(String, usize)> = Vec::new();
        for l in text.lines() {
            match groups.last_mut() {
                Some((prev, n)) if prev == l => *n += 1,
                _ => groups.push((l.to_string(), 1)),
            }
        }
        let mut out = String::new();
        for (l, n) in groups {
            if o.has('d') && n < 2 || o.has('u') && n > 1 {
                continue;
            }
            if o.has('c') {
                let _ = writeln!(out, "{n:>7} {l}");
            } else {
                let _ = writeln!(out, "{l}");
            }
        }
        self.out(io, out);
        status
    }

    pub(crate) fn cmd_tr(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let delete = o.has('d');
        let squeeze = o.has('s');
        let complement = o.has('c') || o.has('C');
        let Some(set1) = o.args.first().map(|s| expand_set(s)) else {
            self.err(
                io,
                "tr: missing operand\nTry 'tr --help' for more information.\n",
            );
            return 1;
        };
        let set2 = o.args.get(1).map(|s| expand_set(s)).unwrap_or_default();
        if !delete && !squeeze && set2.is_empty() {
            self.err(io, format!("tr: missing operand after ‘{}’\nTwo strings must be given when translating.\nTry 'tr --help' for more information.\n", o.args.first().map_or("", |s| s)));
            return 1;
        }
        let in_set1 = |b: u8| set1.contains(&b) != complement;
        let data = self.read_all(io);
        let mut out = Vec::with_capacity(data.len());
        for b in data {
            if delete {
                if !in_set1(b) {
                    out.push(b);
                }
                continue;
            }
            let mapped = if !set2.is_empty() && in_set1(b) {
                match set1.iter().position(|&x| x == b) {
                    Some(p) if !complement => *set2.get(p).or(set2.last()).unwrap_or(&b),
                    _ => *set2.last().unwrap_or(&b),
                }
            } else {
                b
            };
            if squeeze
                && out.last() == Some(&mapped)
                && (if set2.is_empty() {
                    in_set1(mapped)
                } else {
                    set2.contains(&mapped)
                })
            {
                continue;
            }
            out.push(mapped);
        }
        self.out(io, out);
        0
    }

    pub(crate) fn cmd_cut(&mut self, args: &[String], io: Io) -> i32 {
        let mut delim = '\t';
        let mut fields: Option<String> = None;
        let mut chars: Option<String> = None;
        let mut files = Vec::new();
        let mut i = 0;
        while let Some(a) = args.get(i) {
            let next = args.get(i + 1).cloned();
            let (flag, inline) = if a.starts_with('-') && a.len() > 2 && !a.starts_with("--") {
                (&a[..2], Some(a[2..].to_string()))
            } else {
                (a.as_str(), None)
            };
            match flag {
                "-d" | "-f" | "-c" | "-b" => {
                    let v = match inline {
                        Some(v) => v,
                        None => {
                            i += 1;
                            next.unwrap_or_default()
                        }
                    };
                    match flag {
                        "-d" => delim = v.chars().next().unwrap_or('\t'),
                        "-f" => fields = Some(v),
                        _ => chars = Some(v),
                    }
                }
                _ => files.push(a.clone()),
            }
            i += 1;
        }
        let spec = match (fields.as_ref(), chars.as_ref()) {
            (Some(f), _) => f.clone(),
            (None, Some(c)) => c.clone(),
            _ => {
                self.err(io, "cut: you must specify a list of bytes, characters, or fields\nTry 'cut --help' for more information.\n");
                return 1;
            }
        };
        let Some(ranges) = parse_ranges(&spec) else {
            self.err(
                io,
                "cut: invalid field value\nTry 'cut --help' for more information.\n",
            );
            return 1;
        };
        let (inputs, status) = self.inputs("cut", &files, io);
        let mut out = String::new();
        for (_, d) in inputs {
            for line in String::from_utf8_lossy(&d).lines() {
                if fields.is_some() {
                    if !line.contains(delim) {
                        let _ = writeln!(out, "{line}");
                        continue;
                    }
                    let parts: Vec<&str> = line.split(delim).collect();
                    let picked: Vec<&str> = parts
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| in_ranges(&ranges, i + 1))
                        .map(|(_, s)| *s)
                        .collect();
                    let _ = writeln!(out, "{}", picked.join(&delim.to_string()));
                } else {
                    let picked: String = line
                        .chars()
                        .enumerate()
                        .filter(|(i, _)| in_ranges(&ranges, i + 1))
                        .map(|(_, c)| c)
                        .collect();
                    let _ = writeln!(out, "{picked}");
                }
            }
        }
        self.out(io, out);
        status
    }

    pub(crate) fn cmd_awk(&mut self, args: &[String], io: Io) -> i32 {
        let mut fs_sep: Option<String> = None;
        let mut program: Option<String> = None;
        let mut files = Vec::new();
        let mut i = 0;
        while let Some(a) = args.get(i) {
            if a == "-F" {
                fs_sep = args.get(i + 1).cloned();
                i += 2;
                continue;
            }
            if let Some(s) = a.strip_prefix("-F") {
                fs_sep = Some(s.to_string());
            } else if a == "-v" {
                i += 1;
            } else if program.is_none() {
                program = Some(a.clone());
            } else {
                files.push(a.clone());
            }
            i += 1;
        }
        let Some(program) = program else {
            self.err(
                io,
                "usage: awk [-F value] [-v var=value] [--] 'program text' [file ...]\n",
            );
            return 2;
        };
        let Some(rules) = awk::parse(&program) else {
            self.err(
                io,
                format!(
                    "awk: line 1: syntax error at or near {}\n",
                    program.chars().next().unwrap_or(' ')
                ),
            );
            return 2;
        };
        let (inputs, status) = self.inputs("awk", &files, io);
        let text: String = inputs
            .iter()
            .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
            .collect();
        let sep = fs_sep.map(|s| if s == "\\t" { "\t".to_string() } else { s });
        let out = awk::run(
            &rules,
            &text,
            sep.as_deref(),
            self.st.limits.max_output_bytes,
        );
        self.out(io, out);
        status
    }

    pub(crate) fn cmd_sed(&mut self, args: &[String], io: Io) -> i32 {
        let mut quiet = false;
        let mut in_place = false;
        let mut extended = false;
        let mut scripts = Vec::new();
        let mut files = Vec::new();
        let mut i = 0;
        while let Some(a) = args.get(i) {
            match a.as_str() {
                "-n" | "--quiet" => quiet = true,
                "-E" | "-r" => extended = true,
                "-e" => {
                    if let Some(s) = args.get(i + 1) {
                        scripts.push(s.clone());
                    }
                    i += 1;
                }
                s if s.starts_with("-i") => in_place = true,
                s if s.starts_with('-') && s.len() > 1 => {
                    quiet |= s.contains('n');
                    extended |= s.contains('E') || s.contains('r');
                    in_place |= s.contains('i');
                }
                _ => {
                    if scripts.is_empty() {
                        scripts.push(a.clone());
                    } else {
                        files.push(a.clone());
                    }
                }
            }
            i += 1;
        }
        let script = scripts.join("\n");
        let cmds = match sed::parse(&script, extended) {
            Ok(c) => c,
            Err(e) => {
                self.err(
                    io,
                    format!("sed: -e expression #1, char {}: {}\n", e.0, e.1),
                );
                return 1;
            }
        };
        if in_place {
            let mut status = 0;
            for f in &files {
                match self.fs_read(f) {
                    Ok(d) => {
                        let out = sed::run(&cmds, &String::from_utf8_lossy(&d), quiet);
                        if let Err(e) = self.fs_write(f, out.as_bytes(), false, true) {
                            self.err(io, format!("sed: couldn't open file {f}: {e}\n"));
                            status = 4;
                        }
                    }
                    Err(e) => {
                        self.err(io, format!("sed: can't read {f}: {e}\n"));
                        status = 2;
                    }
                }
            }
            return status;
        }
        let (inputs, status) = self.inputs("sed", &files, io);
        let text: String = inputs
            .iter()
            .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
            .collect();
        let out = sed::run(&cmds, &text, quiet);
        self.out(io, out);
        if status != 0 { 2 } else { 0 }
    }

    pub(crate) fn cmd_base64(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let decode = o.has('d') || o.has_long("decode");
        let (inputs, status) = self.inputs(
            "base64",
            &o.args
                .iter()
                .filter(|a| a.parse::<u32>().is_err())
                .cloned()
                .collect::<Vec<_>>(),
            io,
        );
        if status != 0 {
            return status;
        }
        let data: Vec<u8> = inputs.into_iter().flat_map(|(_, d)| d).collect();
        let wrap = !args
            .iter()
            .any(|a| a == "-w0" || a == "-w" || a == "--wrap=0");
        if decode {
            let clean: Vec<u8> = data
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            match base64::engine::general_purpose::STANDARD.decode(&clean) {
                Ok(d) => {
                    self.out(io, d);
                    0
                }
                Err(_) => {
                    let lenient = base64::engine::GeneralPurpose::new(
                        &base64::alphabet::STANDARD,
                        base64::engine::GeneralPurposeConfig::new()
                            .with_decode_allow_trailing_bits(true)
                            .with_decode_padding_mode(
                                base64::engine::DecodePaddingMode::Indifferent,
                            ),
                    );
                    if let Ok(d) = lenient.decode(&clean) {
                        self.out(io, d);
                    }
                    self.err(io, "base64: invalid input\n");
                    1
                }
            }
        } else {
            let enc = base64::engine::general_purpose::STANDARD.encode(&data);
            let mut out = String::new();
            if wrap {
                for chunk in enc.as_bytes().chunks(76) {
                    out.push_str(&String::from_utf8_lossy(chunk));
                    out.push('\n');
                }
            } else {
                out = enc;
            }
            self.out(io, out);
            0
        }
    }

    pub(crate) fn cmd_hashsum(&mut self, name: &str, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let (inputs, status) = self.inputs(name, &o.args, io);
        let mut out = String::new();
        for (f, d) in inputs {
            let h = match name {
                "md5sum" => text::hex(&text::md5(&d)),
                "sha1sum" => text::hex(&text::sha1(&d)),
                _ => {
                    use sha2::Digest as _;
                    text::hex(&sha2::Sha256::digest(&d))
                }
            };
            let _ = writeln!(out, "{h}  {f}");
        }
        self.out(io, out);
        status
    }

    pub(crate) fn cmd_seq(&mut self, args: &[String], io: Io) -> i32 {
        let mut sep = "\n".to_string();
        let mut nums = Vec::new();
        let mut i = 0;
        while let Some(a) = args.get(i) {
            if a == "-s" {
                sep = args.get(i + 1).cloned().unwrap_or_default();
                i += 2;
                continue;
            }
            if a == "-w" {
                i += 1;
                continue;
            }
            match a.parse::<i64>() {
                Ok(n) => nums.push(n),
                Err(_) => {
                    self.err(io, format!("seq: invalid floating point argument: ‘{a}’\nTry 'seq --help' for more information.\n"));
                    return 1;
                }
            }
            i += 1;
        }
        let (first, step, last) = match nums.as_slice() {
            [l] => (1, 1, *l),
            [f, l] => (*f, 1, *l),
            [f, s, l] => (*f, *s, *l),
            _ => {
                self.err(
                    io,
                    "seq: missing operand\nTry 'seq --help' for more information.\n",
                );
                return 1;
            }
        };
        if step == 0 {
            self.err(io, "seq: invalid Zero increment value: ‘0’\n");
            return 1;
        }
        let mut out = String::new();
        let mut v = first;
        let max = self.st.limits.max_output_bytes;
        while (step > 0 && v <= last) || (step < 0 && v >= last) {
            if !out.is_empty() {
                out.push_str(&sep);
            }
            let _ = write!(out, "{v}");
            if out.len() > max {
                break;
            }
            v = match v.checked_add(step) {
                Some(x) => x,
                None => break,
            };
        }
        if !out.is_empty() {
            out.push('\n');
        }
        self.out(io, out);
        0
    }

    pub(crate) fn cmd_yes(&mut self, args: &[String], io: Io) -> i32 {
        let word = if args.is_empty() {
            "y".to_string()
        } else {
            args.join(" ")
        };
        let line = format!("{word}\n");
        // `yes` never ends by itself; the output cap is its end.
        let n = (self.st.limits.max_output_bytes / line.len().max(1)).max(1);
        self.out(io, line.repeat(n));
        0
    }
}

/// One pass over the format. Returns whether any argument was consumed and
/// whether `\c` stopped output.
fn printf_once(
    fmt: &str,
    args: &[String],
    idx: &mut usize,
    out: &mut Vec<u8>,
    status: &mut i32,
) -> (bool, bool) {
    let chars: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    let mut consumed = false;
    let mut next_arg = |idx: &mut usize| -> Option<String> {
        let a = args.get(*idx).cloned();
        if a.is_some() {
            *idx += 1;
            consumed = true;
        }
        a
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let mut j = i + 1;
            let mut esc = String::from("\\");
            if let Some(&n) = chars.get(j) {
                esc.push(n);
                j += 1;
                if n == 'x' || n.is_digit(8) {
                    let max = 2;
                    let mut k = 0;
                    while k < max
                        && chars.get(j).is_some_and(|d| {
                            if n == 'x' {
                                d.is_ascii_hexdigit()
                            } else {
                                d.is_digit(8)
                            }
                        })
                    {
                        if let Some(&d) = chars.get(j) {
                            esc.push(d);
                        }
                        j += 1;
                        k += 1;
                    }
                }
            }
            let (bytes, stop) = text::unescape_c(&esc, true);
            out.extend_from_slice(&bytes);
            if stop {
                return (consumed, true);
            }
            i = j;
            continue;
        }
        if c != '%' {
            let mut tmp = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'%') {
            out.push(b'%');
            i += 2;
            continue;
        }
        let mut j = i + 1;
        let mut flags = String::new();
        while let Some(&f) = chars.get(j).filter(|f| "-+ #0".contains(**f)) {
            flags.push(f);
            j += 1;
        }
        let mut width = String::new();
        while let Some(&d) = chars.get(j).filter(|d| d.is_ascii_digit()) {
            width.push(d);
            j += 1;
        }
        let mut prec: Option<usize> = None;
        if chars.get(j) == Some(&'.') {
            j += 1;
            let mut p = String::new();
            while let Some(&d) = chars.get(j).filter(|d| d.is_ascii_digit()) {
                p.push(d);
                j += 1;
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        while matches!(chars.get(j), Some('l' | 'h' | 'q' | 'j' | 'z')) {
            j += 1;
        }
        let Some(&conv) = chars.get(j) else {
            out.extend(chars[i..].iter().collect::<String>().bytes());
            break;
        };
        let w: usize = width.parse().unwrap_or(0).min(4096);
        let left = flags.contains('-');
        let zero = flags.contains('0') && !left;
        let arg = next_arg(idx);
        let body: Vec<u8> = match conv {
            's' => {
                let mut s = arg.unwrap_or_default();
                if let Some(p) = prec {
                    s = s.chars().take(p).collect();
                }
                s.into_bytes()
            }
            'b' => {
                let (b, stop) = text::unescape_c(&arg.unwrap_or_default(), true);
                if stop {
                    out.extend_from_slice(&b);
                    return (consumed, true);
                }
                b
            }
            'c' => arg
                .and_then(|a| a.chars().next())
                .map(|c| c.to_string().into_bytes())
                .unwrap_or_default(),
            'd' | 'i' | 'u' | 'x' | 'X' | 'o' => {
                let a = arg.unwrap_or_default();
                let v = if let Some(ch) = a.strip_prefix('\'').or_else(|| a.strip_prefix('"')) {
                    ch.chars().next().map_or(0, |c| c as i64)
                } else if a.trim().is_empty() {
                    0
                } else {
                    match super::super::interp::parse_int(a.trim()) {
                        Some(v) => v,
                        None => {
                            *status = 1;
                            0
                        }
                    }
                };
                match conv {
                    'x' => format!("{v:x}"),
                    'X' => format!("{v:X}"),
                    'o' => format!("{v:o}"),
                    _ => {
                        if flags.contains('+') && v >= 0 {
                            format!("+{v}")
                        } else {
                            v.to_string()
                        }
                    }
                }
                .into_bytes()
            }
            'f' | 'F' | 'e' | 'g' | 'G' => {
                let v: f64 = arg.and_then(|a| a.trim().parse().ok()).unwrap_or(0.0);
                format!("{v:.*}", prec.unwrap_or(6)).into_bytes()
            }
            'q' => super::super::parser::quote_like_printf(&arg.unwrap_or_default()).into_bytes(),
            other => {
                let mut s = String::from("%");
                s.push(other);
                s.into_bytes()
            }
        };
        let len = String::from_utf8_lossy(&body).chars().count();
        if len < w {
            let pad = w - len;
            if left {
                out.extend_from_slice(&body);
                out.extend(std::iter::repeat_n(b' ', pad));
            } else if zero && matches!(conv, 'd' | 'i' | 'u' | 'x' | 'X' | 'o' | 'f') {
                let (sign, digits) = match body.first() {
                    Some(b'-') => (&body[..1], &body[1..]),
                    _ => (&body[..0], &body[..]),
                };
                out.extend_from_slice(sign);
                out.extend(std::iter::repeat_n(b'0', pad));
                out.extend_from_slice(digits);
            } else {
                out.extend(std::iter::repeat_n(b' ', pad));
                out.extend_from_slice(&body);
            }
        } else {
            out.extend_from_slice(&body);
        }
        i = j + 1;
    }
    (consumed, false)
}

fn expand_set(s: &str) -> Vec<u8> {
    let s = s
        .replace("[:lower:]", "a-z")
        .replace("[:upper:]", "A-Z")
        .replace("[:digit:]", "0-9")
        .replace("[:alpha:]", "a-zA-Z")
        .replace("[:alnum:]", "a-zA-Z0-9")
        .replace("[:space:]", " \t\n\r\x0b\x0c")
        .replace("[:blank:]", " \t")
        .replace("[:punct:]", "!-/:-@[-`{-~");
    let (bytes, _) = text::unescape_c(&s, false);
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if bytes.get(i + 1) == Some(&b'-') && i + 2 < bytes.len() {
            let hi = bytes[i + 2];
            if c <= hi {
                out.extend(c..=hi);
            }
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn parse_ranges(spec: &str) -> Option<Vec<(usize, usize)>> {
    let mut out = Vec::new();
    for part in spec.split(',') {
        let r = match part.split_once('-') {
            Some((a, b)) => (
                if a.is_empty() { 1 } else { a.parse().ok()? },
                if b.is_empty() {
                    usize::MAX
                } else {
                    b.parse().ok()?
                },
            ),
            None => {
                let n: usize = part.parse().ok()?;
                (n, n)
            }
        };
        if r.0 == 0 {
            return None;
        }
        out.push(r);
    }
    Some(out)
}

fn in_ranges(r: &[(usize, usize)], i: usize) -> bool {
    r.iter().any(|&(a, b)| a <= i && i <= b)
}

/// A very small awk: `pattern { print ...; printf ... }` rules with `$N`, `NF`, `NR`,
/// string literals, `BEGIN`/`END`, `/re/`, and comparisons as patterns.
mod awk {
    use super::text;
    use std::fmt::Write as _;

    #[derive(Debug, Clone)]
    pub enum Pattern {
        All,
        Begin,
        End,
        Regex(String, bool),
        Cmp(Expr, String, Expr),
        FieldRegex(Expr, String, bool),
    }

    #[derive(Debug, Clone)]
    pub enum Expr {
        Field(Box<Expr>),
        Num(f64),
        Str(String),
        Nf,
        Nr,
        Var,
        Concat(Vec<Expr>),
    }

    #[derive(Debug, Clone)]
    pub enum Stmt {
        Print(Vec<Expr>),
        Printf(Vec<Expr>),
        Next,
    }

    pub struct Rule {
        pat: Pattern,
        body: Vec<Stmt>,
    }

    pub fn parse(prog: &str) -> Option<Vec<Rule>> {
        let mut rules = Vec::new();
        let mut rest = prog.trim();
        let mut guard = 0;
        while !rest.is_empty() {
            guard += 1;
            if guard > 100 {
                return None;
            }
            let (pat_text, after) = match rest.find('{') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let pat = parse_pattern(pat_text.trim())?;
            if after.is_empty() {
                rules.push(Rule {
                    pat,
                    body: vec![Stmt::Print(vec![])],
                });
                break;
            }
            let close = matching_brace(after)?;
            let body_text = &after[1..close];
            let body = parse_body(body_text)?;
            rules.push(Rule { pat, body });
            rest = after[close + 1..].trim_start_matches([';', ' ', '\n', '\t']);
        }
        Some(rules)
    }

    fn matching_brace(s: &str) -> Option<usize> {
        let mut depth = 0;
        let mut in_str = false;
        for (i, c) in s.char_indices() {
            match c {
                '"' => in_str = !in_str,
                '{' if !in_str => depth += 1,
                '}' if !in_str => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        None
    }

    fn parse_pattern(p: &str) -> Option<Pattern> {
        if p.is_empty() {
            return Some(Pattern::All);
        }
        if p == "BEGIN" {
            return Some(Pattern::Begin);
        }
        if p == "END" {
            return Some(Pattern::End);
        }
        let (neg, body) = match p.strip_prefix('!') {
            Some(b) => (true, b.trim()),
            None => (false, p),
        };
        if body.starts_with('/') && body.ends_with('/') && body.len() >= 2 {
            return Some(Pattern::Regex(body[1..body.len() - 1].to_string(), neg));
        }
        for op in ["!~", "~"] {
            if let Some((l, r)) = p.split_once(op) {
                let r = r.trim();
                if r.starts_with('/') && r.ends_with('/') && r.len() >= 2 {
                    return Some(Pattern::FieldRegex(
                        parse_expr(l.trim())?,
                        r[1..r.len() - 1].to_string(),
                        op == "!~",
                    ));
                }
            }
        }
        for op in ["==", "!=", ">=", "<=", ">", "<"] {
            if let Some((l, r)) = p.split_once(op) {
                return Some(Pattern::Cmp(
                    parse_expr(l.trim())?,
                    op.to_string(),
                    parse_expr(r.trim())?,
                ));
            }
        }
        Some(Pattern::Cmp(parse_expr(p)?, "!=".into(), Expr::Num(0.0)))
    }

    fn parse_body(b: &str) -> Option<Vec<Stmt>> {
        let mut out = Vec::new();
        for stmt in split_top(b, &[';', '\n']) {
            let s = stmt.trim();
            if s.is_empty() {
                continue;
            }
            if s == "next" {
                out.push(Stmt::Next);
            } else if let Some(args) = s.strip_prefix("printf") {
                let args = args.trim().trim_start_matches('(').trim_end_matches(')');
                out.push(Stmt::Printf(
                    split_top(args, &[','])
                        .iter()
                        .map(|a| parse_expr(a.trim()))
                        .collect::<Option<_>>()?,
                ));
            } else if let Some(args) = s.strip_prefix("print") {
                let args = args.trim();
                let args = if args.starts_with('(') && args.ends_with(')') {
                    &args[1..args.len() - 1]
                } else {
                    args
                };
                if args.is_empty() {
                    out.push(Stmt::Print(vec![]));
                } else {
                    out.push(Stmt::Print(
                        split_top(args, &[','])
                            .iter()
                            .map(|a| parse_expr(a.trim()))
                            .collect::<Option<_>>()?,
                    ));
                }
            } else {
                // Assignments and other statements are accepted and ignored.
            }
        }
        Some(out)
    }

    fn split_top(s: &str, seps: &[char]) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut in_str = false;
        let mut depth = 0i32;
        let mut prev = ' ';
        for c in s.chars() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            }
            if !in_str {
                if c == '(' {
                    depth += 1;
                } else if c == ')' {
                    depth -= 1;
                }
            }
            if !in_str && depth == 0 && seps.contains(&c) {
                out.push(std::mem::take(&mut cur));
            } else {
                cur.push(c);
            }
            prev = c;
        }
        out.push(cur);
        out
    }

    fn parse_expr(s: &str) -> Option<Expr> {
        let mut items = Vec::new();
        let chars: Vec<char> = s.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            if c == '"' {
                let mut lit = String::new();
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                        lit.push(match chars[i] {
                            'n' => '\n',
                            't' => '\t',
                            o => o,
                        });
                    } else {
                        lit.push(chars[i]);
                    }
                    i += 1;
                }
                i += 1;
                items.push(Expr::Str(lit));
                continue;
            }
            if c == '$' {
                i += 1;
                let start = i;
                if chars.get(i) == Some(&'(') {
                    let mut depth = 0;
                    while i < chars.len() {
                        if chars[i] == '(' {
                            depth += 1;
                        } else if chars[i] == ')' {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        i += 1;
                    }
                    let inner: String = chars[start + 1..i.min(chars.len())].iter().collect();
                    i += 1;
                    items.push(Expr::Field(Box::new(parse_expr(&inner)?)));
                    continue;
                }
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let tok: String = chars[start..i].iter().collect();
                let inner = if tok == "NF" {
                    Expr::Nf
                } else if tok == "NR" {
                    Expr::Nr
                } else {
                    Expr::Num(tok.parse().ok()?)
                };
                items.push(Expr::Field(Box::new(inner)));
                continue;
            }
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '"' && chars[i] != '$'
            {
                i += 1;
            }
            let tok: String = chars[start..i].iter().collect();
            items.push(match tok.as_str() {
                "NF" => Expr::Nf,
                "NR" | "FNR" => Expr::Nr,
                t => match t.parse::<f64>() {
                    Ok(n) => Expr::Num(n),
                    Err(_) => Expr::Var,
                },
            });
        }
        Some(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Concat(items)
        })
    }

    fn eval(e: &Expr, fields: &[&str], line: &str, nr: usize) -> String {
        match e {
            Expr::Field(inner) => {
                let n = eval(inner, fields, line, nr).parse::<f64>().unwrap_or(0.0) as usize;
                if n == 0 {
                    line.to_string()
                } else {
                    fields.get(n - 1).map(|s| s.to_string()).unwrap_or_default()
                }
            }
            Expr::Num(n) => fmt_num(*n),
            Expr::Str(s) => s.clone(),
            Expr::Nf => fields.len().to_string(),
            Expr::Nr => nr.to_string(),
            Expr::Var => String::new(),
            Expr::Concat(items) => items.iter().map(|i| eval(i, fields, line, nr)).collect(),
        }
    }

    fn fmt_num(n: f64) -> String {
        if n.fract() == 0.0 && n.abs() < 1e15 {
            format!("{}", n as i64)
        } else {
            format!("{n}")
        }
    }

    fn matches(p: &Pattern, fields: &[&str], line: &str, nr: usize) -> bool {
        match p {
            Pattern::All => true,
            Pattern::Begin | Pattern::End => false,
            Pattern::Regex(r, neg) => {
                text::regex(r, false).is_some_and(|re| re.is_match(line)) != *neg
            }
            Pattern::FieldRegex(e, r, neg) => {
                let v = eval(e, fields, line, nr);
                text::regex(r, false).is_some_and(|re| re.is_match(&v)) != *neg
            }
            Pattern::Cmp(l, op, r) => {
                let a = eval(l, fields, line, nr);
                let b = eval(r, fields, line, nr);
                let ord = match (a.parse::<f64>(), b.parse::<f64>()) {
                    (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                    _ => a.cmp(&b),
                };
                match op.as_str() {
                    "==" => ord.is_eq(),
                    "!=" => {
                        if matches!(r, Expr::Num(n) if *n == 0.0) && a.parse::<f64>().is_err() {
                            !a.is_empty()
                        } else {
                            !ord.is_eq()
                        }
                    }
                    ">" => ord.is_gt(),
                    "<" => ord.is_lt(),
                    ">=" => ord.is_ge(),
                    _ => ord.is_le(),
                }
            }
        }
    }

    fn exec(body: &[Stmt], fields: &[&str], line: &str, nr: usize, out: &mut String) -> bool {
        for s in body {
            match s {
                Stmt::Next => return true,
                Stmt::Print(items) => {
                    if items.is_empty() {
                        let _ = writeln!(out, "{line}");
                    } else {
                        let v: Vec<String> =
                            items.iter().map(|e| eval(e, fields, line, nr)).collect();
                        let _ = writeln!(out, "{}", v.join(" "));
                    }
                }
                Stmt::Printf(items) => {
                    let v: Vec<String> = items.iter().map(|e| eval(e, fields, line, nr)).collect();
                    if let Some((fmt, args)) = v.split_first() {
                        let mut buf = Vec::new();
                        let mut idx = 0;
                        let mut st = 0;
                        super::printf_once(fmt, args, &mut idx, &mut buf, &mut st);
                        out.push_str(&String::from_utf8_lossy(&buf));
                    }
                }
            }
        }
        false
    }

    pub fn run(rules: &[Rule], input: &str, sep: Option<&str>, cap: usize) -> String {
        let mut out = String::new();
        for r in rules.iter().filter(|r| matches!(r.pat, Pattern::Begin)) {
            exec(&r.body, &[], "", 0, &mut out);
        }
        let mut nr = 0;
        let mut last_line = String::new();
        for line in input.lines() {
            nr += 1;
            let fields: Vec<&str> = match sep {
                Some(s) if s != " " && !s.is_empty() => line.split(s).collect(),
                _ => line.split_whitespace().collect(),
            };
            for r in rules {
                if matches(&r.pat, &fields, line, nr) && exec(&r.body, &fields, line, nr, &mut out)
                {
                    break;
                }
            }
            if out.len() > cap {
                break;
            }
            last_line = line.to_string();
        }
        let fields: Vec<&str> = last_line.split_whitespace().collect();
        for r in rules.iter().filter(|r| matches!(r.pat, Pattern::End)) {
            exec(&r.body, &fields, &last_line, nr, &mut out);
        }
        out
    }
}

/// A small sed: `s///[gpi N]`, `d`, `p`, `q`, with line, `$` and `/re/` addresses.
mod sed {
    use super::text;

    pub enum Addr {
        Line(usize),
        Last,
        Re(regex::Regex),
    }

    pub enum Op {
        Subst {
            re: regex::Regex,
            rep: String,
            global: bool,
            print: bool,
            nth: usize,
        },
        Delete,
        Print,
        Quit,
    }

    pub struct Cmd {
        addr: Option<Addr>,
        neg: bool,
        op: Op,
    }

    pub fn parse(script: &str, extended: bool) -> Result<Vec<Cmd>, (usize, String)> {
        let mut cmds = Vec::new();
        let chars: Vec<char> = script.chars().collect();
        let mut i = 0;
        let conv = |p: &str| {
            if extended {
                p.to_string()
            } else {
                text::bre_to_ere(p)
            }
        };
        while i < chars.len() {
            while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ';') {
                i += 1;
            }
            if i >= chars.len() {
                break;
            }
            let mut addr = None;
            if chars[i].is_ascii_digit() {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let n: String = chars[start..i].iter().collect();
                addr = Some(Addr::Line(n.parse().unwrap_or(0)));
            } else if chars[i] == '$' {
                addr = Some(Addr::Last);
                i += 1;
            } else if chars[i] == '/' {
                let (pat, next) = delimited(&chars, i + 1, '/')
                    .ok_or((i + 1, "unterminated address regex".to_string()))?;
                let re =
                    text::regex(&conv(&pat), false).ok_or((i + 1, "invalid regex".to_string()))?;
                addr = Some(Addr::Re(re));
                i = next;
            }
            let mut neg = false;
            if chars.get(i) == Some(&'!') {
                neg = true;
                i += 1;
            }
            let Some(&c) = chars.get(i) else {
                return Err((i, "missing command".into()));
            };
            i += 1;
            let op = match c {
                'd' => Op::Delete,
                'p' => Op::Print,
                'q' => Op::Quit,
                's' => {
                    let Some(&delim) = chars.get(i) else {
                        return Err((i, "unterminated `s' command".into()));
                    };
                    let (pat, n1) = delimited(&chars, i + 1, delim)
                        .ok_or((i, "unterminated `s' command".to_string()))?;
                    let (rep, n2) = delimited(&chars, n1, delim)
                        .ok_or((n1, "unterminated `s' command".to_string()))?;
                    i = n2;
                    let mut global = false;
                    let mut print = false;
                    let mut icase = false;
                    let mut nth = 1;
                    while let Some(&f) = chars.get(i) {
                        match f {
                            'g' => global = true,
                            'p' => print = true,
                            'i' | 'I' => icase = true,
                            d if d.is_ascii_digit() => nth = d.to_digit(10).unwrap_or(1) as usize,
                            _ => break,
                        }
                        i += 1;
                    }
                    let re =
                        text::regex(&conv(&pat), icase).ok_or((i, "invalid regex".to_string()))?;
                    Op::Subst {
                        re,
                        rep: convert_rep(&rep),
                        global,
                        print,
                        nth: nth.max(1),
                    }
                }
                '{' | '}' => continue,
                other => return Err((i, format!("unknown command: `{other}'"))),
            };
            cmds.push(Cmd { addr, neg, op });
        }
        Ok(cmds)
    }

    fn delimited(chars: &[char], mut i: usize, delim: char) -> Option<(String, usize)> {
        let mut s = String::new();
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' && chars.get(i + 1) == Some(&delim) {
                s.push(delim);
                i += 2;
                continue;
            }
            if c == '\\' {
                s.push(c);
                if let Some(&n) = chars.get(i + 1) {
                    s.push(n);
                }
                i += 2;
                continue;
            }
            if c == delim {
                return Some((s, i + 1));
            }
            s.push(c);
            i += 1;
        }
        None
    }

    /// sed replacement (`&`, `\1`) into regex crate syntax (`${0}`, `${1}`).
    fn convert_rep(rep: &str) -> String {
        let mut out = String::new();
        let mut chars = rep.chars();
        while let Some(c) = chars.next() {
            match c {
                '&' => out.push_str("${0}"),
                '$' => out.push_str("$$"),
                '\\' => match chars.next() {
                    Some(d) if d.is_ascii_digit() => {
                        out.push_str(&format!("${{{d}}}"));
                    }
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => {
                        if o == '$' {
                            out.push_str("$$");
                        } else {
                            out.push(o);
                        }
                    }
                    None => {}
                },
                _ => out.push(c),
            }
        }
        out
    }

    pub fn run(cmds: &[Cmd], input: &str, quiet: bool) -> String {
        let lines: Vec<&str> = input.lines().collect();
        let total = lines.len();
        let mut out = String::new();
        'lines: for (n, line) in lines.iter().enumerate() {
            let mut cur = line.to_string();
            for c in cmds {
                let hit = match &c.addr {
                    None => true,
                    Some(Addr::Line(l)) => *l == n + 1,
                    Some(Addr::Last) => n + 1 == total,
                    Some(Addr::Re(re)) => re.is_match(&cur),
                } != c.neg;
                if !hit {
                    continue;
                }
                match &c.op {
                    Op::Delete => continue 'lines,
                    Op::Print => {
                        out.push_str(&cur);
                        out.push('\n');
                    }
                    Op::Quit => {
                        if !quiet {
                            out.push_str(&cur);
                            out.push('\n');
                        }
                        return out;
                    }
                    Op::Subst {
                        re,
                        rep,
                        global,
                        print,
                        nth,
                    } => {
                        let changed = if *global {
                            re.replace_all(&cur, rep.as_str()).into_owned()
                        } else if *nth > 1 {
                            let mut count = 0;
                            re.replace_all(&cur, |caps: &regex::Captures<'_>| {
                                count += 1;
                                let mut dst = String::new();
                                if count == *nth {
                                    caps.expand(rep, &mut dst);
                                } else {
                                    dst.push_str(caps.get(0).map_or("", |m| m.as_str()));
                                }
                                dst
                            })
                            .into_owned()
                        } else {
                            re.replace(&cur, rep.as_str()).into_owned()
                        };
                        let did = changed != cur || re.is_match(&cur);
                        cur = changed;
                        if *print && did {
                            out.push_str(&cur);
                            out.push('\n');
                        }
                    }
                }
            }
            if !quiet {
                out.push_str(&cur);
                out.push('\n');
            }
        }
        out
    }
}
