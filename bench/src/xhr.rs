//! A Pusher client over pusher-js's `xhr_streaming` transport, for measuring the HTTP
//! fallback next to WebSocket: one streaming POST that stays open (HTTP/1.1 chunked, lines
//! `o`, `a[...]`, `h`, `c[...]`), and one short POST per message sent (`xhr_send`, a JSON
//! array of strings), each on its own connection as a browser without keep-alive would.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context as _};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::target::Target;

/// Session numbers, unique within the bench process.
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// One open `xhr_streaming` session.
pub(crate) struct XhrConn {
    stream: BufReader<TcpStream>,
    /// `{prefix}/app/{key}/{server}/{session}`, the session's URL without the kind.
    base: String,
    host: String,
    addr: std::net::SocketAddr,
    /// Messages read from `a` lines and not yet handed out.
    pending: VecDeque<String>,
    /// Bytes of a line not complete yet.
    partial: Vec<u8>,
    closed: bool,
}

impl XhrConn {
    /// Opens the stream and reads the response head.
    pub(crate) async fn open(target: &Target) -> anyhow::Result<XhrConn> {
        let n = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
        let base = format!("{}/{}/b{n:07}", target.xhr_base, n % 1000);
        let stream = target
            .connect_tcp(target.ws_addr)
            .await
            .context("tcp connect")?;
        let mut stream = BufReader::with_capacity(4 * 1024, stream);
        let head = format!(
            "POST {base}/xhr_streaming?protocol=7&client=js&version=8.4.0 HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
            target.ws_host
        );
        stream.get_mut().write_all(head.as_bytes()).await?;
        let status = read_head(&mut stream).await?;
        if status != 200 {
            bail!("xhr_streaming answered {status}");
        }
        Ok(XhrConn {
            stream,
            base,
            host: target.ws_host.clone(),
            addr: target.ws_addr,
            pending: VecDeque::new(),
            partial: Vec::new(),
            closed: false,
        })
    }

    /// The next Pusher message, or `None` once the session closed.
    pub(crate) async fn next_text(&mut self) -> anyhow::Result<Option<String>> {
        loop {
            if let Some(message) = self.pending.pop_front() {
                return Ok(Some(message));
            }
            if self.closed {
                return Ok(None);
            }
            let Some(chunk) = read_chunk(&mut self.stream).await? else {
                return Ok(None);
            };
            self.partial.extend_from_slice(&chunk);
            while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=end).collect();
                match line.first() {
                    Some(b'a') => {
                        let messages: Vec<String> =
                            serde_json::from_slice(&line[1..line.len() - 1])
                                .context("an a-line is not a JSON array of strings")?;
                        self.pending.extend(messages);
                    }
                    Some(b'c') => self.closed = true,
                    // `o` opens the session, `h` is a heartbeat.
                    _ => {}
                }
            }
        }
    }

    /// Sends one message with its own `xhr_send` request.
    pub(crate) async fn send(&self, text: &str) -> anyhow::Result<()> {
        let body = serde_json::to_string(&[text])?;
        let mut stream = TcpStream::connect(self.addr).await?;
        let request = format!(
            "POST {}/xhr_send HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.base,
            self.host,
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut reader = BufReader::new(stream);
        let status = read_head(&mut reader).await?;
        if status != 204 {
            bail!("xhr_send answered {status}");
        }
        Ok(())
    }
}

/// Reads a response head; returns the status.
async fn read_head(stream: &mut BufReader<TcpStream>) -> anyhow::Result<u16> {
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("bad status line {line:?}"))?;
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 || line == "\r\n" {
            return Ok(status);
        }
    }
}

/// One chunk of a chunked body; `None` at its end or when the connection closed.
async fn read_chunk(stream: &mut BufReader<TcpStream>) -> anyhow::Result<Option<Vec<u8>>> {
    let mut size_line = String::new();
    if stream.read_line(&mut size_line).await? == 0 {
        return Ok(None);
    }
    let size = usize::from_str_radix(size_line.trim(), 16)
        .with_context(|| format!("bad chunk size {size_line:?}"))?;
    if size == 0 {
        return Ok(None);
    }
    let mut chunk = vec![0; size + 2];
    stream.read_exact(&mut chunk).await?;
    chunk.truncate(size);
    Ok(Some(chunk))
}
