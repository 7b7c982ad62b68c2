//! A minimal FTP client: log in, passive mode, binary `RETR` of one file.
//!
//! The data connection always goes to the control connection's address: the address
//! in a `227` reply is ignored, or a hostile server could point us at any host and
//! port (FTP bounce) past the guard.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::FetchError;

/// Longest reply line we read, and most lines in one multi-line reply.
const MAX_LINE: u64 = 4096;
const MAX_LINES: usize = 200;

/// What to fetch and as whom.
pub(crate) struct Request<'a> {
    pub(crate) server: SocketAddr,
    pub(crate) user: &'a str,
    pub(crate) password: &'a str,
    pub(crate) path: &'a str,
    pub(crate) max_bytes: u64,
    pub(crate) connect_timeout: Duration,
}

struct Control {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

fn protocol(message: impl Into<String>) -> FetchError {
    FetchError::Protocol(message.into())
}

fn io_error(e: std::io::Error) -> FetchError {
    FetchError::Connect(e.to_string())
}

async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, FetchError> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => Err(FetchError::Timeout),
        Ok(stream) => stream.map_err(io_error),
    }
}

impl Control {
    /// Reads one reply, following multi-line replies (`123-...` up to `123 ...`).
    async fn reply(&mut self) -> Result<(u16, String), FetchError> {
        let mut code = None;
        for _ in 0..MAX_LINES {
            let mut line = Vec::new();
            (&mut self.reader)
                .take(MAX_LINE)
                .read_until(b'\n', &mut line)
                .await
                .map_err(io_error)?;
            if line.is_empty() {
                return Err(protocol("FTP server closed the connection"));
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_owned();
            let parsed = text
                .get(..3)
                .and_then(|digits| digits.parse::<u16>().ok())
                .filter(|c| (100..600).contains(c));
            let separator = text.as_bytes().get(3).copied();
            match (code, parsed) {
                (None, Some(c)) if separator == Some(b'-') => code = Some(c),
                (None, Some(c)) => return Ok((c, text)),
                (Some(c), Some(end)) if end == c && separator != Some(b'-') => {
                    return Ok((c, text));
                }
                (Some(_), _) => {}
                (None, None) => return Err(protocol(format!("bad FTP reply {text:?}"))),
            }
        }
        Err(protocol("FTP reply too long"))
    }

    /// Reads replies until a final (non-1xx) one.
    async fn final_reply(&mut self) -> Result<(u16, String), FetchError> {
        for _ in 0..MAX_LINES {
            let reply = self.reply().await?;
            if reply.0 >= 200 {
                return Ok(reply);
            }
        }
        Err(protocol("too many preliminary FTP replies"))
    }

    async fn command(
        &mut self,
        command: &str,
        argument: Option<&str>,
    ) -> Result<(u16, String), FetchError> {
        let mut line = command.to_owned();
        if let Some(argument) = argument {
            // A CR or LF would let the URL smuggle extra commands.
            if argument.contains(['\r', '\n', '\0']) {
                return Err(FetchError::BadUrl(
                    "control characters in FTP URL".to_owned(),
                ));
            }
            line.push(' ');
            line.push_str(argument);
        }
        line.push_str("\r\n");
        self.writer
            .write_all(line.as_bytes())
            .await
            .map_err(io_error)?;
        self.final_reply().await
    }
}

fn expect(reply: (u16, String), ok: impl Fn(u16) -> bool) -> Result<(u16, String), FetchError> {
    if ok(reply.0) {
        Ok(reply)
    } else {
        Err(protocol(reply.1))
    }
}

/// The port of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` reply.
fn pasv_port(text: &str) -> Option<u16> {
    let start = text.find('(')?;
    let end = start + text.get(start..)?.find(')')?;
    let numbers: Vec<u8> = text
        .get(start + 1..end)?
        .split(',')
        .map(|n| n.trim().parse().ok())
        .collect::<Option<_>>()?;
    match numbers[..] {
        [_, _, _, _, high, low] => Some(u16::from_be_bytes([high, low])),
        _ => None,
    }
}

/// The port of a `229 Entering Extended Passive Mode (|||port|)` reply.
fn epsv_port(text: &str) -> Option<u16> {
    let start = text.find("(|||")? + 4;
    let rest = text.get(start..)?;
    rest.get(..rest.find('|')?)?.parse().ok()
}

/// Downloads one file.
pub(crate) async fn fetch(request: Request<'_>) -> Result<Vec<u8>, FetchError> {
    let stream = connect(request.server, request.connect_timeout).await?;
    let (reader, writer) = stream.into_split();
    let mut control = Control {
        reader: BufReader::new(reader),
        writer,
    };
    expect(control.final_reply().await?, |c| c == 220)?;
    let (code, _) = expect(control.command("USER", Some(request.user)).await?, |c| {
        c == 230 || c == 331
    })?;
    if code == 331 {
        expect(
            control.command("PASS", Some(request.password)).await?,
            |c| c == 230 || c == 202,
        )?;
    }
    expect(control.command("TYPE", Some("I")).await?, |c| c == 200)?;
    let port = if request.server.is_ipv4() {
        let (_, text) = expect(control.command("PASV", None).await?, |c| c == 227)?;
        pasv_port(&text)
    } else {
        let (_, text) = expect(control.command("EPSV", None).await?, |c| c == 229)?;
        epsv_port(&text)
    }
    .filter(|&p| p != 0)
    .ok_or_else(|| protocol("unparsable passive mode reply"))?;
    let data_addr = SocketAddr::new(request.server.ip(), port);
    let mut data_stream = connect(data_addr, request.connect_timeout).await?;

    if request.path.contains(['\r', '\n', '\0']) || request.path.is_empty() {
        return Err(FetchError::BadUrl("bad FTP path".to_owned()));
    }
    control
        .writer
        .write_all(format!("RETR {}\r\n", request.path).as_bytes())
        .await
        .map_err(io_error)?;
    let (code, text) = control.reply().await?;
    if !(100..200).contains(&code) {
        return Err(protocol(text));
    }

    let mut content = Vec::new();
    // One byte over the limit tells "exactly max_bytes" from "more".
    (&mut data_stream)
        .take(request.max_bytes.saturating_add(1))
        .read_to_end(&mut content)
        .await
        .map_err(io_error)?;
    if content.len() as u64 > request.max_bytes {
        return Err(FetchError::TooLarge {
            limit: request.max_bytes,
        });
    }
    drop(data_stream);
    expect(control.final_reply().await?, |c| c == 226 || c == 250)?;
    // Politeness only: the file is complete whatever QUIT says.
    let _ = control.writer.write_all(b"QUIT\r\n").await;
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passive_replies() {
        assert_eq!(
            pasv_port("227 Entering Passive Mode (10,0,0,1,4,1)."),
            Some(1025)
        );
        assert_eq!(pasv_port("227 Entering Passive Mode (10,0,0,1,4)"), None);
        assert_eq!(pasv_port("227 (1,2,3,4,300,1)"), None);
        assert_eq!(pasv_port("227 no parens"), None);
        assert_eq!(
            epsv_port("229 Entering Extended Passive Mode (|||6446|)"),
            Some(6446)
        );
        assert_eq!(epsv_port("229 (|||x|)"), None);
    }
}
