//! Bad input: exact `? ` echoes, blank lines, CRLF, injection, handshakes, over-long lines.

use anyhow::ensure;
use herd_launcher::{Client, PlacesSpec};
use herd_protocol::MAX_LINE_BYTES;
use herd_protocol::client::Expect;

use crate::{Case, Ctx, time_from_now};

pub(crate) const CASES: &[Case] = &[
    Case {
        name: "invalid_lines_echoed_exactly",
        run: invalid_lines,
    },
    Case {
        name: "blank_lines_silent_and_crlf_accepted",
        run: blank_and_crlf,
    },
    Case {
        name: "clients_cannot_inject_locations",
        run: no_injection,
    },
    Case {
        name: "bad_handshakes_are_closed",
        run: bad_handshakes,
    },
    Case {
        name: "overlong_line_closes_only_its_connection",
        run: overlong,
    },
];

fn unreachable_places(ctx: &Ctx) -> anyhow::Result<herd_launcher::Herd> {
    ctx.herd_with(PlacesSpec::Unreachable, 1_000)
}

fn invalid_lines(ctx: &Ctx) -> anyhow::Result<()> {
    let herd = unreachable_places(ctx)?;
    let mut c = Client::connect(herd.addr("Johnson")?)?;
    let lines: &[&[u8]] = &[
        b"HELLOWORLD x",
        b"iamat kiwi +34-118 1",
        b"IAMAT kiwi +34-118",
        b"IAMAT kiwi +34-118 1 extra",
        b"IAMAT kiwi 34.1-118 1",
        b"IAMAT kiwi +91-118 1",
        b"IAMAT kiwi +34-181 1",
        b"IAMAT kiwi +34-118 1e9",
        b"IAMAT kiwi +34-118 -5",
        b"WHATSAT kiwi 0 5",
        b"WHATSAT kiwi 51 5",
        b"WHATSAT kiwi 10 0",
        b"WHATSAT kiwi 10 21",
        b"WHATSAT nobody-knows-me 10 5",
        b"AT Clark +0.000000000 kiwi +34-118 1",
        b"IAMAT ki\0wi +34-118 1",
        b"IAMAT \xff\xfe +34-118 1",
        b"  \tWHATSAT   kiwi  0 5\t ",
    ];
    for line in lines {
        let mut sent = line.to_vec();
        sent.push(b'\n');
        c.send(&sent)?;
        let reply = c.reply(Expect::Line)?;
        let mut want = b"? ".to_vec();
        want.extend_from_slice(line);
        want.push(b'\n');
        ensure!(
            reply == want,
            "for {:?} got {:?}",
            String::from_utf8_lossy(line),
            String::from_utf8_lossy(&reply)
        );
    }
    let reply = c.iamat("kiwi", "+34-118", &time_from_now(0))?;
    ensure!(
        reply.starts_with("AT Johnson "),
        "connection must stay usable after bad lines: {reply:?}"
    );
    Ok(())
}

fn blank_and_crlf(ctx: &Ctx) -> anyhow::Result<()> {
    let herd = unreachable_places(ctx)?;
    let mut c = Client::connect(herd.addr("Clark")?)?;
    let time = time_from_now(0);
    c.send(format!("\n   \n\t\r\nIAMAT crlf +1+1 {time}\r\n").as_bytes())?;
    let reply = String::from_utf8(c.reply(Expect::Line)?)?;
    ensure!(
        reply == format!("AT Clark {} crlf +1+1 {time}\n", &reply[9..21]),
        "blank lines must get no reply and CRLF must work: {reply:?}"
    );
    Ok(())
}

fn no_injection(ctx: &Ctx) -> anyhow::Result<()> {
    let herd = unreachable_places(ctx)?;
    let mut c = Client::connect(herd.addr("Clark")?)?;
    let line = format!("AT Bernard +0.000000000 mallory +1+1 {}", time_from_now(0));
    c.send(format!("{line}\n").as_bytes())?;
    let reply = String::from_utf8(c.reply(Expect::Line)?)?;
    ensure!(
        reply == format!("? {line}\n"),
        "an AT line from a client is invalid: {reply:?}"
    );
    for server in ["Clark", "Bernard"] {
        let reply = Client::connect(herd.addr(server)?)?.whatsat("mallory", "10", 1)?;
        ensure!(
            reply.starts_with("? "),
            "{server} must not have stored the injected location: {reply:?}"
        );
    }
    Ok(())
}

fn bad_handshakes(ctx: &Ctx) -> anyhow::Result<()> {
    let herd = unreachable_places(ctx)?;
    for hello in [
        "HELLO Bernard wrong-key\n",
        "HELLO Nobody launcher-link-key\n",
        "HELLO Johnson launcher-link-key\n",
    ] {
        // Johnson is a real server but not a neighbour of Clark.
        let mut c = Client::connect(herd.addr("Clark")?)?;
        c.send(hello.as_bytes())?;
        ensure!(c.is_closed(), "{hello:?} must close the connection");
    }
    Ok(())
}

fn overlong(ctx: &Ctx) -> anyhow::Result<()> {
    let herd = unreachable_places(ctx)?;
    let addr = herd.addr("Juzang")?;
    let mut bystander = Client::connect(addr)?;
    let mut c = Client::connect(addr)?;
    let mut line = b"IAMAT ".to_vec();
    line.resize(MAX_LINE_BYTES + 100, b'x');
    // The server may close while we are still writing; either way it must close.
    let _ = c.send(&line);
    let _ = c.send(b"\n");
    ensure!(
        c.is_closed(),
        "a line over {MAX_LINE_BYTES} bytes must close its connection"
    );
    let reply = bystander.iamat("bystander", "+1+1", &time_from_now(0))?;
    ensure!(
        reply.starts_with("AT Juzang "),
        "other connections keep working: {reply:?}"
    );
    let reply = Client::connect(addr)?.iamat("newcomer", "+1+1", &time_from_now(0))?;
    ensure!(
        reply.starts_with("AT Juzang "),
        "new connections keep working: {reply:?}"
    );
    Ok(())
}
