//! `[[inputs]]`: the shipped examples, defaults, every refusal naming its key and input, the
//! checks across inputs, masking in `Debug`, and reloads.

use std::time::Duration;

use super::super::{Config, ConfigError, Host};
use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_on(text, &Host::with_cpus(vec![0]))
}

fn refusal(text: &str) -> (&'static str, String) {
    match parse(text) {
        Err(ConfigError::Invalid { key, reason }) => (key, reason),
        other => panic!("{text:?}: expected an invalid key, got {other:?}"),
    }
}

/// A file that exists wherever the tests run.
fn media() -> String {
    format!(
        "{}/tests/vectors/media/ffmpeg_h264_aac_5s.ts",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The commented `[[inputs]]` examples of `config.toml`, uncommented, with the example file
/// replaced by one that exists.
fn shipped_examples() -> String {
    let text = super::super::DEFAULT_CONFIG;
    let start = text
        .find("\n# [[inputs]]\n")
        .expect("config.toml shows [[inputs]]");
    text[start..]
        .lines()
        .map(|l| match l {
            "#" => "",
            l => l.strip_prefix("# ").unwrap_or(l),
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace("/srv/media/slate.ts", &media())
}

#[test]
fn the_shipped_examples_parse_and_show_every_kind() {
    let c = parse(&shipped_examples()).expect("the examples in config.toml are valid");
    assert_eq!(c.inputs.len(), 3);
    let mut kinds: Vec<&str> = c
        .inputs
        .iter()
        .flat_map(|i| i.upstreams.iter().map(Upstream::kind))
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "file", "http", "https", "srt", "stdin", "tcp", "udp", "unix"
        ]
    );
    let news = &c.inputs[0];
    assert_eq!(news.stream, "live/news");
    assert_eq!(news.upstreams.len(), 7);
    assert!(news.shuffle && !news.on_demand && !news.looped);
    assert_eq!(news.retry_delay, Some(Duration::from_secs(3)));
    assert_eq!(news.stall_timeout, Duration::from_secs(5));
    assert_eq!(news.connect_timeout, Duration::from_secs(5));
    assert_eq!(news.idle_stop, Duration::from_secs(30));
    assert!(c.inputs[1].looped);
    assert_eq!(c.inputs[2].upstreams, vec![Upstream::Stdin]);
    // The defaults are the ones the examples spell out.
    let short = parse("[[inputs]]\nstream = \"live/news\"\nurl = \"tcp://h:1\"").unwrap();
    let spelled = InputConfig {
        upstreams: vec![Upstream::parse("tcp://h:1").unwrap()],
        ..news.clone()
    };
    assert_eq!(short.inputs, vec![spelled]);
    assert!(parse("").unwrap().inputs.is_empty());
}

#[test]
fn every_setting_is_read() {
    let c = parse(&format!(
        "[[inputs]]\nstream = \"live/a\"\nurls = [\"file://{}\"]\nshuffle = false\n\
         retry_delay_ms = 0\nstall_timeout_ms = 500\nconnect_timeout_ms = 100\n\
         on_demand = true\nidle_stop_ms = 0\nloop = true\n",
        media()
    ))
    .unwrap();
    let i = &c.inputs[0];
    assert_eq!(i.upstreams, vec![Upstream::File(media().into())]);
    assert!(!i.shuffle && i.on_demand && i.looped);
    assert_eq!(i.retry_delay, None, "0 stays offline");
    assert_eq!(i.stall_timeout, Duration::from_millis(500));
    assert_eq!(i.connect_timeout, Duration::from_millis(100));
    assert_eq!(i.idle_stop, Duration::ZERO);
}

#[test]
fn every_refusal_names_its_key_and_input() {
    let one = |body: &str| format!("[[inputs]]\nstream = \"live/a\"\n{body}\n");
    let file = media();
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "[[inputs]]\nurl = \"tcp://h:1\"".into(),
            "inputs.stream",
            "1 to 512",
        ),
        (
            format!(
                "[[inputs]]\nstream = \"{}\"\nurl = \"tcp://h:1\"",
                "x".repeat(513)
            ),
            "inputs.stream",
            "1 to 512",
        ),
        (
            "[[inputs]]\nstream = \"a\\tb\"\nurl = \"tcp://h:1\"".into(),
            "inputs.stream",
            "control characters",
        ),
        (one(""), "inputs.urls", "needs 1 to 64 upstreams"),
        (one("urls = []"), "inputs.urls", "needs 1 to 64"),
        (
            one(&format!("urls = [{}]", vec!["\"stdin\""; 65].join(", "))),
            "inputs.urls",
            "needs 1 to 64",
        ),
        (
            one("url = \"tcp://h:1\"\nurls = [\"tcp://h:2\"]"),
            "inputs.urls",
            "not both",
        ),
        (
            one("urls = [\"tcp://h:1\", \"tcp://h\"]"),
            "inputs.urls",
            "URL 2: port: a port is needed",
        ),
        (one("url = \"ftp://h/\""), "inputs.url", "URL 1: scheme:"),
        (
            one("urls = [\"tcp://h:1\", \"tcp://h:1\"]"),
            "inputs.urls",
            "URL 2: the same as URL 1",
        ),
        (
            one("url = \"file:///nonexistent/srtrelay/clip.ts\""),
            "inputs.url",
            "URL 1: /nonexistent/srtrelay/clip.ts: No such file",
        ),
        (
            one(&format!("url = \"file://{}\"", env!("CARGO_MANIFEST_DIR"))),
            "inputs.url",
            "is a directory",
        ),
        (
            one(&format!(
                "urls = [\"file://{file}\", \"tcp://h:1\"]\nloop = true"
            )),
            "inputs.loop",
            "URL 2 is tcp: only file:// upstreams can loop",
        ),
        (
            one("url = \"udp://:9999\""),
            "inputs.url",
            "port 9999, which `srt.listen` (0.0.0.0:9999) uses",
        ),
        (
            one("url = \"tcp://h:1\"\nretry_delay_ms = -1"),
            "inputs.retry_delay_ms",
            "at least 0",
        ),
        (
            one("url = \"tcp://h:1\"\nstall_timeout_ms = 499"),
            "inputs.stall_timeout_ms",
            "at least 500",
        ),
        (
            one("url = \"tcp://h:1\"\nconnect_timeout_ms = 99"),
            "inputs.connect_timeout_ms",
            "at least 100",
        ),
        (
            one("url = \"tcp://h:1\"\nidle_stop_ms = 86400001"),
            "inputs.idle_stop_ms",
            "at most 86400000",
        ),
        (
            one("url = \"http://h/x.ts\"\ntls_ca_file = \"/etc/hostname\""),
            "inputs.tls_ca_file",
            "only https:// upstreams use it",
        ),
        (
            one("url = \"https://h/x.ts\"\ntls_ca_file = \"/nonexistent/ca.pem\""),
            "inputs.tls_ca_file",
            "/nonexistent/ca.pem: ",
        ),
        (
            one(&format!(
                "url = \"https://h/x.ts\"\ntls_ca_file = \"{file}\""
            )),
            "inputs.tls_ca_file",
            "no PEM certificate in it",
        ),
    ];
    for (text, want_key, says) in cases {
        let (key, reason) = refusal(&text);
        assert_eq!(key, want_key, "{text}: {reason}");
        assert!(reason.starts_with("input 1 (stream = "), "{text}: {reason}");
        assert!(reason.contains(says), "{text}: {reason}");
    }
    let err = parse(&one("url = \"tcp://h:1\"\nloops = true")).unwrap_err();
    assert!(err.to_string().contains("unknown key `loops`"), "{err}");
}

