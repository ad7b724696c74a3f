//! Differential tests of the two parsers behind `parse`: the fast
//! hand-written one and pest with the tree builder (the grammar,
//! `grammar/aqueduct.pest`, is the specification).
//!
//! For every input: the fast parser accepts it exactly when pest does
//! (cleanly: a tree and no error), and `parse` (fast path first, pest when
//! it gives up) returns exactly what pest alone returns: the same tree,
//! spans included, and the same diagnostics.
//!
//! Inputs: every `.aq` file of the repository (examples, golden cases,
//! formatter cases, the language sketch), every `aq` code block of the docs,
//! the fuzz corpus when there is one (`fuzz/corpus/*/*`, kept locally by
//! `cargo fuzz`), hand-picked corner cases, seeded random mutations of all
//! of these (deleted, duplicated, inserted and swapped pieces,
//! truncations), and programs generated from the grammar's constructs with
//! random layout (proptest), as written and mutated.

use aqueduct_diagnostics::FileId;
use aqueduct_syntax::differential::{parse_fast_only, parse_pest};
use aqueduct_syntax::parse;
use aqueduct_test_support::Rng;
use proptest::prelude::*;
use proptest::sample::select;
use std::path::{Path, PathBuf};

/// `Ok` when both parsers agree on `text`, else the first difference.
fn agree(text: &str) -> Result<(), String> {
    let pest = parse_pest(FileId(0), text);
    let fast = parse_fast_only(text);
    if fast.is_some() != pest.file.is_some() {
        return Err(format!(
            "fast parser {} but pest {}: {:#?}\n--- text ---\n{text}",
            if fast.is_some() {
                "accepts"
            } else {
                "gives up"
            },
            if pest.file.is_some() {
                "accepts"
            } else {
                "refuses"
            },
            pest.diagnostics
        ));
    }
    let both = parse(FileId(0), text);
    if format!("{both:?}") != format!("{pest:?}") {
        let (a, b) = (format!("{both:#?}"), format!("{pest:#?}"));
        let line = a
            .lines()
            .zip(b.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(0);
        let near = |s: &str| {
            s.lines()
                .skip(line.saturating_sub(8))
                .take(12)
                .collect::<Vec<_>>()
                .join("\n")
        };
        return Err(format!(
            "different results\n--- fast ---\n{}\n--- pest ---\n{}\n--- text ---\n{text}",
            near(&a),
            near(&b)
        ));
    }
    Ok(())
}

fn assert_agree(text: &str, what: &str) {
    if let Err(e) = agree(text) {
        panic!("{what}: {e}");
    }
}

// ---------------------------------------------------------------- corpus

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn walk(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != ".git" && name != "node_modules" {
                walk(&path, keep, out);
            }
        } else if keep(&path) {
            out.push(path);
        }
    }
}

