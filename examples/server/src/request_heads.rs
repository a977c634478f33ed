//! Request heads that hyper would refuse on its own, answered in the API's and SCIM's
//! error shapes instead.
//!
//! hyper parses each HTTP/1 request head before any layer of ours runs, and answers a
//! head it cannot accept with a bare status and an empty body: 414 for a request target
//! over 65534 bytes, 400 for a control character in a header value (an `If-Match`, say)
//! or a malformed request line, 431 for a head too large. Those answers bypass
//! [`shape_errors`](crate::error::shape_errors), so a client of `/api/v1` or `/scim/v2`
//! would get an error that is neither the API's JSON nor a SCIM error.
//!
//! [`listener`] wraps each accepted connection in a [`GuardedIo`] that reads every
//! request head first, with the parser hyper uses (`httparse`) and hyper's limits. A head
//! hyper would refuse, sent to one of the two prefixes, is never given to hyper: in its
//! place hyper reads a small request to that prefix carrying a [`Refusal`] in a marker
//! header (with a per-process secret, so no client can forge one), and the error layer
//! answers it in the prefix's shape, with `Connection: close`. Heads elsewhere, and the
//! heads hyper accepts, pass through byte for byte. To find where the next head starts,
//! the wrapper follows each request's framing (`Content-Length`, chunked); on anything it
//! does not follow (an upgrade, contradictory framing), it stops looking and passes the
//! rest of the connection through, leaving it to hyper as before.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, ready};

use axum::http::{HeaderMap, Uri};
use axum::serve::{Listener, ListenerExt as _, TapIo};
use butterfly_core::token::RawToken;
use subtle::ConstantTimeEq as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// hyper's limit on a request target (`MAX_URI_LEN` in hyper's HTTP/1 parser).
pub const MAX_TARGET_BYTES: usize = (u16::MAX - 1) as usize;
/// hyper's default read buffer limit, which bounds a request head: past it hyper answers
/// 431. The same bound here keeps what hyper accepts unchanged.
pub const MAX_HEAD_BYTES: usize = 8192 + 4096 * 100;
/// hyper's default limit on the number of headers (more is a 431).
const MAX_HEADERS: usize = 100;
/// The longest chunk-size line or trailer section followed; longer, and the wrapper
/// stops following the connection (hyper decides).
const MAX_CHUNK_LINE_BYTES: usize = 4096;
/// The marker header of a substituted request.
pub const REFUSAL_HEADER: &str = "x-butterfly-refused-head";

/// Why a request head was refused before the router.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The request target is longer than [`MAX_TARGET_BYTES`] (414).
    TargetTooLong,
    /// The head is larger than [`MAX_HEAD_BYTES`], or has too many headers (431).
    HeadTooLarge,
    /// A header line is malformed: a control character in a value, or a name that is not
    /// a token (400). The header's name, when it has a readable one.
    BadHeader(Option<String>),
    /// The request line is malformed (400).
    BadRequestLine,
    /// The request target is not a URI (400).
    BadTarget,
}

