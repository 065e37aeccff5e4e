//! Config tests: the shipped file, every key's validation, error locations, reload rules.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use super::*;

fn host() -> Host {
    Host::with_cpus(vec![0, 1, 2, 3])
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_on(text, &host())
}

fn defaults() -> Config {
    parse("").expect("an empty file is valid")
}

/// `[section]\nkey = value` from a dotted key, for one-key files.
fn one_key(key: &str, value: &str) -> String {
    let (section, name) = key.split_once('.').expect("dotted key");
    format!("[{section}]\n{name} = {value}\n")
}

/// The `section.key` names in `config.toml`, in file order (a TOML table is sorted, so this
/// reads lines; the set is cross-checked against the parsed table).
fn shipped_keys() -> Vec<String> {
    let mut section = "";
    let mut keys = Vec::new();
    for line in DEFAULT_CONFIG.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.trim_matches(['[', ']']);
        } else if let Some((key, _)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
            keys.push(format!("{section}.{}", key.trim()));
        }
    }
    let table: toml::Table = DEFAULT_CONFIG.parse().expect("config.toml is TOML");
    // Sections nest one level deeper at most (`[playback.hls]`).
    let mut parsed = BTreeSet::new();
    for (s, v) in &table {
        let inner = v.as_table().expect("only sections at the top level");
        for (k, v) in inner {
            match v.as_table() {
                Some(sub) => parsed.extend(sub.keys().map(|k2| format!("{s}.{k}.{k2}"))),
                None => {
                    parsed.insert(format!("{s}.{k}"));
                }
            }
        }
    }
    assert_eq!(parsed, keys.iter().cloned().collect());
    keys
}

#[test]
fn shipped_config_equals_the_built_in_defaults() {
    let shipped = parse(DEFAULT_CONFIG).expect("config.toml is valid");
    assert_eq!(shipped, defaults());
    assert_eq!(shipped.srt.listen, vec!["0.0.0.0:9999".parse().unwrap()]);
    assert_eq!(shipped.srt.latency.default, Duration::from_millis(120));
    assert_eq!(shipped.runtime.cores, vec![0, 1, 2, 3]);
    assert_eq!(
        shipped.streams.policy.second_publisher,
        SecondPublisher::Reject
    );
    assert_eq!(
        shipped.streams.policy.unknown_stream,
        UnknownStream::Wait(Duration::from_secs(10))
    );
    assert_eq!(shipped.http, Some("127.0.0.1:9990".parse().unwrap()));
    assert_eq!(
        shipped.streams.policy.publisher_silence_takeover,
        Some(Duration::from_millis(1500))
    );
    assert_eq!(shipped.limits.max_waiting_players.get(), 1000);
    let off = parse("[streams]\npublisher_silence_takeover_ms = 0").expect("0 is valid");
    assert_eq!(off.streams.policy.publisher_silence_takeover, None);
    assert_eq!(shipped.log.format, LogFormat::Text);
    // Also on the real machine, which is what the binary does.
    assert_eq!(Config::embedded_default(), Config::from_toml("").unwrap());
}

#[test]
fn shipped_config_lists_every_key() {
    // Every key the model knows is in the file: the reload table is checked against the model
    // below, and here the file against the table.
    let table: Vec<String> = ReloadClass::all_keys()
        .iter()
        .map(|(k, _)| k.to_string())
        .collect();
    assert_eq!(shipped_keys(), table);
}