/// The `aq` fenced blocks of a Markdown text.
fn aq_blocks(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in md.lines() {
        let fence = line.trim_start().starts_with("```");
        match current.as_mut() {
            Some(block) if fence => {
                out.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None if line.trim_start() == "```aq" => current = Some(String::new()),
            None => {}
        }
    }
    out
}

/// Every input of the corpus, with a name for messages.
fn corpus() -> Vec<(String, String)> {
    let root = root();
    let mut out = Vec::new();
    let mut files = Vec::new();
    walk(
        &root,
        &|p| p.extension().is_some_and(|x| x == "aq"),
        &mut files,
    );
    for path in files {
        if let Ok(text) = std::fs::read_to_string(&path) {
            out.push((path.display().to_string(), text));
        }
    }
    let mut docs = Vec::new();
    walk(
        &root.join("docs"),
        &|p| p.extension().is_some_and(|x| x == "md"),
        &mut docs,
    );
    docs.push(root.join("README.md"));
    for path in docs {
        let Ok(md) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (i, block) in aq_blocks(&md).into_iter().enumerate() {
            out.push((format!("{} block {i}", path.display()), block));
        }
    }
    let mut fuzz = Vec::new();
    walk(&root.join("fuzz/corpus"), &|_| true, &mut fuzz);
    for path in fuzz {
        if let Ok(bytes) = std::fs::read(&path) {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            out.push((path.display().to_string(), text));
        }
    }
    out
}

#[test]
fn the_corpus_parses_the_same() {
    let corpus = corpus();
    assert!(corpus.len() > 100, "the corpus was found");
    let (mut written, mut accepted) = (0, 0);
    for (name, text) in &corpus {
        assert_agree(text, name);
        if !name.contains("fuzz/corpus") {
            written += 1;
            accepted += usize::from(parse_fast_only(text).is_some());
        }
    }
    // Most of what people wrote is valid: the fast path is really exercised.
    assert!(accepted * 2 > written, "{accepted} of {written}");
}

// ------------------------------------------------------------- mutations

/// Pieces worth inserting: the vocabulary of the language and its edges.
const PIECES: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "=",
    "==",
    "=>",
    ".",
    "...",
    "?",
    "??",
    "-",
    "not ",
    " and ",
    " or ",
    " in ",
    "+",
    "*",
    "/",
    "%",
    "<",
    "<=",
    ">",
    ">=",
    "!=",
    "$",
    "$b",
    ".a",
    ".(\"q\")",
    "\"s\"",
    "\"{.x}\"",
    "\"",
    "\"\"\"",
    "1",
    "1.5",
    "10_000",
    "5m",
    "64KiB",
    "5x",
    "\\",
    "\\q",
    "\\u{41}",
    "//",
    "///",
    "\n",
    " ",
    "\t",
    "\r\n",
    "\u{FEFF}",
    "é",
    "if ",
    "else ",
    "true",
    "null",
    "Foo",
    "Foo { a = 1 }",
    "to ",
    "map ",
    "where ",
    "reply ",
    "when ",
    "expect ",
    "nothing",
    "error ",
    "as ",
    "via ",
    "within ",
    "by ",
    "per ",
    "backoff ",
    "fixed(1s)",
];

fn boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One random edit of `text`.
fn mutate(text: &str, rng: &mut Rng) -> String {
    let len = text.len();
    let a = boundary(text, rng.index(len + 1));
    let b = boundary(text, a + rng.index(24));
    let (head, tail) = (&text[..a], &text[a..]);
    match rng.index(6) {
        0 => format!("{head}{}", &text[b..]),
        1 => format!("{head}{}{tail}", PIECES[rng.index(PIECES.len())]),
        2 => format!("{}{}{tail}", &text[..b], &text[a..b]),
        3 => text[..a].to_string(),
        4 => {
            // Swap two slices.
            let c = boundary(text, rng.index(len + 1));
            let d = boundary(text, c + rng.index(24));
            if d <= a {
                format!(
                    "{}{}{}{}{}",
                    &text[..c],
                    &text[a..b],
                    &text[d..a],
                    &text[c..d],
                    &text[b..]
                )
            } else if c >= b {
                format!(
                    "{head}{}{}{}{}",
                    &text[c..d],
                    &text[b..c],
                    &text[a..b],
                    &text[d..]
                )
            } else {
                format!("{head}{tail}")
            }
        }
        _ => {
            // Replace a word with a piece.
            let piece = PIECES[rng.index(PIECES.len())];
            format!("{head}{piece}{}", &text[b..])
        }
    }
}

#[test]
fn mutations_of_the_corpus_parse_the_same() {
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    // The fuzz corpus is made of mutations already.
    for (name, text) in corpus()
        .into_iter()
        .filter(|(name, _)| !name.contains("fuzz/corpus"))
    {
        for i in 0..40 {
            let mut m = mutate(&text, &mut rng);
            if i % 4 == 0 {
                m = mutate(&m, &mut rng);
            }
            assert_agree(&m, &format!("mutation {i} of {name}"));
        }
    }
}

// ----------------------------------------------------------- corner cases

/// One flow around an expression.
fn flow_with(expr: &str) -> String {
    format!("flow f {{\n  from s.read()\n  where {expr}\n  to t\n}}\n")
}

