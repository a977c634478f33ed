//! The filter and PATCH path parser (RFC 7644 figure 1 and section 3.5.2).
//!
//! A hand-written recursive descent parser over a small lexer. Words (attribute paths,
//! keywords, numbers) run until whitespace, a parenthesis, a bracket or a quote, and are
//! classified by where they appear: `and`, `or`, `not` and the operators are keywords
//! only in keyword position, so an attribute may still be called `not` or `pr`.
//!
//! Recursion happens only at `(`, `not (` and `[`, and is capped at [`MAX_DEPTH`]; chains
//! of `and`/`or` are loops. Together with [`MAX_INPUT_LEN`] this bounds the work and the
//! stack any input can cost.

use serde_json::Number;

use super::ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
use super::{FilterError, MAX_DEPTH, MAX_INPUT_LEN, PathError};

/// Longest stretch of input quoted back in an error message: enough to recognise, not
/// enough to turn an error body into an echo of the request.
const FOUND_MAX_CHARS: usize = 32;

pub(crate) fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    check_input(input)?;
    let mut parser = Parser::new(input);
    let filter = parser.or_expr(0, false)?;
    parser.expect(Closer::End)?;
    Ok(filter)
}

pub(crate) fn parse_patch_path(input: &str) -> Result<PatchPath, PathError> {
    parse_patch_path_inner(input).map_err(PathError::new)
}

fn parse_patch_path_inner(input: &str) -> Result<PatchPath, FilterError> {
    check_input(input)?;
    let mut parser = Parser::new(input);
    let path = parser.attr_path_token()?;
    let next = parser.next()?;
    match next.kind {
        Kind::End => Ok(PatchPath::Attr(path)),
        Kind::LBracket => {
            let filter = parser.group(0, next.start, true, Closer::Bracket)?;
            let close_end = parser.pos;
            let after = parser.next()?;
            let sub = match after.kind {
                Kind::End => None,
                // `.subAttr` must follow the bracket directly: the grammar has no space there.
                Kind::Word(word) if after.start == close_end && word.starts_with('.') => {
                    let name = word.get(1..).unwrap_or("");
                    if !is_attr_name(name) {
                        return Err(parser.unexpected(&after, "a sub-attribute name after `.`"));
                    }
                    parser.expect(Closer::PathEnd)?;
                    Some(name.to_owned())
                }
                _ => {
                    return Err(
                        parser.unexpected(&after, "`.` and a sub-attribute name, or end of input")
                    );
                }
            };
            Ok(PatchPath::ValuePath {
                path,
                filter: Box::new(filter),
                sub,
            })
        }
        _ => Err(parser.unexpected(&next, "`[` or end of input")),
    }
}

pub(crate) fn parse_attr_path(input: &str) -> Result<AttrPath, FilterError> {
    check_input(input)?;
    let mut parser = Parser::new(input);
    let path = parser.attr_path_token()?;
    parser.expect(Closer::PathEnd)?;
    Ok(path)
}

/// Reject what no parse should spend time on.
fn check_input(input: &str) -> Result<(), FilterError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(FilterError::TooLong {
            len: input.len(),
            limit: MAX_INPUT_LEN,
        });
    }
    if input.bytes().all(is_space) {
        return Err(FilterError::Empty);
    }
    Ok(())
}

/// Whitespace between tokens. RFC 7644 asks for single spaces; clients are not always that
/// tidy, and accepting any run of ASCII whitespace costs nothing.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Bytes that end a word. All ASCII, so a word always ends on a char boundary.
fn is_delimiter(b: u8) -> bool {
    is_space(b) || matches!(b, b'(' | b')' | b'[' | b']' | b'"')
}

/// `ATTRNAME = ALPHA *(nameChar)`, `nameChar = "-" / "_" / DIGIT / ALPHA`, plus `$ref`,
/// which RFC 7643 uses for references although the ABNF forgot it.
fn is_attr_name(s: &str) -> bool {
    if s.eq_ignore_ascii_case("$ref") {
        return true;
    }
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A schema URI before the attribute name: `scheme ":" rest`, where the scheme is
/// `ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")` (RFC 3986) and the rest is colon-separated,
/// non-empty segments of URN characters. Stricter than a full URI, which is the point:
/// schema URNs look like this, and anything else is far likelier a typo.
fn is_schema_uri(s: &str) -> bool {
    let mut segments = s.split(':');
    let scheme_ok = segments.next().is_some_and(|scheme| {
        let mut bytes = scheme.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    });
    let mut rest = segments.peekable();
    scheme_ok
        && rest.peek().is_some()
        && rest.all(|segment| {
            !segment.is_empty()
                && segment.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(
                            b,
                            b'-' | b'.'
                                | b'_'
                                | b'~'
                                | b'%'
                                | b'+'
                                | b'!'
                                | b'$'
                                | b'&'
                                | b'\''
                                | b'*'
                                | b','
                                | b';'
                                | b'='
                                | b'@'
                                | b'/'
                        )
                })
        })
}

