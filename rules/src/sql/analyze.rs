//! The entry point: one statement text in, one [`Analysis`] out, for every input. The
//! firewall calls [`analyze`] on every statement, so the common path is one tokenization,
//! one parse and one walk per statement.
//!
//! ```text
//!  text ─► MySQL: /*! … */ contents as code ─► tokens ─┬─► comment flags
//!                                                      ├─► normalized text + fingerprint
//!                                                      ├─► nesting bound ─(too deep)─┐
//!                                                      └─► parse ─┬─► walk per statement
//!                                                                 └─(error)─┐        │
//!                        per `;` segment: parse again, else token fallback ◄┴────────┘
//! ```

use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::analysis::{Analysis, Flag, Flags, Parse, StatementAnalysis};
use super::name::{Context, Schema};
use super::{fallback, fingerprint, lexical, statement};

/// sqlparser's recursion limit for our parses (nested parentheses, subqueries, …). Deeper
/// input is a parse error and goes to the fallback.
pub const RECURSION_LIMIT: usize = 64;

/// The largest nesting bound (operator chains plus nesting, counted on tokens) handed to the
/// parser; beyond it the statement goes to the fallback with [`Flag::TooComplex`]. Keeps
/// the syntax tree shallow enough to drop and walk on a 2 MiB thread stack.
pub const MAX_OPERATOR_DEPTH: usize = 4_000;

/// Analyzes a statement text (one or more statements) for a session.
///
/// Never panics and always answers: text the parser cannot read gets a token-level
/// analysis marked [`Parse::Fallback`], text the tokenizer cannot read one marked
/// [`Parse::Unreadable`] with whatever the tokens before the error showed.
pub fn analyze(sql: &str, cx: &Context<'_>, schema: &dyn Schema) -> Analysis {
    let watch = lexical::LiteralWatch::start();
    let mut analysis = analyze_nested(sql, cx, schema, 0);
    analysis.literals_read = watch.finish();
    analysis
}

pub(crate) fn analyze_nested(
    sql: &str,
    cx: &Context<'_>,
    schema: &dyn Schema,
    nesting: u8,
) -> Analysis {
    if nesting > 0 {
        // The text of a nested statement is a string literal of the outer one.
        lexical::literal_read();
    }
    let (text, executable) = lexical::effective_text(sql, cx.dialect);
    let mut text_flags = Flags::EMPTY;
    if executable {
        text_flags.insert(Flag::ExecutableComment);
        text_flags.insert(Flag::Comment);
    }
    let mut tokens: Vec<TokenWithSpan> = Vec::new();
    let tokenized = Tokenizer::new(lexical::parser_dialect(cx.dialect), &text)
        .tokenize_with_location_into_buf(&mut tokens);
    text_flags = text_flags.union(lexical::comment_flags(&tokens));
    let normalized = fingerprint::normalize(&tokens, cx.dialect);
    let fingerprint = fingerprint::fnv1a64(normalized.as_bytes());

    if cx.dialect == super::Dialect::MySql && tokens.iter().any(|t| t.token == Token::StringConcat)
    {
        lexical::literal_read();
        if fallback::mysql_pipes_tautology(&tokens) {
            text_flags.insert(Flag::Tautology);
        }
    }

    let mut statements = match tokenized {
        Err(e) => {
            // What came before the error still shows intent.
            let parse = Parse::Unreadable {
                error: e.to_string(),
            };
            let mut statements = fallback_all(&tokens, cx, schema, &parse, nesting);
            if statements.is_empty() {
                statements.push(StatementAnalysis::new(
                    parse,
                    super::StatementKind::Unparsed,
                    super::Command::Other,
                ));
            }
            statements
        }
        Ok(()) if lexical::nesting_bound(&tokens) > MAX_OPERATOR_DEPTH => {
            let parse = Parse::Fallback {
                error: format!(
                    "statement nested deeper than {MAX_OPERATOR_DEPTH} operators for analysis"
                ),
            };
            let mut statements = fallback_all(&tokens, cx, schema, &parse, nesting);
            for st in &mut statements {
                st.flags.insert(Flag::TooComplex);
            }
            statements
        }
        Ok(()) => {
            // sqlparser is not ours: should it ever panic on hostile input, the statement
            // gets the fallback instead of taking the connection's task down.
            let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                parse_all(tokens, &text, cx, schema, nesting)
            }));
            match parsed {
                Ok(statements) => statements,
                Err(_) => fallback_all(
                    &retokenize(&text, cx),
                    cx,
                    schema,
                    &Parse::Fallback {
                        error: "the SQL parser failed on this statement".to_owned(),
                    },
                    nesting,
                ),
            }
        }
    };

    if statements.len() == 1 && text_flags.contains(Flag::Tautology) {
        statements[0].flags.insert(Flag::Tautology);
    }
    let mut flags = text_flags;
    let mut parse = Parse::Parsed;
    for st in &statements {
        flags = flags.union(st.flags);
        parse = parse.worst(st.parse.clone());
    }
    if statements.len() > 1 {
        flags.insert(Flag::Stacked);
    }
    Analysis {
        dialect: cx.dialect,
        parse,
        statements,
        flags,
        normalized,
        fingerprint,
        literals_read: false,
    }
}