#[test]
fn every_key_is_documented_with_default_units_and_reload_class() {
    let classes: std::collections::HashMap<_, _> = ReloadClass::all_keys().into_iter().collect();
    let mut section = String::new();
    let mut comment = String::new();
    let mut seen = 0;
    for line in DEFAULT_CONFIG.lines() {
        let line = line.trim();
        if let Some(c) = line.strip_prefix('#') {
            comment.push_str(c);
            comment.push(' ');
        } else if line.starts_with('[') {
            section = line.trim_matches(['[', ']']).to_string();
            comment.clear();
        } else if let Some((key, value)) = line.split_once('=') {
            let key = format!("{section}.{}", key.trim());
            let value = value.trim();
            // The comment repeats the value (numbers as digits; strings and lists verbatim).
            assert!(
                comment.contains(&format!("Default {value}")),
                "{key}: comment must say `Default {value}`: {comment}"
            );
            let unit = [
                ("_ms", "milliseconds"),
                ("_bytes", "bytes"),
                ("_pkts", "packets"),
            ]
            .iter()
            .find(|(suffix, _)| key.ends_with(suffix));
            if let Some((_, unit)) = unit {
                assert!(comment.contains(unit), "{key}: comment must say {unit}");
            }
            let want = match classes[key.as_str()] {
                ReloadClass::Reloadable => "Reload: yes",
                ReloadClass::RestartOnly => "Reload: no",
            };
            assert!(comment.contains(want), "{key}: comment must say {want:?}");
            comment.clear();
            seen += 1;
        }
    }
    assert_eq!(seen, classes.len());
}

