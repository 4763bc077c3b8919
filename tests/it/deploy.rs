//! The deploy files agree with the server: the probe paths in the Kubernetes manifests and
//! the systemd unit are the server's routes (and answer), and every port named is the
//! server's default listen port.

use crate::service_support::FakeRunner;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tether::config::{DEFAULTS, Sources, load};
use tether::service::http::{DEFAULT_PORT, HEALTHZ, METRICS, READYZ};
use tether::service::scheduler::parse_schedule;
use tether::service::shutdown::Shutdown;
use tether::service::{Service, ServiceOptions};

fn read(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Values of `key: value` lines (YAML), trimmed of quotes.
fn yaml_values(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim().trim_start_matches("- ");
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().trim_matches('"').to_owned())
        })
        .collect()
}

/// The probe block (`livenessProbe:` / `readinessProbe:`) of a manifest: its path and port.
fn probe(text: &str, name: &str) -> (String, u16) {
    let start = text
        .find(&format!("{name}:"))
        .unwrap_or_else(|| panic!("no {name}"));
    let block: String = text[start..]
        .lines()
        .skip(1)
        .take(4)
        .collect::<Vec<_>>()
        .join("\n");
    let path = yaml_values(&block, "path").pop().expect("probe path");
    let port = yaml_values(&block, "port")
        .pop()
        .expect("probe port")
        .parse()
        .unwrap();
    (path, port)
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn default_listen_port_is_the_documented_one() {
    let listen = DEFAULTS
        .iter()
        .find(|(k, _)| *k == "server.listen")
        .unwrap()
        .1;
    assert_eq!(port_of(listen), DEFAULT_PORT);
}

#[test]
fn kubernetes_probes_and_ports_match_the_server() {
    let d = read("deploy/k8s/deployment.yaml");
    assert_eq!(
        probe(&d, "livenessProbe"),
        (HEALTHZ.to_owned(), DEFAULT_PORT)
    );
    assert_eq!(
        probe(&d, "readinessProbe"),
        (READYZ.to_owned(), DEFAULT_PORT)
    );
    assert_eq!(yaml_values(&d, "containerPort"), [DEFAULT_PORT.to_string()]);
    assert_eq!(yaml_values(&d, "replicas"), ["1"]);
    assert_eq!(yaml_values(&d, "prometheus.io/path"), [METRICS]);
    assert_eq!(
        yaml_values(&d, "prometheus.io/port"),
        [DEFAULT_PORT.to_string()]
    );
    let listen = d
        .lines()
        .skip_while(|l| !l.contains("TETHER__SERVER__LISTEN"))
        .nth(1)
        .unwrap();
    assert_eq!(port_of(listen.trim().trim_end_matches('"')), DEFAULT_PORT);
    let s = read("deploy/k8s/service.yaml");
    assert_eq!(yaml_values(&s, "targetPort"), [DEFAULT_PORT.to_string()]);
    assert!(d.contains("claimName: tether-data"));
    assert!(read("deploy/k8s/pvc.yaml").contains("name: tether-data"));
    assert!(d.contains("name: tether-secrets"));
    assert!(read("deploy/k8s/secret.yaml").contains("name: tether-secrets"));
}

#[test]
fn systemd_unit_and_dockerfile_use_the_server_port_and_paths() {
    let unit = read("deploy/tether.service");
    let listen = unit
        .lines()
        .find_map(|l| l.strip_prefix("Environment=TETHER__SERVER__LISTEN="))
        .expect("unit sets the listen address");
    assert_eq!(port_of(listen), DEFAULT_PORT);
    for path in [HEALTHZ, READYZ, METRICS] {
        assert!(
            unit.contains(&format!(":{DEFAULT_PORT}{path}")),
            "unit does not name {path}"
        );
    }
    for opt in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "DynamicUser=yes",
        "KillSignal=SIGTERM",
    ] {
        assert!(unit.contains(opt), "unit lacks {opt}");
    }
    let docker = read("deploy/Dockerfile");
    assert!(docker.contains(&format!("EXPOSE {DEFAULT_PORT}")));
    assert!(docker.contains(&format!("TETHER__SERVER__LISTEN=0.0.0.0:{DEFAULT_PORT}")));
    assert!(docker.contains("USER 65532"));
    assert!(docker.contains("VOLUME [\"/data\"]"));
    assert!(docker.matches("FROM ").count() >= 2, "not multi-stage");
}

#[test]
fn the_example_configuration_loads() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/tether.toml");
    let l = load(Sources {
        file: Some(path),
        env: vec![],
    })
    .unwrap();
    assert_eq!(l.settings.server.listen.port(), DEFAULT_PORT);
}

#[tokio::test]
async fn the_probe_paths_of_the_manifests_answer_on_the_server() {
    let d = read("deploy/k8s/deployment.yaml");
    let store = tether::store::Store::open_in_memory().await.unwrap();
    let stop = Shutdown::new();
    let svc = Service::start(
        ServiceOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            schedule: parse_schedule("0 0 0 1 1 * 2099").unwrap(),
            run_at_start: false,
            shutdown_grace: Duration::from_secs(1),
            client_secret: tether::secret::Secret::new("x"),
            extra: None,
            lease: None,
        },
        store,
        Arc::new(FakeRunner::new(Duration::ZERO)),
        vec![],
        stop.clone(),
    )
    .await
    .unwrap();
    for name in ["livenessProbe", "readinessProbe"] {
        let (path, _) = probe(&d, name);
        let r = reqwest::get(format!("http://{}{path}", svc.addr))
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name} {path}");
    }
    let r = reqwest::get(format!("http://{}/nope", svc.addr))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    stop.trigger();
    svc.wait().await.unwrap();
}