#[test]
fn inputs_are_checked_against_each_other() {
    let two = |a: &str, b: &str| {
        format!(
            "[[inputs]]\nstream = \"live/a\"\nurl = \"{a}\"\n\
             [[inputs]]\nstream = \"live/x\"\nurl = \"tcp://h:9\"\n\
             [[inputs]]\nstream = \"live/b\"\nurls = [\"{b}\"]\n"
        )
    };
    let (key, reason) = refusal(&two("tcp://h:1", "tcp://h:2").replace("live/b", "live/a"));
    assert_eq!(key, "inputs.stream");
    assert_eq!(
        reason,
        "input 3 (stream = \"live/a\"): input 1 publishes this stream too; one input per stream"
    );
    let (key, reason) = refusal(&two("-", "stdin://"));
    assert_eq!(key, "inputs.urls");
    assert!(
        reason.starts_with(
            "input 3 (stream = \"live/b\"): stdin is an upstream of input 1 \
                            (stream = \"live/a\") too"
        ),
        "{reason}"
    );
    assert!(parse(&two("stdin", "tcp://h:2")).is_ok());
    assert!(parse(&two("udp://127.0.0.1:5000", "udp://239.1.1.1:9998")).is_ok());
    // The SRT port on another address is free for UDP.
    let srt_on_lo = "[srt]\nlisten = [\"127.0.0.1:9999\"]\n";
    assert!(
        parse(&format!(
            "{srt_on_lo}{}",
            two("udp://127.0.0.2:9999", "tcp://h:2")
        ))
        .is_ok()
    );
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let text = "[[inputs]]\nstream = \"live/a\"\n\
                urls = [\"https://h/a.ts?token=tok-123456\", \
                        \"srt://h:1?passphrase=pass-123456&streamid=%23!::r=a,s=sess-123456\"]\n";
    let c = parse(text).unwrap();
    let shown = format!("{c:?}");
    for secret in ["tok-123456", "pass-123456", "sess-123456"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("https://h/a.ts?token=***"), "{shown}");
    let model: InputModel = toml::from_str(&text.replace("[[inputs]]\n", "")).unwrap();
    let shown = format!("{model:?}");
    assert!(
        shown.contains("<2 URLs>") && !shown.contains("123456"),
        "{shown}"
    );
    let (_, reason) = refusal(
        "[[inputs]]\nstream = \"a\"\nurl = \"srt://h:1?passphrase=pass-123456&pbkeylen=20\"",
    );
    assert!(!reason.contains("pass-123456"), "{reason}");
}

#[test]
fn the_list_reloads_as_a_whole() {
    let old = parse("").unwrap();
    let new = parse("[[inputs]]\nstream = \"live/a\"\nurl = \"tcp://h:1\"").unwrap();
    let plan = Config::reloadable_diff(&old, &new).expect("reloadable");
    assert_eq!(plan.changed, vec!["inputs"]);
    assert_eq!(plan.inputs.as_deref(), Some(&new.inputs[..]));
    assert_eq!(plan.to_string(), "changes `inputs`");
    let same = Config::reloadable_diff(&new, &new.clone()).unwrap();
    assert!(same.is_empty() && same.inputs.is_none());
    // With a restart-only key changed too, nothing is applied.
    let both =
        parse("[rtmp]\nmax_connections = 5\n[[inputs]]\nstream = \"live/a\"\nurl = \"tcp://h:2\"")
            .unwrap();
    match Config::reloadable_diff(&new, &both) {
        Err(ConfigError::RestartRequired { keys }) => {
            assert_eq!(keys, vec!["rtmp.max_connections"])
        }
        other => panic!("{other:?}"),
    }
}
