//! The telemetry settings' tests: every variable's default, precedence and refusal.
use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // Never the machine's: no profile files, no instance metadata.
    move |k| match k {
        "HOME" | "AWS_CONFIG_FILE" | "AWS_SHARED_CREDENTIALS_FILE" => {
            Some(map.get(k).cloned().unwrap_or_else(|| "/nonexistent".into()))
        }
        "AWS_EC2_METADATA_DISABLED" => Some("true".into()),
        _ => map.get(k).cloned(),
    }
}

fn config(pairs: &[(&str, &str)]) -> TelemetryConfig {
    TelemetryConfig::from_env(&env(pairs)).unwrap()
}

fn otlp(pairs: &[(&str, &str)]) -> OtlpConfig {
    match config(pairs).exporter {
        ExporterChoice::Otlp(c) => c,
        other => panic!("expected OTLP, got {other:?}"),
    }
}

fn error(pairs: &[(&str, &str)]) -> ConfigError {
    TelemetryConfig::from_env(&env(pairs)).unwrap_err()
}

fn attr<'a>(c: &'a OtlpConfig, key: &str) -> Option<&'a Value> {
    c.resource.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

#[test]
fn off_when_nothing_is_configured() {
    let c = config(&[]);
    assert_eq!(c.exporter, ExporterChoice::Off);
    assert_eq!(
        c.tracer.sampler,
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
    );
    assert!(!c.tracer.capture_content, "content leaves only when asked for");
    assert!(!c.tracer.genai_latest_conventions);
}

#[test]
fn endpoints_and_their_precedence() {
    let c = otlp(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]);
    assert_eq!(c.endpoint, "http://collector:4318/v1/traces");
    let c = otlp(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/base/")]);
    assert_eq!(c.endpoint, "http://collector:4318/base/v1/traces");
    let c = otlp(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://traces.example/custom",
        ),
    ]);
    assert_eq!(c.endpoint, "https://traces.example/custom");
    assert_eq!(c.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(c.timeout, Duration::from_secs(10));
    assert_eq!(c.sigv4, None);
    // Explicit otlp with no endpoint: the spec's default.
    assert_eq!(
        otlp(&[("OTEL_TRACES_EXPORTER", "otlp")]).endpoint,
        DEFAULT_ENDPOINT
    );
}

#[test]
fn exporter_choice_and_disabling() {
    let ep = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
    assert_eq!(
        config(&[ep, ("OTEL_TRACES_EXPORTER", "none")]).exporter,
        ExporterChoice::Off
    );
    assert_eq!(
        config(&[ep, ("OTEL_SDK_DISABLED", "TRUE")]).exporter,
        ExporterChoice::Off
    );
    assert_eq!(
        config(&[("OTEL_TRACES_EXPORTER", "console")]).exporter,
        ExporterChoice::Console
    );
    assert!(matches!(
        config(&[ep, ("OTEL_SDK_DISABLED", "false")]).exporter,
        ExporterChoice::Otlp(_)
    ));
    assert_eq!(
        error(&[("OTEL_TRACES_EXPORTER", "zipkin")]).var,
        "OTEL_TRACES_EXPORTER"
    );
    assert_eq!(
        error(&[("OTEL_TRACES_EXPORTER", "otlp,console")]).var,
        "OTEL_TRACES_EXPORTER"
    );
    assert_eq!(
        error(&[("OTEL_SDK_DISABLED", "yes please")]).var,
        "OTEL_SDK_DISABLED"
    );
    // Bad values are found even while disabled.
    let e = error(&[
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://x"),
    ]);
    assert_eq!(e.var, "OTEL_EXPORTER_OTLP_ENDPOINT");
}