#[test]
fn corner_cases_parse_the_same() {
    let exprs = [
        // A name before `{` is a record literal only when a body follows.
        "if .x > limit { \"gold\" } else { \"std\" }",
        "if .x > limit { a = 1 } else { 2 }",
        "if Foo {} { 1 }",
        "Foo { a = 1, ...}",
        "Foo {}",
        "{ a = 1 } == { a = 1 }",
        "f (1, n: 2)",
        "f(x: )",
        "upper (.name) == \"A\"",
        "- - 1",
        "not not .a",
        "-.a * -2 + 3 ?? 4 in [1, 2,] and not .b or .c != .d",
        ".a -",
        ".a - // comment\n 1",
        ".a //x\n == 1",
        ".a/.b",
        ".a . b",
        ".a.b[0].(\"odd name\")[.i + 1].c",
        ".( \"x\" )",
        ".[0]",
        "$b.x[ 0 ]",
        "$ b",
        "...",
        "1.x",
        "1.",
        "10_",
        "1_000_000.25",
        "9223372036854775808",
        "99999999999999999999d",
        "1.5s",
        "250ms + 64KiB",
        "\"a {.x} b {\"nested {1}\"} c\"",
        "\"{ .x // c\n }\"",
        "\"esc \\n \\t \\\" \\\\ \\{ \\} \\u{1F600} \\u{110000}\"",
        "\"\\q\"",
        "\"\\u{41\"",
        "\"\"\"\n    raw {x}\n      more\n    \"\"\"",
        "\"\"\"\"a\"\"\"",
        "\"\"",
        "\"\"\"",
        // Plain strings (one text part, no escape or interpolation) and
        // strings that only start plain.
        "\"plain\" == \"http://x/y // not a comment\"",
        "\"tab\there é ü\" + \"a\\\"b\" + \"x\\\\\"",
        "\"a\" \"b\"",
        "\"ab{.x}\" + \"é{1}\" + \"{2}\"",
        "\"x\"{ a = 1 }",
        "\"open\n\" == 1",
        "true == false or null",
        "truex and nullable",
        "iffy",
        "if .a { 1 } else if .b { 2 } else if .c { 3 }",
        "if .a { 1 } else",
        "if .a { 1 } else { }",
        "[[[[1]]]]",
        "((((1))))",
        "{}",
        "é",
        "\u{FEFF}.a",
        ".a\r\n  == 1",
    ];
    for e in exprs {
        assert_agree(&flow_with(e), e);
    }
    let files = [
        "",
        "\u{FEFF}",
        "// only a comment",
        "/// dangling doc",
        "type T { a: int, b: [string]?, \"Odd name\": decimal? c: [[T]] }",
        "type T { a: int,, }",
        "type T { a: int ?? }",
        "system s: http { base_url = \"x\", auth = bearer { token = secret(\"T\") }, \"X-Key\" = 1 }",
        "system s: http { a = { b = 1 } c = true { d = 2 } e = Foo { .x } }",
        "system s: http { \"a{1}\" = 1 }",
        "system s: file",
        "system s: file {",
        "channel c: T via nats(\"u\").publish(\"s\")",
        "channel c: [T]? via",
        "flow f { mode batch schedule \"0 2 * * *\" chunk 500 every 5m }",
        "flow f { mode batch every 5m every 6m }",
        "flow f { mode batch chunk 1 chunk 2 }",
        "flow f { mode batch schedule \"\"\"x\"\"\" }",
        "flow f { mode sync\n from api.endpoint(\"/x\", method: post) as Req\n reply Res { a = 1 } }",
        // reply statuses: three digits before `{`, a string or `Type {` on the line
        "flow f { reply 404 { error = \"no\" } }",
        "flow f { reply 201 Res { a = 1 } }",
        "flow f { reply 202 \"ok\" }",
        "flow f { reply 404\n { a = 1 } }",
        "flow f { reply 404 - 1 }",
        "flow f { reply 4040 { a = 1 } }",
        "flow f { reply 40 { a = 1 } }",
        "flow f { reply 404 .a }",
        "flow f { reply 404 }",
        "flow f { reply 404\t{ a = 1 } }",
        "flow f { reply // c\n 404 { a = 1 } }",
        "flow f { reply 999 Ab }",
        "test t for f { expect reply 404 { error = \"no\" } expect reply 200 \"x\" expect reply 404 }",
        "flow f { route { when .a > 1 => to x when .b => { where .c map T { a = 1 } to y } else => to z } }",
        "flow f { route { else => { } } }",
        "flow f { retry 3 backoff exponential(1s 1m) timeout 5s dead_letter file(\"d\").append(\"x\") rate_limit 10 per 1s concurrency 4 circuit_breaker { failures = 5, reset = 30s } }",
        "flow f { retry 3 backoff fixed(1s,) }",
        "flow f { retry 3 backoff }",
        "flow f { enrich c = crm.get(.id) as [C]? split .items as Item batch 10 within 1s dedupe by .id within 1h tap audit.append(\"t\") }",
        "flow f { let x = 1 let y == 2 }",
        "flow f { tomato }",
        "flow f { to s.op(a: 1,, ) }",
        "test t for f { given T { a = 1 } stub crm.get(1) => { a = 2 } expect out.append: T { a = 1 } expect nothing expect reply 1 expect error \"x\" expect reply expect error }",
        "test t for f { expect nothing_else expect c : 1 expect . a }",
        "test t for f { expect out . append : 1 }",
        "flow f {}\n\ntype T {}\nsystem s: file\nchannel c: T\ntest t for f {}",
        "flow f {} garbage",
        "flowf {}",
        "type T { a: int }\r\n/// doc\r\ntype U {\r\n  /// field doc\r\n  b: int\r\n}\r\n",
    ];
    for f in files {
        assert_agree(f, f);
    }
}

