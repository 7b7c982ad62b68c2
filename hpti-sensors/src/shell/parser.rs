//! Lexer and recursive-descent parser for the bash subset the shell understands.
//! Input is hostile: every loop consumes input or stops, and nesting is capped so a
//! line of ten thousand `(` cannot overflow the stack.

use std::fmt;
use std::sync::Arc;

/// Maximum nesting of compound commands, substitutions and quotes in one parse.
pub const MAX_PARSE_DEPTH: usize = 64;

/// A sequence of and-or lists separated by `;`, `&` or newlines.
pub type List = Vec<ListItem>;

/// One and-or list and whether it was sent to the background with `&`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListItem {
    /// The commands.
    pub and_or: AndOr,
    /// Ended by `&`.
    pub background: bool,
}

/// `a && b || c`.
#[derive(Debug, Clone, PartialEq)]
pub struct AndOr {
    /// First pipeline.
    pub first: Pipeline,
    /// Following pipelines with their connectors.
    pub rest: Vec<(Connector, Pipeline)>,
}

/// `&&` or `||`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connector {
    /// `&&`.
    And,
    /// `||`.
    Or,
}

/// `! a | b | c`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// Leading `!`.
    pub negated: bool,
    /// The stages.
    pub commands: Vec<Command>,
}

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `VAR=x cmd args >redirs`.
    Simple(SimpleCommand),
    /// A compound command with its redirections.
    Compound(Compound, Vec<Redirect>),
    /// `name() body`.
    FunctionDef(String, Arc<Command>),
}

/// Assignments, words and redirections of a simple command.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SimpleCommand {
    /// `NAME=value` prefixes.
    pub assigns: Vec<(String, Word)>,
    /// Command name and arguments.
    pub words: Vec<Word>,
    /// Redirections.
    pub redirects: Vec<Redirect>,
}

/// Compound commands.
#[derive(Debug, Clone, PartialEq)]
pub enum Compound {
    /// `{ list; }`.
    Brace(List),
    /// `( list )`.
    Subshell(List),
    /// `if c; then a; elif d; then b; else e; fi`.
    If {
        /// (condition, body) pairs of `if` and `elif`.
        branches: Vec<(List, List)>,
        /// `else` body.
        else_body: Option<List>,
    },
    /// `while`/`until cond; do body; done`.
    While {
        /// Condition.
        cond: List,
        /// Body.
        body: List,
        /// `until` rather than `while`.
        until: bool,
    },
    /// `for var in items; do body; done`.
    For {
        /// Loop variable.
        var: String,
        /// Items (`None`: the positional parameters).
        items: Option<Vec<Word>>,
        /// Body.
        body: List,
    },
    /// `case word in pat|pat) list;; esac`.
    Case {
        /// Subject.
        word: Word,
        /// Arms: patterns and body.
        arms: Vec<(Vec<Word>, List)>,
    },
}

/// A redirection such as `2>&1` or `>> file`.
#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    /// File descriptor redirected (default by operator).
    pub fd: u32,
    /// Kind.
    pub op: RedirOp,
    /// Target word (file name, fd number, here-document body).
    pub target: Word,
}

/// Redirection operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirOp {
    /// `>` and `>|`.
    Out,
    /// `>>`.
    Append,
    /// `<`.
    In,
    /// `<>`.
    ReadWrite,
    /// `>&n`.
    DupOut,
    /// `<&n`.
    DupIn,
    /// `&>` (stdout and stderr).
    OutErr,
    /// `&>>`.
    AppendOutErr,
    /// `<<<` (target is the string).
    HereString,
    /// `<<` (target is the body).
    HereDoc,
}

/// A word: concatenated parts, expanded at run time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Word(pub Vec<WordPart>);

/// Pieces of a word.
#[derive(Debug, Clone, PartialEq)]
pub enum WordPart {
    /// Unquoted literal text (glob characters and `~` are live).
    Lit(String),
    /// Quoted or escaped literal text.
    Quoted(String),
    /// `"..."`.
    Double(Vec<WordPart>),
    /// `$name`, `${...}`.
    Param(Param),
    /// `$(...)` or backticks.
    CmdSub(Arc<List>),
    /// `$((...))`; the expression text after expansion is evaluated.
    Arith(Word),
}

/// A parameter expansion.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Name (`HOME`, `1`, `?`, `@`, ...).
    pub name: String,
    /// Operator of `${name<op>word}`.
    pub op: ParamOp,
}

/// Parameter expansion operators.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamOp {
    /// `$name` / `${name}`.
    Plain,
    /// `${#name}`.
    Length,
    /// `${name:-w}` (colon: also when empty).
    Default(bool, Word),
    /// `${name:=w}`.
    Assign(bool, Word),
    /// `${name:+w}`.
    Alt(bool, Word),
    /// `${name:?w}`.
    Error(bool, Word),
    /// `${name#p}` / `${name##p}` (longest).
    TrimPrefix(bool, Word),
    /// `${name%p}` / `${name%%p}` (longest).
    TrimSuffix(bool, Word),
    /// `${name/p/r}` / `${name//p/r}` (all).
    Replace(bool, Word, Word),
    /// `${name:off}` / `${name:off:len}`.
    Substring(Word, Option<Word>),
}