#[test]
fn protocol_signal_specific_first_and_grpc_refused() {
    let ep = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
    let c = otlp(&[ep, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
    assert_eq!(c.protocol, OtlpProtocol::HttpJson);
    let c = otlp(&[
        ep,
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
    ]);
    assert_eq!(c.protocol, OtlpProtocol::HttpProtobuf);
    let e = error(&[ep, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
    assert_eq!(e.var, "OTEL_EXPORTER_OTLP_PROTOCOL");
    assert!(e.reason.contains("gRPC is not supported"), "{}", e.reason);
    assert_eq!(
        error(&[ep, ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift")]).var,
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
    );
}

#[test]
fn headers_are_decoded_and_never_echoed() {
    let ep = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
    let c = otlp(&[
        ep,
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization=Basic%20abc%3D%3D, x-team = a%2Cb ,,",
        ),
    ]);
    assert_eq!(
        c.headers,
        vec![
            ("authorization".to_string(), "Basic abc==".to_string()),
            ("x-team".to_string(), "a,b".to_string())
        ]
    );
    // The traces variable replaces the general one.
    let c = otlp(&[
        ep,
        ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "b=2"),
    ]);
    assert_eq!(c.headers, vec![("b".to_string(), "2".to_string())]);
    for bad in [
        "api-key",
        "bad name=secret-value",
        "k=secret%0Avalue",
        "k=%FF%FEsecret",
    ] {
        let e = error(&[ep, ("OTEL_EXPORTER_OTLP_HEADERS", bad)]);
        assert_eq!(e.var, "OTEL_EXPORTER_OTLP_HEADERS");
        assert_eq!(e.value, None);
        assert!(!e.to_string().contains("secret"), "{e}");
    }
    // Debug of the config shows header names only.
    let c = otlp(&[ep, ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=topsecret")]);
    assert!(!format!("{c:?}").contains("topsecret"));
}

#[test]
fn timeouts_and_batch_settings() {
    let ep = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
    let c = otlp(&[ep]);
    assert_eq!(c.batch, BatchConfig::default());
    assert_eq!(c.batch.max_queue_size, 2048);
    assert_eq!(c.batch.max_export_batch_size, 512);
    assert_eq!(c.batch.schedule_delay, Duration::from_millis(5000));
    assert_eq!(c.batch.export_timeout, Duration::from_millis(30000));
    let c = otlp(&[
        ep,
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10"),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "1000"),
    ]);
    assert_eq!(c.timeout, Duration::from_millis(2500));
    assert_eq!(
        c.batch,
        BatchConfig {
            max_queue_size: 100,
            max_export_batch_size: 10,
            schedule_delay: Duration::from_millis(200),
            export_timeout: Duration::from_secs(1),
            max_queue_bytes: 64 * 1024 * 1024,
        }
    );
    let c = otlp(&[
        ep,
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700"),
    ]);
    assert_eq!(c.timeout, Duration::from_millis(700));
    assert_eq!(
        error(&[ep, ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")]).var,
        "OTEL_EXPORTER_OTLP_TIMEOUT"
    );
    assert_eq!(
        error(&[ep, ("OTEL_BSP_SCHEDULE_DELAY", "0")]).var,
        "OTEL_BSP_SCHEDULE_DELAY"
    );
    assert_eq!(
        error(&[ep, ("OTEL_BSP_MAX_QUEUE_SIZE", "-1")]).var,
        "OTEL_BSP_MAX_QUEUE_SIZE"
    );
    let e = error(&[
        ep,
        ("OTEL_BSP_MAX_QUEUE_SIZE", "10"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "11"),
    ]);
    assert_eq!(e.var, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE");
}

#[test]
fn resource_attributes_and_service_name() {
    let ep = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
    let c = otlp(&[ep]);
    assert_eq!(
        attr(&c, "service.name"),
        Some(&Value::Str("unknown_service:agentcore-rt".into()))
    );
    assert_eq!(
        attr(&c, "telemetry.sdk.language"),
        Some(&Value::Str("rust".into()))
    );
    let arn = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/my_agent-abc";
    let c = otlp(&[
        ep,
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-attrs,cloud.resource_id=arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fmy_agent-abc, team = a%20b",
        ),
    ]);
    assert_eq!(attr(&c, "service.name"), Some(&Value::Str("from-attrs".into())));
    assert_eq!(attr(&c, "cloud.resource_id"), Some(&Value::Str(arn.into())));
    assert_eq!(attr(&c, "team"), Some(&Value::Str("a b".into())));
    let c = otlp(&[
        ep,
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
        ("OTEL_SERVICE_NAME", "my-agent"),
    ]);
    assert_eq!(attr(&c, "service.name"), Some(&Value::Str("my-agent".into())));
    assert_eq!(
        error(&[ep, ("OTEL_RESOURCE_ATTRIBUTES", "novalue")]).var,
        "OTEL_RESOURCE_ATTRIBUTES"
    );
    assert_eq!(
        error(&[ep, ("OTEL_RESOURCE_ATTRIBUTES", "=v")]).var,
        "OTEL_RESOURCE_ATTRIBUTES"
    );
}

#[test]
fn samplers() {
    let s = |pairs: &[(&str, &str)]| config(pairs).tracer.sampler;
    assert_eq!(s(&[("OTEL_TRACES_SAMPLER", "always_on")]), Sampler::AlwaysOn);
    assert_eq!(s(&[("OTEL_TRACES_SAMPLER", "always_off")]), Sampler::AlwaysOff);
    assert_eq!(
        s(&[("OTEL_TRACES_SAMPLER", "traceidratio")]),
        Sampler::TraceIdRatio(1.0)
    );
    assert_eq!(
        s(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25")
        ]),
        Sampler::TraceIdRatio(0.25)
    );
    assert_eq!(
        s(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5")
        ]),
        Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(0.5)))
    );
    assert_eq!(
        s(&[("OTEL_TRACES_SAMPLER", "parentbased_always_off")]),
        Sampler::ParentBased(Box::new(Sampler::AlwaysOff))
    );
    assert_eq!(
        s(&[("OTEL_TRACES_SAMPLER", "parentbased_always_on")]),
        Sampler::default()
    );
    // An argument beside a sampler that takes none is ignored, as in the SDKs.
    assert_eq!(
        s(&[
            ("OTEL_TRACES_SAMPLER", "always_on"),
            ("OTEL_TRACES_SAMPLER_ARG", "x")
        ]),
        Sampler::AlwaysOn
    );
    assert_eq!(
        error(&[("OTEL_TRACES_SAMPLER", "xray")]).var,
        "OTEL_TRACES_SAMPLER"
    );
    for bad in ["1.5", "-0.1", "half"] {
        let e = error(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", bad),
        ]);
        assert_eq!(e.var, "OTEL_TRACES_SAMPLER_ARG");
    }
}

#[test]
fn semconv_opt_in_and_content_capture() {
    let t = config(&[(
        "OTEL_SEMCONV_STABILITY_OPT_IN",
        "http, gen_ai_latest_experimental ,gen_ai_tool_definitions",
    )])
    .tracer;
    assert!(t.genai_latest_conventions && t.genai_tool_definitions);
    let t = config(&[("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental_x")]).tracer;
    assert!(!t.genai_latest_conventions);
    let cap = |v: &str| {
        config(&[("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", v)])
            .tracer
            .capture_content
    };
    assert!(!cap("false") && !cap("NO_CONTENT") && !cap("False"));
    assert!(cap("true") && cap("SPAN_ONLY") && cap("span_and_event") && cap("EVENT_ONLY"));
    let e = error(&[("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "maybe")]);
    assert_eq!(e.var, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT");
}

#[test]
fn agentcore_mode_exports_to_xray_signed() {
    let on = ("AGENT_OBSERVABILITY_ENABLED", "true");
    let c = otlp(&[on, ("AWS_REGION", "eu-west-1")]);
    assert_eq!(c.endpoint, "https://xray.eu-west-1.amazonaws.com/v1/traces");
    assert_eq!(c.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(
        c.sigv4,
        Some(SigV4Target {
            region: "eu-west-1".into(),
            service: "xray".into()
        })
    );
    // The SDKs' endpoint override (tests, VPC endpoints): still signed for the region.
    let c = otlp(&[
        on,
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ENDPOINT_URL_XRAY", "http://127.0.0.1:9/"),
    ]);
    assert_eq!(c.endpoint, "http://127.0.0.1:9/v1/traces");
    assert_eq!(c.sigv4.as_ref().map(|s| s.region.as_str()), Some("eu-west-1"));
    let c = otlp(&[
        on,
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:8"),
    ]);
    assert_eq!(c.endpoint, "http://127.0.0.1:8/v1/traces");
    // The opt-out, and OTEL_TRACES_EXPORTER=none, turn it off.
    let off = config(&[
        on,
        ("AWS_REGION", "eu-west-1"),
        ("DISABLE_ADOT_OBSERVABILITY", "true"),
    ]);
    assert_eq!(off.exporter, ExporterChoice::Off);
    let off = config(&[on, ("AWS_REGION", "eu-west-1"), ("OTEL_TRACES_EXPORTER", "none")]);
    assert_eq!(off.exporter, ExporterChoice::Off);
    // No region: refused, naming the way out.
    let e = error(&[on]);
    assert_eq!(e.var, "AWS_REGION");
    assert!(
        e.reason.contains("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        "{}",
        e.reason
    );
    // JSON to X-Ray is refused.
    let e = error(&[
        on,
        ("AWS_REGION", "eu-west-1"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
    ]);
    assert_eq!(e.var, "OTEL_EXPORTER_OTLP_PROTOCOL");
    assert_eq!(
        error(&[("AGENT_OBSERVABILITY_ENABLED", "yes")]).var,
        "AGENT_OBSERVABILITY_ENABLED"
    );
}

#[test]
fn an_explicit_endpoint_wins_over_the_agentcore_mode() {
    let on = ("AGENT_OBSERVABILITY_ENABLED", "TRUE");
    let c = otlp(&[
        on,
        ("AWS_REGION", "eu-west-1"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
    ]);
    assert_eq!(c.endpoint, "http://collector:4318/v1/traces");
    assert_eq!(c.sigv4, None);
    let c = otlp(&[
        on,
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://collector:4318/v1/traces",
        ),
    ]);
    assert_eq!(c.sigv4, None);
    // X-Ray's own endpoint form is signed whatever the mode, with the host's region.
    let c = otlp(&[(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "https://xray.ap-southeast-2.amazonaws.com/v1/traces",
    )]);
    assert_eq!(c.sigv4.map(|s| s.region), Some("ap-southeast-2".to_string()));
    assert_eq!(
        xray_otlp_region("https://xray.us-east-1.amazonaws.com/v1/traces/extra"),
        None
    );
    assert_eq!(
        xray_otlp_region("http://xray.us-east-1.amazonaws.com/v1/traces"),
        None
    );
}

#[test]
fn percent_decoding() {
    assert_eq!(percent_decode("a%20b%2c%zz%4").unwrap(), "a b,%zz%4");
    assert_eq!(percent_decode("%C3%A9").unwrap(), "é");
    assert!(percent_decode("%C3").is_err());
}