#[test]
fn long_and_deep_expressions_parse_the_same() {
    // Flat operator chains and prefix runs around the builder's limits
    // (nesting 256, where a flat chain is one level; tree height 1024). If
    // the builder's rule changes, the fast parser must change with it, or
    // this test fails.
    for n in [10, 200, 255, 256, 257, 300, 1000, 1023, 1024, 1025, 10_000] {
        let chain = vec![".a"; n].join(" + ");
        assert_agree(&flow_with(&chain), &format!("chain of {n}"));
        let prefixes = format!("{}1", "-".repeat(n));
        assert_agree(&flow_with(&prefixes), &format!("{n} prefix operators"));
        let nots = format!("{}.a", "not ".repeat(n));
        assert_agree(&flow_with(&nots), &format!("{n} nots"));
        let elifs = format!(
            "if .a {{ 1 }}{} else {{ 0 }}",
            " else if .b { 2 }".repeat(n)
        );
        assert_agree(&flow_with(&elifs), &format!("{n} else ifs"));
    }
    for n in [50, 100, 127, 128, 129] {
        let parens = format!("{}1{}", "(".repeat(n), ")".repeat(n));
        assert_agree(&flow_with(&parens), &format!("{n} parentheses"));
        let lists = format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert_agree(&flow_with(&lists), &format!("{n} brackets"));
        let records = format!("{}1{}", "{ a = ".repeat(n), " }".repeat(n));
        assert_agree(&flow_with(&records), &format!("{n} records"));
        let mixed = format!("{}.x{}", "(.a + [1, -".repeat(n), "])".repeat(n));
        assert_agree(&flow_with(&mixed), &format!("{n} mixed"));
    }
}

// ------------------------------------------------------ generated programs

/// Layout between tokens: never empty, sometimes a comment.
fn sep() -> impl Strategy<Value = &'static str> {
    select(vec![
        " ",
        " ",
        " ",
        "  ",
        "\n",
        "\n  ",
        "\t",
        "\r\n",
        " // note\n",
        "\n\n",
    ])
}

/// Layout where none is needed: often empty.
fn gap() -> impl Strategy<Value = &'static str> {
    select(vec!["", "", "", " ", "\n", " // c\n"])
}

fn word() -> impl Strategy<Value = &'static str> {
    select(vec![
        "id", "amount", "x1", "_tmp", "Account", "where", "map", "to", "nothing", "error", "csv",
        "limit", "reply",
    ])
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => select(vec![
            ".", ".a", ".a.b", ".items[0]", ".(\"odd name\")", "$b", "$b.x[1]", "1", "10_000",
            "12.50", "250ms", "64KiB", "\"text\"", "\"a {.x} b\"", "\"esc \\n \\u{1F600}\"",
            "\"\"\"\n  raw\n  \"\"\"", "true", "false", "null", "csv", "[]", "{}",
        ])
        .prop_map(String::from),
        6 => word().prop_map(String::from),
        // Rarely, what the builder or the grammar refuses.
        1 => select(vec!["...", "1x", "\"\\q\"", "if", "1.5s", "\"{", "Foo {"]).prop_map(String::from),
    ]
}