impl Word {
    /// The word's text when it contains no expansion (quotes removed).
    pub fn literal_text(&self) -> Option<String> {
        fn go(parts: &[WordPart], out: &mut String) -> bool {
            for p in parts {
                match p {
                    WordPart::Lit(s) | WordPart::Quoted(s) => out.push_str(s),
                    WordPart::Double(inner) => {
                        if !go(inner, out) {
                            return false;
                        }
                    }
                    _ => return false,
                }
            }
            true
        }
        let mut s = String::new();
        go(&self.0, &mut s).then_some(s)
    }

    fn plain_keyword(&self) -> Option<&str> {
        match self.0.as_slice() {
            [WordPart::Lit(s)] => Some(s.as_str()),
            _ => None,
        }
    }
}

/// Why a line could not be parsed; `Display` gives bash's wording without prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// `syntax error near unexpected token `X'`.
    Unexpected(String),
    /// Unterminated quote: `unexpected EOF while looking for matching `"'`.
    UnmatchedQuote(char),
    /// Missing `done`/`fi`/... at the end of input.
    UnexpectedEof,
    /// `${...}` with an operator we do not know.
    BadSubstitution(String),
    /// Nested too deeply.
    TooDeep,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Unexpected(t) => write!(f, "syntax error near unexpected token `{t}'"),
            ParseError::UnmatchedQuote(c) => write!(
                f,
                "unexpected EOF while looking for matching `{c}'\nsyntax error: unexpected end of file"
            ),
            ParseError::UnexpectedEof | ParseError::TooDeep => {
                f.write_str("syntax error: unexpected end of file")
            }
            ParseError::BadSubstitution(s) => write!(f, "{s}: bad substitution"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses a whole input (one line or a script).
pub fn parse(input: &str) -> Result<List, ParseError> {
    let mut p = Parser::new(input, 0);
    let list = p.parse_list()?;
    match p.peek()?.kind {
        TokKind::Eof => Ok(list),
        _ => Err(p.unexpected()),
    }
}

/// Quotes words so that [`parse`] yields exactly these words again.
pub fn quote<S: AsRef<str>>(words: &[S]) -> String {
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        // Reserved words are quoted too: `if` alone, first on a line, opens a compound.
        push_quoted(&mut out, w.as_ref(), true);
    }
    out
}

/// Quotes one word as bash's `printf %q` does: reserved words such as `if` stay bare (so
/// the result is the same as bash's, not always a command line of its own).
pub(crate) fn quote_like_printf(word: &str) -> String {
    let mut out = String::new();
    push_quoted(&mut out, word, false);
    out
}

/// Words the parser treats as syntax when they come first in a command.
const RESERVED_WORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for",
    "function",
];

fn push_quoted(out: &mut String, word: &str, quote_reserved: bool) {
    let safe = !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ',' | ':' | '@' | '+')
        })
        && !(quote_reserved && RESERVED_WORDS.contains(&word));
    if safe {
        out.push_str(word);
    } else {
        out.push('\'');
        out.push_str(&word.replace('\'', "'\\''"));
        out.push('\'');
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Semi,
    DSemi,
    Amp,
    AndIf,
    OrIf,
    Pipe,
    PipeAmp,
    LParen,
    RParen,
    Less,
    Great,
    DGreat,
    DLess,
    DLessDash,
    TLess,
    LessAnd,
    GreatAnd,
    LessGreat,
    Clobber,
    AndGreat,
    AndDGreat,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Semi => ";",
            Op::DSemi => ";;",
            Op::Amp => "&",
            Op::AndIf => "&&",
            Op::OrIf => "||",
            Op::Pipe => "|",
            Op::PipeAmp => "|&",
            Op::LParen => "(",
            Op::RParen => ")",
            Op::Less => "<",
            Op::Great => ">",
            Op::DGreat => ">>",
            Op::DLess => "<<",
            Op::DLessDash => "<<-",
            Op::TLess => "<<<",
            Op::LessAnd => "<&",
            Op::GreatAnd => ">&",
            Op::LessGreat => "<>",
            Op::Clobber => ">|",
            Op::AndGreat => "&>",
            Op::AndDGreat => "&>>",
        }
    }

    fn is_redirect(self) -> bool {
        matches!(
            self,
            Op::Less
                | Op::Great
                | Op::DGreat
                | Op::DLess
                | Op::DLessDash
                | Op::TLess
                | Op::LessAnd
                | Op::GreatAnd
                | Op::LessGreat
                | Op::Clobber
                | Op::AndGreat
                | Op::AndDGreat
        )
    }
}

#[derive(Debug, Clone)]
enum TokKind {
    Word(Word),
    IoNumber(u32),
    Op(Op),
    Newline,
    Eof,
}

#[derive(Debug, Clone)]
struct Tok {
    kind: TokKind,
    text: String,
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    peeked: Option<Tok>,
    depth: usize,
}

const CLOSERS: &[&str] = &["then", "do", "done", "fi", "elif", "else", "esac", "}"];