#[test]
fn every_validation_names_its_key() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("srt.listen", "[]", "srt.listen", "at least one"),
        (
            "playback.listen",
            r#""nowhere""#,
            "playback.listen",
            "not an address",
        ),
        (
            "playback.refused_status",
            "500",
            "playback.refused_status",
            "503 or 404",
        ),
        (
            "playback.ts_queue_bytes",
            "1000",
            "playback.ts_queue_bytes",
            "at least 65536",
        ),
        (
            "playback.hls.part_ms",
            "50",
            "playback.hls.part_ms",
            "100 ms to half",
        ),
        (
            "playback.hls_js_url",
            r#""x\" onload=\"y""#,
            "playback.hls_js_url",
            "without quotes",
        ),
        (
            "playback.max_header_bytes",
            "1024",
            "playback.max_header_bytes",
            "at least 8192",
        ),
        (
            "srt.listen",
            r#"["nowhere"]"#,
            "srt.listen",
            "not an address",
        ),
        ("srt.listen", r#"["0.0.0.0"]"#, "srt.listen", "with a port"),
        ("srt.listen", r#"["0.0.0.0:0"]"#, "srt.listen", "port 0"),
        (
            "srt.listen",
            r#"["[::]:1", "[::]:1"]"#,
            "srt.listen",
            "twice",
        ),
        ("srt.latency_ms", "70000", "srt.latency_ms", "at most 65535"),
        ("srt.latency_ms", "-1", "srt.latency_ms", "at least 0"),
        // The user wrote `latency_ms`: the error names it and the bound it crossed.
        (
            "srt.latency_ms",
            "10",
            "srt.latency_ms",
            "below `srt.min_latency_ms` (20, its default)",
        ),
        (
            "srt.latency_ms",
            "9000",
            "srt.latency_ms",
            "above `srt.max_latency_ms` (8000, its default)",
        ),
        (
            "srt.min_latency_ms",
            "500",
            "srt.min_latency_ms",
            "at most `srt.latency_ms`",
        ),
        (
            "srt.max_latency_ms",
            "100",
            "srt.max_latency_ms",
            "at least `srt.latency_ms`",
        ),
        (
            "srt.listen",
            r#"["localhost:21001"]"#,
            "srt.listen",
            "host names are not accepted",
        ),
        (
            "srt.min_latency_ms",
            "-5",
            "srt.min_latency_ms",
            "at least 0",
        ),
        (
            "srt.max_latency_ms",
            "65536",
            "srt.max_latency_ms",
            "at most 65535",
        ),
        ("srt.max_payload", "2000", "srt.max_payload", "at most 1456"),
        ("srt.max_payload", "100", "srt.max_payload", "at least 188"),
        (
            "srt.max_payload",
            "1400",
            "srt.max_payload",
            "multiple of 188",
        ),
        (
            "srt.recv_buffer_pkts",
            "1",
            "srt.recv_buffer_pkts",
            "at least 32",
        ),
        (
            "srt.send_buffer_pkts",
            "2000000",
            "srt.send_buffer_pkts",
            "at most",
        ),
        (
            "srt.unresponsive_subscriber_timeout_ms",
            "500",
            "srt.unresponsive_subscriber_timeout_ms",
            "at least 1000",
        ),
        (
            "srt.peer_idle_timeout_ms",
            "999",
            "srt.peer_idle_timeout_ms",
            "at least 1000",
        ),
        (
            "srt.loss_max_ttl",
            "9000",
            "srt.loss_max_ttl",
            "at most 8192",
        ),
        ("srt.loss_max_ttl", "-1", "srt.loss_max_ttl", "at least 0"),
        (
            "srt.retransmit_overhead_percent",
            "4",
            "srt.retransmit_overhead_percent",
            "at least 5",
        ),
        (
            "srt.retransmit_overhead_percent",
            "1001",
            "srt.retransmit_overhead_percent",
            "at most 1000",
        ),
        (
            "runtime.cores",
            r#""some""#,
            "runtime.cores",
            "\"all\" or a list",
        ),
        ("runtime.cores", "3", "runtime.cores", "\"all\" or a list"),
        ("runtime.cores", "[]", "runtime.cores", "at least one"),
        (
            "runtime.cores",
            "[4]",
            "runtime.cores",
            "CPU 4 is not available",
        ),
        (
            "runtime.cores",
            "[-1]",
            "runtime.cores",
            "\"all\" or a list",
        ),
        (
            "runtime.cores",
            r#"["0"]"#,
            "runtime.cores",
            "\"all\" or a list",
        ),
        (
            "runtime.cores",
            "[1, 1]",
            "runtime.cores",
            "CPU 1 is listed twice",
        ),
        (
            "runtime.socket_recv_buffer_bytes",
            "100",
            "runtime.socket_recv_buffer_bytes",
            "4096",
        ),
        (
            "runtime.socket_send_buffer_bytes",
            "-1",
            "runtime.socket_send_buffer_bytes",
            "4096",
        ),
        (
            "streams.ring_packets",
            "1000",
            "streams.ring_packets",
            "power of two",
        ),
        (
            "streams.ring_packets",
            "32",
            "streams.ring_packets",
            "at least 64",
        ),
        (
            "streams.fanout_linger_ms",
            "101",
            "streams.fanout_linger_ms",
            "at most 100",
        ),
        (
            "streams.default_stream",
            r#""""#,
            "streams.default_stream",
            "1 to 512",
        ),
        (
            "streams.default_stream",
            r#""a\nb""#,
            "streams.default_stream",
            "control",
        ),
        (
            "streams.second_publisher",
            r#""steal""#,
            "streams.second_publisher",
            "takeover",
        ),
        (
            "streams.unknown_stream",
            r#""hold""#,
            "streams.unknown_stream",
            "\"wait\"",
        ),
        (
            "streams.unknown_stream_wait_ms",
            "0",
            "streams.unknown_stream_wait_ms",
            "at least 1",
        ),
        (
            "streams.publisher_grace_ms",
            "-1",
            "streams.publisher_grace_ms",
            "at least 0",
        ),
        (
            "streams.publisher_silence_takeover_ms",
            "-1",
            "streams.publisher_silence_takeover_ms",
            "at least 0",
        ),
        (
            "limits.max_waiting_players",
            "0",
            "limits.max_waiting_players",
            "at least 1",
        ),
        (
            "streams.publisher_grace_ms",
            "86400001",
            "streams.publisher_grace_ms",
            "at most",
        ),
        (
            "limits.max_streams",
            "0",
            "limits.max_streams",
            "at least 1",
        ),
        (
            "limits.max_subscribers_per_stream",
            "0",
            "limits.max_subscribers_per_stream",
            "must be at least 1",
        ),
        (
            "limits.max_connections",
            "-3",
            "limits.max_connections",
            "at least 1",
        ),
        (
            "limits.max_connections",
            "100",
            "limits.soft_max_connections",
            "at most",
        ),
        (
            "limits.soft_max_connections",
            "0",
            "limits.soft_max_connections",
            "at least 1",
        ),
        (
            "http.listen",
            r#""localhost""#,
            "http.listen",
            "not an address",
        ),
        ("http.listen", r#""127.0.0.1:0""#, "http.listen", "port 0"),
        (
            "http.max_connections",
            "0",
            "http.max_connections",
            "at least 1",
        ),
        (
            "http.header_timeout_ms",
            "10",
            "http.header_timeout_ms",
            "at least 100",
        ),
        (
            "http.max_header_bytes",
            "4096",
            "http.max_header_bytes",
            "at least 8192",
        ),
        (
            "http.token",
            r#""short-secret""#,
            "http.token",
            "16 to 1024",
        ),
        (
            "http.token",
            r#""has a space 0123456789""#,
            "http.token",
            "printable",
        ),
        ("log.level", r#""loud""#, "log.level", "\"debug\""),
        ("log.format", r#""xml""#, "log.format", "\"json\""),
    ];
    for &(key, value, named, reason) in cases {
        let text = one_key(key, value);
        let err = parse(&text).expect_err(&text).to_string();
        assert!(
            err.starts_with(&format!("invalid `{named}`: ")) && err.contains(reason),
            "{text:?} -> {err}"
        );
    }
}

#[test]
fn the_brief_example_error_reads_as_documented() {
    let err = parse("[limits]\nmax_subscribers_per_stream = 0").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid `limits.max_subscribers_per_stream`: must be at least 1"
    );
}

#[test]
fn valid_edge_values_are_accepted() {
    let c = parse(
        "[srt]\nlatency_ms = 0\nmin_latency_ms = 0\nmax_latency_ms = 65535\nmax_payload = 188\n\
         [runtime]\ncores = [3, 1]\nsocket_recv_buffer_bytes = 0\n\
         [streams]\nunknown_stream = \"reject\"\npublisher_grace_ms = 0\n\
         second_publisher = \"takeover\"\n\
         [http]\nenabled = false\n[log]\nlevel = \"off\"\nformat = \"json\"\n",
    )
    .expect("valid");
    assert_eq!(c.srt.latency.max, Duration::from_millis(65535));
    assert_eq!(
        c.runtime.cores,
        vec![3, 1],
        "order kept: shard i runs on cores[i]"
    );
    assert_eq!(c.runtime.socket_recv_buffer_bytes, None);
    assert_eq!(c.streams.policy.unknown_stream, UnknownStream::Reject);
    assert_eq!(c.streams.policy.publisher_grace, Duration::ZERO);
    assert_eq!(c.streams.policy.second_publisher, SecondPublisher::Takeover);
    assert_eq!(c.http, None);
    assert_eq!(c.log.level, log::LevelFilter::Off);
    assert_eq!(c.log.format, LogFormat::Json);
}

#[test]
fn passthrough_lifts_the_ts_multiple_rule() {
    assert!(parse("[srt]\nmax_payload = 1456").is_err());
    let c = parse("[srt]\nmax_payload = 1456\n[streams]\npassthrough_non_ts = true").unwrap();
    assert_eq!(c.srt.max_payload, 1456);
    assert!(c.streams.passthrough_non_ts);
}

#[test]
fn ipv6_listen() {
    let c = parse("[srt]\nlisten = [\"[::1]:9000\", \"127.0.0.1:9000\"]").unwrap();
    assert_eq!(c.srt.listen.len(), 2);
    assert!(c.srt.listen[0].is_ipv6());
    let c = parse("[http]\nlisten = \"[::1]:8080\"").unwrap();
    assert_eq!(c.http, Some("[::1]:8080".parse::<SocketAddr>().unwrap()));
    assert_eq!(c.http_settings, crate::http::HttpSettings::default());
    let secret = "operator-token-0123456789";
    let c = parse(&format!(
        "[http]\ntoken = \"{secret}\"\nidle_timeout_ms = 500"
    ))
    .unwrap();
    assert_eq!(c.http_settings.idle_timeout, Duration::from_millis(500));
    assert_eq!(
        c.http_settings.token.as_ref().map(|t| t.expose()),
        Some(secret)
    );
    assert!(!format!("{c:?}").contains(secret), "token in Debug");
}

#[test]
fn ipv6_caps_the_payload_at_1436() {
    let passthrough = "[streams]\npassthrough_non_ts = true\n[srt]\nmax_payload = ";
    let v6 = "\nlisten = [\"[::]:9000\"]";
    let err = parse(&format!("{passthrough}1456{v6}")).unwrap_err();
    assert!(err.to_string().contains("at most 1436"), "{err}");
    assert!(parse(&format!("{passthrough}1436{v6}")).is_ok());
    // A v4-mapped address is IPv4 on the wire.
    assert!(
        parse(&format!(
            "{passthrough}1456\nlisten = [\"[::ffff:1.2.3.4]:9000\"]"
        ))
        .is_ok()
    );
}

#[test]
fn cores_all_follows_the_host() {
    let c = Config::from_toml_on("", &Host::with_cpus(vec![2, 5])).unwrap();
    assert_eq!(c.runtime.cores, vec![2, 5]);
    let err = Config::from_toml_on("[runtime]\ncores = [0]", &Host::with_cpus(vec![2, 5]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("(available: 2,5)"), "{err}");
}

#[test]
fn toml_errors_name_the_key_and_line() {
    let cases = [
        (
            "[srt]\nlatncy_ms = 1",
            "invalid `srt.latncy_ms`: unknown key `latncy_ms`",
            2,
        ),
        ("[stream]\n", "invalid `stream`: unknown key `stream`", 1),
        (
            "\n\n[srt]\nlatency_ms = \"1\"",
            "invalid `srt.latency_ms`: invalid type",
            4,
        ),
        (
            "[streams]\npassthrough_non_ts = 1",
            "`streams.passthrough_non_ts`",
            2,
        ),
        ("[log]\nlevel = info", "line 2", 2),
        ("[srt", "line 1", 1),
    ];
    for (text, want, line) in cases {
        let err = parse(text).unwrap_err();
        assert!(err.to_string().contains(want), "{text:?} -> {err}");
        match err {
            ConfigError::Toml { line: l, .. } => assert_eq!(l, line, "{text:?}"),
            other => panic!("{text:?}: not a TOML error: {other}"),
        }
    }
}

/// A non-default, valid value for every key, to see each one through the reload rules.
fn changed_value(key: &str) -> &'static str {
    match key {
        "srt.listen" => r#"["[::]:9999"]"#,
        "srt.latency_ms" => "200",
        "srt.min_latency_ms" => "40",
        "srt.max_latency_ms" => "4000",
        "srt.max_payload" => "1128",
        "srt.recv_buffer_pkts" => "4096",
        "srt.send_buffer_pkts" => "4096",
        "srt.peer_idle_timeout_ms" => "3000",
        "srt.loss_max_ttl" => "8",
        "srt.retransmit_overhead_percent" => "50",
        "srt.unresponsive_subscriber_timeout_ms" => "0",
        "runtime.cores" => "[1]",
        "runtime.socket_recv_buffer_bytes" => "0",
        "runtime.socket_send_buffer_bytes" => "65536",
        "streams.ring_packets" => "8192",
        "streams.default_stream" => r#""main""#,
        "streams.second_publisher" => r#""takeover""#,
        "streams.unknown_stream" => r#""reject""#,
        "streams.unknown_stream_wait_ms" => "2500",
        "streams.publisher_grace_ms" => "0",
        "streams.passthrough_non_ts" => "true",
        "streams.publisher_silence_takeover_ms" => "0",
        "streams.backup_publisher" => "true",
        "streams.backup_switch_ms" => "250",
        "streams.fanout_linger_ms" => "2",
        "limits.max_waiting_players" => "7",
        "limits.max_streams" => "10",
        "limits.max_subscribers_per_stream" => "10",
        "limits.max_connections" => "9000",
        "limits.soft_max_connections" => "10",
        "http.enabled" => "false",
        "http.listen" => r#""127.0.0.1:8080""#,
        "http.max_connections" => "16",
        "http.header_timeout_ms" => "2000",
        "http.body_timeout_ms" => "2000",
        "http.idle_timeout_ms" => "5000",
        "http.max_header_bytes" => "8192",
        "http.token" => r#""operator-token-0123456789""#,
        "stats.enabled" => "false",
        "stats.public" => "false",
        "access.session_ttl" => r#""90s""#,
        "access.max_sessions" => "5",
        "access.open_streams" => r#"["public/*"]"#,
        "access.open_request_streams" => r#"["*"]"#,
        "access.tokens" => r#"[{ name = "a", token = "0123456789abcdef", publish = ["*"] }]"#,
        "playback.enabled" => "false",
        "playback.listen" => r#""127.0.0.1:8081""#,
        "playback.max_connections" => "10",
        "playback.header_timeout_ms" => "2000",
        "playback.max_header_bytes" => "16384",
        "playback.refused_status" => "404",
        "playback.ts_queue_bytes" => "1048576",
        "playback.max_lag_ms" => "3000",
        "playback.reorder_hold_ms" => "100",
        "playback.hls_js_url" => r#""/_/assets/hls.min.js""#,
        "playback.assets_dir" => r#""/tmp""#,
        "playback.hls.enabled" => "false",
        "playback.hls.target_duration_ms" => "4000",
        "playback.hls.part_ms" => "500",
        "playback.hls.window_segments" => "10",
        "rtmp.enabled" => "false",
        "rtmp.listen" => r#""0.0.0.0:1936""#,
        "rtmp.max_connections" => "10",
        "rtmp.handshake_timeout_ms" => "2000",
        "rtmp.idle_timeout_ms" => "3000",
        "rtmp.max_message_bytes" => "1048576",
        "srtla.listen" => r#""0.0.0.0:5000""#,
        "srtla.max_groups" => "10",
        "srtla.max_links_per_group" => "4",
        "webhooks.on_publish" => r#""http://127.0.0.1:1/p""#,
        "webhooks.on_play" => r#""http://127.0.0.1:1/q""#,
        "webhooks.on_publish_done" => r#""http://127.0.0.1:1/r""#,
        "webhooks.on_play_done" => r#""http://127.0.0.1:1/s""#,
        "webhooks.on_record_done" => r#""http://127.0.0.1:1/t""#,
        "webhooks.timeout_ms" => "500",
        "webhooks.cache_ms" => "0",
        "webhooks.deny_cache_ms" => "0",
        "webhooks.max_pending" => "10",
        "webhooks.notify_retries" => "0",
        "webhooks.retry_delay_ms" => "50",
        "cluster.enabled" => "true",
        "cluster.node_id" => r#""n1""#,
        "cluster.advertise" => r#""10.0.0.1:9000""#,
        "cluster.etcd" => r#"["http://10.0.0.2:2379"]"#,
        "cluster.prefix" => r#""/relays""#,
        "cluster.lease_ttl_ms" => "3000",
        "cluster.edge_idle_ms" => "0",
        "cluster.secret" => r#""0123456789abcdef""#,
        "cluster.passphrase" => r#""cluster-pass-1""#,
        "cluster.upstream_nodes" => r#"["mid-1"]"#,
        "cluster.origins_file" => r#""docs/origins.example.toml""#,
        "log.level" => r#""debug""#,
        "log.format" => r#""json""#,
        other => panic!("no changed value for {other}: add one"),
    }
}

#[test]
fn reload_classifies_every_key() {
    let old = defaults();
    for (key, class) in ReloadClass::all_keys() {
        let text = one_key(key, changed_value(key));
        let new = parse(&text).expect(&text);
        assert_ne!(old, new, "{text:?} changes nothing");
        match (class, Config::reloadable_diff(&old, &new)) {
            (ReloadClass::Reloadable, Ok(plan)) => {
                assert_eq!(plan.changed, vec![key], "{text:?}");
                let groups = [
                    plan.limits.is_some(),
                    plan.policy.is_some(),
                    plan.latency.is_some(),
                    plan.log_level.is_some(),
                    plan.access.is_some(),
                ];
                assert_eq!(groups.iter().filter(|g| **g).count(), 1, "{key}: {plan:?}");
            }
            (ReloadClass::RestartOnly, Err(ConfigError::RestartRequired { keys })) => {
                assert_eq!(keys, vec![key]);
            }
            (class, result) => panic!("{key} is {class:?} but the diff gave {result:?}"),
        }
    }
}

#[test]
fn reload_classification_is_the_documented_one() {
    let live: BTreeSet<&str> = ReloadClass::all_keys()
        .into_iter()
        .filter(|(_, c)| *c == ReloadClass::Reloadable)
        .map(|(k, _)| k)
        .collect();
    let want: BTreeSet<&str> = [
        "srt.latency_ms",
        "srt.min_latency_ms",
        "srt.max_latency_ms",
        "streams.default_stream",
        "streams.second_publisher",
        "streams.unknown_stream",
        "streams.unknown_stream_wait_ms",
        "streams.publisher_grace_ms",
        "streams.publisher_silence_takeover_ms",
        "streams.backup_publisher",
        "streams.backup_switch_ms",
        "limits.max_streams",
        "limits.max_subscribers_per_stream",
        "limits.max_connections",
        "limits.soft_max_connections",
        "limits.max_waiting_players",
        "access.session_ttl",
        "access.max_sessions",
        "access.open_streams",
        "access.open_request_streams",
        "access.tokens",
        "log.level",
    ]
    .into();
    assert_eq!(live, want);
}

#[test]
fn reload_plan_carries_the_new_values() {
    let old = defaults();
    let new = parse(
        "[limits]\nmax_connections = 20000\n[streams]\nsecond_publisher = \"takeover\"\n\
         [srt]\nlatency_ms = 300\n[log]\nlevel = \"warn\"",
    )
    .unwrap();
    let plan = Config::reloadable_diff(&old, &new).unwrap();
    assert_eq!(
        plan.changed,
        vec![
            "srt.latency_ms",
            "streams.second_publisher",
            "limits.max_connections",
            "log.level"
        ]
    );
    assert_eq!(plan.limits.unwrap().max_connections.get(), 20000);
    assert_eq!(
        plan.policy.as_ref().unwrap().second_publisher,
        SecondPublisher::Takeover
    );
    assert_eq!(plan.latency.unwrap().default, Duration::from_millis(300));
    assert_eq!(plan.log_level, Some(log::LevelFilter::Warn));
    assert_eq!(
        plan.to_string(),
        "changes `srt.latency_ms`, `streams.second_publisher`, `limits.max_connections`, \
         `log.level`"
    );
}

#[test]
fn reload_without_changes_is_empty() {
    let plan = Config::reloadable_diff(&defaults(), &parse(DEFAULT_CONFIG).unwrap()).unwrap();
    assert!(plan.is_empty());
    assert_eq!(plan, ReloadPlan::default());
    assert_eq!(plan.to_string(), "no changes");
}

#[test]
fn reload_refuses_restart_keys_and_names_all_of_them() {
    let new =
        parse("[srt]\nlisten = [\"[::]:9999\"]\n[runtime]\ncores = [0]\n[limits]\nmax_streams = 5")
            .unwrap();
    let err = Config::reloadable_diff(&defaults(), &new).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot reload: changing `srt.listen`, `runtime.cores` needs a restart; nothing was \
         applied (restore the old value or restart srtrelay)"
    );
}

#[test]
fn reload_ignores_the_address_of_a_disabled_api_and_the_wait_of_a_rejecting_policy() {
    let old = parse("[http]\nenabled = false\n[streams]\nunknown_stream = \"reject\"").unwrap();
    let new = parse(
        "[http]\nenabled = false\nlisten = \"127.0.0.1:1\"\n\
         [streams]\nunknown_stream = \"reject\"\nunknown_stream_wait_ms = 7",
    )
    .unwrap();
    assert!(Config::reloadable_diff(&old, &new).unwrap().is_empty());
}

#[test]
fn latency_bounds_clamp() {
    let b = defaults().srt.latency;
    assert_eq!(b.clamp(Duration::from_millis(5)), Duration::from_millis(20));
    assert_eq!(
        b.clamp(Duration::from_millis(500)),
        Duration::from_millis(500)
    );
    assert_eq!(
        b.clamp(Duration::from_secs(60)),
        Duration::from_millis(8000)
    );
}