fn expr() -> impl Strategy<Value = String> {
    leaf().prop_recursive(4, 48, 4, |inner| {
        let op = select(vec![
            "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "??", "and", "or", "in",
        ]);
        prop_oneof![
            (inner.clone(), sep(), op, sep(), inner.clone())
                .prop_map(|(a, s1, o, s2, b)| format!("{a}{s1}{o}{s2}{b}")),
            (select(vec!["-", "not "]), gap(), inner.clone())
                .prop_map(|(o, g, a)| format!("{o}{g}{a}")),
            (gap(), inner.clone(), gap()).prop_map(|(g1, a, g2)| format!("({g1}{a}{g2})")),
            prop::collection::vec((inner.clone(), select(vec![",", " ", ", ", "\n"])), 0..4)
                .prop_map(|items| {
                    let body: String = items.iter().map(|(e, s)| format!("{e}{s}")).collect();
                    format!("[{body}]")
                }),
            (word(), gap(), prop::collection::vec(inner.clone(), 0..3))
                .prop_map(|(f, g, args)| { format!("{f}{g}({})", args.join(", ")) }),
            (word(), inner.clone(), inner.clone())
                .prop_map(|(n, a, b)| format!("lookup({a}, {n}: {b})")),
            (inner.clone(), inner.clone(), inner.clone(), sep()).prop_map(|(c, a, b, s)| {
                format!("if {c} {{{s}{a}{s}}} else if {c} {{ {b} }} else {{ {a} }}")
            }),
            (inner.clone(), inner.clone()).prop_map(|(c, a)| format!("if {c} {{ {a} }}")),
            (
                select(vec!["T ", "", "Tier"]),
                word(),
                inner.clone(),
                select(vec![",", "", ", ...", "\n"])
            )
                .prop_map(|(t, f, v, s)| format!("{t}{{ {f} = {v}{s} }}")),
            inner.clone().prop_map(|a| format!("\"x {{{a}}} y\"")),
            (inner.clone(), inner).prop_map(|(a, b)| format!(".items[{a}].x[{b}]")),
        ]
    })
}

fn endpoint() -> impl Strategy<Value = String> {
    prop_oneof![
        word().prop_map(String::from),
        (word(), word(), expr()).prop_map(|(s, o, a)| format!("{s}.{o}({a})")),
        (word(), expr(), expr()).prop_map(|(o, a, b)| format!("file({a}).{o}(x: {b},)")),
    ]
}

fn step() -> impl Strategy<Value = String> {
    prop_oneof![
        expr().prop_map(|e| format!("where {e}")),
        (word(), expr(), expr()).prop_map(|(f, a, b)| format!("map T {{ {f} = {a}, x = {b} }}")),
        (word(), expr()).prop_map(|(n, e)| format!("let {n} = {e}")),
        (word(), endpoint()).prop_map(|(n, e)| format!("enrich {n} = {e} as [T]?")),
        expr().prop_map(|e| format!("split {e} as Item")),
        (expr(), expr()).prop_map(|(a, b)| format!("batch {a} within {b}")),
        expr().prop_map(|e| format!("dedupe by {e} within 1h")),
        endpoint().prop_map(|e| format!("tap {e}")),
        endpoint().prop_map(|e| format!("to {e}")),
        expr().prop_map(|e| format!("reply {e}")),
        (expr(), endpoint(), endpoint(), sep()).prop_map(|(c, a, b, s)| format!(
            "route {{{s}when {c} => to {a}{s}when {c} => {{ where {c} to {b} }}{s}else => to {b}{s}}}"
        )),
    ]
}

fn policy() -> impl Strategy<Value = String> {
    prop_oneof![
        (expr(), expr()).prop_map(|(a, b)| format!("retry {a} backoff exponential({b}, {a})")),
        expr().prop_map(|a| format!("retry {a} backoff fixed({a})")),
        expr().prop_map(|a| format!("timeout {a}")),
        endpoint().prop_map(|e| format!("dead_letter {e}")),
        (expr(), expr()).prop_map(|(a, b)| format!("rate_limit {a} per {b}")),
        expr().prop_map(|a| format!("concurrency {a}")),
        expr().prop_map(|a| format!("circuit_breaker {{ failures = {a}, reset = 30s }}")),
    ]
}