impl Refusal {
    /// The HTTP status hyper would have answered.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::TargetTooLong => 414,
            Refusal::HeadTooLarge => 431,
            Refusal::BadHeader(_) | Refusal::BadRequestLine | Refusal::BadTarget => 400,
        }
    }

    /// What the client is told.
    pub fn message(&self) -> String {
        match self {
            Refusal::TargetTooLong => {
                format!("the request target is longer than {MAX_TARGET_BYTES} bytes")
            }
            Refusal::HeadTooLarge => format!(
                "the request head is larger than {MAX_HEAD_BYTES} bytes or has more than \
                 {MAX_HEADERS} headers"
            ),
            Refusal::BadHeader(Some(name)) => format!(
                "the {name} header has characters a header value may not have (control \
                 characters)"
            ),
            Refusal::BadHeader(None) => "a header line is malformed".to_owned(),
            Refusal::BadRequestLine => "the request line is malformed".to_owned(),
            Refusal::BadTarget => "the request target is not a valid URI".to_owned(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Refusal::TargetTooLong => "target_too_long",
            Refusal::HeadTooLarge => "head_too_large",
            Refusal::BadHeader(_) => "bad_header",
            Refusal::BadRequestLine => "bad_request_line",
            Refusal::BadTarget => "bad_target",
        }
    }

    /// The substituted request hyper reads instead of the refused head: `GET prefix`,
    /// closing the connection, with the marker.
    fn substitute(&self, prefix: &str) -> Vec<u8> {
        let name = match self {
            Refusal::BadHeader(Some(name)) => format!(" {name}"),
            _ => String::new(),
        };
        format!(
            "GET {prefix} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
             {REFUSAL_HEADER}: {} {}{name}\r\n\r\n",
            secret(),
            self.code()
        )
        .into_bytes()
    }

    /// The refusal a substituted request carries, if `headers` has a marker with this
    /// process's secret. A marker a client wrote itself is ignored.
    pub fn from_headers(headers: &HeaderMap) -> Option<Refusal> {
        let value = headers.get(REFUSAL_HEADER)?.to_str().ok()?;
        let mut words = value.split(' ');
        let presented = words.next()?;
        if !bool::from(presented.as_bytes().ct_eq(secret().as_bytes())) {
            return None;
        }
        let refusal = match words.next()? {
            "target_too_long" => Refusal::TargetTooLong,
            "head_too_large" => Refusal::HeadTooLarge,
            "bad_header" => Refusal::BadHeader(words.next().map(str::to_owned)),
            "bad_request_line" => Refusal::BadRequestLine,
            "bad_target" => Refusal::BadTarget,
            _ => return None,
        };
        Some(refusal)
    }
}

/// The per-process secret of the marker header: random, never leaves the process.
fn secret() -> &'static str {
    static SECRET: OnceLock<String> = OnceLock::new();
    SECRET.get_or_init(|| RawToken::generate("").secret().to_owned())
}

/// Accepts TCP connections wrapped in [`GuardedIo`].
#[derive(Debug)]
pub struct GuardedListener {
    inner: TcpListener,
}

impl Listener for GuardedListener {
    type Io = GuardedIo<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, peer) = Listener::accept(&mut self.inner).await;
        (GuardedIo::new(stream), peer)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// What [`listener`] returns: the guarded listener, seen through axum's `TapIo` so that
/// `ConnectInfo<SocketAddr>` works as with a bare `TcpListener` (axum implements it for
/// `TapIo` of any listener).
pub type Guarded = TapIo<GuardedListener, fn(&mut GuardedIo<TcpStream>)>;

/// `tcp`, with every connection's request heads read by [`GuardedIo`]; serve it with
/// `axum::serve`.
pub fn listener(tcp: TcpListener) -> Guarded {
    fn untouched(_: &mut GuardedIo<TcpStream>) {}
    GuardedListener { inner: tcp }.tap_io(untouched as fn(&mut GuardedIo<TcpStream>))
}

/// A connection whose request heads are checked before hyper reads them (see the module
/// documentation). Writes pass straight through.
#[derive(Debug)]
pub struct GuardedIo<T> {
    inner: T,
    tracker: Tracker,
    /// Read from the client, not yet given to hyper.
    pending: Vec<u8>,
    /// Ready for hyper, from `out_at` on.
    out: Vec<u8>,
    out_at: usize,
    eof: bool,
}