fn is_name(s: &str) -> bool {
    let mut it = s.chars();
    matches!(it.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && it.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn is_meta(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | '|' | '&' | ';' | '<' | '>' | '(' | ')'
    )
}

impl Parser {
    fn new(input: &str, depth: usize) -> Self {
        Parser {
            chars: input.chars().collect(),
            pos: 0,
            peeked: None,
            depth,
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_PARSE_DEPTH {
            return Err(ParseError::TooDeep);
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn cur(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn at(&self, off: usize) -> Option<char> {
        self.chars.get(self.pos + off).copied()
    }

    fn peek(&mut self) -> Result<&Tok, ParseError> {
        if self.peeked.is_none() {
            let t = self.lex()?;
            self.peeked = Some(t);
        }
        match &self.peeked {
            Some(t) => Ok(t),
            None => Err(ParseError::UnexpectedEof),
        }
    }

    fn next(&mut self) -> Result<Tok, ParseError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex(),
        }
    }

    fn unexpected(&self) -> ParseError {
        match &self.peeked {
            Some(Tok {
                kind: TokKind::Eof, ..
            })
            | None => ParseError::UnexpectedEof,
            Some(Tok {
                kind: TokKind::Newline,
                ..
            }) => ParseError::Unexpected("newline".into()),
            Some(t) => ParseError::Unexpected(t.text.clone()),
        }
    }

    fn peek_is_op(&mut self, op: Op) -> Result<bool, ParseError> {
        Ok(matches!(self.peek()?.kind, TokKind::Op(o) if o == op))
    }

    fn peek_keyword(&mut self) -> Result<Option<String>, ParseError> {
        Ok(match &self.peek()?.kind {
            TokKind::Word(w) => w.plain_keyword().map(str::to_string),
            _ => None,
        })
    }

    fn expect_keyword(&mut self, kw: &str) -> Result<(), ParseError> {
        if self.peek_keyword()?.as_deref() == Some(kw) {
            self.next()?;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn skip_newlines(&mut self) -> Result<(), ParseError> {
        while matches!(self.peek()?.kind, TokKind::Newline) {
            self.next()?;
        }
        Ok(())
    }

    // ---- lexer ----

    fn lex(&mut self) -> Result<Tok, ParseError> {
        loop {
            match self.cur() {
                Some(' ' | '\t' | '\r') => self.pos += 1,
                Some('\\') if self.at(1) == Some('\n') => self.pos += 2,
                Some('#') => {
                    while let Some(c) = self.cur() {
                        if c == '\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        let Some(c) = self.cur() else {
            return Ok(Tok {
                kind: TokKind::Eof,
                text: String::new(),
            });
        };
        if c == '\n' {
            self.pos += 1;
            return Ok(Tok {
                kind: TokKind::Newline,
                text: "newline".into(),
            });
        }
        let three: String = self.chars[self.pos..].iter().take(3).collect();
        let ops: [(&str, Op); 21] = [
            ("<<<", Op::TLess),
            ("<<-", Op::DLessDash),
            ("&>>", Op::AndDGreat),
            (";;", Op::DSemi),
            ("&&", Op::AndIf),
            ("||", Op::OrIf),
            ("|&", Op::PipeAmp),
            ("<<", Op::DLess),
            (">>", Op::DGreat),
            ("<&", Op::LessAnd),
            (">&", Op::GreatAnd),
            ("<>", Op::LessGreat),
            (">|", Op::Clobber),
            ("&>", Op::AndGreat),
            (";", Op::Semi),
            ("&", Op::Amp),
            ("|", Op::Pipe),
            ("(", Op::LParen),
            (")", Op::RParen),
            ("<", Op::Less),
            (">", Op::Great),
        ];
        for (text, op) in ops {
            if three.starts_with(text) {
                self.pos += text.chars().count();
                return Ok(Tok {
                    kind: TokKind::Op(op),
                    text: text.to_string(),
                });
            }
        }
        // IO number: digits directly followed by a redirection operator.
        let mut j = self.pos;
        while self.chars.get(j).is_some_and(|c| c.is_ascii_digit()) {
            j += 1;
        }
        if j > self.pos && j - self.pos <= 4 && matches!(self.chars.get(j), Some('<' | '>')) {
            let text: String = self.chars[self.pos..j].iter().collect();
            self.pos = j;
            return Ok(Tok {
                kind: TokKind::IoNumber(text.parse().unwrap_or(1)),
                text,
            });
        }
        let start = self.pos;
        let word = self.lex_word()?;
        let text: String = self.chars[start..self.pos].iter().collect();
        Ok(Tok {
            kind: TokKind::Word(word),
            text,
        })
    }

    fn lex_word(&mut self) -> Result<Word, ParseError> {
        self.enter()?;
        let mut parts: Vec<WordPart> = Vec::new();
        let mut lit = String::new();
        while let Some(c) = self.cur() {
            if is_meta(c) {
                break;
            }
            match c {
                '\\' => {
                    self.pos += 1;
                    match self.cur() {
                        Some('\n') => self.pos += 1,
                        Some(e) => {
                            flush(&mut lit, &mut parts);
                            parts.push(WordPart::Quoted(e.to_string()));
                            self.pos += 1;
                        }
                        None => lit.push('\\'),
                    }
                }
                '\'' => {
                    flush(&mut lit, &mut parts);
                    self.pos += 1;
                    let mut s = String::new();
                    loop {
                        match self.cur() {
                            None => return Err(ParseError::UnmatchedQuote('\'')),
                            Some('\'') => {
                                self.pos += 1;
                                break;
                            }
                            Some(ch) => {
                                s.push(ch);
                                self.pos += 1;
                            }
                        }
                    }
                    parts.push(WordPart::Quoted(s));
                }
                '"' => {
                    flush(&mut lit, &mut parts);
                    self.pos += 1;
                    let inner = self.lex_double(Some('"'))?;
                    parts.push(WordPart::Double(inner));
                }
                '$' => {
                    if let Some(p) = self.lex_dollar()? {
                        flush(&mut lit, &mut parts);
                        parts.push(p);
                    } else {
                        lit.push('$');
                    }
                }
                '`' => {
                    flush(&mut lit, &mut parts);
                    parts.push(self.lex_backtick()?);
                }
                _ => {
                    lit.push(c);
                    self.pos += 1;
                }
            }
        }
        flush(&mut lit, &mut parts);
        self.leave();
        Ok(Word(parts))
    }

    /// Contents of a double-quoted string (after the opening quote) up to `end`,
    /// or to the end of input when `end` is `None` (here-document bodies).
    fn lex_double(&mut self, end: Option<char>) -> Result<Vec<WordPart>, ParseError> {
        self.enter()?;
        let mut parts = Vec::new();
        let mut lit = String::new();
        loop {
            let Some(c) = self.cur() else {
                if end.is_some() {
                    return Err(ParseError::UnmatchedQuote('"'));
                }
                break;
            };
            if Some(c) == end {
                self.pos += 1;
                break;
            }
            match c {
                '\\' => match self.at(1) {
                    Some(e @ ('$' | '`' | '"' | '\\')) => {
                        lit.push(e);
                        self.pos += 2;
                    }
                    Some('\n') => self.pos += 2,
                    _ => {
                        lit.push('\\');
                        self.pos += 1;
                    }
                },
                '$' => {
                    if let Some(p) = self.lex_dollar_in_double()? {
                        flush_q(&mut lit, &mut parts);
                        parts.push(p);
                    } else {
                        lit.push('$');
                    }
                }
                '`' => {
                    flush_q(&mut lit, &mut parts);
                    parts.push(self.lex_backtick()?);
                }
                _ => {
                    lit.push(c);
                    self.pos += 1;
                }
            }
        }
        flush_q(&mut lit, &mut parts);
        self.leave();
        Ok(parts)
    }

    fn lex_dollar_in_double(&mut self) -> Result<Option<WordPart>, ParseError> {
        // `$'...'` is not special inside double quotes.
        if self.at(1) == Some('\'') {
            self.pos += 1;
            return Ok(None);
        }
        self.lex_dollar()
    }

    /// At a `$`: returns the expansion, or `None` (and consumes the `$`) when it is
    /// a literal dollar sign.
    fn lex_dollar(&mut self) -> Result<Option<WordPart>, ParseError> {
        let next = self.at(1);
        match next {
            Some('(') if self.at(2) == Some('(') => {
                self.pos += 3;
                let start = self.pos;
                let mut depth = 0usize;
                loop {
                    match self.cur() {
                        None => return Err(ParseError::UnexpectedEof),
                        Some('(') => depth += 1,
                        Some(')') if depth == 0 && self.at(1) == Some(')') => break,
                        Some(')') => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                self.pos += 2;
                let mut sub = Parser::new(&text, self.depth + 1);
                let parts = sub.lex_double(None)?;
                Ok(Some(WordPart::Arith(Word(parts))))
            }
            Some('(') => {
                self.pos += 2;
                self.enter()?;
                self.peeked = None;
                let list = self.parse_list()?;
                if !self.peek_is_op(Op::RParen)? {
                    return Err(match self.peek()?.kind {
                        TokKind::Eof => ParseError::UnmatchedQuote(')'),
                        _ => self.unexpected(),
                    });
                }
                // The `)` was lexed into the peek slot; drop it and continue lexing
                // the surrounding word right after it.
                self.peeked = None;
                self.leave();
                Ok(Some(WordPart::CmdSub(Arc::new(list))))
            }
            Some('{') => {
                self.pos += 2;
                self.lex_braced().map(Some)
            }
            Some('\'') => {
                self.pos += 2;
                let mut raw = String::new();
                loop {
                    match self.cur() {
                        None => return Err(ParseError::UnmatchedQuote('\'')),
                        Some('\\') => {
                            raw.push('\\');
                            if let Some(e) = self.at(1) {
                                raw.push(e);
                            }
                            self.pos += 2;
                        }
                        Some('\'') => {
                            self.pos += 1;
                            break;
                        }
                        Some(ch) => {
                            raw.push(ch);
                            self.pos += 1;
                        }
                    }
                }
                let bytes = super::text::unescape_c(&raw, false).0;
                Ok(Some(WordPart::Quoted(
                    String::from_utf8_lossy(&bytes).into_owned(),
                )))
            }
            Some('"') => {
                // `$"..."` (locale translation) is just a double-quoted string.
                self.pos += 2;
                let inner = self.lex_double(Some('"'))?;
                Ok(Some(WordPart::Double(inner)))
            }
            Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                self.pos += 1;
                let mut name = String::new();
                while let Some(ch) = self.cur() {
                    if ch == '_' || ch.is_ascii_alphanumeric() {
                        name.push(ch);
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                Ok(Some(WordPart::Param(Param {
                    name,
                    op: ParamOp::Plain,
                })))
            }
            Some(c)
                if c.is_ascii_digit() || matches!(c, '?' | '$' | '#' | '!' | '@' | '*' | '-') =>
            {
                self.pos += 2;
                Ok(Some(WordPart::Param(Param {
                    name: c.to_string(),
                    op: ParamOp::Plain,
                })))
            }
            _ => {
                self.pos += 1;
                Ok(None)
            }
        }
    }

    /// After `${`.
    fn lex_braced(&mut self) -> Result<WordPart, ParseError> {
        let start = self.pos;
        let length = self.cur() == Some('#') && self.at(1).is_some_and(|c| c != '}');
        if length {
            self.pos += 1;
        }
        let mut name = String::new();
        match self.cur() {
            Some(c)
                if c.is_ascii_digit() || matches!(c, '?' | '$' | '#' | '!' | '@' | '*' | '-') =>
            {
                name.push(c);
                self.pos += 1;
                if c.is_ascii_digit() {
                    while let Some(d) = self.cur().filter(char::is_ascii_digit) {
                        name.push(d);
                        self.pos += 1;
                    }
                }
            }
            _ => {
                while let Some(ch) = self.cur() {
                    if ch == '_' || ch.is_ascii_alphanumeric() {
                        name.push(ch);
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
            }
        }
        let bad = |p: &mut Parser| -> ParseError {
            let mut end = p.pos;
            while p.chars.get(end).is_some_and(|&c| c != '}') {
                end += 1;
            }
            let text: String = p.chars[start..end.min(p.chars.len())].iter().collect();
            ParseError::BadSubstitution(format!("${{{text}}}"))
        };
        if name.is_empty() {
            return Err(bad(self));
        }
        if length {
            if self.cur() != Some('}') {
                return Err(bad(self));
            }
            self.pos += 1;
            return Ok(WordPart::Param(Param {
                name,
                op: ParamOp::Length,
            }));
        }
        let op = match self.cur() {
            None => return Err(ParseError::UnmatchedQuote('}')),
            Some('}') => {
                self.pos += 1;
                return Ok(WordPart::Param(Param {
                    name,
                    op: ParamOp::Plain,
                }));
            }
            Some(c) => c,
        };
        let colon = op == ':';
        if colon {
            self.pos += 1;
        }
        let kind = self.cur();
        let param_op = match kind {
            Some('-') | Some('=') | Some('+') | Some('?') => {
                self.pos += 1;
                let w = self.lex_brace_word(&['}'])?;
                self.pos += 1;
                match kind {
                    Some('-') => ParamOp::Default(colon, w),
                    Some('=') => ParamOp::Assign(colon, w),
                    Some('+') => ParamOp::Alt(colon, w),
                    _ => ParamOp::Error(colon, w),
                }
            }
            Some('#') | Some('%') if !colon => {
                self.pos += 1;
                let long = self.cur() == kind;
                if long {
                    self.pos += 1;
                }
                let w = self.lex_brace_word(&['}'])?;
                self.pos += 1;
                if kind == Some('#') {
                    ParamOp::TrimPrefix(long, w)
                } else {
                    ParamOp::TrimSuffix(long, w)
                }
            }
            Some('/') if !colon => {
                self.pos += 1;
                let all = self.cur() == Some('/');
                if all {
                    self.pos += 1;
                }
                let pat = self.lex_brace_word(&['/', '}'])?;
                let rep = if self.cur() == Some('/') {
                    self.pos += 1;
                    self.lex_brace_word(&['}'])?
                } else {
                    Word::default()
                };
                self.pos += 1;
                ParamOp::Replace(all, pat, rep)
            }
            Some(_) if colon => {
                let off = self.lex_brace_word(&[':', '}'])?;
                let len = if self.cur() == Some(':') {
                    self.pos += 1;
                    Some(self.lex_brace_word(&['}'])?)
                } else {
                    None
                };
                self.pos += 1;
                ParamOp::Substring(off, len)
            }
            _ => return Err(bad(self)),
        };
        Ok(WordPart::Param(Param { name, op: param_op }))
    }

    /// A word inside `${...}` up to one of `stops` (not consumed; error at EOF).
    fn lex_brace_word(&mut self, stops: &[char]) -> Result<Word, ParseError> {
        self.enter()?;
        let mut parts = Vec::new();
        let mut lit = String::new();
        loop {
            let Some(c) = self.cur() else {
                return Err(ParseError::UnmatchedQuote('}'));
            };
            if stops.contains(&c) {
                break;
            }
            match c {
                '\\' => {
                    flush(&mut lit, &mut parts);
                    if let Some(e) = self.at(1) {
                        parts.push(WordPart::Quoted(e.to_string()));
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                    }
                }
                '\'' => {
                    flush(&mut lit, &mut parts);
                    self.pos += 1;
                    let mut s = String::new();
                    loop {
                        match self.cur() {
                            None => return Err(ParseError::UnmatchedQuote('\'')),
                            Some('\'') => {
                                self.pos += 1;
                                break;
                            }
                            Some(ch) => {
                                s.push(ch);
                                self.pos += 1;
                            }
                        }
                    }
                    parts.push(WordPart::Quoted(s));
                }
                '"' => {
                    flush(&mut lit, &mut parts);
                    self.pos += 1;
                    let inner = self.lex_double(Some('"'))?;
                    parts.push(WordPart::Double(inner));
                }
                '$' => {
                    if let Some(p) = self.lex_dollar()? {
                        flush(&mut lit, &mut parts);
                        parts.push(p);
                    } else {
                        lit.push('$');
                    }
                }
                '`' => {
                    flush(&mut lit, &mut parts);
                    parts.push(self.lex_backtick()?);
                }
                _ => {
                    lit.push(c);
                    self.pos += 1;
                }
            }
        }
        flush(&mut lit, &mut parts);
        self.leave();
        Ok(Word(parts))
    }

    fn lex_backtick(&mut self) -> Result<WordPart, ParseError> {
        self.pos += 1;
        let mut inner = String::new();
        loop {
            match self.cur() {
                None => return Err(ParseError::UnmatchedQuote('`')),
                Some('`') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') => match self.at(1) {
                    Some(e @ ('`' | '\\' | '$')) => {
                        inner.push(e);
                        self.pos += 2;
                    }
                    _ => {
                        inner.push('\\');
                        self.pos += 1;
                    }
                },
                Some(c) => {
                    inner.push(c);
                    self.pos += 1;
                }
            }
        }
        let mut sub = Parser::new(&inner, self.depth + 1);
        sub.enter()?;
        let list = sub.parse_list()?;
        if !matches!(sub.peek()?.kind, TokKind::Eof) {
            return Err(sub.unexpected());
        }
        Ok(WordPart::CmdSub(Arc::new(list)))
    }

    /// Reads a here-document body right after the line holding `<<DELIM` and cuts
    /// it out of the input, so lexing continues on the rest of that line.
    fn take_heredoc(&mut self, delim: &str, strip_tabs: bool) -> String {
        let mut line_end = self.pos;
        while self.chars.get(line_end).is_some_and(|&c| c != '\n') {
            line_end += 1;
        }
        if line_end >= self.chars.len() {
            return String::new();
        }
        let body_start = line_end + 1;
        let mut i = body_start;
        let mut body = String::new();
        let mut end = self.chars.len();
        while i < self.chars.len() {
            let mut j = i;
            while self.chars.get(j).is_some_and(|&c| c != '\n') {
                j += 1;
            }
            let mut line: String = self.chars[i..j].iter().collect();
            if strip_tabs {
                line = line.trim_start_matches('\t').to_string();
            }
            let next = (j + 1).min(self.chars.len());
            if line == delim {
                end = next;
                break;
            }
            body.push_str(&line);
            body.push('\n');
            i = next;
            if j >= self.chars.len() {
                end = self.chars.len();
                break;
            }
        }
        self.chars.drain(body_start..end.max(body_start));
        body
    }

    // ---- grammar ----

    fn is_list_end(&mut self) -> Result<bool, ParseError> {
        if let Some(kw) = self.peek_keyword()?
            && CLOSERS.contains(&kw.as_str())
        {
            return Ok(true);
        }
        Ok(matches!(
            self.peek()?.kind,
            TokKind::Eof | TokKind::Op(Op::RParen) | TokKind::Op(Op::DSemi)
        ))
    }

    fn parse_list(&mut self) -> Result<List, ParseError> {
        self.enter()?;
        let mut items = Vec::new();
        loop {
            self.skip_newlines()?;
            if self.is_list_end()? {
                break;
            }
            let and_or = self.parse_and_or()?;
            let background = match self.peek()?.kind {
                TokKind::Op(Op::Semi) => {
                    self.next()?;
                    false
                }
                TokKind::Op(Op::Amp) => {
                    self.next()?;
                    true
                }
                TokKind::Newline => {
                    self.next()?;
                    false
                }
                _ => {
                    items.push(ListItem {
                        and_or,
                        background: false,
                    });
                    if self.is_list_end()? {
                        break;
                    }
                    return Err(self.unexpected());
                }
            };
            items.push(ListItem { and_or, background });
        }
        self.leave();
        Ok(items)
    }

    fn parse_and_or(&mut self) -> Result<AndOr, ParseError> {
        let first = self.parse_pipeline()?;
        let mut rest = Vec::new();
        loop {
            let conn = match self.peek()?.kind {
                TokKind::Op(Op::AndIf) => Connector::And,
                TokKind::Op(Op::OrIf) => Connector::Or,
                _ => break,
            };
            self.next()?;
            self.skip_newlines()?;
            rest.push((conn, self.parse_pipeline()?));
        }
        Ok(AndOr { first, rest })
    }

    fn parse_pipeline(&mut self) -> Result<Pipeline, ParseError> {
        let mut negated = false;
        while self.peek_keyword()?.as_deref() == Some("!") {
            self.next()?;
            negated = !negated;
        }
        let mut commands = vec![self.parse_command()?];
        loop {
            let amp = match self.peek()?.kind {
                TokKind::Op(Op::Pipe) => false,
                TokKind::Op(Op::PipeAmp) => true,
                _ => break,
            };
            self.next()?;
            if amp {
                add_redirect(
                    commands.last_mut(),
                    Redirect {
                        fd: 2,
                        op: RedirOp::DupOut,
                        target: Word(vec![WordPart::Lit("1".into())]),
                    },
                );
            }
            self.skip_newlines()?;
            commands.push(self.parse_command()?);
        }
        Ok(Pipeline { negated, commands })
    }

    fn parse_command(&mut self) -> Result<Command, ParseError> {
        self.enter()?;
        let cmd = self.parse_command_inner();
        self.leave();
        cmd
    }

    fn parse_command_inner(&mut self) -> Result<Command, ParseError> {
        if let Some(kw) = self.peek_keyword()? {
            let compound = match kw.as_str() {
                "if" => Some(self.parse_if()?),
                "while" | "until" => Some(self.parse_while(kw == "until")?),
                "for" => Some(self.parse_for()?),
                "case" => Some(self.parse_case()?),
                "{" => {
                    self.next()?;
                    let body = self.parse_nonempty_list()?;
                    self.expect_keyword("}")?;
                    Some(Compound::Brace(body))
                }
                "function" => {
                    self.next()?;
                    let name = match self.next()? {
                        Tok {
                            kind: TokKind::Word(w),
                            text,
                        } => w.literal_text().unwrap_or(text),
                        t => return Err(ParseError::Unexpected(t.text)),
                    };
                    if self.peek_is_op(Op::LParen)? {
                        self.next()?;
                        if !self.peek_is_op(Op::RParen)? {
                            return Err(self.unexpected());
                        }
                        self.next()?;
                    }
                    return self.parse_function_body(name);
                }
                k if CLOSERS.contains(&k) => return Err(self.unexpected()),
                _ => None,
            };
            if let Some(c) = compound {
                let redirects = self.parse_redirects()?;
                return Ok(Command::Compound(c, redirects));
            }
        }
        match self.peek()?.kind {
            TokKind::Op(Op::LParen) => {
                self.next()?;
                let body = self.parse_nonempty_list()?;
                if !self.peek_is_op(Op::RParen)? {
                    return Err(self.unexpected());
                }
                self.next()?;
                let redirects = self.parse_redirects()?;
                Ok(Command::Compound(Compound::Subshell(body), redirects))
            }
            TokKind::Word(_) | TokKind::IoNumber(_) => self.parse_simple(),
            TokKind::Op(op) if op.is_redirect() => self.parse_simple(),
            _ => Err(self.unexpected()),
        }
    }

    fn parse_function_body(&mut self, name: String) -> Result<Command, ParseError> {
        self.skip_newlines()?;
        let body = self.parse_command()?;
        match body {
            Command::Compound(..) => Ok(Command::FunctionDef(name, Arc::new(body))),
            _ => Err(self.unexpected()),
        }
    }

    fn parse_nonempty_list(&mut self) -> Result<List, ParseError> {
        let list = self.parse_list()?;
        if list.is_empty() {
            return Err(self.unexpected());
        }
        Ok(list)
    }

    fn parse_if(&mut self) -> Result<Compound, ParseError> {
        self.next()?;
        let mut branches = Vec::new();
        let mut else_body = None;
        loop {
            let cond = self.parse_nonempty_list()?;
            self.expect_keyword("then")?;
            let body = self.parse_nonempty_list()?;
            branches.push((cond, body));
            match self.peek_keyword()?.as_deref() {
                Some("elif") => {
                    self.next()?;
                }
                Some("else") => {
                    self.next()?;
                    else_body = Some(self.parse_nonempty_list()?);
                    self.expect_keyword("fi")?;
                    break;
                }
                Some("fi") => {
                    self.next()?;
                    break;
                }
                _ => return Err(self.unexpected()),
            }
        }
        Ok(Compound::If {
            branches,
            else_body,
        })
    }

    fn parse_while(&mut self, until: bool) -> Result<Compound, ParseError> {
        self.next()?;
        let cond = self.parse_nonempty_list()?;
        self.expect_keyword("do")?;
        let body = self.parse_nonempty_list()?;
        self.expect_keyword("done")?;
        Ok(Compound::While { cond, body, until })
    }

    fn parse_for(&mut self) -> Result<Compound, ParseError> {
        self.next()?;
        let var = match self.next()? {
            Tok {
                kind: TokKind::Word(w),
                text,
            } => match w.plain_keyword() {
                Some(n) if is_name(n) => n.to_string(),
                _ => return Err(ParseError::Unexpected(text)),
            },
            t => return Err(ParseError::Unexpected(t.text)),
        };
        self.skip_newlines()?;
        let mut items = None;
        if self.peek_keyword()?.as_deref() == Some("in") {
            self.next()?;
            let mut words = Vec::new();
            while let TokKind::Word(w) = &self.peek()?.kind {
                words.push(w.clone());
                self.next()?;
            }
            items = Some(words);
            match self.peek()?.kind {
                TokKind::Op(Op::Semi) | TokKind::Newline => {
                    self.next()?;
                }
                _ => return Err(self.unexpected()),
            }
        } else if self.peek_is_op(Op::Semi)? {
            self.next()?;
        }
        self.skip_newlines()?;
        self.expect_keyword("do")?;
        let body = self.parse_nonempty_list()?;
        self.expect_keyword("done")?;
        Ok(Compound::For { var, items, body })
    }

    fn parse_case(&mut self) -> Result<Compound, ParseError> {
        self.next()?;
        let word = match self.next()? {
            Tok {
                kind: TokKind::Word(w),
                ..
            } => w,
            t => return Err(ParseError::Unexpected(t.text)),
        };
        self.skip_newlines()?;
        self.expect_keyword("in")?;
        let mut arms = Vec::new();
        loop {
            self.skip_newlines()?;
            if self.peek_keyword()?.as_deref() == Some("esac") {
                self.next()?;
                break;
            }
            if self.peek_is_op(Op::LParen)? {
                self.next()?;
            }
            let mut pats = Vec::new();
            loop {
                match self.next()? {
                    Tok {
                        kind: TokKind::Word(w),
                        ..
                    } => pats.push(w),
                    t => return Err(ParseError::Unexpected(t.text)),
                }
                match self.next()? {
                    Tok {
                        kind: TokKind::Op(Op::Pipe),
                        ..
                    } => continue,
                    Tok {
                        kind: TokKind::Op(Op::RParen),
                        ..
                    } => break,
                    t => return Err(ParseError::Unexpected(t.text)),
                }
            }
            let body = self.parse_list()?;
            arms.push((pats, body));
            if self.peek_is_op(Op::DSemi)? {
                self.next()?;
            } else if self.peek_keyword()?.as_deref() == Some("esac") {
                self.next()?;
                break;
            } else {
                return Err(self.unexpected());
            }
        }
        Ok(Compound::Case { word, arms })
    }

    fn parse_redirects(&mut self) -> Result<Vec<Redirect>, ParseError> {
        let mut out = Vec::new();
        loop {
            match self.peek()?.kind {
                TokKind::IoNumber(_) => {}
                TokKind::Op(op) if op.is_redirect() => {}
                _ => break,
            }
            out.push(self.parse_redirect()?);
        }
        Ok(out)
    }

    fn parse_redirect(&mut self) -> Result<Redirect, ParseError> {
        let mut fd = None;
        if let TokKind::IoNumber(n) = self.peek()?.kind {
            fd = Some(n);
            self.next()?;
        }
        let op = match self.next()?.kind {
            TokKind::Op(op) if op.is_redirect() => op,
            _ => return Err(self.unexpected()),
        };
        let (target, text) = match self.next()? {
            Tok {
                kind: TokKind::Word(w),
                text,
            } => (w, text),
            Tok {
                kind: TokKind::Eof, ..
            } => return Err(ParseError::Unexpected("newline".into())),
            t => {
                self.peeked = Some(t);
                return Err(self.unexpected());
            }
        };
        let (default_fd, rop) = match op {
            Op::Less => (0, RedirOp::In),
            Op::Great | Op::Clobber => (1, RedirOp::Out),
            Op::DGreat => (1, RedirOp::Append),
            Op::LessAnd => (0, RedirOp::DupIn),
            Op::GreatAnd => {
                // `>&file` with a non-numeric target means `&>file`.
                let numeric = target
                    .literal_text()
                    .is_some_and(|t| t == "-" || t.chars().all(|c| c.is_ascii_digit()));
                if numeric || fd.is_some() {
                    (1, RedirOp::DupOut)
                } else {
                    (1, RedirOp::OutErr)
                }
            }
            Op::LessGreat => (0, RedirOp::ReadWrite),
            Op::AndGreat => (1, RedirOp::OutErr),
            Op::AndDGreat => (1, RedirOp::AppendOutErr),
            Op::TLess => (0, RedirOp::HereString),
            Op::DLess | Op::DLessDash => {
                let quoted = text.contains(['\'', '"', '\\']);
                let delim = target.literal_text().unwrap_or(text);
                let body = self.take_heredoc(&delim, op == Op::DLessDash);
                let word = if quoted {
                    Word(vec![WordPart::Quoted(body)])
                } else {
                    let mut sub = Parser::new(&body, self.depth + 1);
                    Word(vec![WordPart::Double(sub.lex_double(None)?)])
                };
                return Ok(Redirect {
                    fd: fd.unwrap_or(0),
                    op: RedirOp::HereDoc,
                    target: word,
                });
            }
            _ => return Err(ParseError::Unexpected(op.text().into())),
        };
        Ok(Redirect {
            fd: fd.unwrap_or(default_fd),
            op: rop,
            target,
        })
    }

    fn parse_simple(&mut self) -> Result<Command, ParseError> {
        let mut cmd = SimpleCommand::default();
        loop {
            match &self.peek()?.kind {
                TokKind::Word(w) => {
                    if cmd.words.is_empty()
                        && let Some((name, value)) = split_assignment(w)
                    {
                        cmd.assigns.push((name, value));
                        self.next()?;
                        continue;
                    }
                    let w = w.clone();
                    self.next()?;
                    cmd.words.push(w);
                }
                TokKind::IoNumber(_) => cmd.redirects.push(self.parse_redirect()?),
                TokKind::Op(op) if op.is_redirect() => cmd.redirects.push(self.parse_redirect()?),
                TokKind::Op(Op::LParen) if cmd.words.len() == 1 && cmd.assigns.is_empty() => {
                    // `name() { ...; }`
                    self.next()?;
                    if !self.peek_is_op(Op::RParen)? {
                        return Err(self.unexpected());
                    }
                    self.next()?;
                    let name = cmd
                        .words
                        .first()
                        .and_then(Word::literal_text)
                        .unwrap_or_default();
                    return self.parse_function_body(name);
                }
                TokKind::Op(Op::LParen) => return Err(self.unexpected()),
                _ => break,
            }
        }
        Ok(Command::Simple(cmd))
    }
}

fn add_redirect(cmd: Option<&mut Command>, r: Redirect) {
    match cmd {
        Some(Command::Simple(s)) => s.redirects.push(r),
        Some(Command::Compound(_, rs)) => rs.push(r),
        _ => {}
    }
}

fn flush(lit: &mut String, parts: &mut Vec<WordPart>) {
    if !lit.is_empty() {
        parts.push(WordPart::Lit(std::mem::take(lit)));
    }
}

fn flush_q(lit: &mut String, parts: &mut Vec<WordPart>) {
    if !lit.is_empty() {
        parts.push(WordPart::Quoted(std::mem::take(lit)));
    }
}

/// `NAME=value` at the start of a simple command.
fn split_assignment(w: &Word) -> Option<(String, Word)> {
    let WordPart::Lit(first) = w.0.first()? else {
        return None;
    };
    let eq = first.find('=')?;
    let name = &first[..eq];
    let name = name.strip_suffix('+').unwrap_or(name);
    if !is_name(name) {
        return None;
    }
    let append = first[..eq].ends_with('+');
    let mut parts = Vec::new();
    let rest = &first[eq + 1..];
    if !rest.is_empty() {
        parts.push(WordPart::Lit(rest.to_string()));
    }
    parts.extend(w.0.iter().skip(1).cloned());
    let name = if append {
        format!("{name}+")
    } else {
        name.to_string()
    };
    Some((name, Word(parts)))
}