fn decl() -> impl Strategy<Value = String> {
    let flow = (
        word(),
        select(vec![
            "mode async",
            "mode sync",
            "mode batch schedule \"0 2 * * *\" chunk 500",
            "mode batch every 15m",
        ]),
        endpoint(),
        prop::collection::vec(prop_oneof![step(), policy()], 0..6),
        sep(),
    )
        .prop_map(|(n, mode, from, items, s)| {
            let body: String = items.iter().map(|i| format!("{s}{i}")).collect();
            format!("/// A flow.\nflow {n} {{{s}{mode}{s}from {from} as T{body}{s}}}")
        });
    let system = (word(), word(), expr(), expr(), sep()).prop_map(|(n, k, a, b, s)| {
        format!("system {n}: {k} {{{s}root = {a}{s}auth = bearer {{ token = {b} }}{s}\"X-Key\" = {a}, }}")
    });
    let ty = (word(), word(), sep()).prop_map(|(n, f, s)| {
        format!("type {n} {{{s}/// doc\n{f}: string{s}\"odd\": [{n}]?,{s}x: decimal? }}")
    });
    let channel = (word(), word(), expr())
        .prop_map(|(n, s, a)| format!("channel {n}: T via {s}.publish({a})"));
    let test = (word(), expr(), endpoint(), expr(), sep()).prop_map(|(n, a, e, b, s)| {
        format!(
            "test {n} for f {{{s}given T {{ a = {a} }}{s}stub {e} => {b}{s}expect out.append: {a}{s}expect nothing{s}expect reply {b}{s}expect error \"x\"{s}expect {b}{s}}}"
        )
    });
    prop_oneof![flow, system, ty, channel, test]
}

fn program() -> impl Strategy<Value = String> {
    prop::collection::vec((decl(), sep()), 1..5).prop_map(|decls| {
        decls
            .iter()
            .map(|(d, s)| format!("{d}{s}"))
            .collect::<String>()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn generated_programs_parse_the_same(text in program(), seed in any::<u64>()) {
        prop_assert!(agree(&text).is_ok(), "{}", agree(&text).err().unwrap_or_default());
        let mut rng = Rng::new(seed | 1);
        let mutated = mutate(&text, &mut rng);
        prop_assert!(agree(&mutated).is_ok(), "{}", agree(&mutated).err().unwrap_or_default());
    }

    #[test]
    fn generated_expressions_parse_the_same(e in expr()) {
        let text = flow_with(&e);
        prop_assert!(agree(&text).is_ok(), "{}", agree(&text).err().unwrap_or_default());
    }
}

// ------------------------------------------------------------ same_shape

/// The condition of `flow_with(e)`, when it parses.
fn condition(e: &str) -> Option<aqueduct_syntax::ast::Expr> {
    use aqueduct_syntax::ast::{Decl, FlowItem, StepKind};
    let file = parse(FileId(0), &flow_with(e)).file?;
    let Some(Decl::Flow(flow)) = file.decls.into_iter().next() else {
        return None;
    };
    flow.items.into_iter().find_map(|i| match i {
        FlowItem::Step(s) => match s.kind {
            StepKind::Where(e) => Some(e),
            _ => None,
        },
        _ => None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// `same_shape` (used by the checker for `route` conditions) is
    /// `shape(a) == shape(b)`, for equal texts laid out differently and for
    /// different texts.
    #[test]
    fn same_shape_is_equality_of_shapes(a in expr(), b in expr(), relayout in any::<bool>()) {
        let b = if relayout { format!(" {}", a.replace(' ', "  ")) } else { b };
        if let (Some(x), Some(y)) = (condition(&a), condition(&b)) {
            let by_json = aqueduct_syntax::shape(&x) == aqueduct_syntax::shape(&y);
            prop_assert_eq!(aqueduct_syntax::same_shape(&x, &y), by_json, "{} / {}", a, b);
            prop_assert!(aqueduct_syntax::same_shape(&x, &x));
        }
    }
}