impl<T> GuardedIo<T> {
    /// Wrap a connection.
    pub fn new(inner: T) -> GuardedIo<T> {
        GuardedIo {
            inner,
            tracker: Tracker::default(),
            pending: Vec::new(),
            out: Vec::new(),
            out_at: 0,
            eof: false,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GuardedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.out_at < this.out.len() {
                let n = buf.remaining().min(this.out.len() - this.out_at);
                buf.put_slice(&this.out[this.out_at..this.out_at + n]);
                this.out_at += n;
                if this.out_at == this.out.len() {
                    this.out.clear();
                    this.out_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            match this.tracker.state {
                // hyper answers the substituted request and closes; nothing after the
                // refused head is request data it could frame.
                // Whatever the client sends after it is read and dropped, so its close
                // still reaches hyper as end-of-file (a `Pending` that never wakes would
                // hold the connection and its task for ever).
                State::Refused => {
                    let mut chunk = [0u8; 8192];
                    let mut read = ReadBuf::new(&mut chunk);
                    ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
                    if read.filled().is_empty() {
                        return Poll::Ready(Ok(()));
                    }
                    continue;
                }
                State::PassThrough if this.pending.is_empty() => {
                    return Pin::new(&mut this.inner).poll_read(cx, buf);
                }
                _ if this.eof => return Poll::Ready(Ok(())),
                _ => {}
            }
            let mut chunk = [0u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                // The client is done: whatever it sent goes to hyper as it is.
                this.eof = true;
                this.out.append(&mut this.pending);
                continue;
            }
            this.pending.extend_from_slice(read.filled());
            this.tracker.feed(&mut this.pending, &mut this.out);
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GuardedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Where the connection is in its stream of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Collecting a request head.
    #[default]
    Head,
    /// This many body bytes left.
    Body(u64),
    /// A chunked body: expecting a chunk-size line.
    ChunkSize,
    /// A chunked body: this many chunk data bytes left, then CRLF.
    ChunkData(u64),
    /// A chunked body: the CRLF after a chunk's data (bytes still expected).
    ChunkEnd(u64),
    /// A chunked body: trailer lines until an empty one.
    Trailers,
    /// Not followed any more: everything goes to hyper as it comes.
    PassThrough,
    /// A refused head was replaced; nothing more goes to hyper.
    Refused,
}

/// Follows the request framing: moves bytes from `pending` to `out`, checking heads.
#[derive(Debug, Default)]
struct Tracker {
    state: State,
    /// Bytes of the current trailer section (bounded).
    trailer_bytes: usize,
}

impl Tracker {
    fn feed(&mut self, pending: &mut Vec<u8>, out: &mut Vec<u8>) {
        loop {
            let progressed = match self.state {
                State::Head => self.head(pending, out),
                State::Body(left) => {
                    let n = take(pending, out, left);
                    self.state = if n == left {
                        State::Head
                    } else {
                        State::Body(left - n)
                    };
                    n > 0
                }
                State::ChunkSize => match line_end(pending) {
                    Some(end) => match httparse::parse_chunk_size(&pending[..end]) {
                        Ok(httparse::Status::Complete((_, size))) => {
                            out.extend(pending.drain(..end));
                            self.trailer_bytes = 0;
                            self.state = if size == 0 {
                                State::Trailers
                            } else {
                                State::ChunkData(size)
                            };
                            true
                        }
                        _ => self.give_up(pending, out),
                    },
                    None if pending.len() > MAX_CHUNK_LINE_BYTES => self.give_up(pending, out),
                    None => false,
                },
                State::ChunkData(left) => {
                    let n = take(pending, out, left);
                    self.state = if n == left {
                        State::ChunkEnd(2)
                    } else {
                        State::ChunkData(left - n)
                    };
                    n > 0
                }
                State::ChunkEnd(left) => {
                    let n = take(pending, out, left);
                    self.state = if n == left {
                        State::ChunkSize
                    } else {
                        State::ChunkEnd(left - n)
                    };
                    n > 0
                }
                State::Trailers => match line_end(pending) {
                    Some(end) => {
                        // hyper ends the trailers only at CRLF CRLF; a bare LF would
                        // make the two of us frame the stream differently, so stop
                        // following it and leave the connection to hyper.
                        if pending[..end].ends_with(b"\r\n") {
                            let empty = pending[..end] == *b"\r\n";
                            self.trailer_bytes += end;
                            out.extend(pending.drain(..end));
                            if empty {
                                self.state = State::Head;
                            } else if self.trailer_bytes > MAX_CHUNK_LINE_BYTES {
                                self.give_up(pending, out);
                            }
                            true
                        } else {
                            self.give_up(pending, out)
                        }
                    }
                    None if pending.len() > MAX_CHUNK_LINE_BYTES => self.give_up(pending, out),
                    None => false,
                },
                State::PassThrough => {
                    out.append(pending);
                    false
                }
                State::Refused => {
                    pending.clear();
                    false
                }
            };
            if !progressed || pending.is_empty() {
                return;
            }
        }
    }

    /// Stop following: hyper gets everything as it comes.
    fn give_up(&mut self, pending: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
        self.state = State::PassThrough;
        out.append(pending);
        false
    }

    /// Check the head at the start of `pending`. Returns whether bytes moved.
    fn head(&mut self, pending: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let verdict = match request.parse(pending) {
            Ok(httparse::Status::Partial) if pending.len() > MAX_HEAD_BYTES => {
                Err(Refusal::HeadTooLarge)
            }
            Ok(httparse::Status::Partial) => return false,
            Ok(httparse::Status::Complete(len)) => check_complete(&request).map(|next| (len, next)),
            Err(httparse::Error::TooManyHeaders) => Err(Refusal::HeadTooLarge),
            Err(httparse::Error::HeaderName | httparse::Error::HeaderValue) => {
                Err(Refusal::BadHeader(offending_header(pending)))
            }
            Err(_) => Err(Refusal::BadRequestLine),
        };
        match verdict {
            Ok((len, next)) => {
                out.extend(pending.drain(..len));
                self.state = next;
                true
            }
            Err(refusal) => match crate::error::shaped_prefix(&path_of(target_of(pending))) {
                Some(prefix) => {
                    tracing::debug!(
                        status = refusal.status(),
                        reason = refusal.code(),
                        "request head refused"
                    );
                    out.extend(refusal.substitute(prefix));
                    pending.clear();
                    self.state = State::Refused;
                    true
                }
                // Elsewhere hyper answers as it always has.
                None => self.give_up(pending, out),
            },
        }
    }
}

/// What follows an accepted head, or why hyper would refuse it.
fn check_complete(request: &httparse::Request<'_, '_>) -> Result<State, Refusal> {
    let target = request.path.unwrap_or_default();
    if target.len() > MAX_TARGET_BYTES {
        return Err(Refusal::TargetTooLong);
    }
    if target.parse::<Uri>().is_err() {
        return Err(Refusal::BadTarget);
    }
    let mut content_length: Option<&[u8]> = None;
    let mut chunked = None;
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("upgrade") {
            return Ok(State::PassThrough);
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if chunked.is_some() {
                return Ok(State::PassThrough);
            }
            chunked = Some(
                header
                    .value
                    .rsplit(|b| *b == b',')
                    .next()
                    .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked")),
            );
        } else if name.eq_ignore_ascii_case("content-length") {
            match content_length {
                Some(seen) if seen != header.value => return Ok(State::PassThrough),
                _ => content_length = Some(header.value),
            }
        }
    }
    if request.method == Some("CONNECT") {
        return Ok(State::PassThrough);
    }
    Ok(match (chunked, content_length) {
        (Some(true), None) => State::ChunkSize,
        (Some(_), _) => State::PassThrough,
        (None, None) => State::Head,
        (None, Some(value)) => match std::str::from_utf8(value)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
        {
            Some(0) => State::Head,
            Some(n) => State::Body(n),
            None => State::PassThrough,
        },
    })
}

/// Move up to `limit` bytes from `pending` to `out`; how many moved.
fn take(pending: &mut Vec<u8>, out: &mut Vec<u8>, limit: u64) -> u64 {
    let n = usize::try_from(limit).map_or(pending.len(), |l| l.min(pending.len()));
    out.extend(pending.drain(..n));
    n as u64
}

/// The length of the first line, its `\n` included.
fn line_end(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| *b == b'\n').map(|i| i + 1)
}

/// The request target of a head, as far as it was sent (possibly cut short).
fn target_of(head: &[u8]) -> &[u8] {
    let start = head
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(head.len());
    let line = &head[start..];
    let line = &line[..line.iter().position(|b| *b == b'\n').unwrap_or(line.len())];
    let Some(space) = line.iter().position(|b| *b == b' ') else {
        return &[];
    };
    let rest = &line[space + 1..];
    &rest[..rest
        .iter()
        .position(|b| *b == b' ' || *b == b'\r')
        .unwrap_or(rest.len())]
}

/// The path of a request target (origin or absolute form), without query.
fn path_of(target: &[u8]) -> String {
    let target = String::from_utf8_lossy(target);
    let path = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => &target,
    };
    path.split(['?', '#']).next().unwrap_or_default().to_owned()
}

/// The name of the first header line with a character a value may not have, if the
/// name is a readable token.
fn offending_header(head: &[u8]) -> Option<String> {
    let mut lines = head
        .split(|b| *b == b'\n')
        .skip_while(|l| l.is_empty() || *l == b"\r");
    lines.next()?;
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return None;
        }
        let bad = line
            .iter()
            .any(|b| (*b < 0x20 && *b != b'\t') || *b == 0x7f);
        let (name, _) = line.split_at(line.iter().position(|b| *b == b':').unwrap_or(0));
        let readable = !name.is_empty()
            && name.len() <= 64
            && name
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b));
        if bad || !readable {
            return readable.then(|| String::from_utf8_lossy(name).into_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> (Vec<u8>, State) {
        let mut tracker = Tracker::default();
        let mut pending = Vec::new();
        let mut out = Vec::new();
        for chunk in chunks {
            pending.extend_from_slice(chunk);
            tracker.feed(&mut pending, &mut out);
        }
        (out, tracker.state)
    }

    fn marker(out: &[u8]) -> Option<Refusal> {
        let text = String::from_utf8_lossy(out);
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{REFUSAL_HEADER}: ")))?;
        let mut headers = HeaderMap::new();
        headers.insert(REFUSAL_HEADER, value.parse().ok()?);
        Refusal::from_headers(&headers)
    }

    #[test]
    fn good_requests_pass_byte_for_byte_across_keep_alive_and_framing() {
        let stream: &[&[u8]] = &[
            b"GET /api/v1/members HTTP/1.1\r\nhost: x\r\n\r\n",
            b"POST /api/v1/members HTTP/1.1\r\ncontent-length: 5\r\n\r\nhel",
            b"lo",
            b"POST /scim/v2/Users HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nab",
            b"c\r\n0\r\nx-trailer: 1\r\n\r\n",
            b"GET /scim/v2/Users HTTP/1.1\r\n\r\n",
        ];
        let (out, state) = run(stream);
        assert_eq!(out, stream.concat());
        assert_eq!(state, State::Head);
    }

    #[test]
    fn a_control_byte_in_if_match_is_replaced_by_a_marked_request_to_the_same_api() {
        // After a good request on the same connection, so the framing was followed.
        let (out, state) = run(&[
            b"POST /api/v1/x HTTP/1.1\r\ncontent-length: 2\r\n\r\nok",
            b"DELETE /scim/v2/Users/1 HTTP/1.1\r\nIf-Match: W/\"\x01\"\r\n\r\n",
        ]);
        assert_eq!(state, State::Refused);
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("POST /api/v1/x HTTP/1.1\r\ncontent-length: 2\r\n\r\nok"));
        assert!(text.contains("GET /scim/v2 HTTP/1.1\r\n"), "{text}");
        assert!(text.contains("connection: close\r\n"), "{text}");
        assert_eq!(
            marker(&out),
            Some(Refusal::BadHeader(Some("If-Match".into())))
        );
    }

    #[test]
    fn an_overlong_target_is_refused_once_the_head_is_complete() {
        let long = format!("GET /api/v1/members?x={} HTTP/1.1\r\n", "a".repeat(70_000));
        let (out, state) = run(&[long.as_bytes()]);
        assert!(out.is_empty(), "nothing before the head is complete");
        assert_eq!(state, State::Head);
        let (out, state) = run(&[long.as_bytes(), b"host: x\r\n\r\n"]);
        assert_eq!(state, State::Refused);
        assert!(String::from_utf8_lossy(&out).starts_with("GET /api/v1 HTTP/1.1"));
        assert_eq!(marker(&out), Some(Refusal::TargetTooLong));
    }

    #[test]
    fn a_bare_lf_in_trailers_stops_the_following() {
        // hyper reads trailers up to CRLF CRLF, so what follows `0\r\n\n` is still
        // trailer bytes to it: checking them as a head would frame differently.
        let stream: &[&[u8]] = &[
            b"POST /scim/v2/Users HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\n",
            b"DELETE /scim/v2/Users/1 HTTP/1.1\r\nIf-Match: W/\"\x01\"\r\n\r\n",
        ];
        let (out, state) = run(stream);
        assert_eq!(state, State::PassThrough);
        assert_eq!(out, stream.concat(), "handed to hyper as it came");
    }

    #[test]
    fn heads_outside_the_two_apis_are_left_to_hyper() {
        let head: &[u8] = b"GET /healthz HTTP/1.1\r\nIf-Match: \x01\r\n\r\n";
        let (out, state) = run(&[head]);
        assert_eq!(out, head);
        assert_eq!(state, State::PassThrough);
    }

    #[test]
    fn contradictory_framing_stops_the_following() {
        let head: &[u8] =
            b"POST /api/v1/x HTTP/1.1\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabc";
        let (out, state) = run(&[head]);
        assert_eq!(out, head);
        assert_eq!(state, State::PassThrough);
    }

    #[test]
    fn a_forged_marker_is_ignored() {
        let mut headers = HeaderMap::new();
        headers.insert(REFUSAL_HEADER, "guess target_too_long".parse().unwrap());
        assert_eq!(Refusal::from_headers(&headers), None);
    }

    /// One well-formed request: a body by length, a chunked body, or none.
    fn request() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let path = prop::sample::select(vec!["/api/v1/members", "/scim/v2/Users", "/healthz"]);
        let body = prop::collection::vec(any::<u8>(), 0..64);
        let chunks = prop::collection::vec(prop::collection::vec(any::<u8>(), 1..20), 0..4);
        prop_oneof![
            (path.clone(), body).prop_map(|(path, body)| {
                let mut r = format!(
                    "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend(body);
                r
            }),
            (path.clone(), chunks).prop_map(|(path, chunks)| {
                let mut r = format!("PUT {path} HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n")
                    .into_bytes();
                for chunk in chunks {
                    r.extend(format!("{:x};ext=1\r\n", chunk.len()).into_bytes());
                    r.extend(chunk);
                    r.extend(b"\r\n");
                }
                r.extend(b"0\r\nx-sum: 1\r\n\r\n");
                r
            }),
            path.prop_map(|path| format!("\r\nGET {path}?q=1 HTTP/1.1\r\n\r\n").into_bytes()),
        ]
    }

    proptest::proptest! {
        /// Requests hyper accepts reach it byte for byte, however the stream is cut,
        /// and the guard ends waiting for the next head.
        #[test]
        fn well_formed_streams_pass_unchanged(
            requests in proptest::collection::vec(request(), 1..6),
            cuts in proptest::collection::vec(0usize..400, 0..12),
        ) {
            let stream = requests.concat();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut at = 0;
            for cut in cuts.into_iter().chain([stream.len()]) {
                pieces.push(&stream[at..cut]);
                at = cut;
            }
            let (out, state) = run(&pieces);
            proptest::prop_assert_eq!(out, stream);
            proptest::prop_assert_eq!(state, State::Head);
        }

        /// Any bytes at all: no panic, and nothing is invented except a marked request
        /// that replaces a refused head.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let (out, state) = run(&[&bytes]);
            if state != State::Refused {
                proptest::prop_assert!(bytes.starts_with(&out));
            }
        }
    }

    #[test]
    fn targets_and_paths_are_read_from_partial_heads() {
        assert_eq!(
            target_of(b"\r\nGET /scim/v2/Users?x HTTP/1.1\r\n"),
            b"/scim/v2/Users?x"
        );
        assert_eq!(target_of(b"GET /api/v1/mem"), b"/api/v1/mem");
        assert_eq!(path_of(b"http://h:1/api/v1/x?y"), "/api/v1/x");
        assert_eq!(path_of(b"/scim/v2#f"), "/scim/v2");
    }
}