/// Split a word into an attribute path; `None` if it is not one (the caller knows where
/// the word was, so it builds the error).
fn split_attr_path(word: &str) -> Option<AttrPath> {
    // The URN ends at the last colon: URNs contain colons (and dots, as in `2.0`),
    // attribute names contain neither.
    let (urn, rest) = match word.rfind(':') {
        Some(i) => (Some(word.get(..i)?), word.get(i + 1..)?),
        None => (None, word),
    };
    if urn.is_some_and(|urn| !is_schema_uri(urn)) {
        return None;
    }
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    if !is_attr_name(name) || sub.is_some_and(|s| !is_attr_name(s)) {
        return None;
    }
    Some(AttrPath {
        urn: urn.map(str::to_owned),
        name: name.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

#[derive(Debug)]
enum Kind<'a> {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A string literal, escapes decoded.
    Str(String),
    /// Anything else up to the next delimiter.
    Word(&'a str),
    End,
}

#[derive(Debug)]
struct Token<'a> {
    kind: Kind<'a>,
    /// Byte offsets into the input.
    start: usize,
    end: usize,
}

/// What may close the expression being parsed, for the "expected" half of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closer {
    /// The end of a filter, where `and` or `or` could still have come.
    End,
    /// The end of a path, where only the end may come.
    PathEnd,
    Paren,
    Bracket,
}

impl Closer {
    fn expected(self) -> &'static str {
        match self {
            Closer::End => "`and`, `or` or end of input",
            Closer::PathEnd => "end of input",
            Closer::Paren => "`and`, `or` or `)`",
            Closer::Bracket => "`and`, `or` or `]`",
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    /// Where the lexer resumes (after the peeked token, if there is one).
    pos: usize,
    peeked: Option<Token<'a>>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser {
            src,
            pos: 0,
            peeked: None,
        }
    }

    // ---- lexer ----

    fn lex(&mut self) -> Result<Token<'a>, FilterError> {
        let bytes = self.src.as_bytes();
        while bytes.get(self.pos).copied().is_some_and(is_space) {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&first) = bytes.get(start) else {
            return Ok(Token {
                kind: Kind::End,
                start,
                end: start,
            });
        };
        let kind = match first {
            b'(' => Kind::LParen,
            b')' => Kind::RParen,
            b'[' => Kind::LBracket,
            b']' => Kind::RBracket,
            b'"' => {
                let (text, end) = lex_string(self.src, start)?;
                self.pos = end;
                return Ok(Token {
                    kind: Kind::Str(text),
                    start,
                    end,
                });
            }
            _ => {
                let mut end = start;
                while bytes.get(end).is_some_and(|&b| !is_delimiter(b)) {
                    end += 1;
                }
                self.pos = end;
                return Ok(Token {
                    kind: Kind::Word(self.src.get(start..end).unwrap_or("")),
                    start,
                    end,
                });
            }
        };
        self.pos = start + 1;
        Ok(Token {
            kind,
            start,
            end: start + 1,
        })
    }

    fn peek(&mut self) -> Result<&Token<'a>, FilterError> {
        let token = match self.peeked.take() {
            Some(token) => token,
            None => self.lex()?,
        };
        Ok(self.peeked.insert(token))
    }

    fn next(&mut self) -> Result<Token<'a>, FilterError> {
        match self.peeked.take() {
            Some(token) => Ok(token),
            None => self.lex(),
        }
    }

    fn peek_keyword(&mut self, keyword: &str) -> Result<bool, FilterError> {
        Ok(matches!(self.peek()?.kind, Kind::Word(w) if w.eq_ignore_ascii_case(keyword)))
    }

    fn unexpected(&self, token: &Token<'_>, expected: &'static str) -> FilterError {
        FilterError::Unexpected {
            offset: token.start,
            expected,
            found: self.found(token),
        }
    }

    fn found(&self, token: &Token<'_>) -> Option<String> {
        if matches!(token.kind, Kind::End) {
            return None;
        }
        let text = self.src.get(token.start..token.end).unwrap_or("");
        Some(quote_excerpt(text))
    }

    fn expect(&mut self, closer: Closer) -> Result<(), FilterError> {
        let token = self.next()?;
        let closed = matches!(
            (closer, &token.kind),
            (Closer::End | Closer::PathEnd, Kind::End)
                | (Closer::Paren, Kind::RParen)
                | (Closer::Bracket, Kind::RBracket)
        );
        if closed {
            Ok(())
        } else {
            Err(self.unexpected(&token, closer.expected()))
        }
    }

    // ---- grammar ----

    /// `and_expr *("or" and_expr)`, left-associative.
    fn or_expr(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, FilterError> {
        let mut left = self.and_expr(depth, in_value_path)?;
        while self.peek_keyword("or")? {
            self.next()?;
            let right = self.and_expr(depth, in_value_path)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// `term *("and" term)`, left-associative; binds tighter than `or`.
    fn and_expr(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, FilterError> {
        let mut left = self.term(depth, in_value_path)?;
        while self.peek_keyword("and")? {
            self.next()?;
            let right = self.term(depth, in_value_path)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// `"(" filter ")"`, `"not" "(" filter ")"`, `attrPath "[" valFilter "]"`,
    /// `attrPath "pr"` or `attrPath compareOp compValue`.
    fn term(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, FilterError> {
        let token = self.next()?;
        let word = match token.kind {
            Kind::LParen => return self.group(depth, token.start, in_value_path, Closer::Paren),
            Kind::Word(word) => word,
            _ => return Err(self.unexpected(&token, "an attribute path, `(` or `not (`")),
        };
        // `not` is the negation only when a parenthesis follows (the RFC has no bare
        // `not attrExp`); otherwise it is an attribute that happens to be called `not`.
        if word.eq_ignore_ascii_case("not") && matches!(self.peek()?.kind, Kind::LParen) {
            let open = self.next()?;
            let inner = self.group(depth, open.start, in_value_path, Closer::Paren)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        let Some(path) = split_attr_path(word) else {
            return Err(self.unexpected(&token, "an attribute path, `(` or `not (`"));
        };

        let next = self.next()?;
        match next.kind {
            Kind::LBracket => {
                if in_value_path {
                    return Err(FilterError::NestedValuePath { offset: next.start });
                }
                let filter = self.group(depth, next.start, true, Closer::Bracket)?;
                Ok(Filter::ValuePath {
                    path,
                    filter: Box::new(filter),
                })
            }
            Kind::Word(op) if op.eq_ignore_ascii_case("pr") => Ok(Filter::Present(path)),
            Kind::Word(op) => match CompareOp::from_keyword(op) {
                Some(op) => {
                    let value = self.value()?;
                    Ok(Filter::Compare { path, op, value })
                }
                None if word.eq_ignore_ascii_case("not") => {
                    Err(self.unexpected(&next, "`(` after `not`"))
                }
                None => Err(self.unexpected(&next, "a comparison operator")),
            },
            _ => Err(self.unexpected(&next, "a comparison operator")),
        }
    }

    /// The inside of `( )`, `not ( )` or `[ ]`, one level deeper.
    fn group(
        &mut self,
        depth: usize,
        open_offset: usize,
        in_value_path: bool,
        closer: Closer,
    ) -> Result<Filter, FilterError> {
        let depth = depth + 1;
        if depth > MAX_DEPTH {
            return Err(FilterError::TooDeep {
                offset: open_offset,
                limit: MAX_DEPTH,
            });
        }
        let inner = self.or_expr(depth, in_value_path)?;
        self.expect(closer)?;
        Ok(inner)
    }

    /// `false / null / true / number / string`, from JSON. The literals are accepted in
    /// any case, as keywords are: clients do send `True`.
    fn value(&mut self) -> Result<CompValue, FilterError> {
        const EXPECTED: &str = "a value (a JSON string, number, true, false or null)";
        let token = self.next()?;
        match token.kind {
            Kind::Str(text) => Ok(CompValue::String(text)),
            Kind::Word(word) if word.eq_ignore_ascii_case("true") => Ok(CompValue::Bool(true)),
            Kind::Word(word) if word.eq_ignore_ascii_case("false") => Ok(CompValue::Bool(false)),
            Kind::Word(word) if word.eq_ignore_ascii_case("null") => Ok(CompValue::Null),
            Kind::Word(word) if word.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
                let invalid = || FilterError::InvalidNumber {
                    offset: token.start,
                    found: quote_excerpt(word),
                };
                if !is_json_number(word) {
                    return Err(invalid());
                }
                // Grammar checked above; this only fails on overflow (`1e400`).
                word.parse::<Number>()
                    .map(CompValue::Number)
                    .map_err(|_| invalid())
            }
            _ => Err(self.unexpected(&token, EXPECTED)),
        }
    }

    /// One word that must be an attribute path (PATCH paths, `sortBy`).
    fn attr_path_token(&mut self) -> Result<AttrPath, FilterError> {
        let token = self.next()?;
        match token.kind {
            Kind::Word(word) => match split_attr_path(word) {
                Some(path) => Ok(path),
                None => Err(self.unexpected(&token, "an attribute path")),
            },
            _ => Err(self.unexpected(&token, "an attribute path")),
        }
    }
}

/// `-? (0 / [1-9] *DIGIT) [. 1*DIGIT] [(e/E) [+/-] 1*DIGIT]` (RFC 8259 section 6).
fn is_json_number(s: &str) -> bool {
    fn digits(b: &[u8], mut i: usize) -> usize {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    }
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(c) if c.is_ascii_digit() => i = digits(b, i),
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        let after = digits(b, i + 1);
        if after == i + 1 {
            return false;
        }
        i = after;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let after = digits(b, i);
        if after == i {
            return false;
        }
        i = after;
    }
    i == b.len()
}

/// Decode the JSON string literal whose opening quote is at `start`. Returns the text and
/// the offset just past the closing quote.
fn lex_string(src: &str, start: usize) -> Result<(String, usize), FilterError> {
    let body_start = start + 1;
    let body = src.get(body_start..).unwrap_or("");
    let mut out = String::new();
    let mut chars = body.char_indices();
    let invalid = |at: usize, reason: &'static str| FilterError::InvalidString {
        offset: body_start + at,
        reason,
    };
    loop {
        let Some((i, c)) = chars.next() else {
            return Err(FilterError::UnterminatedString { offset: start });
        };
        match c {
            '"' => return Ok((out, body_start + i + 1)),
            '\\' => {
                let Some((_, escape)) = chars.next() else {
                    return Err(FilterError::UnterminatedString { offset: start });
                };
                let decoded = match escape {
                    '"' => '"',
                    '\\' => '\\',
                    '/' => '/',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'u' => {
                        let unit = hex4(&mut chars).ok_or_else(|| {
                            invalid(i, "`\\u` must be followed by four hex digits")
                        })?;
                        decode_utf16_escape(unit, &mut chars).ok_or_else(|| {
                            invalid(i, "unpaired UTF-16 surrogate in `\\u` escape")
                        })?
                    }
                    _ => return Err(invalid(i, "unknown escape sequence")),
                };
                out.push(decoded);
            }
            c if c < ' ' => return Err(invalid(i, "control characters must be escaped")),
            c => out.push(c),
        }
    }
}

/// Four hex digits, as a UTF-16 code unit.
fn hex4(chars: &mut std::str::CharIndices<'_>) -> Option<u32> {
    let mut unit = 0;
    for _ in 0..4 {
        let (_, c) = chars.next()?;
        unit = unit * 16 + c.to_digit(16)?;
    }
    Some(unit)
}

/// The character a `\uXXXX` escape stands for; a high surrogate must be followed by a
/// `\uXXXX` low surrogate, as JSON writes characters outside the BMP.
fn decode_utf16_escape(unit: u32, chars: &mut std::str::CharIndices<'_>) -> Option<char> {
    if !(0xD800..0xDC00).contains(&unit) {
        // Lone low surrogates are not characters: `from_u32` refuses them.
        return char::from_u32(unit);
    }
    let (Some((_, '\\')), Some((_, 'u'))) = (chars.next(), chars.next()) else {
        return None;
    };
    let low = hex4(chars)?;
    if !(0xDC00..0xE000).contains(&low) {
        return None;
    }
    char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
}

/// `text` in backticks, cut to [`FOUND_MAX_CHARS`] characters.
fn quote_excerpt(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(FOUND_MAX_CHARS).collect();
    if chars.next().is_some() {
        format!("`{head}…`")
    } else {
        format!("`{head}`")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Number;

    use super::super::ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
    use super::super::{FilterError, MAX_DEPTH, MAX_INPUT_LEN};

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn parse(s: &str) -> Filter {
        match Filter::parse(s) {
            Ok(f) => f,
            Err(e) => panic!("{s:?} did not parse: {e}"),
        }
    }

    fn err(s: &str) -> FilterError {
        match Filter::parse(s) {
            Ok(f) => panic!("{s:?} parsed as {f:?}"),
            Err(e) => e,
        }
    }

    fn cmp(path: AttrPath, op: CompareOp, value: CompValue) -> Filter {
        Filter::Compare { path, op, value }
    }

    fn s(v: &str) -> CompValue {
        CompValue::String(v.into())
    }

    fn n(v: i64) -> CompValue {
        CompValue::Number(Number::from(v))
    }

    fn pr(name: &str) -> Filter {
        Filter::Present(AttrPath::new(name))
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Filter) -> Filter {
        Filter::Not(Box::new(a))
    }

    /// Every filter example in RFC 7644 section 3.4.2.2.
    const RFC_EXAMPLES: &[&str] = &[
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        r"title pr",
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    ];

    #[test]
    fn every_rfc_example_parses_and_round_trips() {
        for example in RFC_EXAMPLES {
            let filter = parse(example);
            let printed = filter.to_string();
            assert_eq!(parse(&printed), filter, "{example} printed as {printed}");
        }
    }

    #[test]
    fn rfc_examples_that_are_already_canonical_print_unchanged() {
        // Those without redundant grouping are already in canonical form.
        for example in RFC_EXAMPLES.iter().filter(|e| !e.contains("(emails.type")) {
            assert_eq!(parse(example).to_string(), *example);
        }
        assert_eq!(
            parse(r#"userType eq "Employee" and (emails.type eq "work")"#).to_string(),
            r#"userType eq "Employee" and emails.type eq "work""#
        );
    }

    #[test]
    fn simple_comparisons() {
        assert_eq!(
            parse(r#"userName eq "bjensen""#),
            cmp(AttrPath::new("userName"), CompareOp::Eq, s("bjensen"))
        );
        assert_eq!(
            parse(r#"name.familyName co "O'Malley""#),
            cmp(
                AttrPath::new("name").with_sub("familyName"),
                CompareOp::Co,
                s("O'Malley")
            )
        );
        assert_eq!(parse("title pr"), pr("title"));
        for op in CompareOp::ALL {
            assert_eq!(
                parse(&format!("a {} 1", op.as_str().to_uppercase())),
                cmp(AttrPath::new("a"), op, n(1))
            );
        }
    }

    #[test]
    fn urn_qualified_paths_split_at_the_last_colon() {
        assert_eq!(
            parse(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#),
            cmp(
                AttrPath::new("userName").with_urn("urn:ietf:params:scim:schemas:core:2.0:User"),
                CompareOp::Sw,
                s("J")
            )
        );
        assert_eq!(
            parse(&format!("{ENTERPRISE}:employeeNumber eq \"701984\"")),
            cmp(
                AttrPath::new("employeeNumber").with_urn(ENTERPRISE),
                CompareOp::Eq,
                s("701984")
            )
        );
        assert_eq!(
            parse(&format!("{ENTERPRISE}:manager.value eq \"26118915\"")),
            cmp(
                AttrPath::new("manager")
                    .with_urn(ENTERPRISE)
                    .with_sub("value"),
                CompareOp::Eq,
                s("26118915")
            )
        );
        assert_eq!(
            AttrPath::parse(&format!("{ENTERPRISE}:manager")),
            Ok(AttrPath::new("manager").with_urn(ENTERPRISE))
        );
        // A version-looking tail is not an attribute name.
        assert!(AttrPath::parse("urn:example:2.0").is_err());
        // A lone word before the colon is not a URI.
        assert!(AttrPath::parse("a:b").is_err());
        assert!(AttrPath::parse("urn::x:name").is_err());
        assert!(AttrPath::parse(":name").is_err());
    }

    #[test]
    fn attribute_names_follow_the_abnf() {
        for ok in [
            "a",
            "userName",
            "x-y_z9",
            "members.$ref",
            "$ref",
            "groups.$REF",
        ] {
            assert!(AttrPath::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1a", "_a", "-a", "a.", ".a", "a.b.c", "a b", "é", "a$", "a/b", "a..b",
        ] {
            assert!(AttrPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let (a, b, c) = (
            || cmp(AttrPath::new("a"), CompareOp::Eq, n(1)),
            || cmp(AttrPath::new("b"), CompareOp::Eq, n(2)),
            || cmp(AttrPath::new("c"), CompareOp::Eq, n(3)),
        );
        assert_eq!(parse("a eq 1 or b eq 2 and c eq 3"), or(a(), and(b(), c())));
        assert_eq!(parse("a eq 1 and b eq 2 or c eq 3"), or(and(a(), b()), c()));
        assert_eq!(
            parse("(a eq 1 or b eq 2) and c eq 3"),
            and(or(a(), b()), c())
        );
        assert_eq!(
            parse("a eq 1 or b eq 2 and c eq 3").to_string(),
            "a eq 1 or (b eq 2 and c eq 3)"
        );
        assert_eq!(
            parse("(a eq 1 or b eq 2) and c eq 3").to_string(),
            "(a eq 1 or b eq 2) and c eq 3"
        );
    }

    #[test]
    fn chains_are_left_associative_and_print_flat() {
        assert_eq!(
            parse("a pr and b pr and c pr"),
            and(and(pr("a"), pr("b")), pr("c"))
        );
        assert_eq!(
            parse("a pr or b pr or c pr"),
            or(or(pr("a"), pr("b")), pr("c"))
        );
        assert_eq!(
            parse("a pr and b pr and c pr").to_string(),
            "a pr and b pr and c pr"
        );
        // Grouping on the right is kept, so the tree survives a round trip.
        let right = parse("a pr and (b pr and c pr)");
        assert_eq!(right, and(pr("a"), and(pr("b"), pr("c"))));
        assert_eq!(right.to_string(), "a pr and (b pr and c pr)");
    }

    #[test]
    fn not_takes_precedence_over_and() {
        assert_eq!(parse("not (a pr) and b pr"), and(not(pr("a")), pr("b")));
        assert_eq!(
            parse("a pr or not(b pr or c pr) and d pr"),
            or(pr("a"), and(not(or(pr("b"), pr("c"))), pr("d")))
        );
        assert_eq!(parse("not (not (a pr))"), not(not(pr("a"))));
        assert_eq!(parse("not (a pr)").to_string(), "not (a pr)");
    }

    #[test]
    fn keywords_and_literals_are_case_insensitive() {
        let f = parse(
            r#"userName EQ "x" AND title PR Or NOT (active eQ TRUE) and x eq NULL and y ne False"#,
        );
        assert_eq!(
            f.to_string(),
            r#"(userName eq "x" and title pr) or (not (active eq true) and x eq null and y ne false)"#
        );
        // Attribute names keep their spelling.
        assert_eq!(parse("USERNAME pr"), pr("USERNAME"));
    }

    #[test]
    fn keywords_are_only_keywords_in_keyword_position() {
        assert_eq!(parse("not pr"), pr("not"));
        assert_eq!(parse("and pr and or pr"), and(pr("and"), pr("or")));
        assert_eq!(parse("pr pr"), pr("pr"));
        assert_eq!(
            parse("eq eq 1"),
            cmp(AttrPath::new("eq"), CompareOp::Eq, n(1))
        );
        assert_eq!(
            parse(r#"not[type eq "x"]"#),
            Filter::ValuePath {
                path: AttrPath::new("not"),
                filter: Box::new(cmp(AttrPath::new("type"), CompareOp::Eq, s("x"))),
            }
        );
        for f in ["not pr", "and pr and or pr", "pr pr", r#"not[type eq "x"]"#] {
            assert_eq!(parse(&parse(f).to_string()), parse(f));
        }
    }

    #[test]
    fn whitespace_is_flexible() {
        assert_eq!(parse("  \t(title  pr)\n "), pr("title"));
        assert_eq!(
            parse(r#"a eq "x"and b pr"#),
            and(cmp(AttrPath::new("a"), CompareOp::Eq, s("x")), pr("b"))
        );
        assert_eq!(parse("not(a pr)"), not(pr("a")));
    }

    #[test]
    fn value_paths() {
        let f = parse(
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        );
        assert_eq!(
            f,
            and(
                cmp(AttrPath::new("userType"), CompareOp::Eq, s("Employee")),
                Filter::ValuePath {
                    path: AttrPath::new("emails"),
                    filter: Box::new(and(
                        cmp(AttrPath::new("type"), CompareOp::Eq, s("work")),
                        cmp(AttrPath::new("value"), CompareOp::Co, s("@example.com")),
                    )),
                }
            )
        );
        assert_eq!(
            parse(r#"members[$ref ew "/Users/1"]"#).to_string(),
            r#"members[$ref ew "/Users/1"]"#
        );
        assert_eq!(
            parse(r#"emails[not (type eq "work")]"#).to_string(),
            r#"emails[not (type eq "work")]"#
        );
    }

    #[test]
    fn string_literals_are_json_strings() {
        let f = parse(r#"a eq "q\"b\\s\/n\nt\tu\u00e9\uD83D\uDE00 raw é😀""#);
        assert_eq!(
            f,
            cmp(
                AttrPath::new("a"),
                CompareOp::Eq,
                s("q\"b\\s/n\nt\tué😀 raw é😀")
            )
        );
        assert_eq!(f.to_string(), "a eq \"q\\\"b\\\\s/n\\nt\\tué😀 raw é😀\"");
        assert_eq!(
            parse(r#"a eq "\u0001\b\f\r""#).to_string(),
            r#"a eq "\u0001\b\f\r""#
        );
        assert_eq!(
            parse(r#"a eq """#),
            cmp(AttrPath::new("a"), CompareOp::Eq, s(""))
        );
    }

    #[test]
    fn number_literals_are_json_numbers() {
        for (text, printed) in [
            ("0", "0"),
            ("42", "42"),
            ("-7", "-7"),
            ("1.5", "1.5"),
            ("1e3", "1000.0"),
            ("2.5E-3", "0.0025"),
            ("18446744073709551615", "18446744073709551615"),
        ] {
            let f = parse(&format!("a gt {text}"));
            assert_eq!(f.to_string(), format!("a gt {printed}"), "{text}");
            assert_eq!(parse(&f.to_string()), f);
        }
        for bad in [
            "01", "1.", ".5", "-", "1e", "1e+", "+1", "1.5.5", "0x10", "1e400", "--1",
        ] {
            let e = match Filter::parse(&format!("a gt {bad}")) {
                Ok(f) => panic!("{bad} parsed as {f:?}"),
                Err(e) => e,
            };
            assert!(
                matches!(
                    &e,
                    FilterError::InvalidNumber { offset: 5, .. }
                        | FilterError::Unexpected { offset: 5, .. }
                ),
                "{bad}: {e:?}"
            );
        }
        assert_eq!(
            err("a gt 01").to_string(),
            "invalid number `01` at offset 5"
        );
    }

    #[test]
    fn error_messages_point_at_the_problem() {
        let cases: &[(&str, &str)] = &[
            (
                r#"userName eqq "bjensen""#,
                "expected a comparison operator at offset 9, found `eqq`",
            ),
            (
                "userName eq",
                "expected a value (a JSON string, number, true, false or null) at offset 11, found end of input",
            ),
            (
                r"userName eq bjensen",
                "expected a value (a JSON string, number, true, false or null) at offset 12, found `bjensen`",
            ),
            (
                r#"userName eq "x" garbage"#,
                "expected `and`, `or` or end of input at offset 16, found `garbage`",
            ),
            (
                r#"userName eq "x")"#,
                "expected `and`, `or` or end of input at offset 15, found `)`",
            ),
            (
                r#"(userName eq "x""#,
                "expected `and`, `or` or `)` at offset 16, found end of input",
            ),
            (
                r#"emails[type eq "work""#,
                "expected `and`, `or` or `]` at offset 21, found end of input",
            ),
            (
                r#"emails[type eq "work") "#,
                "expected `and`, `or` or `]` at offset 21, found `)`",
            ),
            (
                "a pr and",
                "expected an attribute path, `(` or `not (` at offset 8, found end of input",
            ),
            (
                "a pr and )",
                "expected an attribute path, `(` or `not (` at offset 9, found `)`",
            ),
            (
                "1abc eq 1",
                "expected an attribute path, `(` or `not (` at offset 0, found `1abc`",
            ),
            (
                r#""x" eq 1"#,
                "expected an attribute path, `(` or `not (` at offset 0, found `\"x\"`",
            ),
            (
                "not a pr",
                "expected `(` after `not` at offset 4, found `a`",
            ),
            (
                "title",
                "expected a comparison operator at offset 5, found end of input",
            ),
            (
                "title (",
                "expected a comparison operator at offset 6, found `(`",
            ),
            (
                r#"emails[type eq "work"].value eq "x""#,
                "expected `and`, `or` or end of input at offset 22, found `.value`",
            ),
            (
                r"emails[type[value eq 1]]",
                "a value path cannot contain another value path (offset 11)",
            ),
            (
                r"emails[(type[value eq 1])]",
                "a value path cannot contain another value path (offset 12)",
            ),
            (
                r#"userName eq "bjensen"#,
                "unterminated string starting at offset 12",
            ),
            (
                r#"userName eq "bjensen\"#,
                "unterminated string starting at offset 12",
            ),
            (
                r#"a eq "x\qy""#,
                "invalid string at offset 7: unknown escape sequence",
            ),
            (
                "a eq \"x\u{1}y\"",
                "invalid string at offset 7: control characters must be escaped",
            ),
            (
                r#"a eq "\u12""#,
                "invalid string at offset 6: `\\u` must be followed by four hex digits",
            ),
            (
                r#"a eq "\u+123""#,
                "invalid string at offset 6: `\\u` must be followed by four hex digits",
            ),
            (
                r#"a eq "\ud800""#,
                "invalid string at offset 6: unpaired UTF-16 surrogate in `\\u` escape",
            ),
            (
                r#"a eq "\ud800\u0041""#,
                "invalid string at offset 6: unpaired UTF-16 surrogate in `\\u` escape",
            ),
            (
                r#"a eq "\udc00""#,
                "invalid string at offset 6: unpaired UTF-16 surrogate in `\\u` escape",
            ),
            ("", "the expression is empty"),
            (" \t\n", "the expression is empty"),
        ];
        for (input, message) in cases {
            assert_eq!(err(input).to_string(), *message, "{input}");
        }
        assert_eq!(
            err(r#"userName eqq "bjensen""#),
            FilterError::Unexpected {
                offset: 9,
                expected: "a comparison operator",
                found: Some("`eqq`".into()),
            }
        );
        assert_eq!(err(r#"userName eqq "bjensen""#).offset(), Some(9));
        assert_eq!(err("").offset(), None);
    }

    #[test]
    fn long_tokens_are_shortened_in_errors() {
        let word = "x".repeat(100);
        let message = err(&format!("a eqq{word}")).to_string();
        assert!(
            message.ends_with(&format!("found `eqq{}…`", "x".repeat(29))),
            "{message}"
        );
    }

    #[test]
    fn nesting_is_limited() {
        let nested = |levels: usize| format!("{}a pr{}", "(".repeat(levels), ")".repeat(levels));
        assert_eq!(parse(&nested(MAX_DEPTH)), pr("a"));
        assert_eq!(
            err(&nested(MAX_DEPTH + 1)),
            FilterError::TooDeep {
                offset: MAX_DEPTH,
                limit: MAX_DEPTH
            }
        );
        let nots = |levels: usize| format!("{}a pr{}", "not (".repeat(levels), ")".repeat(levels));
        assert!(Filter::parse(&nots(MAX_DEPTH)).is_ok());
        assert!(matches!(
            err(&nots(MAX_DEPTH + 1)),
            FilterError::TooDeep { .. }
        ));
        // Far past the limit: refused, not a stack overflow.
        assert!(matches!(
            err(&"(".repeat(MAX_INPUT_LEN)),
            FilterError::TooDeep { .. }
        ));
        assert!(matches!(
            err(&"not (".repeat(1000)),
            FilterError::TooDeep { .. }
        ));
    }

    #[test]
    fn length_is_limited() {
        let fits = format!("a eq \"{}\"", "x".repeat(MAX_INPUT_LEN - 7));
        assert_eq!(fits.len(), MAX_INPUT_LEN);
        assert!(Filter::parse(&fits).is_ok());
        let too_long = format!("a eq \"{}\"", "x".repeat(MAX_INPUT_LEN - 6));
        assert_eq!(
            err(&too_long),
            FilterError::TooLong {
                len: MAX_INPUT_LEN + 1,
                limit: MAX_INPUT_LEN
            }
        );
    }

    #[test]
    fn the_longest_chain_is_safe_to_print_evaluate_and_drop() {
        // `and` chains are loops in the parser but make a left-deep tree; the input limit
        // bounds that tree's depth. Everything that walks it must cope on a test thread's
        // default stack.
        let mut text = String::from("a pr");
        while text.len() + 9 <= MAX_INPUT_LEN {
            text.push_str(" or a pr");
        }
        let filter = parse(&text);
        assert_eq!(filter.to_string(), text);
        let rules = super::super::DefaultRules;
        assert!(!filter.matches(&serde_json::json!({}), &rules));
        assert!(filter.matches(&serde_json::json!({"a": 1}), &rules));
        assert_eq!(filter.clone(), filter);
        drop(filter);
    }

    /// `Unexpected` at `offset`, where `expected` was wanted and `found` was there.
    fn unexpected(offset: usize, expected: &'static str, found: Option<&str>) -> FilterError {
        FilterError::Unexpected {
            offset,
            expected,
            found: found.map(|f| format!("`{f}`")),
        }
    }

    #[test]
    fn odd_inputs_get_precise_answers_from_every_parser() {
        // What each of the three entry points says about inputs a fuzzer or a careless
        // client sends: the filter, PATCH path and attribute path grammars differ, so the
        // same text fails at different places, or parses as a plain attribute path.
        const TERM: &str = "an attribute path, `(` or `not (`";
        const PATH: &str = "an attribute path";
        const END: &str = "end of input";
        const BRACKET_OR_END: &str = "`[` or end of input";
        let u = unexpected;
        let a = |name: &str| AttrPath::new(name);
        #[allow(clippy::type_complexity)]
        let cases: Vec<(
            &str,
            Result<Filter, FilterError>,
            Result<PatchPath, FilterError>,
            Result<AttrPath, FilterError>,
        )> = vec![
            (
                "\"",
                Err(FilterError::UnterminatedString { offset: 0 }),
                Err(FilterError::UnterminatedString { offset: 0 }),
                Err(FilterError::UnterminatedString { offset: 0 }),
            ),
            (
                "\\",
                Err(u(0, TERM, Some("\\"))),
                Err(u(0, PATH, Some("\\"))),
                Err(u(0, PATH, Some("\\"))),
            ),
            (
                "[",
                Err(u(0, TERM, Some("["))),
                Err(u(0, PATH, Some("["))),
                Err(u(0, PATH, Some("["))),
            ),
            (
                "]",
                Err(u(0, TERM, Some("]"))),
                Err(u(0, PATH, Some("]"))),
                Err(u(0, PATH, Some("]"))),
            ),
            (
                "(",
                Err(u(1, TERM, None)),
                Err(u(0, PATH, Some("("))),
                Err(u(0, PATH, Some("("))),
            ),
            (
                ")",
                Err(u(0, TERM, Some(")"))),
                Err(u(0, PATH, Some(")"))),
                Err(u(0, PATH, Some(")"))),
            ),
            (
                "é",
                Err(u(0, TERM, Some("é"))),
                Err(u(0, PATH, Some("é"))),
                Err(u(0, PATH, Some("é"))),
            ),
            (
                "a eq \"\\u",
                Err(FilterError::InvalidString {
                    offset: 6,
                    reason: "`\\u` must be followed by four hex digits",
                }),
                Err(u(2, BRACKET_OR_END, Some("eq"))),
                Err(u(2, END, Some("eq"))),
            ),
            (
                "a eq \"\\ud83d\\u",
                Err(FilterError::InvalidString {
                    offset: 6,
                    reason: "unpaired UTF-16 surrogate in `\\u` escape",
                }),
                Err(u(2, BRACKET_OR_END, Some("eq"))),
                Err(u(2, END, Some("eq"))),
            ),
            (
                "a eq \"\\",
                Err(FilterError::UnterminatedString { offset: 5 }),
                Err(u(2, BRACKET_OR_END, Some("eq"))),
                Err(u(2, END, Some("eq"))),
            ),
            (
                "a[",
                Err(u(2, TERM, None)),
                Err(u(2, TERM, None)),
                Err(u(1, END, Some("["))),
            ),
            (
                "a[]",
                Err(u(2, TERM, Some("]"))),
                Err(u(2, TERM, Some("]"))),
                Err(u(1, END, Some("["))),
            ),
            (
                "a[b pr",
                Err(u(6, "`and`, `or` or `]`", None)),
                Err(u(6, "`and`, `or` or `]`", None)),
                Err(u(1, END, Some("["))),
            ),
            (
                "a[b pr]]",
                Err(u(7, "`and`, `or` or end of input", Some("]"))),
                Err(u(
                    7,
                    "`.` and a sub-attribute name, or end of input",
                    Some("]"),
                )),
                Err(u(1, END, Some("["))),
            ),
            (
                "a eq -",
                Err(FilterError::InvalidNumber {
                    offset: 5,
                    found: "`-`".into(),
                }),
                Err(u(2, BRACKET_OR_END, Some("eq"))),
                Err(u(2, END, Some("eq"))),
            ),
            (
                "😀 eq 1",
                Err(u(0, TERM, Some("😀"))),
                Err(u(0, PATH, Some("😀"))),
                Err(u(0, PATH, Some("😀"))),
            ),
            (
                "a eq 😀",
                Err(u(
                    5,
                    "a value (a JSON string, number, true, false or null)",
                    Some("😀"),
                )),
                Err(u(2, BRACKET_OR_END, Some("eq"))),
                Err(u(2, END, Some("eq"))),
            ),
            (
                "a:😀 pr",
                Err(u(0, TERM, Some("a:😀"))),
                Err(u(0, PATH, Some("a:😀"))),
                Err(u(0, PATH, Some("a:😀"))),
            ),
            (
                "urn:é:a pr",
                Err(u(0, TERM, Some("urn:é:a"))),
                Err(u(0, PATH, Some("urn:é:a"))),
                Err(u(0, PATH, Some("urn:é:a"))),
            ),
            // DEL is not a control character JSON strings must escape.
            (
                "a eq \"\u{7f}\"",
                Ok(cmp(a("a"), CompareOp::Eq, s("\u{7f}"))),
                Err(u(2, BRACKET_OR_END, Some("eq"))),
                Err(u(2, END, Some("eq"))),
            ),
            (
                "\u{0}",
                Err(u(0, TERM, Some("\u{0}"))),
                Err(u(0, PATH, Some("\u{0}"))),
                Err(u(0, PATH, Some("\u{0}"))),
            ),
            (
                "a\u{0}b pr",
                Err(u(0, TERM, Some("a\u{0}b"))),
                Err(u(0, PATH, Some("a\u{0}b"))),
                Err(u(0, PATH, Some("a\u{0}b"))),
            ),
            // `not` is a keyword only before `(`; alone it is an attribute name.
            (
                "not",
                Err(u(3, "a comparison operator", None)),
                Ok(PatchPath::Attr(a("not"))),
                Ok(a("not")),
            ),
            (
                "not (",
                Err(u(5, TERM, None)),
                Err(u(4, BRACKET_OR_END, Some("("))),
                Err(u(4, END, Some("("))),
            ),
            (
                "not ()",
                Err(u(5, TERM, Some(")"))),
                Err(u(4, BRACKET_OR_END, Some("("))),
                Err(u(4, END, Some("("))),
            ),
            (
                "()",
                Err(u(1, TERM, Some(")"))),
                Err(u(0, PATH, Some("("))),
                Err(u(0, PATH, Some("("))),
            ),
            (
                "a.b.c pr",
                Err(u(0, TERM, Some("a.b.c"))),
                Err(u(0, PATH, Some("a.b.c"))),
                Err(u(0, PATH, Some("a.b.c"))),
            ),
        ];
        for (input, filter, patch_path, attr_path) in cases {
            assert_eq!(Filter::parse(input), filter, "filter {input:?}");
            assert_eq!(
                PatchPath::parse(input).map_err(|e| e.syntax_error().clone()),
                patch_path,
                "PATCH path {input:?}"
            );
            assert_eq!(
                AttrPath::parse(input),
                attr_path,
                "attribute path {input:?}"
            );
        }
    }

    #[test]
    fn patch_paths() {
        let p = |s: &str| match PatchPath::parse(s) {
            Ok(p) => p,
            Err(e) => panic!("{s:?}: {e}"),
        };
        assert_eq!(
            p("displayName"),
            PatchPath::Attr(AttrPath::new("displayName"))
        );
        assert_eq!(
            p("name.familyName"),
            PatchPath::Attr(AttrPath::new("name").with_sub("familyName"))
        );
        assert_eq!(
            p(&format!("{ENTERPRISE}:manager")),
            PatchPath::Attr(AttrPath::new("manager").with_urn(ENTERPRISE))
        );
        assert_eq!(
            p(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#),
            PatchPath::ValuePath {
                path: AttrPath::new("members"),
                filter: Box::new(cmp(
                    AttrPath::new("value"),
                    CompareOp::Eq,
                    s("2819c223-7f76-453a-919d-413861904646")
                )),
                sub: None,
            }
        );
        assert_eq!(
            p(r#"emails[type eq "work"].value"#),
            PatchPath::ValuePath {
                path: AttrPath::new("emails"),
                filter: Box::new(cmp(AttrPath::new("type"), CompareOp::Eq, s("work"))),
                sub: Some("value".into()),
            }
        );
        for text in [
            "displayName",
            r#"emails[type eq "work" and primary eq true].value"#,
            r#"addresses[type eq "work"].streetAddress"#,
            r#"members[value eq "x" or not (display pr)]"#,
        ] {
            assert_eq!(p(text).to_string(), text);
            assert_eq!(p(&p(text).to_string()), p(text));
        }
    }

    #[test]
    fn patch_path_errors() {
        let e = |s: &str| match PatchPath::parse(s) {
            Ok(p) => panic!("{s:?} parsed as {p:?}"),
            Err(e) => e,
        };
        let cases: &[(&str, &str)] = &[
            ("", "invalid path: the expression is empty"),
            (
                "emails pr",
                "invalid path: expected `[` or end of input at offset 7, found `pr`",
            ),
            (
                r#"emails[type eq "work"] .value"#,
                "invalid path: expected `.` and a sub-attribute name, or end of input at offset 23, found `.value`",
            ),
            (
                r#"emails[type eq "work"]."#,
                "invalid path: expected a sub-attribute name after `.` at offset 22, found `.`",
            ),
            (
                r#"emails[type eq "work"].value.x"#,
                "invalid path: expected a sub-attribute name after `.` at offset 22, found `.value.x`",
            ),
            (
                r#"emails[type eq "work"].value x"#,
                "invalid path: expected end of input at offset 29, found `x`",
            ),
            (
                r#"emails[type eq "work""#,
                "invalid path: expected `and`, `or` or `]` at offset 21, found end of input",
            ),
            (
                r"emails[type[value eq 1]]",
                "invalid path: a value path cannot contain another value path (offset 11)",
            ),
            (
                "1x",
                "invalid path: expected an attribute path at offset 0, found `1x`",
            ),
            (
                r"(emails)",
                "invalid path: expected an attribute path at offset 0, found `(`",
            ),
        ];
        for (input, message) in cases {
            assert_eq!(e(input).to_string(), *message, "{input}");
        }
        assert_eq!(e("emails pr").offset(), Some(7));
    }
}