/// Parses the whole text; when that fails, statement by statement.
fn parse_all(
    tokens: Vec<TokenWithSpan>,
    text: &str,
    cx: &Context<'_>,
    schema: &dyn Schema,
    nesting: u8,
) -> Vec<StatementAnalysis> {
    let error = match parse_tokens(tokens, cx) {
        Ok(parsed) => {
            let mut out = Vec::with_capacity(parsed.len());
            for st in &parsed {
                match statement::analyze_statement(st, cx, schema) {
                    Ok(analysis) => out.push(analysis),
                    Err(_) => {
                        let parse = Parse::Fallback {
                            error: "statement too deeply nested for analysis".to_owned(),
                        };
                        let tokens = retokenize(text, cx);
                        let mut all = fallback_all(&tokens, cx, schema, &parse, nesting);
                        for st in &mut all {
                            st.flags.insert(Flag::TooComplex);
                        }
                        return all;
                    }
                }
            }
            return out;
        }
        Err(error) => error,
    };
    // Stacked statements of which one does not parse: the others still get the parser.
    let tokens = retokenize(text, cx);
    let ranges = lexical::split_statements(&tokens);
    let mut out = Vec::with_capacity(ranges.len());
    for range in ranges.iter() {
        let segment = &tokens[range.clone()];
        let parsed = if ranges.len() > 1 {
            parse_tokens(segment.to_vec(), cx)
        } else {
            Err(error.clone())
        };
        let mut too_complex = false;
        let parse = match parsed {
            Ok(parsed) if parsed.len() == 1 => {
                match statement::analyze_statement(&parsed[0], cx, schema) {
                    Ok(analysis) => {
                        out.push(analysis);
                        continue;
                    }
                    Err(_) => {
                        too_complex = true;
                        Parse::Fallback {
                            error: "statement too deeply nested for analysis".to_owned(),
                        }
                    }
                }
            }
            Ok(_) => Parse::Fallback {
                error: error.clone(),
            },
            Err(error) => Parse::Fallback { error },
        };
        let plain: Vec<Token> = segment.iter().map(|t| t.token.clone()).collect();
        let mut analysis = fallback::analyze_tokens(&plain, cx, schema, parse, nesting);
        if too_complex {
            analysis.flags.insert(Flag::TooComplex);
        }
        out.push(analysis);
    }
    out
}

fn parse_tokens(
    tokens: Vec<TokenWithSpan>,
    cx: &Context<'_>,
) -> Result<Vec<sqlparser::ast::Statement>, String> {
    Parser::new(lexical::parser_dialect(cx.dialect))
        .with_recursion_limit(RECURSION_LIMIT)
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| e.to_string())
}

fn retokenize(text: &str, cx: &Context<'_>) -> Vec<TokenWithSpan> {
    let mut tokens = Vec::new();
    let _ = Tokenizer::new(lexical::parser_dialect(cx.dialect), text)
        .tokenize_with_location_into_buf(&mut tokens);
    tokens
}

/// The token fallback for every `;`-separated segment.
fn fallback_all(
    tokens: &[TokenWithSpan],
    cx: &Context<'_>,
    schema: &dyn Schema,
    parse: &Parse,
    nesting: u8,
) -> Vec<StatementAnalysis> {
    lexical::split_statements(tokens)
        .into_iter()
        .map(|range| {
            let plain: Vec<Token> = tokens[range].iter().map(|t| t.token.clone()).collect();
            fallback::analyze_tokens(&plain, cx, schema, parse.clone(), nesting)
        })
        .collect()
}
